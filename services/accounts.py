"""Accounts: password rules and hashing, sign-in with lockout and throttling, administration.

RELIABILITY.md: hashing costs ~100 ms, so the per-address throttle and the account lock are
checked *before* any hash is computed; both live in the database so they hold across workers.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import secrets
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from models import LoginFailure, Organisation, Role, Service, User
from scorecard.errors import UserError

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
#: How long a temporary password (issued by an administrator) opens a session, unless the
#: setting ``PILOTIS_TEMPORARY_PASSWORD_DAYS`` says otherwise; it must be changed at sign-in.
TEMPORARY_PASSWORD_DAYS = 7
MAX_TEMPORARY_PASSWORD_DAYS = 90
#: Fewer different characters than this is a repetition, not a password (``aaaaaaaaaaaa``).
MIN_DISTINCT_CHARACTERS = 5
#: Words of an organisation's name too common to refuse on their own (« CCAS de … »).
_GENERIC_NAME_WORDS = frozenset(
    [
        "ccas",
        "cias",
        "centre",
        "communal",
        "intercommunal",
        "action",
        "sociale",
        "social",
        "commune",
        "ville",
        "mairie",
        "demonstration",
        "departement",
        "conseil",
    ]
)

_COMMON_FILE = Path(__file__).resolve().parent / "data" / "securite" / "common-passwords.txt.gz"
_FRENCH_COMMON = {
    "azertyuiop", "azertyuiop123", "motdepasse", "motdepasse123", "motdepasse1234",
    "jetaime", "soleil", "doudou", "marseille", "chouchou", "bonjour", "loulou",
    "123456789012", "azerty123456", "pilotis", "pilotis2026", "ccas",
}  # fmt: skip


class AccountError(UserError):
    """A refusal to show the person, in French."""


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON_FILE, "rt", encoding="utf-8") as handle:
        words = {line.strip().lower() for line in handle if line.strip()}
    return frozenset(words | _FRENCH_COMMON)


def _plain(text: str) -> str:
    """Lower case without accents: « Démo » and « demo » are one word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _repetitive(lowered: str) -> bool:
    """``aaaaaaaaaaaa``, ``abababababab``, ``abcabcabcabc``, ``abcdefghijkl``, ``987654321098``."""
    if len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        return True
    for size in range(1, len(lowered) // 3 + 1):  # a unit repeated three times or more
        unit = lowered[:size]
        if (unit * (len(lowered) // size + 1)).startswith(lowered):
            return True
    steps = {_step(a, b) for a, b in itertools.pairwise(lowered)}
    return len(steps) == 1 and steps <= {1, -1, 9}


def _step(a: str, b: str) -> int:
    """From one character to the next: digits wrap around (``9`` then ``0`` is a step of 1)."""
    return (ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)


def _name_words(organisation: str) -> set[str]:
    words = {w for w in re.split(r"[^0-9a-z]+", _plain(organisation)) if len(w) >= 4}
    whole = re.sub(r"[^0-9a-z]+", "", _plain(organisation))
    return (words - _GENERIC_NAME_WORDS) | ({whole} if len(whole) >= 4 else set())


def password_problem(
    password: str, *, email: str = "", full_name: str = "", organisation: str = ""
) -> str | None:
    """Why a new password is refused (ASVS 5.0 V6.2), or None. No composition rules.

    Refused: shorter than 12 or longer than 128 characters, one of the most common passwords, a
    repetition or a run of characters, the person's name or address, the organisation's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Le mot de passe doit compter au plus {MAX_PASSWORD_LENGTH} caractères."
    lowered = password.lower()
    if lowered in common_passwords() or lowered.rstrip(string.digits + "!?.") in common_passwords():
        return "Ce mot de passe fait partie des mots de passe les plus courants : choisissez-en un autre."
    if _repetitive(lowered):
        return (
            "Le mot de passe ne doit pas répéter les mêmes caractères ni les enchaîner (« aaaa », "
            "« abab », « 1234 ») : choisissez par exemple quelques mots sans rapport entre eux."
        )
    context = {email.lower().split("@")[0]} | {p for p in full_name.lower().split() if len(p) >= 4}
    if any(word and word in lowered for word in context if len(word) >= 4):
        return "Le mot de passe ne doit pas reprendre votre nom ni votre adresse électronique."
    plain = re.sub(r"[^0-9a-z]+", "", _plain(password))
    if organisation and any(word in plain for word in _name_words(organisation)):
        return f"Le mot de passe ne doit pas reprendre le nom de l'organisation (« {organisation.strip()} »)."
    return None


def temporary_password_days(raw: object = None) -> int:
    """How many days a temporary password lasts: ``raw`` (the application's setting), else the
    environment's ``PILOTIS_TEMPORARY_PASSWORD_DAYS``, else 7. Refused in French when not a whole
    number of days between 1 and 90."""
    value = raw if raw is not None else os.environ.get("PILOTIS_TEMPORARY_PASSWORD_DAYS")
    if value is None or value == "":
        return TEMPORARY_PASSWORD_DAYS
    try:
        days = int(str(value).strip())
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_TEMPORARY_PASSWORD_DAYS:
        raise AccountError(
            f"PILOTIS_TEMPORARY_PASSWORD_DAYS vaut « {value} » : un nombre entier de jours entre 1 et "
            f"{MAX_TEMPORARY_PASSWORD_DAYS} est attendu."
        )
    return days


def temporary_expiry(now: datetime, days: object = None) -> datetime:
    """When a temporary password issued ``now`` stops opening a session."""
    return now + timedelta(days=temporary_password_days(days))


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
@cache
def _dummy_hash() -> str:
    """A hash to check an unknown account's password against, so that it takes as long as a known
    one's; made at the first sign-in, not at import (every command would pay ~100 ms for it)."""
    return generate_password_hash("pilotis-dummy-password", method=PASSWORD_METHOD)


@dataclass(frozen=True)
class SignInRecord:
    """What a sign-in attempt leaves in the database, written apart from the check
    (:func:`record_sign_in`): a failure for the address (and the account when its password was
    wrong), or the account's successful sign-in."""

    address: str
    now: datetime
    user_id: int | None
    succeeded: bool
    wrong_password: bool = False


@dataclass
class SignInResult:
    """The user signed in, or the French reason and the HTTP status of the refusal; and what to
    record of the attempt (nothing for a refusal by the throttle or the lock)."""

    user: User | None
    error: str | None
    status: int = 200
    record: SignInRecord | None = None


def check_sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    address: str,
    now: datetime,
    pending_failures: tuple[int, Mapping[int, int]] = (0, {}),
) -> SignInResult:
    """Check a sign-in; reads only, so that no write lock is needed to let a person in.

    ``pending_failures``: failures of this address, and by account, already refused but not yet
    written (:func:`record_sign_in` waits for a database busy with a long write): they count
    towards the throttle and the lock as if written.
    """
    by_address, by_user = pending_failures
    since = now - ADDRESS_WINDOW
    failures = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.address == address, LoginFailure.occurred_at >= since)
    )
    if (failures or 0) + by_address >= ADDRESS_LIMIT:
        return SignInResult(
            None, "Trop de tentatives depuis cette adresse : réessayez dans quelques minutes.", 429
        )
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    locked = user is not None and (
        (user.locked_until is not None and user.locked_until > now)
        or user.failed_logins + by_user.get(user.id, 0) >= LOCK_AFTER_FAILURES
    )
    if user is not None and locked:
        until = (
            user.locked_until
            if user.locked_until is not None and user.locked_until > now
            else now + LOCK_DURATION
        )
        minutes = max(1, int((until - now).total_seconds() // 60) + 1)
        return SignInResult(
            None, f"Compte verrouillé après plusieurs échecs : réessayez dans {minutes} minutes.", 429
        )
    valid = password_matches(user.password_hash if user else _dummy_hash(), password)
    expired = user is not None and user.password_expires_at is not None and user.password_expires_at <= now
    if user is not None and valid and user.is_active and expired:  # told only to who knows it
        return SignInResult(
            None,
            "Mot de passe temporaire expiré : demandez-en un nouveau à l'administrateur.",
            403,
        )
    if user is None or not valid or not user.is_active:
        record = SignInRecord(
            address,
            now,
            user.id if user else None,
            succeeded=False,
            wrong_password=user is not None and not valid,
        )
        if user is not None and valid and not user.is_active:
            return SignInResult(
                None, "Ce compte est désactivé : adressez-vous à l'administrateur.", 403, record
            )
        return SignInResult(None, "Adresse électronique ou mot de passe incorrect.", 401, record)
    return SignInResult(user, None, record=SignInRecord(address, now, user.id, succeeded=True))


def record_sign_in(session: Session, record: SignInRecord) -> None:
    """Write what an attempt leaves: a failure counted for the address and the account (its lock
    after :data:`LOCK_AFTER_FAILURES` in a row), or a success (counter reset, last sign-in). Flushes."""
    user = session.get(User, record.user_id) if record.user_id is not None else None
    if record.succeeded:
        if user is not None:
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = record.now
        session.flush()
        return
    session.add(LoginFailure(address=record.address, occurred_at=record.now))
    if user is not None and record.wrong_password:
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER_FAILURES:
            user.locked_until = record.now + LOCK_DURATION
            user.failed_logins = 0
    session.flush()


def sign_in(session: Session, email: str, password: str, *, address: str, now: datetime) -> SignInResult:
    """Check a sign-in and record it in ``session``; count failures per account and per address. Flushes."""
    result = check_sign_in(session, email, password, address=address, now=now)
    if result.record is not None:
        record_sign_in(session, result.record)
    return result


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
    temporary: bool = False,
    temporary_days: object = None,
) -> User:
    """A new account. ``temporary``: the password was generated to be handed over; it must be
    changed at the first sign-in and expires after :func:`temporary_password_days`."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"Adresse électronique invalide : « {email} ».")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError(f"Un compte existe déjà pour « {email} ».")
    _check_scope(organisation, role, services)
    problem = password_problem(password, email=email, full_name=full_name, organisation=organisation.name)
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
        password_expires_at=temporary_expiry(now, temporary_days) if temporary else None,
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


def set_password(user: User, password: str, *, now: datetime, organisation: str = "") -> None:
    """The person's own new password (no longer temporary). ``organisation``: its name, refused
    in the password; so is the current password."""
    problem = password_problem(
        password, email=user.email, full_name=user.full_name, organisation=organisation
    )
    if problem:
        raise AccountError(problem)
    if password_matches(user.password_hash, password):
        raise AccountError("Le nouveau mot de passe doit être différent de l'actuel.")
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.password_expires_at = None
    user.failed_logins = 0
    user.locked_until = None
    user.session_token = new_session_token()


def reset_password(user: User, *, now: datetime, days: object = None) -> str:
    """Give the user a printed temporary password, to be changed at the next sign-in and valid
    :func:`temporary_password_days` days; their sessions end."""
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.password_expires_at = temporary_expiry(now, days)
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
