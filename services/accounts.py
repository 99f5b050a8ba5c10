"""Accounts: password rules and hashing, sign-in with lockout and throttling, administration.

RELIABILITY.md: hashing costs ~100 ms, so the per-address throttle and the account lock are
checked *before* any hash is computed; both live in the database so they hold across workers.
"""

from __future__ import annotations

import gzip
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import LoginFailure, Organisation, Role, Service, User

#: scrypt, about 100 ms per hash on these machines (RELIABILITY.md, trap 6).
PASSWORD_METHOD = "scrypt"  # noqa: S105 - a method name, not a password
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
#: Consecutive failures that lock an account, and for how long.
LOCK_AFTER_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
#: Failures from one address within the window beyond which sign-in is refused.
ADDRESS_LIMIT = 20
ADDRESS_WINDOW = timedelta(minutes=15)

_COMMON_FILE = Path(__file__).resolve().parent / "data" / "securite" / "common-passwords.txt.gz"
_FRENCH_COMMON = {
    "azertyuiop", "azertyuiop123", "motdepasse", "motdepasse123", "motdepasse1234",
    "jetaime", "soleil", "doudou", "marseille", "chouchou", "bonjour", "loulou",
    "123456789012", "azerty123456", "pilotis", "pilotis2026", "ccas",
}  # fmt: skip


class AccountError(ValueError):
    """A refusal to show the person, in French."""


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON_FILE, "rt", encoding="utf-8") as handle:
        words = {line.strip().lower() for line in handle if line.strip()}
    return frozenset(words | _FRENCH_COMMON)


def password_problem(password: str, *, email: str = "", full_name: str = "") -> str | None:
    """Why a new password is refused (ASVS 5.0 V6.2), or None. No composition rules."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Le mot de passe doit compter au plus {MAX_PASSWORD_LENGTH} caractères."
    lowered = password.lower()
    if lowered in common_passwords() or lowered.rstrip(string.digits + "!?.") in common_passwords():
        return "Ce mot de passe fait partie des mots de passe les plus courants : choisissez-en un autre."
    context = {email.lower().split("@")[0]} | {p for p in full_name.lower().split() if len(p) >= 4}
    if any(word and word in lowered for word in context if len(word) >= 4):
        return "Le mot de passe ne doit pas reprendre votre nom ni votre adresse électronique."
    return None


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def password_matches(password_hash: str | None, password: str) -> bool:
    return bool(password_hash) and check_password_hash(password_hash or "", password)


def new_session_token() -> str:
    """A random login id for flask-login, rotated at logout, password change and deactivation."""
    return secrets.token_urlsafe(32)


def temporary_password() -> str:
    """A printable one-time password: 4 groups of 4 letters and digits (about 80 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


# -- sign-in ----------------------------------------------------------------------------------
_DUMMY_HASH = generate_password_hash("pilotis-dummy-password", method=PASSWORD_METHOD)


@dataclass(frozen=True)
class SignInResult:
    """The user signed in, or the French reason and the HTTP status of the refusal."""

    user: User | None
    error: str | None
    status: int = 200


def sign_in(session: Session, email: str, password: str, *, address: str, now: datetime) -> SignInResult:
    """Check a sign-in; count failures per account and per address. Flushes."""
    since = now - ADDRESS_WINDOW
    failures = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.address == address, LoginFailure.occurred_at >= since)
    )
    if (failures or 0) >= ADDRESS_LIMIT:
        return SignInResult(
            None, "Trop de tentatives depuis cette adresse : réessayez dans quelques minutes.", 429
        )
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return SignInResult(
            None, f"Compte verrouillé après plusieurs échecs : réessayez dans {minutes} minutes.", 429
        )
    valid = password_matches(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not valid or not user.is_active:
        session.add(LoginFailure(address=address, occurred_at=now))
        if user is not None and not valid:
            user.failed_logins += 1
            if user.failed_logins >= LOCK_AFTER_FAILURES:
                user.locked_until = now + LOCK_DURATION
                user.failed_logins = 0
        session.flush()
        if user is not None and valid and not user.is_active:
            return SignInResult(None, "Ce compte est désactivé : adressez-vous à l'administrateur.", 403)
        return SignInResult(None, "Adresse électronique ou mot de passe incorrect.", 401)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return SignInResult(user, None)


def forget_old_failures(session: Session, *, now: datetime) -> int:
    """Delete address failures older than a day (a scheduled clean-up)."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.occurred_at < now - timedelta(days=1)))
    return int(getattr(result, "rowcount", 0) or 0)


def sign_out(user: User) -> None:
    """Revoke every session and remember-me cookie of the user."""
    user.session_token = new_session_token()


# -- administration -----------------------------------------------------------------------
def create_user(
    session: Session,
    *,
    organisation: Organisation,
    email: str,
    full_name: str,
    role: Role,
    services: list[Service],
    password: str,
    now: datetime,
) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"Adresse électronique invalide : « {email} ».")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError(f"Un compte existe déjà pour « {email} ».")
    _check_scope(organisation, role, services)
    problem = password_problem(password, email=email, full_name=full_name)
    if problem:
        raise AccountError(problem)
    user = User(
        organisation_id=organisation.id,
        email=email,
        full_name=full_name.strip(),
        role=role,
        services=list(services),
        password_hash=hash_password(password),
        session_token=new_session_token(),
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _check_scope(organisation: Organisation, role: Role, services: list[Service]) -> None:
    if role is Role.SERVICE_MANAGER and not services:
        raise AccountError("Un responsable de service doit avoir au moins un service.")
    if role is not Role.SERVICE_MANAGER and services:
        raise AccountError("Seul un responsable de service est rattaché à des services.")
    if any(s.organisation_id != organisation.id for s in services):
        raise AccountError("Un service indiqué n'appartient pas à l'organisation du compte.")


def update_user(
    user: User, *, full_name: str, role: Role, services: list[Service], organisation: Organisation
) -> None:
    _check_scope(organisation, role, services)
    user.full_name = full_name.strip()
    if user.role is not role or {s.id for s in user.services} != {s.id for s in services}:
        user.role = role
        user.services = list(services)
        user.session_token = new_session_token()  # new rights: sign in again


def set_password(user: User, password: str, *, now: datetime) -> None:
    problem = password_problem(password, email=user.email, full_name=user.full_name)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    user.session_token = new_session_token()


def reset_password(user: User, *, now: datetime) -> str:
    """Give the user a printed temporary password; their sessions end."""
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    user.session_token = new_session_token()
    return password


def deactivate(user: User) -> None:
    user.is_active = False
    user.session_token = new_session_token()


def reactivate(user: User) -> None:
    user.is_active = True
    user.failed_logins = 0
    user.locked_until = None
