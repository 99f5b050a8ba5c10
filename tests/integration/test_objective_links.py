"""« Contribue à » links between objectives and the strategy map built from the scorecard."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from models import AuditEntry, Objective, ObjectiveLink, ObjectiveStatus, Organisation, User
from models.base import utcnow
from scorecard.strategy_layout import score_trend
from services.audit import acting_as
from services.policy import Principal
from services.scorecard import ScorecardError, build_scorecard
from services.steering import SteeringError
from services.strategy_map import add_link, build_strategy_map, remove_link

PERIOD = "2025-T4"


@pytest.fixture
def ctx(db_session, demo):
    # the demo may carry links of its own: each test starts from none (rolled back afterwards)
    db_session.execute(delete(ObjectiveLink).where(ObjectiveLink.organisation_id == demo.organisation_id))

    def principal(login: str) -> Principal:
        user = db_session.scalar(select(User).where(User.email == f"{login}@carcassonne.pilotis.example"))
        return Principal.of(user)

    def objective(code: str, organisation_id: int = demo.organisation_id) -> Objective:
        return db_session.scalar(
            select(Objective).where(Objective.organisation_id == organisation_id, Objective.code == code)
        )

    return {
        "s": db_session,
        "direction": principal("direction"),
        "manager": principal("responsable.seniors"),
        "elected": principal("elu"),
        "objective": objective,
        "org": demo.organisation_id,
    }


def links(session, org_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(ObjectiveLink).where(ObjectiveLink.organisation_id == org_id)
    )


def test_the_direction_draws_a_link_and_the_journal_records_it(ctx):
    s, o = ctx["s"], ctx["objective"]
    with acting_as(ctx["direction"].user_id):
        link = add_link(s, ctx["direction"], o("OO5.1").id, o("OO4.1").id)
    assert (link.source.code, link.target.code, link.version) == ("OO5.1", "OO4.1", 1)
    # the latest entry: another test may have journaled a link that had the same id
    entry = s.scalar(
        select(AuditEntry)
        .where(AuditEntry.table_name == "objective_links", AuditEntry.row_id == str(link.id))
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    assert (entry.action, entry.user_id, entry.organisation_id) == (
        "insert",
        ctx["direction"].user_id,
        ctx["org"],
    )
    assert f'"source_id": "{o("OO5.1").id}"' in entry.new_value

    with acting_as(ctx["direction"].user_id):
        remove_link(s, ctx["direction"], link, 1)
    assert links(s, ctx["org"]) == 0
    actions = s.scalars(
        select(AuditEntry.action).where(
            AuditEntry.table_name == "objective_links",
            AuditEntry.row_id == str(link.id),
            AuditEntry.id >= entry.id,
        )
    ).all()
    assert sorted(actions) == ["delete", "insert"]


@pytest.mark.parametrize(
    ("source", "target", "message", "field"),
    [
        ("OO5.1", "OO5.1", "ne peut pas contribuer à lui-même", "target_id"),
        ("OO1.1", "OO2.1", "tous deux dans la perspective « Usagers et citoyens »", "target_id"),
        ("OS1", "OO3.1", None, None),  # a control: allowed (different perspectives, not parent and child)
        ("OS5", "OO5.2", "tous deux dans la perspective", "target_id"),
        (None, "OO4.1", "Choisissez l'objectif de départ", "source_id"),
        ("OO5.1", None, "Choisissez l'objectif d'arrivée", "target_id"),
    ],
)
def test_refused_links_say_why_and_write_nothing(ctx, source, target, message, field):
    s, o = ctx["s"], ctx["objective"]
    source_id = o(source).id if source else None
    target_id = o(target).id if target else None
    if message is None:
        add_link(s, ctx["direction"], source_id, target_id)
        assert links(s, ctx["org"]) == 1
        return
    with pytest.raises(SteeringError, match=message) as refused:
        add_link(s, ctx["direction"], source_id, target_id)
    assert refused.value.field == field
    assert links(s, ctx["org"]) == 0


def test_duplicates_reverse_links_cascade_pairs_and_closed_objectives_are_refused(ctx):
    s, o, who = ctx["s"], ctx["objective"], ctx["direction"]
    add_link(s, who, o("OO5.2").id, o("OO4.1").id)
    with pytest.raises(SteeringError, match=r"Ce lien existe déjà : « OO5\.2 » contribue à « OO4\.1 »"):
        add_link(s, who, o("OO5.2").id, o("OO4.1").id)
    with pytest.raises(
        SteeringError, match=r"Le lien inverse existe déjà \(« OO5.2 » contribue à « OO4.1 »\)"
    ):
        add_link(s, who, o("OO4.1").id, o("OO5.2").id)
    child = o("OO3.1")
    child.parent_id = o("OS4").id  # a finance objective broken down from a processes one
    s.flush()
    with pytest.raises(SteeringError, match="déjà reliés par la cascade"):
        add_link(s, who, child.id, o("OS4").id)
    closed = o("OO5.1")
    closed.status, closed.closed_at = ObjectiveStatus.CLOSED, utcnow()
    s.flush()
    with pytest.raises(SteeringError, match=r"« OO5\.1 » est clôturé") as refused:
        add_link(s, who, closed.id, o("OO4.2").id)
    assert refused.value.field == "source_id"
    assert links(s, ctx["org"]) == 1


def test_only_the_direction_draws_links_and_never_with_another_organisations_objective(ctx, other_demo):
    s, o = ctx["s"], ctx["objective"]
    for role in ("manager", "elected"):
        with pytest.raises(SteeringError, match="Seule la direction"):
            add_link(s, ctx[role], o("OO5.1").id, o("OO4.1").id)
    foreign = o("OO4.1", other_demo.organisation_id)
    with pytest.raises(SteeringError, match="Objectif d'arrivée inconnu dans votre organisation") as refused:
        add_link(s, ctx["direction"], o("OO5.1").id, foreign.id)
    assert refused.value.field == "target_id"
    link = add_link(s, ctx["direction"], o("OO5.1").id, o("OO4.1").id)
    with pytest.raises(SteeringError, match="Seule la direction"):
        remove_link(s, ctx["manager"], link, link.version)
    with pytest.raises(SteeringError, match="modifié entre-temps"):
        remove_link(s, ctx["direction"], link, link.version + 1)
    assert links(s, ctx["org"]) == 1


def test_the_database_keeps_one_link_per_pair_and_none_to_itself(ctx):
    s, o = ctx["s"], ctx["objective"]
    a, b = o("OO5.1").id, o("OO4.1").id
    s.add(ObjectiveLink(organisation_id=ctx["org"], source_id=a, target_id=b))
    s.flush()
    for source, target in ((a, b), (a, a)):
        with s.begin_nested(), pytest.raises(IntegrityError):
            s.add(ObjectiveLink(organisation_id=ctx["org"], source_id=source, target_id=target))
            s.flush()
    assert links(s, ctx["org"]) == 1


def test_deleting_an_objective_deletes_its_links(ctx):
    s, o = ctx["s"], ctx["objective"]
    lonely = Objective(
        organisation_id=ctx["org"],
        code="OS-LIEN",
        title="Objectif sans suite",
        level=o("OS5").level,
        perspective=o("OS5").perspective,
    )
    s.add(lonely)
    s.flush()
    add_link(s, ctx["direction"], lonely.id, o("OO4.1").id)
    s.delete(lonely)
    s.flush()
    s.expire_all()
    assert links(s, ctx["org"]) == 0


def test_the_map_shows_the_scorecards_statuses_scores_and_trends(ctx):
    s, o, who = ctx["s"], ctx["objective"], ctx["direction"]
    add_link(s, who, o("OO5.2").id, o("OO4.1").id)
    add_link(s, who, o("OO4.1").id, o("OS2").id)
    view = build_strategy_map(s, who, PERIOD)
    card = build_scorecard(s, who, PERIOD)
    before = build_scorecard(s, who, "2025-T3")

    def blocks(scorecard):
        out, stack = {}, [b for p in scorecard.perspectives for b in p.objectives]
        while stack:
            block = stack.pop()
            out[block.code] = block
            stack.extend(block.children)
        return out

    now, then = blocks(card), blocks(before)
    shown = {e.objective.code: e for e in view.entries.values()}
    assert set(shown) == set(now)
    for code, entry in shown.items():
        assert (entry.objective.status, entry.objective.status_label, entry.objective.score) == (
            now[code].status,
            now[code].status_label,
            now[code].score,
        )
        assert entry.objective.trend == score_trend(now[code].score, then[code].score)
    assert len({e.objective.status for e in shown.values()}) > 1  # the comparison is not vacuous
    assert shown["OO1.1"].objective.owner == s.get(User, o("OO1.1").owner_id).full_name
    assert view.previous_key == "2025-T3"
    assert shown["OO4.1"].contributes_to == ("OS2",) and shown["OO4.1"].contributed_by == ("OO5.2",)
    assert shown["OO1.1"].parent_code == "OS1"
    assert [(r.source_code, r.target_code) for r in view.links] == [("OO4.1", "OS2"), ("OO5.2", "OO4.1")]
    kinds = sorted((e.kind, e.source_id, e.target_id) for e in view.layout.edges)
    assert ("contribution", o("OO5.2").id, o("OO4.1").id) in kinds
    assert sum(kind == "cascade" for kind, _, _ in kinds) == sum(1 for e in shown.values() if e.parent_code)
    assert [band.perspective.label for band in view.layout.bands] == [
        "Usagers et citoyens",
        "Finances",
        "Processus internes",
        "Apprentissage et organisation",
    ]
    assert view.mission == s.get(Organisation, ctx["org"]).mission
    assert all(entry.openable for entry in shown.values())


def test_a_service_manager_sees_their_part_and_cannot_open_the_rest(ctx):
    s, o = ctx["s"], ctx["objective"]
    add_link(s, ctx["direction"], o("OO5.2").id, o("OO4.1").id)  # between objectives of other services
    view = build_strategy_map(s, ctx["manager"], PERIOD)
    shown = {e.objective.code: e for e in view.entries.values()}
    assert {"OO1.1", "OO1.2", "OO3.1", "OS1", "OS3"} <= set(shown)
    assert "OO4.1" not in shown and "OO2.1" not in shown
    assert shown["OO1.1"].openable and not shown["OS1"].openable  # a strategic objective of no service
    assert view.links == [] and all(e.kind == "cascade" for e in view.layout.edges)


def test_a_period_that_cannot_be_read_is_refused_in_french(ctx):
    with pytest.raises(ScorecardError, match=r"Période .* non reconnue"):
        build_strategy_map(ctx["s"], ctx["direction"], "T4-2025")
