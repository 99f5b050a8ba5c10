"""The value chain edited in the browser's pages by a new organisation (a CCAS of Brittany, not one
of the demo's communes): partners, services, activities with their yearly volumes, territories
served and coverage links, needs with their sizing and qualitative evidence. Stale forms get 409
with the current values; bad input gets a French message on its field and writes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from models import (
    Activity,
    ActivityNeedCoverage,
    AuditEntry,
    Need,
    NeedObservation,
    Organisation,
    Role,
    Service,
    Territory,
    TerritoryKind,
)
from models.base import utcnow
from pilotis.database import write_session
from services import accounts
from tests.conftest import csrf_token

PASSWORD = "une phrase de passe assez longue"


@dataclass(frozen=True)
class Org:
    id: int
    commune: int
    iris: tuple[int, ...]


def _sign_in(client, email):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


@pytest.fixture(scope="module")
def lannion(engine) -> Org:  # type: ignore[no-untyped-def]
    """The CCAS of Lannion (22113, 8 IRIS), with a direction member, an administrator and an élu."""
    from services.organisations import create_organisation

    with write_session(engine) as session:
        found = session.scalar(select(Organisation).where(Organisation.insee_code == "22113"))
        if found is None:
            found = create_organisation(session, "ccas", "22113", now=utcnow()).organisation
            for login, role in (("direction", Role.DIRECTION), ("admin", Role.ADMIN), ("elu", Role.ELECTED)):
                accounts.create_user(
                    session,
                    organisation=found,
                    email=f"{login}@lannion.pilotis.example",
                    full_name=f"{login.capitalize()} de Lannion",
                    role=role,
                    services=[],
                    password=PASSWORD,
                    now=utcnow(),
                )
        territories = session.scalars(select(Territory).where(Territory.organisation_id == found.id)).all()
        commune = next(t.id for t in territories if t.kind is TerritoryKind.COMMUNE)
        iris = tuple(sorted(t.id for t in territories if t.kind is TerritoryKind.IRIS))
        return Org(found.id, commune, iris)


@pytest.fixture
def as_(app, lannion):  # type: ignore[no-untyped-def]
    def factory(login: str):  # type: ignore[no-untyped-def]
        return _sign_in(app.test_client(), f"{login}@lannion.pilotis.example")

    return factory


def _post(client, url, data, page=None):  # type: ignore[no-untyped-def]
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True).replace("&#39;", "'").replace("&#34;", '"')


@pytest.fixture
def service(engine, lannion, as_):  # type: ignore[no-untyped-def]
    client = as_("direction")
    response = _post(
        client,
        "/services/nouveau",
        {"name": "Pôle seniors", "kind": "own", "partner_type": "", "m57_function": "423", "version": "0"},
    )
    assert response.status_code == 303, _text(response)[-2000:]
    ident = int(response.headers["Location"].rsplit("/", 1)[1])
    yield ident
    with write_session(engine) as session:
        for activity in session.scalars(select(Activity).where(Activity.service_id == ident)):
            session.delete(activity)
        session.flush()
        session.delete(session.get(Service, ident))


def _activity(client, service_id, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "service_id": str(service_id),
        "name": "Portage de repas",
        "output_unit": "repas livré",
        "kind": "optional",
        "volume": "12 000",
        "capacity": "15 000",
        "unit_cost": "11,50",
        "fixed_cost": "8 000",
        "staff_etp": "1,5",
        "m57_function": "423",
        "min_volume": "",
        "beneficiaries": "80",
    }
    data.update(overrides)
    return _post(client, "/activites/nouvelle", data)


def test_a_partner_is_created_with_its_type_and_a_partner_without_one_is_refused(as_, engine, lannion):
    client = as_("admin")
    refused = _post(
        client,
        "/services/nouveau",
        {
            "name": "CAF des Côtes-d'Armor",
            "kind": "partner",
            "partner_type": "",
            "m57_function": "",
            "version": "0",
        },
    )
    assert refused.status_code == 400
    assert "Un partenaire a un type (CAF, Département, association…)" in _text(refused)
    response = _post(
        client,
        "/services/nouveau",
        {
            "name": "Mission locale Ouest Côtes-d'Armor",
            "kind": "partner",
            "partner_type": "mission_locale",
            "m57_function": "",
            "version": "0",
        },
    )
    assert response.status_code == 303
    page = _text(client.get("/services"))
    assert "Mission locale Ouest Côtes-d'Armor" in page and "Partenaire · Mission locale" in page
    with write_session(engine) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Service)
                .where(Service.organisation_id == lannion.id, Service.name.like("CAF des%"))
            )
            == 0
        )
        session.delete(
            session.scalar(
                select(Service).where(
                    Service.organisation_id == lannion.id, Service.name.like("Mission locale%")
                )
            )
        )


def test_an_activity_is_created_from_the_form_and_a_huge_number_is_refused_on_its_field(as_, service, engine):
    client = as_("direction")
    refused = _activity(client, service, capacity="1e300")
    assert refused.status_code == 400
    assert "Capacité (par an, vide : sans limite connue) : « 1e300 » n'est pas un nombre." in _text(refused)
    refused = _activity(client, service, volume="4 000 000 000 000 000")
    assert refused.status_code == 400
    assert (
        "Volume annuel retenu pour la couverture et les scénarios : « 4 000 000 000 000 000 » est hors limites"
        in _text(refused)
    )
    refused = _activity(client, service, unit_cost="1.234,5")
    assert refused.status_code == 400 and "mélange point et virgule" in _text(refused)
    refused = _activity(client, service, capacity="50", min_volume="80")
    assert refused.status_code == 400
    assert "Le volume minimum légal (80) dépasse la capacité (50)." in _text(refused)
    with write_session(engine) as session:
        assert (
            session.scalar(select(func.count()).select_from(Activity).where(Activity.service_id == service))
            == 0
        )
    created = _activity(client, service)
    assert created.status_code == 303
    page = _text(client.get(created.headers["Location"]))
    assert "Portage de repas" in page and "Volumes par année" in page and "Territoires desservis" in page


def test_yearly_volumes_and_territories_served_are_saved_and_bad_shares_refused(
    as_, service, engine, lannion
):
    client = as_("direction")
    url = _activity(client, service).headers["Location"]
    saved = _post(
        client,
        f"{url}/volumes",
        {"rows-0-year": "2025", "rows-0-planned": "12 000", "rows-0-actual": "11 480", "rows-1-year": ""},
        page=url,
    )
    assert saved.status_code == 303, _text(saved)[-1500:]
    negative = _post(client, f"{url}/volumes", {"rows-0-year": "2026", "rows-0-planned": "-3"}, page=url)
    assert negative.status_code == 400
    assert "Volumes par année : 2026 : le volume prévu ne peut pas être négatif." in _text(negative)
    page = _text(client.get(url))
    version = int(
        re.search(r'action="[^"]*/territoires".*?name="version" type="hidden" value="(\d+)"', page, re.S)[1]
    )
    a, b = lannion.iris[:2]
    too_much = _post(
        client,
        f"{url}/territoires",
        {
            "scope": "list",
            "version": version,
            "rows-0-territory_id": a,
            "rows-0-share": "70",
            "rows-1-territory_id": b,
            "rows-1-share": "50",
        },
        page=url,
    )
    assert too_much.status_code == 400
    assert (
        "Les parts font 120\u00a0% : une activité ne livre pas plus de 100\u00a0% de sa production"
        in _text(too_much)
    )
    no_share = _post(
        client,
        f"{url}/territoires",
        {"scope": "list", "version": version, "rows-0-territory_id": a, "rows-0-share": ""},
        page=url,
    )
    assert no_share.status_code == 400 and "Ligne 1 : indiquez la part livrée dans ce territoire." in _text(
        no_share
    )
    ok = _post(
        client,
        f"{url}/territoires",
        {
            "scope": "list",
            "version": version,
            "rows-0-territory_id": a,
            "rows-0-share": "60",
            "rows-1-territory_id": b,
            "rows-1-share": "25",
        },
        page=url,
    )
    assert ok.status_code == 303
    ident = int(url.rsplit("/", 1)[1])
    with write_session(engine) as session:
        activity = session.get(Activity, ident)
        assert [(v.year, v.planned_volume, v.actual_volume) for v in activity.volumes] == [
            (2025, 12000.0, 11480.0)
        ]
        assert {d.territory_id: d.share for d in activity.deliveries} == {a: 0.6, b: 0.25}
    stale = _post(client, f"{url}/territoires", {"scope": "all", "version": version}, page=url)
    assert stale.status_code == 409 and "modifiée entre-temps" in _text(stale)


def test_a_stale_activity_edit_gets_409_with_the_other_persons_value(as_, service, engine):
    alice, bob = as_("direction"), as_("admin")
    url = _activity(alice, service).headers["Location"]
    form = _text(alice.get(url))
    version = int(re.search(r'id="version" name="version" type="hidden" value="(\d+)"', form)[1])
    fields = {
        "service_id": str(service),
        "name": "Portage de repas",
        "output_unit": "repas livré",
        "kind": "optional",
        "volume": "12 000",
        "capacity": "15 000",
        "unit_cost": "11,50",
        "fixed_cost": "8 000",
        "staff_etp": "1,5",
        "m57_function": "423",
        "beneficiaries": "80",
        "version": version,
    }
    assert _post(bob, url, {**fields, "volume": "13 000"}).status_code == 303
    stale = alice.post(url, data={"csrf_token": csrf_token(form), **fields, "volume": "9 000"})
    assert stale.status_code == 409
    page = _text(stale)
    assert "modifiée entre-temps par Admin de Lannion" in page and "Volume annuel : « 13\u202f000 »" in page
    with write_session(engine) as session:
        assert session.get(Activity, int(url.rsplit("/", 1)[1])).volume == 13000.0


def test_a_need_is_created_linked_from_both_pages_and_evidenced(as_, service, engine, lannion):
    client = as_("direction")
    activity_url = _activity(client, service).headers["Location"]
    refused = _post(
        client,
        "/besoins/nouveau",
        {
            "label": "Allocataires du RSA",
            "population_group_id": "std:minima_sociaux",
            "territory_id": lannion.commune,
            "unit": "allocataires",
            "sizing": "formula",
            "sizing_formula": "rsa_inconnu * 2",
        },
    )
    assert refused.status_code == 400 and "que l'organisation ne détient pas : rsa_inconnu" in _text(refused)
    created = _post(
        client,
        "/besoins/nouveau",
        {
            "label": "Allocataires du RSA",
            "population_group_id": "std:minima_sociaux",
            "territory_id": lannion.commune,
            "unit": "allocataires",
            "sizing": "formula",
            "sizing_formula": "caf_rsa_socle",
        },
    )
    assert created.status_code == 303, _text(created)[-1500:]
    need_url = created.headers["Location"]
    need_id = int(need_url.rsplit("/", 1)[1])
    need_page = _text(client.get(need_url))
    assert "caf_rsa_socle" in need_page
    need_version = int(
        re.search(r'action="[^"]*/activites".*?name="version" type="hidden" value="(\d+)"', need_page, re.S)[
            1
        ]
    )
    activity_page = _text(client.get(activity_url))
    activity_version = int(
        re.search(
            r'action="[^"]*/besoins".*?name="version" type="hidden" value="(\d+)"', activity_page, re.S
        )[1]
    )
    linked = _post(
        client,
        f"{activity_url}/besoins",
        {"other_id": need_id, "coefficient": "0,01", "share": "", "note": "", "version": activity_version},
        page=activity_url,
    )
    assert linked.status_code == 303, _text(linked)[-1500:]
    assert "Allocataires du RSA" in _text(client.get(activity_url))
    # the need's page was read before the link: its form is stale
    stale = _post(
        client,
        f"{need_url}/activites",
        {"other_id": int(activity_url.rsplit("/", 1)[1]), "coefficient": "0,02", "version": need_version},
        page=need_url,
    )
    assert stale.status_code == 409 and "modifiée entre-temps" in _text(stale)
    too_early = _post(
        client,
        f"{need_url}/observations",
        {"kind": "focus_group", "observed_on": "2999-01-01", "source": "Groupe de parole", "summary": "x"},
        page=need_url,
    )
    assert too_early.status_code == 400 and "est dans le futur" in _text(too_early)
    added = _post(
        client,
        f"{need_url}/observations",
        {
            "kind": "partner_note",
            "observed_on": "2026-10-01",
            "source": "Mission locale",
            "summary": "Des jeunes sans ressources entre 18 et 25 ans.",
        },
        page=need_url,
    )
    assert added.status_code == 303
    page = _text(client.get(need_url))
    assert "Note d'un partenaire" in page and "Des jeunes sans ressources" in page
    with write_session(engine) as session:
        need = session.get(Need, need_id)
        assert need.size is not None and need.size > 0
        assert (
            session.get(ActivityNeedCoverage, (int(activity_url.rsplit("/", 1)[1]), need_id)).coefficient
            == 0.01
        )
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.table_name == "need_observations", AuditEntry.organisation_id == lannion.id)
            )
            >= 1
        )
        for observation in session.scalars(select(NeedObservation).where(NeedObservation.need_id == need_id)):
            session.delete(observation)
        for link in session.scalars(
            select(ActivityNeedCoverage).where(ActivityNeedCoverage.need_id == need_id)
        ):
            session.delete(link)
        session.delete(need)


def test_an_activity_with_history_is_archived_and_one_without_is_deleted(as_, service, engine):
    client = as_("admin")
    fresh = _activity(client, service, name="Atelier mémoire", output_unit="séance").headers["Location"]
    page = _text(client.get(fresh))
    assert "elle sera supprimée" in page
    version = int(
        re.search(
            r'action="[^"]*/archiver"><input type="hidden" name="csrf_token" value="[^"]+"><input type="hidden" name="version" value="(\d+)"',
            page,
        )[1]
    )
    gone = client.post(f"{fresh}/archiver", data={"csrf_token": csrf_token(page), "version": version})
    assert gone.status_code == 303 and client.get(fresh).status_code == 404
    kept = _activity(client, service).headers["Location"]
    _post(client, f"{kept}/volumes", {"rows-0-year": "2025", "rows-0-actual": "100"}, page=kept)
    page = _text(client.get(kept))
    assert "elle sera archivée, pas supprimée" in page and "des volumes annuels" in page
    version = int(
        re.search(
            r'action="[^"]*/archiver"><input type="hidden" name="csrf_token" value="[^"]+"><input type="hidden" name="version" value="(\d+)"',
            page,
        )[1]
    )
    archived = client.post(f"{kept}/archiver", data={"csrf_token": csrf_token(page), "version": version})
    assert archived.status_code == 303
    assert "Activité archivée le" in _text(client.get(kept))
    assert "Atelier mémoire" not in _text(client.get("/activites"))
    assert "Portage de repas" not in _text(client.get("/activites")) and "Portage de repas" in _text(
        client.get("/activites?archivees=1")
    )


def test_an_elected_member_reads_the_activity_without_forms_and_cannot_post(as_, service):
    url = _activity(as_("direction"), service).headers["Location"]
    elu = as_("elu")
    page = _text(elu.get(url))
    assert "Portage de repas" in page and "Enregistrer les volumes" not in page and "Archiver" not in page
    token = csrf_token(_text(elu.get("/compte/mot-de-passe")))
    assert elu.post(f"{url}/volumes", data={"csrf_token": token, "rows-0-year": "2025"}).status_code == 403
    assert elu.get("/services/nouveau").status_code == 403
    assert elu.get("/besoins/nouveau").status_code == 403
