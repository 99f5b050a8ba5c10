"""The one coverage model on random organisations (hypothesis).

The coherence page (``scorecard.coherence``) and the optimizer (``optimizer.Problem``) read the same
organisation through two different shapes (frames by id, a problem by code); both must count the
same persons for every need, count each unit of output once, and keep a delivery's effect where it
is delivered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import evaluate
from optimizer.problem import (
    ActivitySpec,
    Coverage,
    Delivery,
    NeedSpec,
    Problem,
    ServiceSpec,
    TerritorySpec,
)
from scorecard.coherence import compute_coherence
from scorecard.coverage import compute_coverage

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COMMUNE = 0  # territory ids: 0 the commune, 1..k its IRIS


@dataclass(frozen=True)
class Organisation:
    """A commune and its IRIS, needs in them, activities, links and deliveries (ids are ints)."""

    n_iris: int
    needs: pd.DataFrame  # index need_id: size, territory_id
    activities: pd.DataFrame  # index activity_id: volume
    links: pd.DataFrame  # activity_id, need_id, coefficient, share
    deliveries: pd.DataFrame  # activity_id, territory_id, share

    @property
    def parents(self) -> dict[int, int | None]:
        return {COMMUNE: None} | dict.fromkeys(range(1, self.n_iris + 1), COMMUNE)


@st.composite
def organisations(draw: st.DrawFn) -> Organisation:
    n_iris = draw(st.integers(2, 5))
    places = st.integers(COMMUNE, n_iris)
    n_needs = draw(st.integers(1, 8))
    sizes = draw(
        st.lists(
            st.one_of(st.just(math.nan), st.floats(0, 5_000, allow_nan=False)),
            min_size=n_needs,
            max_size=n_needs,
        )
    )
    needs = pd.DataFrame(
        {
            "size": sizes,
            "territory_id": draw(st.lists(places, min_size=n_needs, max_size=n_needs)),
            "priority": 3,
            "priority_weight": 1.0,
            "group": "g",
            "territory": "t",
        },
        index=pd.Index(range(100, 100 + n_needs), name="need_id"),
    )
    n_acts = draw(st.integers(1, 6))
    activities = pd.DataFrame(
        {
            "volume": draw(st.lists(st.floats(0, 2_000), min_size=n_acts, max_size=n_acts)),
            "cost": 1_000.0,
        },
        index=pd.Index(range(10, 10 + n_acts), name="activity_id"),
    )
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(list(activities.index)), st.sampled_from(list(needs.index))),
            min_size=1,
            max_size=n_acts * n_needs,
            unique=True,
        )
    )
    links = pd.DataFrame(
        {
            "activity_id": [a for a, _ in pairs],
            "need_id": [n for _, n in pairs],
            "coefficient": draw(st.lists(st.floats(0, 3), min_size=len(pairs), max_size=len(pairs))),
            "share": draw(
                st.lists(
                    st.one_of(st.just(math.nan), st.just(math.nan), st.floats(0, 1)),
                    min_size=len(pairs),
                    max_size=len(pairs),
                )
            ),
        }
    )
    located = draw(st.lists(st.sampled_from(list(activities.index)), unique=True))
    rows = []
    for activity in located:
        where = draw(st.lists(places, min_size=1, max_size=3, unique=True))
        shares = draw(st.lists(st.floats(0.05, 1), min_size=len(where), max_size=len(where)))
        total = sum(shares)
        rows += [(activity, t, s / total) for t, s in zip(where, shares, strict=True)]
    deliveries = pd.DataFrame(rows, columns=["activity_id", "territory_id", "share"]).astype(
        {"activity_id": "int64", "territory_id": "int64", "share": float}
    )
    return Organisation(n_iris, needs, activities, links, deliveries)


def as_problem(org: Organisation) -> Problem:
    """The same organisation as the optimizer reads it (codes instead of ids)."""
    return Problem(
        activities=tuple(
            ActivitySpec(code=f"A{i}", service="S", unit_cost=10.0, current_volume=float(row.volume))
            for i, row in org.activities.iterrows()
        ),
        needs=tuple(
            NeedSpec(code=f"N{i}", size=float(row["size"]), territory=f"T{int(row['territory_id'])}")
            for i, row in org.needs.iterrows()
        ),
        services=(ServiceSpec(code="S"),),
        coverages=tuple(
            Coverage(
                activity=f"A{int(row.activity_id)}",
                need=f"N{int(row.need_id)}",
                coefficient=float(row.coefficient),
                share=None if math.isnan(row.share) else float(row.share),
            )
            for row in org.links.itertuples()
        ),
        envelope=1e9,
        deliveries=tuple(
            Delivery(
                activity=f"A{int(r.activity_id)}", territory=f"T{int(r.territory_id)}", share=float(r.share)
            )
            for r in org.deliveries.itertuples()
        ),
        territories=tuple(
            TerritorySpec(code=f"T{t}", parent=None if p is None else f"T{p}") for t, p in org.parents.items()
        ),
    )


def coherence_covered(org: Organisation) -> pd.Series:
    result = compute_coherence(org.needs, org.activities, org.links, org.deliveries, org.parents)
    return result.needs["covered"]


@SETTINGS
@given(organisations())
def test_the_optimizer_counts_today_what_the_coherence_page_shows(org: Organisation):
    problem = as_problem(org)
    today = evaluate(problem, {a.code: a.current_volume for a in problem.activities})
    covered = coherence_covered(org)
    for need_id, value in covered.items():
        mine = today.covered[f"N{need_id}"]
        if math.isnan(value):
            assert math.isnan(mine) or mine == 0
        else:
            assert mine == pytest.approx(value, rel=1e-9, abs=1e-9)
    current = problem.current_coverage()
    assert {k: v for k, v in current.items() if not math.isnan(v)} == pytest.approx(
        {f"N{k}": v for k, v in covered.items() if not math.isnan(v)}, rel=1e-9, abs=1e-9
    )


@SETTINGS
@given(organisations())
def test_each_unit_of_output_is_counted_once(org: Organisation):
    counted = compute_coverage(org.needs, org.activities, org.links, org.deliveries, org.parents)
    links = counted.links
    # the counted shares of one activity never exceed its whole output
    per_activity = links.groupby("activity_id")["counted_share"].sum()
    assert (per_activity <= 1 + 1e-9).all()
    assert (links["counted_share"] >= -1e-12).all()
    # persons offered over all needs never exceed output x the best coefficient of each activity
    best = links.groupby("activity_id")["coefficient"].max()
    ceiling = float((org.activities["volume"].reindex(best.index) * best).sum())
    assert float(counted.needs["offered"].sum()) <= ceiling * (1 + 1e-9) + 1e-9
    assert float(np.nansum(counted.needs["covered"])) <= ceiling * (1 + 1e-9) + 1e-9
    # and covered never exceeds the need's size
    sized = counted.needs["covered"].notna()
    assert (counted.needs.loc[sized, "covered"] <= org.needs.loc[sized, "size"] + 1e-9).all()


@SETTINGS
@given(organisations(), st.data())
def test_moving_a_delivery_changes_only_the_two_quarters(org: Organisation, data: st.DataObject):
    activity = data.draw(st.sampled_from(list(org.activities.index)))
    source, target = data.draw(
        st.lists(st.integers(1, org.n_iris), min_size=2, max_size=2, unique=True), label="IRIS"
    )
    others = org.deliveries[org.deliveries["activity_id"] != activity]
    before = pd.concat(
        [others, pd.DataFrame({"activity_id": [activity], "territory_id": [source], "share": [1.0]})]
    )
    after = pd.concat(
        [others, pd.DataFrame({"activity_id": [activity], "territory_id": [target], "share": [1.0]})]
    )
    moved_from = compute_coverage(org.needs, org.activities, org.links, before, org.parents).needs["offered"]
    moved_to = compute_coverage(org.needs, org.activities, org.links, after, org.parents).needs["offered"]
    for need_id, where in org.needs["territory_id"].items():
        if where not in (source, target, COMMUNE):  # a sibling quarter: untouched
            assert moved_to[need_id] == pytest.approx(moved_from[need_id], rel=1e-12, abs=1e-12)
    # what the activity gives the quarter it left is now zero there, and only there
    in_source = org.needs.index[org.needs["territory_id"] == source]
    served = org.links.loc[org.links["activity_id"] == activity, "need_id"]
    after_links = compute_coverage(org.needs, org.activities, org.links, after, org.parents).links
    gone = after_links[(after_links["activity_id"] == activity) & after_links["need_id"].isin(in_source)]
    assert (gone["counted_share"] == 0).all()
    assert set(gone["need_id"]) == set(served[served.isin(in_source)])


def test_a_quarter_without_the_grocery_gets_none_of_it():
    """A social grocery in IRIS 1 and 2 of three: the needs of IRIS 3 get nothing from it, the
    commune-wide need shares its output with the two quarters' needs, pro rata of the sizes."""
    needs = pd.DataFrame(
        {"size": [100.0, 300.0, 200.0, 400.0], "territory_id": [1, 2, 3, COMMUNE]},
        index=pd.Index([1, 2, 3, 4], name="need_id"),
    )
    activities = pd.DataFrame({"volume": [1_000.0]}, index=pd.Index([7], name="activity_id"))
    links = pd.DataFrame({"activity_id": 7, "need_id": [1, 2, 3, 4], "coefficient": 1.0, "share": math.nan})
    deliveries = pd.DataFrame({"activity_id": [7, 7], "territory_id": [1, 2], "share": [0.5, 0.5]})
    parents = {COMMUNE: None, 1: COMMUNE, 2: COMMUNE, 3: COMMUNE}
    result = compute_coverage(needs, activities, links, deliveries, parents)
    offered = result.needs["offered"]
    # IRIS 1: 500 units shared by need 1 (100) and the commune's need (400): 100 and 400
    # IRIS 2: 500 units shared by need 2 (300) and the commune's need (400): 214.3 and 285.7
    assert offered[1] == pytest.approx(500 * 100 / 500)
    assert offered[2] == pytest.approx(500 * 300 / 700)
    assert offered[3] == 0
    assert offered[4] == pytest.approx(500 * 400 / 500 + 500 * 400 / 700)
    assert offered.sum() == pytest.approx(1_000)
