"""Password rules: no repetition, not the organisation's name, not the current password; a
temporary password must be replaced at the first sign-in and expires after N days."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Organisation, Role, User
from models.base import utcnow
from pilotis.database import write_session
from services import accounts
from services.policy import Principal
from tests.conftest import csrf_token

ORGANISATION = "CCAS de Saint-Étienne-du-Rouvray"


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "AAAAAAAAAAAAAAAA", "abababababab", "abcabcabcabc", "abcdefghijklm", "987654321098"],
)
def test_repetitions_and_runs_are_refused(password):
    problem = accounts.password_problem(password)
    assert problem is not None and "répéter les mêmes caractères" in problem


@pytest.mark.parametrize(
    "password", ["rouvray-et-ses-bords-de-seine", "SaintEtienneDuRouvray!", "ROUVRAY 2026 au top"]
)
def test_the_organisations_name_is_refused(password):
    problem = accounts.password_problem(password, organisation=ORGANISATION)
    assert problem == f"Le mot de passe ne doit pas reprendre le nom de l'organisation (« {ORGANISATION} »)."


@pytest.mark.parametrize(
    "password", ["cheval agrafe batterie correcte", "le ccas de mon quartier", "tour-de-france-du-centre"]
)
def test_a_passphrase_is_accepted_even_with_the_names_common_words(password):
    assert accounts.password_problem(password, organisation=ORGANISATION) is None


def _user(session, demo, *, temporary: bool) -> tuple[User, str]:  # type: ignore[no-untyped-def]
    organisation = session.get(Organisation, demo.organisation_id)
    password = accounts.temporary_password() if temporary else "une phrase de passe bien longue"
    user = accounts.create_user(
        session,
        organisation=organisation,
        email=f"regles-{uuid.uuid4().hex[:8]}@carcassonne.pilotis.example",
        full_name="Agent Règles",
        role=Role.READER,
        services=[],
        password=password,
        now=utcnow(),
        temporary=temporary,
    )
    return user, password


def test_the_current_password_is_refused_and_nothing_changes(db_session, demo):
    user, password = _user(db_session, demo, temporary=False)
    before = (user.password_hash, user.session_token)
    with pytest.raises(accounts.AccountError, match="doit être différent de l'actuel"):
        accounts.set_password(user, password, now=utcnow())
    assert (user.password_hash, user.session_token) == before
    with pytest.raises(accounts.AccountError, match="nom de l'organisation"):
        accounts.set_password(
            user, "vivre à carcassonne toute l'année", now=utcnow(), organisation="CCAS de Carcassonne"
        )


def test_a_temporary_password_must_be_changed_and_expires(db_session, demo, monkeypatch):
    monkeypatch.delenv("PILOTIS_TEMPORARY_PASSWORD_DAYS", raising=False)
    user, password = _user(db_session, demo, temporary=True)
    now = utcnow()
    assert user.password_expires_at is not None
    assert timedelta(days=6, hours=23) < user.password_expires_at - now <= timedelta(days=7)
    signed = accounts.sign_in(db_session, user.email, password, address="test-regles", now=now)
    assert signed.user is user and Principal.of(user).must_change_password

    late = accounts.sign_in(
        db_session, user.email, password, address="test-regles", now=now + timedelta(days=8)
    )
    assert (late.user, late.status) == (None, 403)
    assert late.error == "Mot de passe temporaire expiré : demandez-en un nouveau à l'administrateur."
    wrong = accounts.sign_in(
        db_session, user.email, "pas le bon mot", address="test-regles", now=now + timedelta(days=8)
    )
    assert wrong.status == 401  # the expiry is told only to who knows the password

    accounts.set_password(user, "ma phrase de passe à moi", now=now)
    assert user.password_expires_at is None and not Principal.of(user).must_change_password
    later = accounts.sign_in(
        db_session,
        user.email,
        "ma phrase de passe à moi",
        address="test-regles",
        now=now + timedelta(days=30),
    )
    assert later.user is user

    accounts.reset_password(user, now=now, days="2")
    assert user.password_expires_at == now + timedelta(days=2)


def test_the_number_of_days_is_a_setting(monkeypatch):
    monkeypatch.setenv("PILOTIS_TEMPORARY_PASSWORD_DAYS", "3")
    assert accounts.temporary_password_days() == 3
    assert accounts.temporary_password_days(5) == 5  # the application's own setting first
    for bad in ("trois", "0", "365"):
        with pytest.raises(accounts.AccountError) as refused:
            accounts.temporary_password_days(bad)
        assert str(refused.value) == (
            f"PILOTIS_TEMPORARY_PASSWORD_DAYS vaut « {bad} » : un nombre entier de jours entre 1 et 90 est attendu."
        )


# -- through the pages ---------------------------------------------------------------------------
@pytest.fixture
def issued(app, engine, demo):  # type: ignore[no-untyped-def]
    """An account given a temporary password by the administrator's page; removed after."""
    with write_session(engine) as session:
        user, _ = _user(session, demo, temporary=False)
        email, user_id = user.email, user.id
    from tests.conftest import sign_in

    admin = sign_in(app.test_client(), "admin")
    page = admin.get(f"/admin/utilisateurs/{user_id}").get_data(as_text=True)
    shown = admin.post(f"/admin/utilisateurs/{user_id}/mot-de-passe", data={"csrf_token": csrf_token(page)})
    assert shown.status_code == 200
    import re

    password = re.search(r"[a-z2-9]{4}(?:-[a-z2-9]{4}){3}", shown.get_data(as_text=True)).group(0)
    yield email, password
    with write_session(engine) as session:
        session.delete(session.scalar(select(User).where(User.email == email)))


def _sign_in(client, email: str, password: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    return client.post("/connexion", data={"csrf_token": token, "email": email, "password": password})


def _change(client, current: str, new: str):  # type: ignore[no-untyped-def]
    page = client.get("/compte/mot-de-passe").get_data(as_text=True)
    return client.post(
        "/compte/mot-de-passe",
        data={"csrf_token": csrf_token(page), "current": current, "new": new, "confirm": new},
    )


def test_a_temporary_password_opens_only_the_page_that_replaces_it(app, issued):
    email, password = issued
    client = app.test_client()
    signed = _sign_in(client, email, password)
    assert signed.status_code == 302 and signed.headers["Location"].endswith("/compte/mot-de-passe")
    for path in ("/", "/besoins", "/tableau-de-bord/"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/compte/mot-de-passe")
    api = client.get("/api/v1/moi")
    assert api.status_code == 403 and "mot de passe temporaire" in api.get_json()["error"]
    page = client.get("/compte/mot-de-passe").get_data(as_text=True)
    assert "Votre mot de passe est temporaire : choisissez le vôtre pour continuer." in page

    for new, message in (
        ("aaaaaaaaaaaa", "ne doit pas répéter les mêmes caractères"),
        ("vive carcassonne et son pont", "ne doit pas reprendre le nom de l&#39;organisation"),
        (password, "doit être différent de l&#39;actuel"),
    ):
        refused = _change(client, password, new)
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), new
        assert client.get("/").status_code == 302  # still temporary
    assert _change(client, password, "ma phrase de passe à moi").status_code == 302
    assert client.get("/").status_code == 200 and client.get("/api/v1/moi").status_code == 200


def test_an_expired_temporary_password_no_longer_signs_in(app, engine, issued):
    email, password = issued
    with write_session(engine) as session:
        user = session.scalar(select(User).where(User.email == email))
        user.password_expires_at = utcnow() - timedelta(minutes=1)
    refused = _sign_in(app.test_client(), email, password)
    assert refused.status_code == 403
    assert (
        "Mot de passe temporaire expiré : demandez-en un nouveau à l&#39;administrateur."
        in refused.get_data(as_text=True)
    )


def test_the_production_hash_is_scrypt_at_full_cost() -> None:
    """The tests hash at a lower cost (tests/conftest.py); a real server, in a fresh interpreter,
    hashes with werkzeug's scrypt at 2^15, and the dummy hash of unknown accounts is made at the
    first sign-in, not when the module is imported."""
    import subprocess
    import sys

    script = (
        "from services import accounts\n"
        "assert accounts._dummy_hash.cache_info().currsize == 0\n"
        "print(accounts.hash_password('cheval agrafe batterie').split('$')[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "scrypt:32768:8:1"
    assert accounts.hash_password("cheval agrafe batterie").startswith("scrypt:1024:8:1$")
