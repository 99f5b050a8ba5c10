"""Sign-in for the web: flask-login on a revocable token, CSRF, security headers, locale.

Every endpoint requires a signed-in user unless it is declared public (:data:`PUBLIC_ENDPOINTS`):
a new page is protected by default. Which signed-in user may do what is the policy's business
(:func:`services.policy.can`), through :func:`require`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import User
from pilotis.database import short_write_session, write_session
from pilotis.web import SAFE_METHODS, db_session, engine, reading
from services import accounts
from services.audit import current_actor
from services.policy import Action, Principal, can

log = logging.getLogger(__name__)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

#: Endpoints anyone may reach without signing in.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "auth.login",
        "home.health",
        "home.set_language",
        "api.openapi",
        # surveys and consultations are answered without an account
        "participation.answer",
        "participation.thanks",
    }
)
LANGUAGES = ("fr", "en")
#: Strict-Transport-Security in production: one year.
HSTS_SECONDS = 365 * 24 * 3600


class SignedIn(UserMixin):
    """The flask-login user: a principal and the token that identifies the session."""

    def __init__(self, user: User) -> None:
        self.principal = Principal.of(user)
        self.token = user.session_token
        self.active = user.is_active

    def get_id(self) -> str:
        return self.token

    @property
    def is_active(self) -> bool:
        return self.active


class Anonymous(AnonymousUserMixin):
    principal = None


# -- signing in without waiting for the write lock -----------------------------------------------------
#: How long a sign-in waits for the database's write lock to record itself (failure counted, last
#: sign-in) before handing that bookkeeping to the deferred writer: a person being let in, or told
#: their password is wrong, never waits for a long import holding the lock (issue 22, item 2).
SIGN_IN_WRITE_WAIT_MS = 300
#: Attempts of the deferred writer, each waiting the usual busy timeout, before it gives up (logged).
DEFERRED_ATTEMPTS = 5
_deferred = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pilotis-connexions")
_pending = threading.Lock()
#: Failures refused but not yet written, by address and by account: they count towards the
#: throttle and the lock meanwhile, so that a busy database does not open the door to guessing.
_pending_addresses: Counter[str] = Counter()
_pending_users: Counter[int] = Counter()


@dataclass(frozen=True)
class SignInAttempt:
    """A checked sign-in: the user to let in, or the French refusal and its status."""

    signed_in: SignedIn | None
    error: str | None
    status: int
    full_name: str = ""
    temporary_password: bool = False


def attempt_sign_in(email: str, password: str, *, address: str, now: datetime) -> SignInAttempt:
    """Check a sign-in on a read session (no write lock), then record it without keeping the
    person waiting (:func:`record_attempt`)."""
    with reading() as session:
        with _pending:
            pending = (_pending_addresses[address], dict(_pending_users))
        result = accounts.check_sign_in(
            session, email, password, address=address, now=now, pending_failures=pending
        )
        user = result.user
        attempt = SignInAttempt(
            SignedIn(user) if user is not None else None,
            result.error,
            result.status,
            user.full_name if user is not None else "",
            user is not None and user.password_expires_at is not None,
        )
    if result.record is not None:
        record_attempt(engine(), result.record)
    return attempt


def record_attempt(database: Engine, record: accounts.SignInRecord) -> Future[None] | None:
    """Write what a sign-in leaves in a short transaction if the write lock comes within
    :data:`SIGN_IN_WRITE_WAIT_MS`; else hand it to the deferred writer (returned), which retries
    with the usual busy timeout. A failure not yet written still counts (see :data:`_pending_users`)."""
    try:
        with short_write_session(database, wait_ms=SIGN_IN_WRITE_WAIT_MS) as session:
            accounts.record_sign_in(session, record)
    except (OperationalError, StaleDataError) as exc:
        log.info("connexion enregistrée plus tard (base occupée : %s)", exc)
    else:
        return None
    if not record.succeeded:
        with _pending:
            _pending_addresses[record.address] += 1
            if record.user_id is not None and record.wrong_password:
                _pending_users[record.user_id] += 1
    return _deferred.submit(_write_later, database, record)


def _write_later(database: Engine, record: accounts.SignInRecord) -> None:
    try:
        for attempt in range(1, DEFERRED_ATTEMPTS + 1):
            try:
                with write_session(database) as session:
                    accounts.record_sign_in(session, record)
                return
            except (OperationalError, StaleDataError) as exc:
                log.warning("connexion pas encore enregistrée (essai %d) : %s", attempt, exc)
        log.error("connexion du %s depuis %s non enregistrée : base occupée", record.now, record.address)
    finally:
        if not record.succeeded:
            with _pending:
                _forget(_pending_addresses, record.address)
                if record.user_id is not None and record.wrong_password:
                    _forget(_pending_users, record.user_id)


def _forget(counts: Counter[Any], key: Any) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


@login_manager.user_loader
def _load_user(token: str) -> SignedIn | None:
    # A POST must not take SQLite's write lock (and keep it until its response) to learn who sent
    # it: it reads the user in a read session of its own, ended at once (SignedIn keeps values).
    if request.method in SAFE_METHODS:
        return _signed_in(db_session(), token)
    with reading() as session:
        return _signed_in(session, token)


def _signed_in(session: Session, token: str) -> SignedIn | None:
    user = session.scalar(select(User).where(User.session_token == token))
    if user is None or not user.is_active:
        return None
    return SignedIn(user)


@login_manager.unauthorized_handler
def _unauthorized() -> ResponseReturnValue:
    if request.blueprint == "api":
        return jsonify(error="Authentification requise."), 401
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def principal() -> Principal | None:
    return getattr(current_user, "principal", None)


def require(action: Action, obj: Any = None) -> Principal:
    """The current principal if the policy allows ``action``; else 404 (another organisation's
    row: its existence is not revealed) or 403."""
    who = principal()
    if who is None:
        abort(401)
    if can(who, action, obj):
        return who
    if obj is not None and getattr(obj, "organisation_id", who.organisation_id) != who.organisation_id:
        abort(404)
    abort(403)


def _require_sign_in() -> ResponseReturnValue | None:
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return cast(ResponseReturnValue, login_manager.unauthorized())
    g.actor_token = current_actor.set(current_user.principal.user_id)
    return None


def _reset_actor(_exc: BaseException | None) -> None:
    token = g.pop("actor_token", None)
    if token is not None:
        current_actor.reset(token)


def _security_headers(response: Any) -> Any:
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_user and current_user.is_authenticated:
        response.headers.setdefault("Cache-Control", "no-store")
    settings = current_app.config["PILOTIS_SETTINGS"]
    if settings.is_production and (request.is_secure or (settings.public_url or "").startswith("https:")):
        # a browser that once reached Pilotis over HTTPS never again sends a cookie over HTTP
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
    return response


def _cookie_refused_over_http() -> bool:
    """A form sent over plain HTTP without the session cookie while cookies are Secure: the
    browser refused to keep the cookie (it keeps Secure cookies for HTTPS only)."""
    return (
        current_app.config.get("SESSION_COOKIE_SECURE", False)
        and not request.is_secure
        and current_app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies
    )


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return "fr"


def init_app(app: Flask) -> None:
    production = app.config["PILOTIS_SETTINGS"].is_production
    app.config.update(
        REMEMBER_COOKIE_DURATION=timedelta(days=14),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=app.config["PILOTIS_SETTINGS"].cookie_secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session: long data entry must not fail
        WTF_CSRF_SSL_STRICT=production,
    )
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.session_protection = "basic"
    login_manager.login_message = None
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(_require_sign_in)
    app.teardown_request(_reset_actor)
    app.after_request(_security_headers)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
        from views.errors import render_error

        if _cookie_refused_over_http():
            current_app.logger.warning(
                "formulaire reçu en HTTP sans cookie de session : servez Pilotis en HTTPS "
                "(PILOTIS_TRUSTED_PROXIES derrière un proxy) ou posez PILOTIS_COOKIE_SECURE=0 pour un essai"
            )
            return render_error(
                400,
                "Cookies refusés : Pilotis est ouvert en HTTP",
                "Ce formulaire est arrivé sans le cookie de session : les cookies de Pilotis sont « Secure », "
                "et le navigateur ne les garde que pour une adresse en https://. Ouvrez Pilotis par son "
                "adresse en https://. Pour l'administrateur du serveur : derrière un proxy inverse qui "
                "termine le HTTPS, indiquez-le par PILOTIS_TRUSTED_PROXIES=1 ; pour un essai en HTTP "
                "seulement, démarrez Pilotis avec PILOTIS_COOKIE_SECURE=0.",
            )
        if exc.description == "The referrer does not match the host.":
            # behind a proxy that does not pass the Host on: the page's address is not the one Pilotis sees
            seen = urlsplit(request.referrer or "").netloc
            return render_error(
                400,
                "Formulaire refusé : l'adresse du serveur ne correspond pas",
                f"Ce formulaire vient de la page « {seen} », mais Pilotis se croit à l'adresse « {request.host} ». "
                "Pour l'administrateur du serveur : le proxy inverse doit transmettre l'en-tête Host "
                "(nginx : « proxy_set_header Host $host; », Apache : « ProxyPreserveHost On »).",
            )
        return render_error(
            400,
            "Formulaire expiré ou invalide",
            "La page a expiré ou le formulaire n'a pas été envoyé par Pilotis. "
            "Rechargez la page et recommencez.",
        )


def wait_for_deferred(timeout: float) -> None:
    """Return once every sign-in handed to the deferred writer so far is written (or given up)."""
    _deferred.submit(lambda: None).result(timeout)
