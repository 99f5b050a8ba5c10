"""Fiches action through the pages: created, listed per objective and per pilot, followed up with
milestones and review points, edited at a version, refused in French, journaled."""

from __future__ import annotations

import html as markup
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select

from models import ActionPlan, AuditEntry, Objective, Service, User
from models.base import utcnow
from pilotis.database import write_session
from tests.conftest import csrf_token, demo_email


@pytest.fixture
def demo_ids(engine, demo):
    with write_session(engine) as session:
        org = demo.organisation_id
        objective = dict(
            session.execute(
                select(Objective.code, Objective.id).where(Objective.organisation_id == org)
            ).all()
        )
        service = dict(
            session.execute(select(Service.code, Service.id).where(Service.organisation_id == org)).all()
        )
        user = {
            email.split("@")[0]: i
            for email, i in session.execute(select(User.email, User.id).where(User.organisation_id == org))
        }
    return {"org": org, "objective": objective, "service": service, "user": user}


@pytest.fixture
def cleanup(engine, demo):
    """The actions a test creates (codes starting with TEST-WEB) go when it ends."""
    yield
    with write_session(engine) as session:
        session.execute(
            delete(ActionPlan).where(
                ActionPlan.organisation_id == demo.organisation_id, ActionPlan.code.like("TEST-WEB%")
            )
        )


def text(response) -> str:
    """The page as a person reads it (entities such as &#39; unescaped)."""
    return markup.unescape(response.get_data(as_text=True))


def _post(client, page_url: str, url: str, data: dict):
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def _create(client, ids, code: str, **extra):
    data = {
        "title": "Repérer les seniors isolés avec la CAF",
        "code": code,
        "objective_id": ids["objective"]["OO1.1"],
        "owner_id": ids["user"]["responsable.seniors"],
        "elected_id": ids["user"]["elu"],
        "partners": "CAF, association Entraide",
        "budget": "12 500,50",
        "start_date": "2026-01-05",
        "due_date": "2026-12-31",
        "status": "in_progress",
        "progress": "20",
        "description": "Croiser les fichiers pour proposer le portage de repas.",
    } | extra
    return _post(client, "/actions/nouvelle", "/actions/nouvelle", data)


def _action(engine, code: str) -> ActionPlan:
    with write_session(engine) as session:
        action = session.scalar(select(ActionPlan).where(ActionPlan.code == code))
        session.expunge(action)
        return action


def test_the_direction_creates_an_action_follows_it_up_and_finds_it_per_objective_and_per_pilot(
    login_as, engine, demo_ids, cleanup
):
    client = login_as("direction")
    response = _create(client, demo_ids, "TEST-WEB-1")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    action = _action(engine, "TEST-WEB-1")
    sheet_url = f"/actions/{action.id}"
    assert response.headers["Location"].endswith(sheet_url)
    assert action.service_id == demo_ids["service"]["SENIORS"]  # the objective's service
    assert str(action.budget) == "12500.50"

    html = client.get(sheet_url).get_data(as_text=True)
    assert "TEST-WEB-1 — Repérer les seniors isolés avec la CAF" in html
    assert "Karim Benali" in html and "Nadia Roux" in html and "CAF, association Entraide" in html
    assert "12\u202f500,50\xa0€" in html
    assert "En cours" in html and "20 %" in html

    # a milestone, then reached
    response = _post(
        client,
        sheet_url,
        f"{sheet_url}/jalons",
        {"title": "Convention signée avec la CAF", "due_date": "2026-03-31"},
    )
    assert response.status_code == 303
    with write_session(engine) as session:
        milestone = session.get(ActionPlan, action.id).milestones[0]
        milestone_id, version = milestone.id, milestone.version
    response = _post(
        client, sheet_url, f"{sheet_url}/jalons/{milestone_id}", {"state": "done", "version": version}
    )
    assert response.status_code == 303
    html = client.get(sheet_url).get_data(as_text=True)
    assert f"Atteint le {utcnow().date():%d/%m/%Y}" in html

    # a review point moves the progress and keeps the comment
    token = csrf_token(html)
    response = client.post(
        f"{sheet_url}/suivi",
        data={
            "csrf_token": token,
            "comment": "Convention signée ; premiers repérages en mars.",
            "progress": "45",
            "status": "in_progress",
            "review_id": "",
            "version": re.search(r'name="version" type="hidden" value="(\d+)"', html).group(1),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]
    html = client.get(sheet_url).get_data(as_text=True)
    assert "Convention signée ; premiers repérages en mars." in html and "45 %" in html

    # listed under its objective and its pilot, with the timeline and its table
    for url in (
        f"/actions?objectif={demo_ids['objective']['OO1.1']}",
        f"/actions?pilote={demo_ids['user']['responsable.seniors']}",
    ):
        listing = client.get(url).get_data(as_text=True)
        assert "TEST-WEB-1 — Repérer les seniors isolés" in listing
        assert 'role="img"' in listing and "<caption>Fiches action" in listing
        assert ' style="' not in listing  # the CSP forbids inline styles
    other = client.get(f"/actions?objectif={demo_ids['objective']['OO2.1']}").get_data(as_text=True)
    assert "TEST-WEB-1" not in other

    # the journal has the creation, the milestone and the progress change, by the direction
    with write_session(engine) as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.table_name == "action_plans", AuditEntry.row_id == str(action.id)
            )
        ).all()
        assert any(e.action == "insert" for e in entries)
        assert any(e.field == "progress" and e.old_value == "20" and e.new_value == "45" for e in entries)
        assert session.scalar(
            select(AuditEntry.id).where(
                AuditEntry.table_name == "action_milestones", AuditEntry.field == "state"
            )
        )


def test_refusals_are_in_french_and_write_nothing(login_as, engine, demo_ids, cleanup):
    client = login_as("direction")
    cases = [
        ({"status": "done", "progress": "60"}, "Une action réalisée est avancée à 100 %"),
        ({"start_date": "2026-06-01", "due_date": "2026-01-31"}, "précède le début"),
        ({"budget": "douze mille"}, "Budget"),
        ({"elected_id": demo_ids["user"]["finances"]}, "n'est pas élu·e"),
        ({"objective_id": ""}, "Ce champ est obligatoire."),
    ]
    for extra, message in cases:
        response = _create(client, demo_ids, "TEST-WEB-REFUS", **extra)
        assert response.status_code == 400, extra
        assert message in text(response), (extra, message)
    with write_session(engine) as session:
        assert session.scalar(select(ActionPlan.id).where(ActionPlan.code == "TEST-WEB-REFUS")) is None


def test_a_manager_acts_on_their_services_actions_only(login_as, engine, demo_ids, cleanup):
    manager = login_as("responsable.seniors")
    response = _create(manager, demo_ids, "TEST-WEB-RS", objective_id=demo_ids["objective"]["OO2.1"])
    assert response.status_code == 400
    assert "Ce service n'est pas dans votre périmètre" in text(response)
    assert _create(manager, demo_ids, "TEST-WEB-RS").status_code == 303
    direction = login_as("direction")
    assert (
        _create(direction, demo_ids, "TEST-WEB-SOL", objective_id=demo_ids["objective"]["OO2.1"]).status_code
        == 303
    )
    other = _action(engine, "TEST-WEB-SOL")
    assert manager.get(f"/actions/{other.id}").status_code == 403
    assert manager.get(f"/actions/{other.id}/modifier").status_code == 403
    assert "TEST-WEB-SOL" not in manager.get("/actions").get_data(as_text=True)
    # the élu reads the sheet, without the forms
    html = text(login_as("elu").get(f"/actions/{other.id}"))
    assert "TEST-WEB-SOL" in html and "Modifier la fiche" not in html and "Ajouter le jalon" not in html


def test_a_stale_edit_is_refused_with_the_current_values(login_as, engine, demo_ids, cleanup):
    client = login_as("direction")
    assert _create(client, demo_ids, "TEST-WEB-V").status_code == 303
    action = _action(engine, "TEST-WEB-V")
    form = client.get(f"/actions/{action.id}/modifier").get_data(as_text=True)
    token = csrf_token(form)
    base = {
        "csrf_token": token,
        "title": "Première version",
        "objective_id": demo_ids["objective"]["OO1.1"],
        "status": "in_progress",
        "progress": "30",
        "version": str(action.version),
    }
    assert client.post(f"/actions/{action.id}/modifier", data=base).status_code == 303
    stale = client.post(f"/actions/{action.id}/modifier", data=base | {"title": "Seconde version"})
    assert stale.status_code == 409
    assert "modifiée entre-temps" in text(stale)
    assert _action(engine, "TEST-WEB-V").title == "Première version"


def test_late_actions_and_milestones_are_flagged(login_as, engine, demo_ids, cleanup):
    client = login_as("direction")
    past = utcnow().date() - timedelta(days=40)
    assert (
        _create(
            client,
            demo_ids,
            "TEST-WEB-RETARD",
            start_date=(past - timedelta(days=60)).isoformat(),
            due_date=past.isoformat(),
        ).status_code
        == 303
    )
    listing = client.get("/actions?statut=late").get_data(as_text=True)
    assert "TEST-WEB-RETARD" in listing and "en retard" in listing
    assert "dont <strong>" in listing
    unknown = client.get("/actions?statut=bidon")
    assert "Statut inconnu : « bidon »" in text(unknown)


def test_a_review_decision_becomes_an_action_sheet(login_as, engine, demo, demo_ids, cleanup):
    from models import Period, Review, ReviewAction

    with write_session(engine) as session:
        # a review of a month nobody reviews, made for the test and removed after it
        period = session.scalar(
            select(Period)
            .outerjoin(Review, Review.period_id == Period.id)
            .where(
                Period.organisation_id == demo.organisation_id, Period.kind == "month", Review.id.is_(None)
            )
            .order_by(Period.start_date)
            .limit(1)
        )
        review = Review(
            organisation_id=demo.organisation_id,
            period_id=period.id,
            title="Revue du test des fiches action",
            frozen_at=utcnow(),
            snapshot={},
        )
        session.add(review)
        session.flush()
        review_id = review.id
        decision = ReviewAction(
            review_id=review.id,
            objective_id=demo_ids["objective"]["OO1.1"],
            text="Relancer les bénéficiaires du portage sans visite depuis six mois",
            owner_id=demo_ids["user"]["responsable.seniors"],
            due_date=date(2026, 12, 15),
        )
        session.add(decision)
        session.flush()
        decision_id = decision.id
    try:
        client = login_as("direction")
        html = text(client.get(f"/actions/nouvelle?decision={decision_id}"))
        assert "Fiche issue d'une décision de revue" in html
        assert 'value="Relancer les bénéficiaires du portage sans visite depuis six mois"' in html
        assert 'value="2026-12-15"' in html
        assert client.get("/actions/nouvelle?decision=999999999").status_code == 404
    finally:
        with write_session(engine) as session:
            session.execute(delete(Review).where(Review.id == review_id))


def test_the_sheet_of_an_unknown_action_is_404(login_as):
    assert login_as("direction").get("/actions/999999999").status_code == 404
    assert demo_email("direction").endswith("pilotis.example")
