"""Offer-need coherence (pure, pandas): how well the offer covers each need, and where not.

Glossary of columns
-------------------
needs (index ``need_id``): ``size`` (NaN when unknown), ``priority`` (1-5), ``priority_weight``,
    ``group``, ``territory`` (name, for the matrix), ``territory_id`` (key in the territory tree).
activities (index ``activity_id``): ``volume`` (output units per year), ``cost`` (EUR per year;
    NaN for a partner's unknown cost).
coverage: ``activity_id``, ``need_id``, ``coefficient`` (persons of the need answered by one unit
    of the activity's output), ``share`` (explicit share, NaN: the pro rata rule).
deliveries (optional): ``activity_id``, ``territory_id``, ``share`` (where the output is delivered).

Formulas
--------
- coverage is the one coverage model, :mod:`scorecard.coverage`: each unit of output is counted
  once, shared among the needs it reaches where it is delivered (pro rata of their sizes unless
  an explicit share is set): counted share ``s_an``; offered_n = sum_a coefficient_an x s_an x
  volume_a (persons); covered_n = min(offered_n, size_n); coverage_rate_n = covered_n / size_n;
- unmet_n = size_n - covered_n; over_supply_n = max(offered_n - size_n, 0);
- the activity's cost follows the same counted shares (``cost_share = s_an``; a part delivered
  where it reaches no need is attributed to none); cost_per_person_n = attributed cost / covered_n;
- gap_index_n = priority_weight_n x unmet_n / size_n (the priority-weighted share left uncovered);
- a need of unknown size gets no rate and no gap: it is flagged, never read as covered;
- the matrix sums covered and sizes of the needs of a (group, territory) cell: a sum of needs
  covered ("besoins couverts"), not of distinct persons (one person can be in two needs).
Flags: ``high_priority_low_coverage`` (priority >= 4 and coverage < 50 %).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scorecard.coverage import compute_coverage

LOW_COVERAGE = 0.5
HIGH_PRIORITY = 4


@dataclass(frozen=True)
class Coherence:
    needs: pd.DataFrame
    matrix: pd.DataFrame
    activity_shares: pd.DataFrame


def compute_coherence(
    needs: pd.DataFrame,
    activities: pd.DataFrame,
    coverage: pd.DataFrame,
    deliveries: pd.DataFrame | None = None,
    parents: Mapping[Hashable, Hashable | None] | None = None,
) -> Coherence:
    """Coverage, gaps and costs per need, and the population group x territory matrix.

    Coverage is :func:`scorecard.coverage.compute_coverage` (the one coverage model: counted
    shares, located deliveries); ``deliveries`` and ``parents`` are passed to it unchanged.
    """
    counted = compute_coverage(needs, activities, coverage, deliveries, parents)
    links = counted.links.merge(activities[["cost"]], left_on="activity_id", right_index=True, how="left")
    links["cost_share"] = links["counted_share"]
    links["attributed_cost"] = links["cost"].astype(float) * links["cost_share"]
    per_need = links.groupby("need_id").agg(
        activities=("activity_id", "nunique"),
        attributed_cost=("attributed_cost", lambda s: s.sum(min_count=1)),
    )
    result = needs.copy()
    result = result.join(per_need, how="left")
    result["offered"] = counted.needs["offered"]
    result["activities"] = result["activities"].fillna(0).astype(int)
    size = result["size"].astype(float)
    known = size.notna() & (size > 0)
    result["covered"] = counted.needs["covered"]
    with np.errstate(divide="ignore", invalid="ignore"):
        result["coverage_rate"] = counted.needs["coverage_rate"]
        result["unmet"] = np.where(known, size - result["covered"], np.nan)
        result["over_supply"] = np.where(known, np.maximum(result["offered"] - size, 0.0), np.nan)
        result["cost_per_person"] = np.where(
            result["covered"] > 0, result["attributed_cost"] / result["covered"], np.nan
        )
        result["gap_index"] = np.where(
            known, result["priority_weight"].astype(float) * result["unmet"] / size, np.nan
        )
    result["size_unknown"] = ~known
    result["high_priority_low_coverage"] = (
        (result["priority"] >= HIGH_PRIORITY) & known & (result["coverage_rate"] < LOW_COVERAGE)
    )
    grouped = result[known].groupby(["group", "territory"])
    matrix = grouped.agg(size=("size", "sum"), covered=("covered", "sum"), needs=("size", "size"),
                         max_priority=("priority", "max"))  # fmt: skip
    matrix["coverage_rate"] = matrix["covered"] / matrix["size"]
    return Coherence(needs=result, matrix=matrix, activity_shares=links)


def orphans(
    needs: pd.DataFrame,
    activities: pd.DataFrame,
    coverage: pd.DataFrame,
    objective_needs: pd.DataFrame,
    objectives: pd.DataFrame,
    indicator_objectives: pd.Series,
) -> dict[str, list[int]]:
    """Needs with no objective or no activity, activities answering no need, objectives with no
    indicator in their whole subtree.

    ``objective_needs``: ``objective_id``, ``need_id``; ``objectives``: index ``objective_id`` and
    optionally ``parent_id``; ``indicator_objectives``: the objective id of each indicator (NaN when none).
    """
    covered = set(coverage["need_id"])
    targeted = set(objective_needs["need_id"])
    measured = set(indicator_objectives.dropna().astype(int))
    parents = objectives["parent_id"].dropna().astype(int).to_dict() if "parent_id" in objectives else {}
    for objective_id in list(measured):  # an indicator measures its objective's ancestors too
        parent = parents.get(objective_id)
        while parent is not None and parent not in measured:
            measured.add(parent)
            parent = parents.get(parent)
    return {
        "needs_without_activity": sorted(int(n) for n in needs.index if n not in covered),
        "needs_without_objective": sorted(int(n) for n in needs.index if n not in targeted),
        "activities_without_need": sorted(
            int(a) for a in activities.index if a not in set(coverage["activity_id"])
        ),
        "objectives_without_indicator": sorted(int(o) for o in objectives.index if o not in measured),
    }
