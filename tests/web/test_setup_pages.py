"""The server administrator's set-up wizard, and the organisations it creates kept apart."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import delete, func, select

from models import Organisation, Role, Service, Territory, User
from models.base import utcnow
from pilotis.database import write_session
from services.organisations import create_server_admin
from tests.conftest import csrf_token

BREST = "29019"  # a commune of Brittany, not among the demo's communes


def _sign_in(client, email, password):
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"csrf_token": token, "email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    if response.headers["Location"].endswith("/compte/mot-de-passe"):  # a temporary password: replaced
        page = client.get("/compte/mot-de-passe").get_data(as_text=True)
        new = "une toute autre phrase de passe"
        changed = client.post(
            "/compte/mot-de-passe",
            data={"csrf_token": csrf_token(page), "current": password, "new": new, "confirm": new},
        )
        assert changed.status_code == 302, changed.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def superadmin(app, engine):
    """A server administrator of no organisation, signed in; what the test created is removed."""
    email = f"dsi-{uuid.uuid4().hex[:8]}@agglo.example.org"
    with write_session(engine) as session:
        before = set(session.scalars(select(Organisation.id)))
        _, password = create_server_admin(
            session,
            email=email,
            full_name="Service informatique",
            organisation=None,
            role=Role.ADMIN,
            now=utcnow(),
        )
    yield _sign_in(app.test_client(), email, password)
    with write_session(engine) as session:
        created = set(session.scalars(select(Organisation.id))) - before
        session.execute(delete(User).where(User.email == email))
        session.execute(delete(Organisation).where(Organisation.id.in_(created)))


def test_a_server_administrator_of_no_organisation_is_brought_to_the_wizard(superadmin, demo):
    for path in ("/", "/besoins", "/admin/utilisateurs"):
        response = superadmin.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/installation/")
    page = superadmin.get("/installation/").get_data(as_text=True)
    assert "Créer une organisation" in page and "demo-11069" in page


def test_the_wizard_finds_creates_and_shows_the_password_once(superadmin, app, engine, demo):
    page = superadmin.get("/installation/?type=ccas&q=brest").get_data(as_text=True)
    assert BREST in page and "Finistère" in page
    link = f"/installation/nouvelle?type=ccas&amp;code={BREST}"
    assert link in page
    form = superadmin.get(link.replace("&amp;", "&"))
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'value="CCAS de Brest"' in html
    response = superadmin.post(
        "/installation/nouvelle",
        data={
            "csrf_token": csrf_token(html),
            "kind": "ccas",
            "code": BREST,
            "name": "CCAS de Brest",
            "admin_email": "direction@ccas-brest.example.org",
            "admin_name": "Annaïg Le Gall",
        },
    )
    created = response.get_data(as_text=True)
    assert response.status_code == 201, created[:500]
    assert "<code>ccas-brest</code>" in created and "IRIS" in created and "CNAF 2020" in created
    password = re.search(r'<p class="secret-box"><code>([^<]+)</code>', created).group(1)
    with write_session(engine) as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == "ccas-brest"))
        assert (
            session.scalar(
                select(func.count()).select_from(Territory).where(Territory.organisation_id == org.id)
            )
            > 5
        )
        demo_service = session.scalar(
            select(Service.id).where(Service.organisation_id == demo.organisation_id)
        )

    # the new organisation's administrator signs in and sees only their own rows
    admin = _sign_in(app.test_client(), "direction@ccas-brest.example.org", password)
    assert admin.get("/").status_code == 200
    assert admin.get(f"/services/{demo_service}").status_code == 404
    assert admin.get("/installation/").status_code == 403

    # the same organisation again: refused, nothing written
    again = superadmin.post(
        "/installation/nouvelle",
        data={"csrf_token": csrf_token(html), "kind": "ccas", "code": BREST, "name": "Autre"},
    )
    assert again.status_code == 400 and "existe déjà" in again.get_data(as_text=True)
    with write_session(engine) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Organisation).where(Organisation.insee_code == BREST)
            )
            == 1
        )
        session.execute(delete(User).where(User.email == "direction@ccas-brest.example.org"))


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("ccas", "242900314", "est l&#39;EPCI"),
        ("epci", BREST, "est la commune Brest"),
        ("ccas", "00000", "inconnu"),
    ],
)
def test_a_code_that_does_not_fit_the_kind_is_refused_in_french(superadmin, engine, kind, code, message):
    with write_session(engine) as session:
        before = session.scalar(select(func.count()).select_from(Organisation))
    page = superadmin.get(f"/installation/nouvelle?type={kind}&code={code}")
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    token = csrf_token(superadmin.get("/installation/").get_data(as_text=True))
    response = superadmin.post(
        "/installation/nouvelle", data={"csrf_token": token, "kind": kind, "code": code, "name": "Test"}
    )
    assert response.status_code == 400 and "Rien n'a été créé" in response.get_data(as_text=True)
    with write_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == before


def test_a_search_without_a_match_says_so(superadmin):
    page = superadmin.get("/installation/?type=departement&q=zzzz").get_data(as_text=True)
    assert "Aucun territoire ne correspond à « zzzz »" in page


def test_an_organisation_administrator_cannot_create_organisations(login_as):
    admin = login_as("admin")
    assert admin.get("/installation/").status_code == 403
    assert admin.get("/installation/nouvelle?type=ccas&code=29019").status_code == 403
