"""Review pages, action items, notifications and preferences, and the administrator's jobs page."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from models import JobRun, Notification, Organisation, Period, Review, ReviewAction, User
from models.base import utcnow
from pilotis.database import write_session
from services.notifications import notify
from services.reviews import close_period
from tests.conftest import csrf_token


@pytest.fixture
def review_id(engine, demo):
    with write_session(engine) as session:
        org = session.get(Organisation, demo.organisation_id)
        review = session.scalar(select(Review).join(Period, Period.id == Review.period_id)
                                .where(Review.organisation_id == org.id, Period.key == "2025-T3"))  # fmt: skip
        review = review or close_period(session, org, "2025-T3", now=utcnow())
        ident = review.id
    yield ident
    with write_session(engine) as session:
        session.execute(delete(ReviewAction).where(ReviewAction.review_id == ident))


def test_a_review_shows_its_period_and_records_actions(login_as, review_id):
    client = login_as("direction")
    page = client.get(f"/revues/{review_id}").get_data(as_text=True)
    assert "Revue de la période 2025-T3" in page and "Repas livrés à domicile" in page
    response = client.post(f"/revues/{review_id}/actions", data={"csrf_token": csrf_token(page),
                           "text": "Renforcer le portage dans le quartier Nord", "due_date": "2026-03-31"})  # fmt: skip
    assert response.status_code == 303
    page = client.get(f"/revues/{review_id}").get_data(as_text=True)
    assert "Renforcer le portage dans le quartier Nord" in page and "31/03/2026" in page
    pack = client.get(f"/revues/{review_id}/dossier.xlsx")
    sheet = load_workbook(BytesIO(pack.data)).active
    assert "Revue de la période 2025-T3" in sheet["A1"].value
    elected = login_as("elu")
    token = csrf_token(elected.get(f"/revues/{review_id}").get_data(as_text=True))
    assert (
        elected.post(f"/revues/{review_id}/actions", data={"csrf_token": token, "text": "x"}).status_code
        == 403
    )


def test_notifications_bell_list_and_preferences(login_as, engine, demo):
    with write_session(engine) as session:
        user = session.scalar(select(User).where(User.email == "finances@carcassonne.pilotis.example"))
        notify(
            session,
            [user],
            kind="alert",
            title="Au rouge : essai",
            body="Détail de l'alerte",
            link="/",
            now=utcnow(),
        )
        user_id = user.id
    client = login_as("finances")
    home = client.get("/").get_data(as_text=True)
    assert "Notifications (1" in home
    page = client.get("/notifications").get_data(as_text=True)
    assert "Au rouge : essai" in page and "Non lue" in page
    client.post("/notifications/lues", data={"csrf_token": csrf_token(page)})
    assert "Notifications (" not in client.get("/").get_data(as_text=True)
    prefs = client.get("/notifications/preferences").get_data(as_text=True)
    client.post("/notifications/preferences", data={"csrf_token": csrf_token(prefs), "app-review": "on"})
    with write_session(engine) as session:
        user = session.get(User, user_id)
        assert (
            notify(session, [user], kind="alert", title="t", body="b", link=None, now=utcnow()) == 0
        )  # alerts turned off
        assert notify(session, [user], kind="review", title="t", body="b", link=None, now=utcnow()) == 1
        session.execute(delete(Notification).where(Notification.user_id == user_id))


def test_the_administrator_sees_and_runs_the_jobs(login_as, engine):
    client = login_as("admin")
    page = client.get("/admin/taches").get_data(as_text=True)
    assert "close-period" in page and "deliver-emails" in page and "Lancer maintenant" in page
    response = client.post(
        "/admin/taches/deliver-emails", data={"csrf_token": csrf_token(page)}, follow_redirects=True
    )
    assert "succeeded" in response.get_data(as_text=True)
    assert "Boîte d'envoi des courriels" in client.get("/admin/boite-d-envoi").get_data(as_text=True)
    with write_session(engine) as session:
        session.execute(delete(JobRun))
