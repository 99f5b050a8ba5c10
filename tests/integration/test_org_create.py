"""Creating an organisation for any French territory: tree, statistics, administrator, refusals."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models import (
    AuditEntry,
    Organisation,
    OrganisationKind,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    User,
)
from models.base import utcnow
from services import reference_data as ref
from services.accounts import password_matches
from services.organisations import OrganisationError, create_organisation
from services.statistics_import import import_statistics


def tree(session, org):
    rows = session.scalars(select(Territory).where(Territory.organisation_id == org.id)).all()
    return {(t.kind, t.code): t for t in rows}


def stats(session, org):
    rows = session.scalars(select(TerritoryStatistic).where(TerritoryStatistic.organisation_id == org.id))
    return {(s.territory.kind, s.territory.code, s.variable, s.vintage): s for s in rows}


def parent(nodes, territory):
    return next(t for t in nodes.values() if t.id == territory.parent_id)


def counts(session):
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Organisation, Territory, TerritoryStatistic, User, AuditEntry)
    )


def test_a_commune_of_brittany_gets_its_iris_ancestors_statistics_and_administrator(db_session):
    created = create_organisation(
        db_session, "ccas", "35238", admin_email="Direction@CCAS-Rennes.fr", now=utcnow()
    )
    org = created.organisation
    assert (org.slug, org.name, org.kind, org.insee_code) == (
        "ccas-rennes",
        "CCAS de Rennes",
        OrganisationKind.CCAS,
        "35238",
    )
    nodes = tree(db_session, org)
    rennes = nodes[(TerritoryKind.COMMUNE, "35238")]
    epci = parent(nodes, rennes)
    assert (epci.kind, epci.code, epci.name) == (TerritoryKind.EPCI, "243500139", "Rennes Métropole")
    dep = parent(nodes, epci)
    region = parent(nodes, dep)
    assert (dep.code, dep.name, region.code, region.name) == ("35", "Ille-et-Vilaine", "53", "Bretagne")
    assert parent(nodes, region).kind is TerritoryKind.FRANCE
    iris = [t for t in nodes.values() if t.kind is TerritoryKind.IRIS]
    assert len(iris) == 92 and all(t.parent_id == rennes.id for t in iris)
    published = ref.iris().set_index("code")
    named = [t for t in iris if published.at[t.code, "name"]]
    assert named and all(t.name == published.at[t.code, "name"] for t in named)  # LIBIRIS
    assert all(t.name == f"IRIS {t.code}" for t in iris if t not in named)

    figures = stats(db_session, org)
    median = figures[(TerritoryKind.COMMUNE, "35238", "filo_mediane_uc", 2019)]
    assert (median.value, median.source, median.unit) == (21760.0, "INSEE Filosofi", "EUR")
    assert figures[(TerritoryKind.DEPARTEMENT, "35", "filo_mediane_uc", 2019)].value == 22460.0
    assert figures[(TerritoryKind.REGION, "53", "filo_mediane_uc", 2019)].value == 21990.0
    caf = ref.statistics_file("caf2020_iris.csv.gz").set_index("CODGEO")
    secret_iris = next(t for t in iris if caf.at[t.code, "NOTE"] != "0")
    cell = figures[(TerritoryKind.IRIS, secret_iris.code, "caf_rsa_socle", 2020)]
    assert cell.is_secret and cell.value is None and cell.source == "CNAF"  # secret, never 0
    open_iris = next(t for t in iris if caf.at[t.code, "NOTE"] == "0")
    assert figures[(TerritoryKind.IRIS, open_iris.code, "caf_allocataires", 2020)].value == float(
        caf.at[open_iris.code, "A"]
    )
    assert created.secret == sum(1 for s in figures.values() if s.is_secret) > 0

    admin = created.admin
    assert (admin.email, admin.role.value, admin.organisation_id) == (
        "direction@ccas-rennes.fr",
        "admin",
        org.id,
    )
    assert password_matches(admin.password_hash, created.password) and not admin.is_superadmin
    journal = db_session.scalars(
        select(AuditEntry.new_value).where(
            AuditEntry.organisation_id == org.id, AuditEntry.table_name == "territories"
        )
    ).all()
    assert journal == [
        "97 territoires des fichiers de référence (1 France, 1 région, 1 département, 1 EPCI, "
        "1 commune ou arrondissement, 92 IRIS)"
    ]


def test_the_loaded_statistics_are_what_the_statistics_import_writes(db_session):
    """Importing the same published rows afterwards changes nothing: one parser, one result."""
    org = create_organisation(db_session, "commune", "35238", now=utcnow()).organisation
    for name, source in (("filosofi2019_iris.csv.gz", "filosofi"), ("caf2020_iris.csv.gz", "caf")):
        frame = ref.statistics_file(name)
        column = "IRIS" if source == "filosofi" else "CODGEO"
        content = frame[frame[column].str.startswith("35238")].to_csv(sep=";", index=False).encode()
        report = import_statistics(
            db_session, org.id, content, source=source, vintage=2020 if source == "caf" else None
        )
        assert report.ok, report.errors
        assert (report.stats.inserted, report.stats.updated) == (0, 0) and report.stats.unchanged > 300


def test_a_commune_without_iris_is_its_own_only_territory_and_its_leading_zero_comes_back(db_session):
    created = create_organisation(db_session, OrganisationKind.CCAS, "1001", now=utcnow())
    org = created.organisation
    assert org.insee_code == "01001" and created.admin is None and created.password is None
    nodes = tree(db_session, org)
    assert sorted(k.value for k, _ in nodes) == ["commune", "departement", "epci", "france", "region"]
    commune = nodes[(TerritoryKind.COMMUNE, "01001")]
    assert commune.name == "L'Abergement-Clémenciat"
    assert not [t for t in nodes.values() if t.parent_id == commune.id]
    assert nodes[(TerritoryKind.DEPARTEMENT, "01")].name == "Ain"
    # a small commune: Filosofi publishes its median, its deciles are secret
    figures = stats(db_session, org)
    assert figures[(TerritoryKind.COMMUNE, "01001", "filo_mediane_uc", 2019)].value == 23970.0
    assert figures[(TerritoryKind.COMMUNE, "01001", "filo_d1", 2019)].is_secret


def test_a_commune_of_no_epci_hangs_from_its_departement(db_session):
    nodes = tree(db_session, create_organisation(db_session, "ccas", "29155", now=utcnow()).organisation)
    ouessant = nodes[(TerritoryKind.COMMUNE, "29155")]
    assert parent(nodes, ouessant).code == "29" and not any(k is TerritoryKind.EPCI for k, _ in nodes)


def test_ajaccio_keeps_its_corsican_code(db_session):
    org = create_organisation(db_session, "ccas", "2a004", now=utcnow()).organisation
    nodes = tree(db_session, org)
    assert (org.insee_code, org.name, org.slug) == ("2A004", "CCAS d'Ajaccio", "ccas-ajaccio")
    assert nodes[(TerritoryKind.DEPARTEMENT, "2A")].name == "Corse-du-Sud"
    assert nodes[(TerritoryKind.REGION, "94")].name == "Corse"
    assert all(code.startswith("2A004") for kind, code in nodes if kind is TerritoryKind.IRIS)
    assert len([k for k, _ in nodes if k is TerritoryKind.IRIS]) == 24


def test_an_overseas_commune_with_its_iris_and_caf_figures(db_session):
    org = create_organisation(db_session, "ccas", "97411", now=utcnow()).organisation
    nodes = tree(db_session, org)
    assert (nodes[(TerritoryKind.DEPARTEMENT, "974")].name, nodes[(TerritoryKind.REGION, "04")].name) == (
        "La Réunion",
        "La Réunion",
    )
    assert org.slug == "ccas-saint-denis"
    figures = stats(db_session, org)
    assert sum(1 for k in figures if k[0] is TerritoryKind.IRIS and k[2] == "caf_allocataires") == 64


def test_paris_is_built_by_arrondissement_and_a_later_iris_import_finds_them(db_session):
    created = create_organisation(db_session, "ccas", "75056", now=utcnow())
    nodes = tree(db_session, created.organisation)
    paris = nodes[(TerritoryKind.COMMUNE, "75056")]
    first = nodes[(TerritoryKind.COMMUNE, "75101")]
    assert first.parent_id == paris.id and first.name == "Paris 1er Arrondissement"
    assert created.territories["iris"] == 992 and created.territories["commune"] == 21
    assert all(parent(nodes, t).code == t.code[:5] for (k, _), t in nodes.items() if k is TerritoryKind.IRIS)


def test_an_epci_gets_its_member_communes(db_session):
    created = create_organisation(
        db_session, "cias", "243500139", admin_email="cias@rennes.example.org", now=utcnow()
    )
    org = created.organisation
    nodes = tree(db_session, org)
    epci = nodes[(TerritoryKind.EPCI, "243500139")]
    communes = [t for (k, _), t in nodes.items() if k is TerritoryKind.COMMUNE]
    assert len(communes) == 43 and all(t.parent_id == epci.id for t in communes)
    assert (org.insee_code, org.siren, org.name) == ("243500139", None, "CIAS – Rennes Métropole")
    assert parent(nodes, epci).code == "35"


def test_a_departement_gets_all_its_communes_and_their_epci(db_session):
    created = create_organisation(db_session, "departement", "2B", now=utcnow())
    nodes = tree(db_session, created.organisation)
    expected = set(ref.communes().query("dep == '2B' and commune == ''")["code"])
    assert {c for k, c in nodes if k is TerritoryKind.COMMUNE} == expected and len(expected) > 200
    dep = nodes[(TerritoryKind.DEPARTEMENT, "2B")]
    epcis = [t for (k, _), t in nodes.items() if k is TerritoryKind.EPCI]
    assert epcis and all(t.parent_id == dep.id for t in epcis)
    assert (
        stats(db_session, created.organisation)[(TerritoryKind.DEPARTEMENT, "2B", "filo_menages", 2019)].value
        > 0
    )


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("ccas", "99999", "code « 99999 » inconnu"),
        (
            "ccas",
            "243500139",
            "« 243500139 » est l'EPCI Rennes Métropole : une organisation de type CCAS se crée pour une commune",
        ),
        ("epci", "35238", "Elle appartient à l'EPCI Rennes Métropole (243500139)"),
        ("cias", "35", "« 35 » est le département Ille-et-Vilaine"),
        ("departement", "35238", "choisissez le type ccas ou commune"),
        ("ccas", "75101", "l'organisation se crée pour la commune entière (75056)"),
        ("mairie", "35238", "type d'organisation « mairie » inconnu"),
        ("ccas", "", "indiquez le code du territoire"),
    ],
)
def test_a_code_that_does_not_fit_is_refused_and_nothing_is_written(db_session, kind, code, message):
    before = counts(db_session)
    with pytest.raises(OrganisationError, match=re.escape(message)):
        create_organisation(db_session, kind, code, admin_email="x@exemple.fr", now=utcnow())
    assert counts(db_session) == before


def test_a_second_organisation_of_the_same_kind_and_code_is_refused(db_session):
    create_organisation(db_session, "ccas", "35238", now=utcnow())
    before = counts(db_session)
    with pytest.raises(
        OrganisationError, match=r"une organisation CCAS existe déjà pour Rennes \(35238\).*ccas-rennes"
    ):
        create_organisation(db_session, "ccas", "35238", name="Autre CCAS", now=utcnow())
    assert counts(db_session) == before
    other = create_organisation(
        db_session, "commune", "35238", now=utcnow()
    ).organisation  # another kind: fine
    assert other.slug == "commune-rennes"
    # and the database holds the rule too
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(
            Organisation(
                slug="ccas-rennes-bis", name="Doublon", kind=OrganisationKind.CCAS, insee_code="35238"
            )
        )
        db_session.flush()


def test_namesakes_get_their_own_slug(db_session):
    create_organisation(db_session, "ccas", "97411", now=utcnow())
    assert (
        create_organisation(db_session, "ccas", "93066", now=utcnow()).organisation.slug
        == "ccas-saint-denis-93066"
    )


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("pas-une-adresse", "adresse de l'administrateur invalide"),
        ("direction@carcassonne.pilotis.example", "un compte existe déjà"),
    ],
)
def test_a_bad_administrator_address_is_refused_before_anything_is_written(db_session, demo, email, message):
    before = counts(db_session)
    with pytest.raises(OrganisationError, match=re.escape(message)):
        create_organisation(db_session, "ccas", "35238", admin_email=email, now=utcnow())
    assert counts(db_session) == before


@pytest.mark.parametrize(("kind", "code"), [("ccas", "2A04"), ("epci", "24350013"), ("departement", "2A004")])
def test_the_database_refuses_a_code_of_the_wrong_length_for_the_kind(db_session, kind, code):
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(
            Organisation(slug=f"t-{kind}", name="Test", kind=OrganisationKind(kind), insee_code=code)
        )
        db_session.flush()


# -- command line -------------------------------------------------------------------------------
@pytest.fixture
def fresh_runner(make_app, empty_database_url):
    from pilotis import schema
    from pilotis.database import make_engine

    engine = make_engine(empty_database_url)
    schema.upgrade(engine)
    engine.dispose()
    return make_app(empty_database_url).test_cli_runner()


def test_the_command_line_creates_lists_and_refuses(fresh_runner):
    result = fresh_runner.invoke(args=["org", "list"])
    assert result.exit_code == 0 and "Aucune organisation" in result.output

    result = fresh_runner.invoke(
        args=[
            "org",
            "create",
            "--kind",
            "ccas",
            "--code",
            "35238",
            "--name",
            "CCAS de la Ville de Rennes",
            "--admin",
            "direction@ccas-rennes.fr",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Identifiant (--organisation) : ccas-rennes" in result.output
    assert (
        "92 IRIS" in result.output and "CNAF 2020" in result.output and "INSEE Filosofi 2019" in result.output
    )
    password = result.output.split("Mot de passe temporaire (à changer à la première connexion) : ")[
        1
    ].split()[0]
    assert len(password) == 19

    result = fresh_runner.invoke(args=["org", "create", "--kind", "epci", "--code", "243500139"])
    assert result.exit_code == 0, result.output
    assert "Aucun administrateur créé" in result.output

    result = fresh_runner.invoke(args=["org", "create", "--kind", "ccas", "--code", "35238"])
    assert result.exit_code == 1
    assert "existe déjà" in result.output and "Rien n'a été créé." in result.output

    result = fresh_runner.invoke(args=["org", "create", "--kind", "ccas", "--code", "243500139"])
    assert result.exit_code == 1 and "est l'EPCI Rennes Métropole" in result.output

    result = fresh_runner.invoke(args=["org", "list"])
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["ccas-rennes", "epci-rennes-metropole"]
    assert "CCAS" in lines[0] and "35238" in lines[0] and "243500139" in lines[1]

    result = fresh_runner.invoke(args=["org", "search", "saint-denis", "--kind", "ccas"])
    assert "97411" in result.output and "La Réunion" in result.output

    result = fresh_runner.invoke(
        args=["users", "create", "dsi@agglo.example.org", "--name", "Service informatique", "--superadmin"]
    )
    assert result.exit_code == 0, result.output
    assert "Administrateur du serveur créé : dsi@agglo.example.org (sans organisation)" in result.output
    result = fresh_runner.invoke(args=["users", "list"])
    assert "dsi@agglo.example.org" in result.output and "[administrateur du serveur]" in result.output
    result = fresh_runner.invoke(args=["users", "create", "x@agglo.example.org", "--name", "X"])
    assert result.exit_code == 1 and "--role et --organisation sont obligatoires" in result.output
