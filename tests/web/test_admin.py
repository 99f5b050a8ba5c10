"""User administration by the administrator."""

from __future__ import annotations

import re

from sqlalchemy import select

from models import Role, User
from pilotis.database import write_session
from tests.conftest import csrf_token


def _issued_password(page: str) -> str:
    return re.search(r'<p class="secret-box"><code>([^<]+)</code>', page).group(1)


def test_create_a_manager_who_then_signs_in_with_the_printed_password(login_as, app, engine, demo):
    admin = login_as("admin")
    page = admin.get("/admin/utilisateurs/nouveau").get_data(as_text=True)
    services = dict(re.findall(r'<option value="(\d+)">([^<]+)</option>', page))
    seniors = next(k for k, v in services.items() if v.startswith("Pôle seniors"))
    response = admin.post(
        "/admin/utilisateurs/nouveau",
        data={
            "csrf_token": csrf_token(page),
            "email": "Nouvelle.Recrue@Carcassonne.pilotis.example",
            "full_name": "Nouvelle Recrue",
            "role": "service_manager",
            "services": [seniors],
        },
    )
    assert response.status_code == 200
    password = _issued_password(response.get_data(as_text=True))
    newcomer = app.test_client()
    token = csrf_token(newcomer.get("/connexion").get_data(as_text=True))
    signed = newcomer.post(
        "/connexion",
        data={
            "csrf_token": token,
            "email": "nouvelle.recrue@carcassonne.pilotis.example",
            "password": password,
        },
    )
    assert signed.status_code == 302 and signed.headers["Location"].endswith("/compte/mot-de-passe")
    assert newcomer.get("/").headers["Location"].endswith("/compte/mot-de-passe")  # temporary: replace it
    page = newcomer.get("/compte/mot-de-passe").get_data(as_text=True)
    new = "ma propre phrase de passe"
    changed = newcomer.post(
        "/compte/mot-de-passe",
        data={"csrf_token": csrf_token(page), "current": password, "new": new, "confirm": new},
    )
    assert changed.status_code == 302
    assert "Nouvelle Recrue" in newcomer.get("/").get_data(as_text=True)
    with write_session(engine) as session:
        user = session.scalar(select(User).where(User.email == "nouvelle.recrue@carcassonne.pilotis.example"))
        assert user.role is Role.SERVICE_MANAGER and [s.code for s in user.services] == ["SENIORS"]
        session.delete(user)


def test_bad_user_forms_are_refused_in_french(login_as, demo):
    admin = login_as("admin")
    token = csrf_token(admin.get("/admin/utilisateurs/nouveau").get_data(as_text=True))
    cases = [
        ({"email": "pas-une-adresse", "full_name": "X", "role": "reader"}, "Adresse électronique invalide"),
        (
            {"email": "direction@carcassonne.pilotis.example", "full_name": "X", "role": "reader"},
            "existe déjà",
        ),
        (
            {"email": "m@carcassonne.pilotis.example", "full_name": "X", "role": "service_manager"},
            "au moins un service",
        ),
        ({"email": "m@carcassonne.pilotis.example", "full_name": "", "role": "reader"}, "obligatoire"),
    ]
    for data, message in cases:
        response = admin.post("/admin/utilisateurs/nouveau", data={"csrf_token": token, **data})
        assert response.status_code == 400, message
        assert message in response.get_data(as_text=True)


def test_deactivate_reset_and_change_role(login_as, app, engine, demo):
    admin = login_as("admin")
    victim = login_as("finances")
    with write_session(engine) as session:
        user_id, full_name = session.execute(
            select(User.id, User.full_name).where(User.email == "finances@carcassonne.pilotis.example")
        ).one()
    token = csrf_token(admin.get("/admin/utilisateurs").get_data(as_text=True))
    assert (
        admin.post(f"/admin/utilisateurs/{user_id}/desactiver", data={"csrf_token": token}).status_code == 303
    )
    assert victim.get("/").status_code == 302  # signed out at once
    assert (
        admin.post(f"/admin/utilisateurs/{user_id}/reactiver", data={"csrf_token": token}).status_code == 303
    )
    reset = admin.post(f"/admin/utilisateurs/{user_id}/mot-de-passe", data={"csrf_token": token})
    temporary = _issued_password(reset.get_data(as_text=True))
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", temporary)
    page = admin.get(f"/admin/utilisateurs/{user_id}").get_data(as_text=True)
    version = page.split('name="version" type="hidden" value="')[1].split('"')[0]
    changed = admin.post(
        f"/admin/utilisateurs/{user_id}",
        data={"csrf_token": token, "full_name": "Luc Moreau", "role": "reader", "version": version},
    )
    assert changed.status_code == 302
    stale = admin.post(
        f"/admin/utilisateurs/{user_id}",
        data={"csrf_token": token, "full_name": "Luc Moreau", "role": "finance", "version": version},
    )
    assert stale.status_code == 409 and "modifié entre-temps" in stale.get_data(as_text=True)
    with write_session(engine) as session:  # back to the demo state
        from services.accounts import hash_password
        from tests.conftest import DEMO_PASSWORD

        user = session.get(User, user_id)
        user.role, user.password_hash = Role.FINANCE, hash_password(DEMO_PASSWORD)
        user.full_name, user.password_expires_at = full_name, None  # no longer a temporary password


def test_the_admin_cannot_deactivate_themself(login_as, engine, demo):
    admin = login_as("admin")
    with write_session(engine) as session:
        admin_id = session.scalar(select(User.id).where(User.email == "admin@carcassonne.pilotis.example"))
    token = csrf_token(admin.get("/admin/utilisateurs").get_data(as_text=True))
    response = admin.post(
        f"/admin/utilisateurs/{admin_id}/desactiver", data={"csrf_token": token}, follow_redirects=True
    )
    assert "propre compte" in response.get_data(as_text=True)
    assert admin.get("/").status_code == 200
