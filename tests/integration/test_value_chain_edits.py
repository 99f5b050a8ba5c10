"""Editing the value chain: services and partners, activities (yearly volumes, territories served,
archive), needs (sizing, qualitative evidence) and coverage links — versions, journal, rights."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from models import (
    Activity,
    ActivityKind,
    ActivityNeedCoverage,
    AuditEntry,
    EvidenceKind,
    Need,
    PartnerType,
    PopulationGroup,
    Role,
    Service,
    ServiceKind,
    Territory,
    TerritoryKind,
    User,
)
from models.base import utcnow
from services.editing import StaleEdit
from services.policy import Principal
from services.steering import SteeringError
from services.value_chain import (
    ActivityInput,
    CoverageInput,
    DeliveryInput,
    NeedInput,
    ObservationInput,
    ServiceInput,
    VolumeInput,
    add_observation,
    archive_activity,
    create_activity,
    create_need,
    create_service,
    delete_observation,
    remove_coverage,
    restore_activity,
    save_deliveries,
    save_volumes,
    set_coverage,
    update_activity,
    update_need,
    update_observation,
    update_service,
)

TODAY = date(2026, 11, 26)


@pytest.fixture
def who(db_session, demo):
    def principal(login: str) -> Principal:
        user = db_session.scalar(select(User).where(User.email == f"{login}@carcassonne.pilotis.example"))
        return Principal.of(user)

    return principal


@pytest.fixture
def org(demo):
    return demo.organisation_id


def _service(session, org, code="SENIORS") -> Service:
    return session.scalar(select(Service).where(Service.organisation_id == org, Service.code == code))


def _activity(session, org, code="A_PORTAGE") -> Activity:
    return session.scalar(select(Activity).where(Activity.organisation_id == org, Activity.code == code))


def _need(session, org, code="SDF") -> Need:
    return session.scalar(select(Need).where(Need.organisation_id == org, Need.code == code))


def _journal(session, table, row_id, field=None):
    query = select(AuditEntry).where(AuditEntry.table_name == table, AuditEntry.row_id == str(row_id))
    if field:
        query = query.where(AuditEntry.field == field)
    entries = session.scalars(query.order_by(AuditEntry.id)).all()
    # the row's current life only: SQLite gives a deleted row's id to the next row, and other
    # tests (in any order) leave their rows' entries behind
    everything = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.table_name == table, AuditEntry.row_id == str(row_id), AuditEntry.action == "insert"
        )
        .order_by(AuditEntry.id.desc())
    ).first()
    return [e for e in entries if everything is None or e.id >= everything.id]


def _new_activity(session, who, org, **overrides) -> Activity:
    values = {
        "service_id": _service(session, org).id,
        "name": "Atelier numérique",
        "output_unit": "séance",
        "unit_cost": Decimal("35"),
        "fixed_cost": Decimal("1200"),
        "capacity": 400.0,
        "volume": 300.0,
        "staff_etp": Decimal("0.5"),
        "m57_function": "423",
    }
    values.update(overrides)
    return create_activity(session, who("direction"), ActivityInput(**values))


# -- services and partners ---------------------------------------------------------------------------
def test_a_partner_is_created_with_its_type_and_journalled(db_session, who, org):
    partner = create_service(
        db_session,
        who("admin"),
        ServiceInput(
            name="Mission locale de l'Ouest audois",
            kind=ServiceKind.PARTNER,
            partner_type=PartnerType.MISSION_LOCALE,
        ),
    )
    assert partner.code == "MISSION_LOCALE_DE_L_OUEST_AUDOIS"
    assert partner.partner_type is PartnerType.MISSION_LOCALE
    inserted = _journal(db_session, "services", partner.id)
    assert [e.action for e in inserted] == ["insert"]
    assert '"partner_type": "mission_locale"' in inserted[0].new_value


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (ServiceInput(name="CPAM", kind=ServiceKind.PARTNER), "partner_type", "Un partenaire a un type"),
        (
            ServiceInput(name="Accueil", kind=ServiceKind.OWN, partner_type=PartnerType.CAF),
            "partner_type",
            "n'a pas de type de partenaire",
        ),
        (ServiceInput(name="  ", kind=ServiceKind.OWN), "name", "Le nom est obligatoire"),
        (ServiceInput(name="Accueil", kind=ServiceKind.OWN, code="SENIORS"), "code", "déjà pris"),
        (ServiceInput(name="Accueil", kind=ServiceKind.OWN, m57_function="999"), "m57_function", "inconnue"),
        (
            ServiceInput(
                name="Bailleur",
                kind=ServiceKind.PARTNER,
                partner_type=PartnerType.SOCIAL_LANDLORD,
                is_support=True,
            ),
            "is_support",
            "fonction support",
        ),
    ],
)
def test_a_bad_service_is_refused_on_its_field_and_nothing_is_written(
    db_session, who, org, data, field, message
):
    before = db_session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    with pytest.raises(SteeringError) as refused:
        create_service(db_session, who("direction"), data)
    assert refused.value.field == field and message in str(refused.value)
    assert db_session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) == before


def test_a_stale_service_edit_is_refused_with_the_current_values(db_session, who, org):
    service = _service(db_session, org, "CAF")
    version = service.version
    data = ServiceInput(
        name="CAF de l'Aude", kind=ServiceKind.PARTNER, partner_type=PartnerType.CAF, code="CAF"
    )
    assert update_service(db_session, who("admin"), service, data, version)
    with pytest.raises(StaleEdit) as stale:
        update_service(
            db_session,
            who("direction"),
            service,
            ServiceInput(name="CAF 11", kind=ServiceKind.PARTNER, partner_type=PartnerType.CAF, code="CAF"),
            version,
        )
    assert stale.value.current_values["name"] == "CAF de l'Aude"
    assert service.name == "CAF de l'Aude"


def test_only_the_direction_and_the_administrator_edit_services(db_session, who, org):
    data = ServiceInput(name="Accueil", kind=ServiceKind.OWN)
    for login in ("finances", "elu", "partenaire", "responsable.seniors"):
        with pytest.raises(SteeringError, match="Vos droits"):
            create_service(db_session, who(login), data)


# -- activities --------------------------------------------------------------------------------------
def test_an_activity_is_created_and_edited_at_its_version_field_by_field(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    assert activity.code == "A_ATELIER_NUMERIQUE" and activity.kind is ActivityKind.OPTIONAL
    data = ActivityInput(
        service_id=activity.service_id,
        name="Atelier numérique",
        output_unit="séance",
        code=activity.code,
        unit_cost=Decimal("38"),
        fixed_cost=Decimal("1200"),
        capacity=400.0,
        volume=320.0,
        staff_etp=Decimal("0.5"),
        m57_function="423",
        kind=ActivityKind.MANDATORY,
        min_volume=100.0,
    )
    assert update_activity(db_session, who("admin"), activity, data, activity.version)
    fields = {
        e.field: (e.old_value, e.new_value)
        for e in _journal(db_session, "activities", activity.id)
        if e.action == "update"
    }
    assert fields["unit_cost"][0].startswith("35") and fields["unit_cost"][1].startswith("38")
    assert fields["volume"] == ("300.0", "320.0")
    assert fields["kind"] == ("optional", "mandatory")
    assert not update_activity(db_session, who("admin"), activity, data, activity.version)  # nothing changed
    with pytest.raises(StaleEdit):
        update_activity(db_session, who("direction"), activity, data, activity.version - 1)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"service_id": None}, "service_id", "Choisissez le service"),
        ({"output_unit": " "}, "output_unit", "L'unité de production est obligatoire"),
        (
            {"capacity": 50.0, "min_volume": 80.0},
            "min_volume",
            "Le volume minimum légal (80) dépasse la capacité (50)",
        ),
        ({"staff_etp": Decimal("250000")}, "staff_etp", "ETP"),
        ({"m57_function": "4999"}, "m57_function", "Fonction M57 « 4999 » inconnue"),
        ({"code": "A PORTAGE"}, "code", "Code invalide"),
        ({"code": "A_PORTAGE"}, "code", "déjà pris"),
        ({"fixed_cost": Decimal("-1")}, "fixed_cost", "ne peut pas être négatif"),
    ],
)
def test_a_bad_activity_is_refused_on_its_field(db_session, who, org, overrides, field, message):
    with pytest.raises(SteeringError) as refused:
        _new_activity(db_session, who, org, **overrides)
    assert refused.value.field == field and message in str(refused.value)
    assert _activity(db_session, org, "A_ATELIER_NUMERIQUE") is None


def test_yearly_volumes_are_added_changed_and_removed_at_their_versions(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    assert (
        save_volumes(
            db_session,
            who("direction"),
            activity,
            [VolumeInput(2025, 300.0, 280.0), VolumeInput(2026, 320.0, None)],
        )
        == 2
    )
    by_year = {v.year: v for v in activity.volumes}
    assert by_year[2025].source == "saisie" and by_year[2026].actual_volume is None
    v2025, v2026 = by_year[2025].version, by_year[2026].version
    assert (
        save_volumes(
            db_session,
            who("direction"),
            activity,
            [
                VolumeInput(2025, 300.0, 290.0, version=v2025),
                VolumeInput(2026, 320.0, None, version=v2026, delete=True),
            ],
        )
        == 2
    )
    assert [(v.year, v.actual_volume) for v in activity.volumes] == [(2025, 290.0)]
    changes = _journal(db_session, "activity_volumes", by_year[2025].id, "actual_volume")
    assert [(e.old_value, e.new_value) for e in changes] == [("280.0", "290.0")]
    with pytest.raises(StaleEdit) as stale:  # a form read before the last save
        save_volumes(db_session, who("direction"), activity, [VolumeInput(2025, 1.0, 1.0, version=v2025)])
    assert stale.value.current_values["actual_volume"] == "290"  # shown the French way


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([VolumeInput(1850, 1.0, 1.0)], "Année 1850 invraisemblable"),
        ([VolumeInput(2025, 1.0, 1.0), VolumeInput(2025, 2.0, 2.0)], "L'année 2025 figure deux fois"),
        ([VolumeInput(2025, -1.0, 1.0)], "le volume prévu ne peut pas être négatif"),
    ],
)
def test_bad_yearly_volumes_are_refused_and_none_is_written(db_session, who, org, rows, message):
    activity = _new_activity(db_session, who, org)
    with pytest.raises(SteeringError, match=message):
        save_volumes(db_session, who("direction"), activity, [VolumeInput(2024, 5.0, 5.0), *rows])
    assert activity.volumes == []


def test_an_existing_year_is_not_added_twice(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    save_volumes(db_session, who("direction"), activity, [VolumeInput(2025, 300.0, 280.0)])
    with pytest.raises(SteeringError, match="a déjà ses volumes"):
        save_volumes(db_session, who("direction"), activity, [VolumeInput(2025, 1.0, 1.0)])


def _iris(session, org, count):
    return session.scalars(
        select(Territory)
        .where(Territory.organisation_id == org, Territory.kind == TerritoryKind.IRIS)
        .order_by(Territory.code)
        .limit(count)
    ).all()


def test_territories_served_take_shares_up_to_all_of_the_output(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    a, b = _iris(db_session, org, 2)
    version = activity.version
    assert save_deliveries(
        db_session, who("direction"), activity, version, [DeliveryInput(a.id, 0.6), DeliveryInput(b.id, 0.25)]
    )
    assert {d.territory_id: d.share for d in activity.deliveries} == {a.id: 0.6, b.id: 0.25}
    assert activity.version == version + 1  # a form read before is now stale
    with pytest.raises(StaleEdit):
        save_deliveries(db_session, who("direction"), activity, version, None)
    assert save_deliveries(db_session, who("direction"), activity, activity.version, None)
    assert activity.deliveries == []  # delivered everywhere again
    assert {e.action for e in _journal(db_session, "activity_deliveries", f"{activity.id}/{a.id}")} == {
        "insert",
        "delete",
    }


def test_shares_above_the_whole_output_are_refused_in_french(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    a, b = _iris(db_session, org, 2)
    with pytest.raises(SteeringError) as refused:
        save_deliveries(
            db_session,
            who("direction"),
            activity,
            activity.version,
            [DeliveryInput(a.id, 0.7), DeliveryInput(b.id, 0.5)],
        )
    assert "Les parts font 120\u00a0% : une activité ne livre pas plus de 100\u00a0%" in str(refused.value)
    assert activity.deliveries == []
    with pytest.raises(SteeringError, match="figure deux fois"):
        save_deliveries(
            db_session,
            who("direction"),
            activity,
            activity.version,
            [DeliveryInput(a.id, 0.2), DeliveryInput(a.id, 0.2)],
        )
    with pytest.raises(SteeringError, match="entre 0 \\(exclu\\) et 100"):
        save_deliveries(db_session, who("direction"), activity, activity.version, [DeliveryInput(a.id, 0.0)])
    epci = db_session.scalar(
        select(Territory).where(
            Territory.organisation_id == org,
            Territory.kind != TerritoryKind.IRIS,
            Territory.kind != TerritoryKind.COMMUNE,
            Territory.kind != TerritoryKind.QUARTIER,
        )
    )
    if epci is not None:
        with pytest.raises(SteeringError, match="commune, quartier ou IRIS"):
            save_deliveries(
                db_session, who("direction"), activity, activity.version, [DeliveryInput(epci.id, 1)]
            )


def test_an_activity_with_history_is_archived_one_without_is_deleted(db_session, who, org):
    fresh = _new_activity(db_session, who, org)
    ident = fresh.id
    assert archive_activity(db_session, who("direction"), fresh, fresh.version, now=utcnow()) == "deleted"
    assert db_session.get(Activity, ident) is None
    assert _journal(db_session, "activities", ident)[-1].action == "delete"
    portage = _activity(db_session, org)
    assert archive_activity(db_session, who("admin"), portage, portage.version, now=utcnow()) == "archived"
    assert portage.archived_at is not None and db_session.get(Activity, portage.id) is not None
    with pytest.raises(SteeringError, match="déjà archivée"):
        archive_activity(db_session, who("admin"), portage, portage.version, now=utcnow())
    assert restore_activity(db_session, who("admin"), portage, portage.version)
    assert portage.archived_at is None


# -- needs --------------------------------------------------------------------------------------------
def _group(session, org, code="personnes_agees"):
    return session.scalar(
        select(PopulationGroup).where(PopulationGroup.organisation_id == org, PopulationGroup.code == code)
    )


def _commune(session, org):
    return session.scalar(
        select(Territory).where(Territory.organisation_id == org, Territory.kind == TerritoryKind.COMMUNE)
    )


def test_a_need_sized_by_hand_carries_its_evidence_and_date(db_session, who, org):
    need = create_need(
        db_session,
        who("direction"),
        NeedInput(
            label="Aidants épuisés",
            population_group_id=_group(db_session, org).id,
            territory_id=_commune(db_session, org).id,
            unit="personnes",
            sizing="manual",
            size=120.0,
            size_as_of=date(2026, 9, 1),
            source="Comptage des plateformes de répit",
            evidence_note="Liste d'attente",
        ),
        today=TODAY,
    )
    assert (need.size, need.size_as_of, need.sizing_formula) == (120.0, date(2026, 9, 1), None)
    assert need.code == "AIDANTS_EPUISES" and need.priority == 3


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"size": None}, "size", "Saisissez l'effectif"),
        ({"size_as_of": None}, "size_as_of", "Indiquez la date"),
        ({"size_as_of": date(2027, 1, 1)}, "size_as_of", "dans le futur"),
        ({"source": ""}, "source", "a sa source"),
        ({"sizing": "formula", "sizing_formula": "pop_80p *"}, "sizing_formula", "Formule refusée"),
        ({"sizing": "formula", "sizing_formula": "nimporte_quoi * 2"}, "sizing_formula", "nimporte_quoi"),
        ({"population_group_id": None}, "population_group_id", "Choisissez le public"),
        ({"territory_id": None}, "territory_id", "Choisissez le territoire"),
    ],
)
def test_a_bad_need_is_refused_on_its_field(db_session, who, org, overrides, field, message):
    values = {
        "label": "Essai",
        "population_group_id": _group(db_session, org).id,
        "territory_id": _commune(db_session, org).id,
        "unit": "personnes",
        "sizing": "manual",
        "size": 10.0,
        "size_as_of": date(2026, 1, 1),
        "source": "Comptage",
    }
    values.update(overrides)
    with pytest.raises(SteeringError) as refused:
        create_need(db_session, who("direction"), NeedInput(**values), today=TODAY)
    assert refused.value.field == field and message in str(refused.value)
    assert _need(db_session, org, "ESSAI") is None


def test_a_need_switched_to_a_formula_is_sized_from_the_held_statistics(db_session, who, org):
    need = _need(db_session, org)
    group = db_session.get(PopulationGroup, need.population_group_id)
    data = NeedInput(
        label=need.label,
        population_group_id=group.id,
        territory_id=need.territory_id,
        unit="allocataires",
        sizing="formula",
        sizing_formula="caf_rsa_socle * 0,1".replace(",", "."),
        code=need.code,
    )
    assert update_need(db_session, who("admin"), need, data, need.version, today=TODAY)
    assert need.sizing_formula == "caf_rsa_socle * 0.1"
    assert need.size is not None and need.size > 0 and need.vintage == 2020
    assert any(e.role == "size" for e in need.evidence)
    manual = NeedInput(
        label=need.label,
        population_group_id=group.id,
        territory_id=need.territory_id,
        unit="allocataires",
        sizing="manual",
        size=42.0,
        size_as_of=date(2026, 6, 30),
        source="Compte du CCAS",
        code=need.code,
    )
    assert update_need(db_session, who("direction"), need, manual, need.version, today=TODAY)
    assert need.size == 42.0 and need.sizing_formula is None
    assert not [e for e in need.evidence if e.role == "size"]
    assert [e.new_value for e in _journal(db_session, "needs", need.id, "size")][-1] == "42.0"


def test_a_need_for_a_new_organisation_takes_a_standard_public(db_session, demo):
    from services.organisations import create_organisation

    created = create_organisation(
        db_session, "ccas", "56121", now=utcnow()
    )  # Lorient: no other test sets it up
    org = created.organisation.id
    principal = Principal(user_id=0, organisation_id=org, role=Role.DIRECTION, service_ids=frozenset())
    commune = _commune(db_session, org)
    need = create_need(
        db_session,
        principal,
        NeedInput(
            label="Allocataires du RSA",
            population_group_id=None,
            new_group=("minima_sociaux", "Bénéficiaires de minima sociaux"),
            territory_id=commune.id,
            unit="allocataires",
            sizing="formula",
            sizing_formula="caf_rsa_socle",
        ),
        today=TODAY,
    )
    assert _group(db_session, org, "minima_sociaux").id == need.population_group_id
    assert need.size is not None and need.size > 0  # summed over Lorient's IRIS (CAF 2020)


def test_stale_need_edit_is_refused(db_session, who, org):
    need = _need(db_session, org)
    version = need.version
    db_session.execute(update(Need).where(Need.id == need.id).values(version=version + 1))  # someone else
    data = NeedInput(
        label="Autre intitulé",
        population_group_id=need.population_group_id,
        territory_id=need.territory_id,
        unit=need.unit,
        sizing="manual",
        size=3.0,
        size_as_of=date(2026, 1, 1),
        source="x",
        code=need.code,
    )
    with pytest.raises(StaleEdit):
        update_need(db_session, who("direction"), need, data, version, today=TODAY)


def test_qualitative_evidence_is_added_edited_and_removed(db_session, who, org):
    need = _need(db_session, org)
    data = ObservationInput(
        EvidenceKind.FOCUS_GROUP, date(2026, 10, 3), "Accueil de jour", "Manque de douches."
    )
    observation = add_observation(db_session, who("direction"), need, data, today=TODAY)
    assert observation.created_by_id is not None and need.observations[-1] is observation
    changed = ObservationInput(
        EvidenceKind.FOCUS_GROUP, date(2026, 10, 3), "Accueil de jour", "Manque de douches et de casiers."
    )
    assert update_observation(
        db_session, who("admin"), observation, changed, observation.version, today=TODAY
    )
    with pytest.raises(StaleEdit):
        update_observation(db_session, who("admin"), observation, data, observation.version - 1, today=TODAY)
    with pytest.raises(SteeringError, match="dans le futur"):
        add_observation(
            db_session,
            who("direction"),
            need,
            ObservationInput(EvidenceKind.INTERVIEW, date(2027, 1, 1), "x", "y"),
            today=TODAY,
        )
    with pytest.raises(SteeringError, match="Résumez"):
        add_observation(
            db_session,
            who("direction"),
            need,
            ObservationInput(EvidenceKind.INTERVIEW, date(2026, 1, 1), "x", " "),
            today=TODAY,
        )
    ident = observation.id
    delete_observation(db_session, who("direction"), observation, observation.version)
    assert _journal(db_session, "need_observations", ident)[-1].action == "delete"
    with pytest.raises(SteeringError, match="Vos droits"):
        add_observation(db_session, who("elu"), need, data, today=TODAY)


# -- coverage links -----------------------------------------------------------------------------------
def test_a_link_edited_from_the_activity_makes_the_need_page_stale(db_session, who, org):
    activity, need = _new_activity(db_session, who, org), _need(db_session, org)
    need_version = need.version
    assert set_coverage(
        db_session,
        who("direction"),
        activity,
        need,
        CoverageInput(0.01, 0.4),
        page=activity,
        version=activity.version,
    )
    link = db_session.get(ActivityNeedCoverage, (activity.id, need.id))
    assert (link.coefficient, link.share) == (0.01, 0.4)
    assert need.version == need_version + 1
    with pytest.raises(StaleEdit):  # the need's page was read before
        set_coverage(
            db_session, who("admin"), activity, need, CoverageInput(0.02), page=need, version=need_version
        )
    assert set_coverage(
        db_session, who("admin"), activity, need, CoverageInput(0.02), page=need, version=need.version
    )
    assert (link.coefficient, link.share) == (0.02, None)
    entries = _journal(db_session, "activity_need_coverages", f"{activity.id}/{need.id}")
    assert [e.action for e in entries] == ["insert", "update", "update"]
    assert remove_coverage(
        db_session, who("direction"), activity, need, page=activity, version=activity.version
    )
    assert db_session.get(ActivityNeedCoverage, (activity.id, need.id)) is None


def test_explicit_shares_beyond_the_whole_output_are_refused(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    needs = db_session.scalars(
        select(Need).where(Need.organisation_id == org).order_by(Need.code).limit(2)
    ).all()
    first, second = needs
    set_coverage(
        db_session,
        who("direction"),
        activity,
        first,
        CoverageInput(0.01, 0.7),
        page=activity,
        version=activity.version,
    )
    with pytest.raises(SteeringError) as refused:
        set_coverage(
            db_session,
            who("direction"),
            activity,
            second,
            CoverageInput(0.01, 0.5),
            page=activity,
            version=activity.version,
        )
    assert "feraient 120\u00a0% (dont 70\u00a0% pour ses autres besoins)" in str(refused.value)
    assert db_session.get(ActivityNeedCoverage, (activity.id, second.id)) is None
    with pytest.raises(SteeringError, match="négatif"):
        set_coverage(
            db_session,
            who("direction"),
            activity,
            second,
            CoverageInput(-1),
            page=activity,
            version=activity.version,
        )


def test_a_race_between_the_check_and_the_write_still_ends_in_a_stale_edit(db_session, who, org):
    activity = _new_activity(db_session, who, org)
    a, _ = _iris(db_session, org, 2)
    version = activity.version
    # another request saves between our check and our UPDATE: the row moved on, our object did not
    db_session.execute(update(Activity).where(Activity.id == activity.id).values(version=version + 1))
    with pytest.raises(StaleEdit):
        save_deliveries(db_session, who("direction"), activity, version, [DeliveryInput(a.id, 1.0)])
    assert db_session.scalars(select(Activity).where(Activity.id == activity.id)).one().deliveries == []
