"""Partners (CAF, Département, associations) read the shared diagnostic, not the CCAS's internal
documents: the budget scenarios (unless the direction shares one), the cost model, draft texts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import AuditEntry, Role, Scenario, User
from pilotis.database import write_session
from services.abs_report import save_text
from services.policy import Principal
from services.scenarios import ScenarioInput, create_scenario
from tests.conftest import csrf_token, demo_email, rows_added_are_removed

DRAFT = "Analyse encore en discussion au conseil d'administration : ne pas diffuser."


@pytest.fixture(scope="module")
def scenario(engine, demo):  # type: ignore[no-untyped-def]
    """An internal scenario of the demo, and a draft analysis text of the ABS 2027 (removed after)."""
    with rows_added_are_removed(engine):
        with write_session(engine) as session:
            found = create_scenario(
                session,
                demo.organisation_id,
                ScenarioInput(name="Partage avec les partenaires", year=2027, cut=-0.03),
                user_id=None,
            )
            direction = session.scalar(select(User).where(User.email == demo_email("direction")))
            save_text(
                session,
                Principal.of(direction),
                demo.organisation_id,
                2027,
                "full",
                None,
                "synthese",
                DRAFT,
                _version(session, demo.organisation_id),
            )
            scenario_id = found.id
        yield scenario_id


def _version(session, organisation_id):  # type: ignore[no-untyped-def]
    from models import ReportText

    row = session.scalar(
        select(ReportText).where(
            ReportText.organisation_id == organisation_id,
            ReportText.year == 2027,
            ReportText.section == "synthese",
            ReportText.kind == "full",
        )
    )
    return row.version if row else 0


def _share(client, scenario_id: int, choice: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get(f"/scenarios/{scenario_id}").get_data(as_text=True))
    return client.post(f"/scenarios/{scenario_id}/partage", data={"csrf_token": token, "partage": choice})


def _scenario_paths(scenario_id: int) -> list[str]:
    return [
        f"/scenarios/{scenario_id}",
        f"/scenarios/{scenario_id}/export.xlsx",
        f"/scenarios/{scenario_id}/probleme.json",
    ]


def test_a_partner_reads_the_shared_diagnostic(login_as):
    partner = login_as("partenaire")
    for path in ("/besoins", "/coherence", "/coherence/export.xlsx", "/abs?annee=2027", "/tableau-de-bord/"):
        assert partner.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "path", ["/couts", "/couts/export.xlsx", "/couts/execution", "/couts/modele", "/couts/import"]
)
def test_a_partner_never_reads_the_cost_model(login_as, path):
    response = login_as("partenaire").get(path)
    assert response.status_code == 403 and "Accès refusé" in response.get_data(as_text=True)


def test_a_scenario_is_internal_until_the_direction_shares_it(login_as, engine, scenario):
    partner, direction = login_as("partenaire"), login_as("direction")
    for path in _scenario_paths(scenario):
        assert partner.get(path).status_code == 403, path
    assert "Partage avec les partenaires" not in partner.get("/scenarios").get_data(as_text=True)
    page = direction.get(f"/scenarios/{scenario}").get_data(as_text=True)
    assert "interne (non partagé avec les partenaires)" in page and "Partager avec les partenaires" in page

    response = _share(direction, scenario, "oui")
    assert response.status_code == 303
    assert "Scénario partagé avec les partenaires." in direction.get(response.headers["Location"]).get_data(
        as_text=True
    )
    for path in _scenario_paths(scenario):
        assert partner.get(path).status_code == 200, path
    assert "Partage avec les partenaires" in partner.get("/scenarios").get_data(as_text=True)
    shown = partner.get(f"/scenarios/{scenario}").get_data(as_text=True)
    assert "partagé avec les partenaires" in shown and "Ne plus partager" not in shown
    with write_session(engine) as session:
        entry = session.scalar(  # the latest: another test of the module may have shared it first
            select(AuditEntry)
            .where(
                AuditEntry.table_name == "scenarios",
                AuditEntry.row_id == str(scenario),
                AuditEntry.field == "shared_with_partners",
            )
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
        who = session.get(User, entry.user_id)
        assert (who.role, entry.new_value) == (Role.DIRECTION, "True")

    assert _share(direction, scenario, "non").status_code == 303
    for path in _scenario_paths(scenario):
        assert partner.get(path).status_code == 403, path
    with write_session(engine) as session:
        assert session.get(Scenario, scenario).shared_with_partners is False


def test_a_comparison_needs_every_scenario_shared(login_as, engine, demo, scenario):
    with write_session(engine) as session:  # removed with the module's rows
        other = create_scenario(
            session, demo.organisation_id, ScenarioInput(name="Interne", year=2027, cut=-0.01), user_id=None
        ).id
        session.get(Scenario, scenario).shared_with_partners = True
    try:
        partner = login_as("partenaire")
        assert partner.get(f"/scenarios/comparer?ids={scenario}&ids={other}").status_code == 403
        assert partner.get(f"/scenarios/comparer.xlsx?ids={scenario}&ids={other}").status_code == 403
        assert login_as("direction").get(f"/scenarios/comparer?ids={scenario}&ids={other}").status_code == 200
    finally:
        with write_session(engine) as session:
            session.get(Scenario, scenario).shared_with_partners = False


@pytest.mark.parametrize("login", ["finances", "elu", "partenaire", "responsable.seniors", "admin"])
def test_only_the_direction_shares_a_scenario(login_as, engine, scenario, login):
    client = login_as(login)
    token = csrf_token(client.get("/compte/mot-de-passe").get_data(as_text=True))
    response = client.post(f"/scenarios/{scenario}/partage", data={"csrf_token": token, "partage": "oui"})
    assert response.status_code == 403
    with write_session(engine) as session:
        assert session.get(Scenario, scenario).shared_with_partners is False


def test_a_bad_sharing_choice_is_refused(login_as, scenario):
    assert _share(login_as("direction"), scenario, "peut-être").status_code == 400


def test_the_abs_draft_analysis_is_not_the_partners(login_as, scenario):
    assert DRAFT.replace("'", "&#39;") in login_as("elu").get("/abs?annee=2027").get_data(as_text=True)
    page = login_as("partenaire").get("/abs?annee=2027")
    assert page.status_code == 200 and "Synthèse" in page.get_data(as_text=True)
    assert "ne pas diffuser" not in page.get_data(as_text=True)
    annex = login_as("partenaire").get("/abs/annexe.xlsx?annee=2027")
    assert annex.status_code == 200 and b"ne pas diffuser" not in annex.data
