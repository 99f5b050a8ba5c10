"""Deployment settings (issue 22, item 6): Pilotis over plain HTTP, behind a reverse proxy, at a
public address, with HSTS in production."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import Engine, select

from models import Survey, User
from pilotis.errors import PilotisError
from pilotis.settings import Settings
from tests.conftest import DEMO_PASSWORD, csrf_token, demo_email


def _settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"PILOTIS_INSTANCE_PATH": str(tmp_path), "PILOTIS_SECRET_KEY": "k" * 40, **env})


def test_settings_are_read_and_checked_in_french(tmp_path) -> None:
    default = _settings(tmp_path)
    assert default.cookie_secure and default.trusted_proxies == 0 and default.public_url is None
    assert not _settings(tmp_path, PILOTIS_ENV="development").cookie_secure
    assert not _settings(tmp_path, PILOTIS_COOKIE_SECURE="0").cookie_secure
    assert _settings(tmp_path, PILOTIS_ENV="development", PILOTIS_COOKIE_SECURE="1").cookie_secure
    assert _settings(tmp_path, PILOTIS_TRUSTED_PROXIES="1").trusted_proxies == 1
    public = _settings(tmp_path, PILOTIS_PUBLIC_URL="https://pilotis.exemple.fr/")
    assert public.public_url == "https://pilotis.exemple.fr"
    assert (
        _settings(tmp_path, PILOTIS_BASE_URL="https://ancien.exemple.fr").public_url
        == "https://ancien.exemple.fr"
    )
    refused = {
        "PILOTIS_COOKIE_SECURE": ("peut-être", "« 1 » ou « 0 » attendu"),
        "PILOTIS_TRUSTED_PROXIES": ("nginx", "nombre de proxys inverses"),
        "PILOTIS_PUBLIC_URL": ("pilotis.exemple.fr", "comme « https://pilotis.exemple.fr »"),
    }
    for name, (value, message) in refused.items():
        with pytest.raises(PilotisError, match=message) as caught:
            _settings(tmp_path, **{name: value})
        assert name in caught.value.format_message()
    with pytest.raises(PilotisError, match="au plus 5"):
        _settings(tmp_path, PILOTIS_TRUSTED_PROXIES="12")


def _login_form(client) -> str:
    return csrf_token(client.get("/connexion").get_data(as_text=True))


def test_a_sign_in_over_http_whose_secure_cookie_was_refused_says_why(app: Flask, demo) -> None:
    """The README's recipe over plain HTTP: the browser does not keep the Secure cookie, so the
    form comes back without it. Before: « Formulaire expiré ou invalide » and no hint."""
    assert app.config["SESSION_COOKIE_SECURE"]
    token = _login_form(app.test_client())
    browser = app.test_client()  # it refused the cookie: it sends none
    data = {"csrf_token": token, "email": demo_email("direction"), "password": DEMO_PASSWORD}
    response = browser.post("/connexion", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Pilotis est ouvert en HTTP" in page
    assert "https://" in page and "PILOTIS_COOKIE_SECURE=0" in page and "PILOTIS_TRUSTED_PROXIES" in page
    # over HTTPS the same cookie-less form is just an expired form
    secure = app.test_client().post("/connexion", data=data, base_url="https://localhost")
    assert secure.status_code == 400
    assert "Formulaire expiré ou invalide" in secure.get_data(as_text=True)
    assert "ouvert en HTTP" not in secure.get_data(as_text=True)


def test_cookie_secure_off_lets_a_local_http_test_sign_in(
    make_app: Callable[..., Flask], database_url: str, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILOTIS_COOKIE_SECURE", "0")
    app = make_app(database_url)
    assert not app.config["SESSION_COOKIE_SECURE"] and not app.config["REMEMBER_COOKIE_SECURE"]
    client = app.test_client()
    token = _login_form(client)
    response = client.post(
        "/connexion",
        data={"csrf_token": token, "email": demo_email("direction"), "password": DEMO_PASSWORD},
    )
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]


def _sign_in_from(client, login: str, password: str, address: str):
    """A sign-in relayed by the proxy at 10.0.0.2, which appends the client's address."""
    relayed = {
        "environ_base": {"REMOTE_ADDR": "10.0.0.2"},
        "headers": {
            "X-Forwarded-For": address,
            "X-Forwarded-Proto": "https",
            "Referer": "https://localhost/connexion",
        },
    }
    token = csrf_token(client.get("/connexion", **relayed).get_data(as_text=True))
    return client.post(
        "/connexion", data={"csrf_token": token, "email": demo_email(login), "password": password}, **relayed
    )


def test_behind_a_trusted_proxy_each_user_has_their_own_address(
    make_app: Callable[..., Flask], database_url: str, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every user came from the proxy's address, and 20 failed sign-ins of one person
    locked everyone else out (429)."""
    attacker = "203.0.113.50"
    monkeypatch.setenv("PILOTIS_TRUSTED_PROXIES", "1")
    app = make_app(database_url)
    for _ in range(20):
        _sign_in_from(app.test_client(), "inconnu", "x" * 12, attacker)
    assert _sign_in_from(app.test_client(), "direction", DEMO_PASSWORD, attacker).status_code == 429
    assert _sign_in_from(app.test_client(), "direction", DEMO_PASSWORD, "198.51.100.20").status_code == 302
    # without the setting the forwarded address is not believed: all share the proxy's
    monkeypatch.delenv("PILOTIS_TRUSTED_PROXIES")
    untrusting = make_app(database_url)
    for _ in range(20):
        _sign_in_from(untrusting.test_client(), "inconnu", "x" * 12, "203.0.113.51")
    assert (
        _sign_in_from(untrusting.test_client(), "direction", DEMO_PASSWORD, "198.51.100.21").status_code
        == 429
    )


def test_a_trusted_proxy_s_https_gets_hsts_and_https_links(
    make_app: Callable[..., Flask], database_url: str, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILOTIS_TRUSTED_PROXIES", "1")
    app = make_app(database_url)
    behind = app.test_client().get(
        "/connexion", environ_base={"REMOTE_ADDR": "10.0.0.2"}, headers={"X-Forwarded-Proto": "https"}
    )
    assert behind.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = app.test_client().get("/connexion")  # no proxy header: plain HTTP, no HSTS
    assert "Strict-Transport-Security" not in plain.headers
    monkeypatch.setenv("PILOTIS_ENV", "development")
    development = make_app(database_url).test_client().get("/connexion", base_url="https://localhost")
    assert "Strict-Transport-Security" not in development.headers


def test_the_public_address_makes_the_survey_link_and_the_mails(
    make_app: Callable[..., Flask], database_url: str, engine: Engine, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: behind a proxy the public survey link read http://127.0.0.1:8000/…"""
    with engine.connect() as conn:
        survey_id, token = conn.execute(
            select(Survey.id, Survey.token)
            .join(User, User.organisation_id == Survey.organisation_id)
            .where(User.email == demo_email("direction"))
            .order_by(Survey.id)
        ).first()
    monkeypatch.setenv("PILOTIS_PUBLIC_URL", "https://pilotis.exemple.fr/")
    app = make_app(database_url)
    client = app.test_client()
    page_token = _login_form(client)
    client.post(
        "/connexion",
        data={"csrf_token": page_token, "email": demo_email("direction"), "password": DEMO_PASSWORD},
    )
    page = client.get(f"/enquetes/{survey_id}").get_data(as_text=True)
    assert f'href="https://pilotis.exemple.fr/participer/{token}"' in page
    assert "http://localhost" not in page  # the address the request came by (the proxy's)
    from jobs.scheduler import smtp_from_env

    monkeypatch.setenv("PILOTIS_SMTP_HOST", "smtp.exemple.fr")
    smtp = smtp_from_env()
    assert smtp is not None and smtp.base_url == "https://pilotis.exemple.fr"
    # HSTS as soon as the public address is https, even if the proxy's scheme is not passed on
    assert client.get("/connexion").headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_proxy_that_does_not_pass_the_host_on_is_named(
    make_app: Callable[..., Flask], database_url: str, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS forms are checked against the Host Pilotis receives: a proxy sending its own
    (127.0.0.1:8000) made every form « expiré » with no hint."""
    monkeypatch.setenv("PILOTIS_TRUSTED_PROXIES", "1")
    app = make_app(database_url)
    client = app.test_client()
    relayed = {
        "environ_base": {"REMOTE_ADDR": "10.0.0.2"},
        "headers": {"X-Forwarded-Proto": "https", "Referer": "https://pilotis.exemple.fr/connexion"},
        "base_url": "http://127.0.0.1:8000",
    }
    token = csrf_token(client.get("/connexion", **relayed).get_data(as_text=True))
    response = client.post(
        "/connexion", data={"csrf_token": token, "email": "x@y.fr", "password": "z"}, **relayed
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "pilotis.exemple.fr" in page and "127.0.0.1:8000" in page
    assert "proxy_set_header Host $host;" in page
