"""The catalogue page (/catalogue) and the wizard's catalogue step: ticks become objects, refusals
write nothing, and only the administrator, the direction and a server administrator setting up get there."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Activity, Indicator, Need, Organisation, Service
from models.base import utcnow
from pilotis.database import write_session
from services.organisations import create_organisation
from tests.conftest import csrf_token, rows_added_are_removed
from tests.web.test_setup_pages import superadmin  # noqa: F401 - the fixture


def _count(engine, model, organisation_id):
    with write_session(engine) as session:
        return session.scalar(
            select(func.count()).select_from(model).where(model.organisation_id == organisation_id)
        )


def test_the_direction_sees_what_the_demo_holds_and_what_it_could_add(login_as, demo):
    page = login_as("direction").get("/catalogue")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Catalogue de départ" in html and "38 activités, 23 besoins" in html
    # the demo's portage is there already: ticked and disabled; the téléassistance is offered
    portage = html.index('value="A_PORTAGE"')
    assert "checked" in html[portage : portage + 120] and "disabled" in html[portage : portage + 120]
    tele = html.index('value="A_TELEASSISTANCE"')
    assert "disabled" not in html[tele : tele + 120]
    assert "Couvre : Personnes âgées de 80 ans et plus, 1/250 par repas livré" in html
    assert "chiffré par la formule pop_75p (statistique détenue)" in html  # the demo holds the census


def test_ticking_creates_the_activity_its_indicators_and_its_links(login_as, engine, demo):
    client = login_as("admin")
    token = csrf_token(client.get("/catalogue").get_data(as_text=True))
    with rows_added_are_removed(engine):
        before = _count(engine, Activity, demo.organisation_id)
        response = client.post(
            "/catalogue",
            data={
                "csrf_token": token,
                "activite": ["A_TELEASSISTANCE", "A_PORTAGE"],
                "avec_indicateurs": "1",
            },
        )
        assert response.status_code == 303
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Créés : 1 activité(s)" in page and "Créés : 2 indicateur(s)" in page
        # the portage and its 6 indicators, and the seniors' service, were there: left alone
        assert (
            "Déjà présents, laissés tels quels : 1 service(s) ou partenaire(s), 1 activité(s), 6 indicateur(s)"
            in page
        )
        assert _count(engine, Activity, demo.organisation_id) == before + 1
        with write_session(engine) as session:
            tele = session.scalar(
                select(Activity).where(
                    Activity.organisation_id == demo.organisation_id, Activity.code == "A_TELEASSISTANCE"
                )
            )
            assert tele.service.code == "SENIORS" and tele.output_unit == "abonnement (an)"
            assert {c.need.code for c in tele.coverages} == {"PA80", "AAH"}  # the demo's needs
            codes = set(session.scalars(select(Indicator.code).where(Indicator.activity_id == tele.id)))
            assert codes == {"abonnes_teleassistance", "delai_installation_teleassistance"}
        # again: nothing new
        token = csrf_token(page)
        again = client.post("/catalogue", data={"csrf_token": token, "activite": "A_TELEASSISTANCE"})
        assert "Rien de nouveau" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_a_refused_tick_says_why_and_writes_nothing(login_as, engine, demo):
    client = login_as("direction")
    token = csrf_token(client.get("/catalogue").get_data(as_text=True))
    before = _count(engine, Activity, demo.organisation_id)
    response = client.post(
        "/catalogue", data={"csrf_token": token, "activite": ["A_TELEASSISTANCE", "A_XYZ"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Activité(s) inconnue(s) du catalogue : A_XYZ" in html and "Rien n'a été créé" in html
    tele = html.index('value="A_TELEASSISTANCE"')
    assert "checked" in html[tele : tele + 100]  # ticked again, to correct and resend
    assert _count(engine, Activity, demo.organisation_id) == before
    empty = client.post("/catalogue", data={"csrf_token": token})
    assert empty.status_code == 400 and "Cochez au moins" in empty.get_data(as_text=True)
    assert client.post("/catalogue", data={"activite": "A_TELEASSISTANCE"}).status_code == 400  # no CSRF


@pytest.mark.parametrize("login", ["finances", "elu", "partenaire", "responsable.seniors"])
def test_other_roles_may_not_open_it(login_as, demo, login):
    client = login_as(login)
    assert client.get("/catalogue").status_code == 403
    assert client.post("/catalogue", data={"activite": "A_TELEASSISTANCE"}).status_code in (400, 403)


def test_the_wizard_offers_the_catalogue_once_for_the_new_organisation(superadmin, engine, demo):  # noqa: F811
    with rows_added_are_removed(engine):
        with write_session(engine) as session:
            org_id = create_organisation(session, "ccas", "22278", now=utcnow()).organisation.id
        page = superadmin.get(f"/installation/{org_id}/catalogue")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "4. Partir du catalogue standard : CCAS de Saint-Brieuc" in html
        assert "statistique pop_80p à importer" in html  # no census by age for a new organisation
        response = superadmin.post(
            f"/installation/{org_id}/catalogue",
            data={
                "csrf_token": csrf_token(html),
                "activite": ["A_DOMICILIATION", "A_ASL", "A_EPICERIE"],
                "besoin": ["SDF", "RSA_IRIS", "MONOPARENTS"],
                "avec_indicateurs": "1",
            },
        )
        done = response.get_data(as_text=True)
        assert response.status_code == 200 and "Catalogue appliqué" in done
        assert _count(engine, Activity, org_id) == 3 and _count(engine, Service, org_id) == 1
        assert _count(engine, Need, org_id) >= 3 and _count(engine, Indicator, org_id) == 6
        # the organisation has started: its own team completes it, not the server administrator
        later = superadmin.get(f"/installation/{org_id}/catalogue").get_data(as_text=True)
        assert "a déjà ses services" in later and 'name="activite"' not in later
        refused = superadmin.post(
            f"/installation/{org_id}/catalogue", data={"csrf_token": csrf_token(html), "activite": "A_RSA"}
        )
        assert refused.status_code == 400 and _count(engine, Activity, org_id) == 3
        with write_session(engine) as session:
            assert session.get(Organisation, org_id) is not None


def test_the_created_page_leads_to_the_catalogue(superadmin, engine, demo):  # noqa: F811
    with rows_added_are_removed(engine):
        form = superadmin.get("/installation/nouvelle?type=ccas&code=22278").get_data(as_text=True)
        response = superadmin.post(
            "/installation/nouvelle",
            data={
                "csrf_token": csrf_token(form),
                "kind": "ccas",
                "code": "22278",
                "name": "CCAS de Saint-Brieuc",
            },
        )
        html = response.get_data(as_text=True)
        assert response.status_code == 201
        assert "Choisir dans le catalogue" in html and "/catalogue" in html
