"""The starter catalogue applied to a real organisation: what it creates, sizes and links, the
journal, idempotence, and the refusals that write nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import (
    Activity,
    ActivityKind,
    ActivityNeedCoverage,
    AuditEntry,
    Indicator,
    Need,
    Organisation,
    PopulationGroup,
    Role,
    Service,
    ServiceKind,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
)
from models.base import utcnow
from services.catalogue import CatalogueError, apply_catalogue, holding, standard_catalogue
from services.demo import spec
from services.organisations import create_organisation
from services.policy import NO_ORGANISATION, Principal


def principal(org, role=Role.DIRECTION, **kw):
    return Principal(user_id=0, organisation_id=org.id, role=role, service_ids=frozenset(), **kw)


@pytest.fixture
def saint_malo(db_session):
    """A CCAS of Brittany, not one of the demo's communes: its IRIS and its public statistics."""
    return create_organisation(db_session, "ccas", "35288", now=utcnow()).organisation


def rows(session, model, org):
    return {r.code: r for r in session.scalars(select(model).where(model.organisation_id == org.id))}


def counts(session):
    return tuple(
        session.scalar(select(func.count()).select_from(m))
        for m in (Service, Activity, Need, Indicator, ActivityNeedCoverage, PopulationGroup, AuditEntry)
    )


def test_ticked_activities_needs_and_indicators_become_objects_to_adjust(db_session, saint_malo):
    report = apply_catalogue(
        db_session,
        principal(saint_malo),
        saint_malo,
        ["A_PORTAGE", "A_DOMICILIATION", "A_EPICERIE"],
        ["PA80", "AAH", "MONOPARENTS", "RSA_IRIS", "SDF"],
        ["cout_repas"],
    )
    services = rows(db_session, Service, saint_malo)
    activities = rows(db_session, Activity, saint_malo)
    assert set(services) == {"SENIORS", "SOLIDARITE"}
    assert services["SENIORS"].kind is ServiceKind.OWN and services["SENIORS"].m57_function == "423"
    portage = activities["A_PORTAGE"]
    assert (portage.name, portage.output_unit, portage.m57_function, portage.service.code) == (
        "Portage de repas à domicile",
        "repas livré",
        "4238",
        "SENIORS",
    )
    assert portage.unit_cost is None and portage.volume is None  # to adjust, not invented
    assert activities["A_DOMICILIATION"].kind is ActivityKind.MANDATORY
    commune = db_session.scalar(
        select(Territory).where(
            Territory.organisation_id == saint_malo.id, Territory.kind == TerritoryKind.COMMUNE
        )
    )
    assert portage.territory_id == commune.id

    needs = rows(db_session, Need, saint_malo)
    # CAF figures of the IRIS are held from creation: sized by the formula, with its evidence
    assert needs["AAH"].sizing_formula == "caf_aah" and needs["AAH"].size is not None
    assert needs["AAH"].size > 0 and needs["AAH"].source == "CNAF 2020" and needs["AAH"].evidence
    assert needs["AAH"].population_group.code == "personnes_handicapees"
    # the census by age is not held for a new organisation: unsized, with what to import
    assert needs["PA80"].size is None and needs["PA80"].sizing_formula is None
    assert "pop_80p" in needs["PA80"].evidence_note
    assert needs["SDF"].size is None and "domiciliation" in needs["SDF"].evidence_note
    # one need by IRIS, its priority by the IRIS's poverty rate (the context evidence)
    by_iris = {c: n for c, n in needs.items() if c.startswith("RSA_")}
    iris = db_session.scalars(
        select(Territory).where(
            Territory.organisation_id == saint_malo.id, Territory.kind == TerritoryKind.IRIS
        )
    ).all()
    assert len(by_iris) == len(iris) == 21
    assert all(n.territory.kind is TerritoryKind.IRIS for n in by_iris.values())
    assert all(n.label.startswith("Allocataires du RSA — ") for n in by_iris.values())
    rated = [n for n in by_iris.values() if any(e.role == "context" for e in n.evidence)]
    assert rated and {n.priority for n in by_iris.values()} <= {3, 4, 5}
    # the public's parent comes with it
    groups = rows(db_session, PopulationGroup, saint_malo)
    assert groups["minima_sociaux"].parent_id == groups["personnes_en_difficulte"].id

    links = {
        (link.activity.code, link.need.code): link
        for link in db_session.scalars(
            select(ActivityNeedCoverage).join(Activity).where(Activity.organisation_id == saint_malo.id)
        )
    }
    assert links[("A_PORTAGE", "PA80")].coefficient == 1 / 250
    assert "250 repas" in links[("A_PORTAGE", "PA80")].note
    assert ("A_EPICERIE", "MONOPARENTS") in links
    assert sum(1 for a, n in links if a == "A_EPICERIE" and n.startswith("RSA_")) == 21
    assert report.links == len(links)

    # cout_repas reads two other indicators: they come with it, each on the portage's service
    indicators = rows(db_session, Indicator, saint_malo)
    assert set(indicators) == {"cout_repas", "cout_portage", "repas_livres"}
    assert indicators["cout_repas"].formula == "cout_portage / repas_livres"
    assert all(i.service_id == services["SENIORS"].id for i in indicators.values())
    assert indicators["repas_livres"].activity_id == portage.id
    assert any("cout_portage" in line for line in report.added)
    assert report.changed and "Créés : 2 service(s) ou partenaire(s)" in report.lines()


def test_every_created_row_is_in_the_journal(db_session, saint_malo):
    before = db_session.scalar(select(func.count()).select_from(AuditEntry))
    report = apply_catalogue(
        db_session, principal(saint_malo), saint_malo, ["A_TELEASSISTANCE"], ["PA80"], []
    )
    entries = db_session.scalars(
        select(AuditEntry).where(AuditEntry.organisation_id == saint_malo.id, AuditEntry.action == "insert")
    ).all()
    tables = {e.table_name for e in entries}
    assert {"services", "activities", "needs", "activity_need_coverages", "population_groups"} <= tables
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) > before
    assert report.created["activities"] == ["A_TELEASSISTANCE"]


def test_ticking_again_duplicates_nothing_and_completes_what_is_new(db_session, saint_malo):
    who = principal(saint_malo)
    apply_catalogue(db_session, who, saint_malo, ["A_PORTAGE"], ["PA80"], ["repas_livres"])
    before = counts(db_session)
    again = apply_catalogue(db_session, who, saint_malo, ["A_PORTAGE"], ["PA80"], ["repas_livres"])
    assert counts(db_session) == before
    assert not again.changed
    assert again.lines()[0].startswith("Rien de nouveau")
    assert again.present["activities"] == ["A_PORTAGE"] and again.present["needs"] == ["PA80"]
    # an edit the organisation made stays; a link it took away stays away
    portage = rows(db_session, Activity, saint_malo)["A_PORTAGE"]
    portage.name = "Repas à domicile"
    db_session.delete(
        db_session.get(ActivityNeedCoverage, (portage.id, rows(db_session, Need, saint_malo)["PA80"].id))
    )
    db_session.flush()
    apply_catalogue(db_session, who, saint_malo, ["A_PORTAGE"], ["PA80"], [])
    assert rows(db_session, Activity, saint_malo)["A_PORTAGE"].name == "Repas à domicile"
    assert not portage.coverages
    # a new activity links to the need already there
    more = apply_catalogue(db_session, who, saint_malo, ["A_SAAD"], [], [])
    saad = rows(db_session, Activity, saint_malo)["A_SAAD"]
    assert [c.need.code for c in saad.coverages] == ["PA80"] and more.links == 1


def test_a_commune_without_iris_gets_its_need_by_iris_on_the_commune(db_session):
    org = create_organisation(db_session, "ccas", "01001", now=utcnow()).organisation
    # the CNAF publishes no IRIS figure for it: nothing to size a need by IRIS with, said so
    report = apply_catalogue(db_session, principal(org), org, [], ["RSA_IRIS", "AAH"], [])
    needs = rows(db_session, Need, org)
    assert set(needs) == {"AAH"} and needs["AAH"].size is None and "caf_aah" in needs["AAH"].evidence_note
    assert any(line.startswith("RSA_IRIS : aucun IRIS") for line in report.notes)
    # once a count is imported for the commune, ticking again creates its need there
    commune = db_session.scalar(
        select(Territory).where(Territory.organisation_id == org.id, Territory.kind == TerritoryKind.COMMUNE)
    )
    db_session.add(
        TerritoryStatistic(
            organisation_id=org.id,
            territory_id=commune.id,
            variable="caf_rsa_socle",
            label="RSA",
            unit="allocataires",
            vintage=2022,
            source="CNAF",
            value=7.0,
            is_secret=False,
        )
    )
    db_session.flush()
    again = apply_catalogue(db_session, principal(org), org, [], ["RSA_IRIS", "AAH"], [])
    needs = rows(db_session, Need, org)
    assert needs["RSA_01001"].territory_id == commune.id and needs["RSA_01001"].size == 7.0
    assert again.created["needs"] == ["RSA_IRIS"] and again.present["needs"] == ["AAH"]


def test_a_server_administrator_sets_up_a_new_organisation_only(db_session, saint_malo):
    admin = Principal(
        user_id=0,
        organisation_id=NO_ORGANISATION,
        role=Role.ADMIN,
        service_ids=frozenset(),
        is_superadmin=True,
    )
    apply_catalogue(db_session, admin, saint_malo, ["A_DOMICILIATION"], [], [])
    before = counts(db_session)
    with pytest.raises(CatalogueError, match="administrateur ou à sa direction"):
        apply_catalogue(db_session, admin, saint_malo, ["A_ASL"], [], [])
    assert counts(db_session) == before


@pytest.mark.parametrize(
    ("role", "codes", "message"),
    [
        (Role.FINANCE, (["A_PORTAGE"], [], []), "Vos droits ne permettent pas"),
        (Role.SERVICE_MANAGER, (["A_PORTAGE"], [], []), "Vos droits ne permettent pas"),
        (Role.READER, (["A_PORTAGE"], [], []), "Vos droits ne permettent pas"),
        (
            Role.ADMIN,
            (["A_PORTAGE", "A_INCONNUE"], [], []),
            "Activité(s) inconnue(s) du catalogue : A_INCONNUE",
        ),
        (Role.DIRECTION, ([], ["PA80", "XX"], []), "Besoin(s) inconnu(s) du catalogue : XX"),
        (Role.DIRECTION, ([], [], ["nope"]), "Indicateur(s) inconnu(s) du catalogue : nope"),
        (Role.DIRECTION, ([], [], []), "Cochez au moins une activité"),
    ],
)
def test_refusals_are_in_french_and_write_nothing(db_session, saint_malo, role, codes, message):
    before = counts(db_session)
    with pytest.raises(CatalogueError) as caught:
        apply_catalogue(db_session, principal(saint_malo, role), saint_malo, *codes)
    assert message in str(caught.value)
    assert counts(db_session) == before


def test_another_organisation_is_refused(db_session, saint_malo, demo):
    before = counts(db_session)
    demo_principal = Principal(
        user_id=0, organisation_id=demo.organisation_id, role=Role.DIRECTION, service_ids=frozenset()
    )
    with pytest.raises(CatalogueError, match="Vos droits"):
        apply_catalogue(db_session, demo_principal, saint_malo, ["A_PORTAGE"])
    assert counts(db_session) == before


def test_a_failure_half_way_leaves_nothing(db_session, saint_malo, monkeypatch):
    from services import catalogue as module

    def broken(self, codes):
        raise RuntimeError("panne au milieu")

    monkeypatch.setattr(module._Applier, "_indicators", broken)
    before = counts(db_session)
    with pytest.raises(RuntimeError):
        apply_catalogue(
            db_session, principal(saint_malo), saint_malo, ["A_PORTAGE"], ["AAH"], ["repas_livres"]
        )
    assert counts(db_session) == before


def test_the_demo_holds_the_catalogue_it_was_built_from(db_session, demo):
    from models import Organisation

    org = db_session.get(Organisation, demo.organisation_id)
    held = holding(db_session, org)
    cat = standard_catalogue()
    assert len(held.activities) == 17 and len(held.indicators) == 49 and len(held.needs) == 10
    demo_activity = db_session.scalar(
        select(Activity).where(Activity.organisation_id == org.id, Activity.code == "A_SAAD")
    )
    standard = cat.activities["A_SAAD"]
    assert (demo_activity.name, demo_activity.output_unit, demo_activity.m57_function) == (
        standard.name,
        standard.output_unit,
        standard.m57_function,
    )
    assert {(c.need.code, c.coefficient) for c in demo_activity.coverages} == {
        (c.need, c.coefficient) for c in standard.covers
    }
    # applying the whole catalogue to the demo adds the rest and leaves the demo's own rows alone
    before = {c: (a.name, a.volume) for c, a in rows(db_session, Activity, org).items()}
    report = apply_catalogue(
        db_session,
        principal(org, Role.ADMIN),
        org,
        list(cat.activities),
        list(cat.needs),
        list(cat.indicators),
    )
    after = rows(db_session, Activity, org)
    assert all((after[c].name, after[c].volume) == v for c, v in before.items())
    assert len(after) == len(cat.activities)
    assert set(report.present["activities"]) == set(before)
    assert set(report.present["needs"]) == set(spec.NEEDS)
    # RSA_ENSEMBLE is not taken for one of the needs by IRIS, nor they for it
    assert "RSA_ENSEMBLE" in report.created["needs"]


# -- the command line ---------------------------------------------------------------------------------
def test_the_command_lists_the_catalogue(runner):
    result = runner.invoke(args=["org", "catalogue", "--list"])
    assert result.exit_code == 0, result.output
    assert "38 activités, 23 besoins, 82 indicateurs" in result.output
    assert "A_PORTAGE" in result.output and "Personnes âgées (PA80, 1/250)" in result.output
    assert "cout_repas" in result.output and "= cout_portage / repas_livres" in result.output


def test_the_command_applies_ticks_once_and_refuses_unknown_codes(runner, engine):
    from pilotis.database import write_session
    from tests.conftest import rows_added_are_removed

    with rows_added_are_removed(engine):
        with write_session(engine) as session:
            slug = create_organisation(session, "ccas", "56260", now=utcnow()).organisation.slug
        args = [
            "org",
            "catalogue",
            "--organisation",
            slug,
            "--activities",
            "A_PORTAGE",
            "--needs",
            "PA80,AAH",
        ]
        first = runner.invoke(args=args)
        assert first.exit_code == 0, first.output
        assert "Créés : 1 activité(s)" in first.output and "Créés : 2 besoin(s)" in first.output
        assert "PA80 créé sans effectif : statistique pop_80p absente." in first.output
        again = runner.invoke(args=args)
        assert again.exit_code == 0 and "Rien de nouveau" in again.output
        bad = runner.invoke(args=["org", "catalogue", "--organisation", slug, "--needs", "PA80,NOPE"])
        assert bad.exit_code != 0
        assert "Besoin(s) inconnu(s) du catalogue : NOPE" in bad.output and "Rien n'a été créé" in bad.output
        none = runner.invoke(args=["org", "catalogue", "--organisation", slug])
        assert none.exit_code != 0 and "--all" in none.output
        with write_session(engine) as session:
            org = session.scalar(select(Organisation).where(Organisation.slug == slug))
            assert set(rows(session, Activity, org)) == {"A_PORTAGE"}
            assert set(rows(session, Need, org)) == {"PA80", "AAH"}
