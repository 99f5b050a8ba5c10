"""Accounts: password hashing and revocable session tokens."""

from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

#: scrypt, about 100 ms per hash on these machines (RELIABILITY.md, trap 6).
PASSWORD_METHOD = "scrypt"  # noqa: S105 - a method name, not a password


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def password_matches(password_hash: str | None, password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash or "", password)


def new_session_token() -> str:
    """A random login id for flask-login, rotated at logout, password change and deactivation."""
    return secrets.token_urlsafe(32)
