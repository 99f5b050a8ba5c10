"""Sign-in, lockout, throttling, sign-out and the session's safety."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import User
from pilotis.database import write_session
from tests.conftest import DEMO_PASSWORD, csrf_token, demo_email, sign_in


def _post_login(client, login, password, address="127.0.0.1"):
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    return client.post(
        "/connexion",
        data={"csrf_token": token, "email": demo_email(login), "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_wrong_password_is_refused_in_french_and_counted(app, engine, demo):
    response = _post_login(app.test_client(), "finances", "pas le bon mot de passe")
    assert response.status_code == 401
    assert "Adresse électronique ou mot de passe incorrect" in response.get_data(as_text=True)
    with write_session(engine) as session:
        assert session.scalar(select(User.failed_logins).where(User.email == demo_email("finances"))) == 1


def test_an_account_locks_after_five_failures_even_for_the_right_password(app, demo):
    client = app.test_client()
    for _ in range(5):
        assert _post_login(client, "elu", "mauvais mot de passe").status_code == 401
    response = _post_login(client, "elu", DEMO_PASSWORD)
    assert response.status_code == 429
    assert "Compte verrouillé" in response.get_data(as_text=True)


def test_an_address_is_throttled_before_any_password_is_checked(app, demo):
    client = app.test_client()
    for _ in range(20):
        _post_login(client, "inconnu", "x" * 12, address="203.0.113.7")
    response = _post_login(client, "direction", DEMO_PASSWORD, address="203.0.113.7")
    assert response.status_code == 429
    assert "Trop de tentatives depuis cette adresse" in response.get_data(as_text=True)
    assert (
        _post_login(app.test_client(), "direction", DEMO_PASSWORD, address="198.51.100.1").status_code == 302
    )


def test_sign_out_revokes_the_old_cookie(app, demo):
    client = sign_in(app.test_client(), "direction")
    stolen = client.get_cookie("session").value
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/deconnexion", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_a_password_change_ends_the_other_sessions(app, engine, demo):
    laptop = sign_in(app.test_client(), "partenaire")
    phone = sign_in(app.test_client(), "partenaire")
    token = csrf_token(laptop.get("/compte/mot-de-passe").get_data(as_text=True))
    new_password = "un trajet en tramway vers la mer"
    response = laptop.post(
        "/compte/mot-de-passe",
        data={"csrf_token": token, "current": DEMO_PASSWORD, "new": new_password, "confirm": new_password},
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200  # this browser keeps its session
    assert phone.get("/").status_code == 302  # the other one is signed out
    with write_session(engine) as session:  # put the demo password back for the other tests
        from services.accounts import hash_password

        user = session.scalar(select(User).where(User.email == demo_email("partenaire")))
        user.password_hash = hash_password(DEMO_PASSWORD)


def test_weak_new_passwords_are_refused_with_the_reason(app, demo):
    client = sign_in(app.test_client(), "finances")
    token = csrf_token(client.get("/compte/mot-de-passe").get_data(as_text=True))
    for weak, reason in [("court", "au moins 12 caractères"), ("motdepasse123", "plus courants")]:
        response = client.post(
            "/compte/mot-de-passe",
            data={"csrf_token": token, "current": DEMO_PASSWORD, "new": weak, "confirm": weak},
        )
        assert response.status_code == 400
        assert reason in response.get_data(as_text=True)


def test_state_changes_without_a_csrf_token_are_refused(app, engine, demo):
    client = sign_in(app.test_client(), "direction")
    with write_session(engine) as session:
        from models import Service

        service = session.scalar(
            select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == "CAF")
        )
        before = (service.id, service.name, service.version)
    response = client.post(f"/services/{before[0]}", data={"name": "Piraté", "version": before[2]})
    assert response.status_code == 400
    assert "Formulaire expiré ou invalide" in response.get_data(as_text=True)
    api = client.patch(f"/api/v1/services/{before[0]}", json={"name": "Piraté", "version": before[2]})
    assert api.status_code == 400
    with write_session(engine) as session:
        service = session.get(Service, before[0])
        assert (service.id, service.name, service.version) == before


def test_a_session_set_before_sign_in_does_not_survive_it(app, demo):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    sign_in(client, "direction")
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_next_only_follows_local_paths(app, demo):
    client = app.test_client()
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    response = client.post(
        "/connexion",
        data={
            "csrf_token": token,
            "email": demo_email("direction"),
            "password": DEMO_PASSWORD,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["Location"] == "/"


def test_cookies_and_security_headers(app, make_app, database_url, demo):
    response = _post_login(app.test_client(), "direction", DEMO_PASSWORD)
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = app.test_client().get("/connexion")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert app.config["REMEMBER_COOKIE_DURATION"] <= timedelta(days=14)
    production = make_app(database_url, ENV="production")
    assert production.config["SESSION_COOKIE_SECURE"] and production.config["REMEMBER_COOKIE_SECURE"]


def test_a_deactivated_account_cannot_sign_in_and_loses_its_sessions(app, engine, demo):
    from services import accounts

    client = sign_in(app.test_client(), "finances")
    with write_session(engine) as session:
        accounts.deactivate(session.scalar(select(User).where(User.email == demo_email("finances"))))
    assert client.get("/").status_code == 302
    response = _post_login(app.test_client(), "finances", DEMO_PASSWORD)
    assert response.status_code == 403 and "désactivé" in response.get_data(as_text=True)
    with write_session(engine) as session:
        accounts.reactivate(session.scalar(select(User).where(User.email == demo_email("finances"))))
