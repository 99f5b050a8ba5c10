"""Offer-need coherence (pure, pandas): how well the offer covers each need, and where not.

Glossary of columns
-------------------
needs (index ``need_id``): ``size`` (NaN when unknown), ``priority`` (1-5), ``priority_weight``,
    ``group``, ``territory``.
activities (index ``activity_id``): ``volume`` (output units per year), ``cost`` (EUR per year;
    NaN for a partner's unknown cost).
coverage: ``activity_id``, ``need_id``, ``coefficient`` (persons of the need answered by one unit
    of the activity's output).

Formulas
--------
- an activity's output is shared among the needs it answers in proportion to their sizes:
  share_{a,n} = size_n / sum of the sizes of a's needs (equal shares when none is known);
- offered_n = sum over activities of coefficient_{a,n} x volume_a x share_{a,n} (persons answered);
- covered_n = min(offered_n, size_n); coverage_rate_n = covered_n / size_n;
- unmet_n = size_n - covered_n; over_supply_n = max(offered_n - size_n, 0);
- the activity's cost follows the same shares; cost_per_person_n = attributed cost / covered_n;
- gap_index_n = priority_weight_n x unmet_n / size_n (the priority-weighted share left uncovered);
- a need of unknown size gets no rate and no gap: it is flagged, never read as covered.
Flags: ``high_priority_low_coverage`` (priority >= 4 and coverage < 50 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LOW_COVERAGE = 0.5
HIGH_PRIORITY = 4


@dataclass(frozen=True)
class Coherence:
    needs: pd.DataFrame
    matrix: pd.DataFrame
    activity_shares: pd.DataFrame


def compute_coherence(needs: pd.DataFrame, activities: pd.DataFrame, coverage: pd.DataFrame) -> Coherence:
    """Coverage, gaps and costs per need, and the population group x territory matrix."""
    links = coverage.merge(
        activities[["volume", "cost"]], left_on="activity_id", right_index=True, how="left"
    )
    links = links[links["need_id"].isin(needs.index)].copy()
    links["weight"] = links["need_id"].map(needs["size"].astype(float)).fillna(0.0)
    total_weight = links.groupby("activity_id")["weight"].transform("sum")
    count = links.groupby("activity_id")["need_id"].transform("size")
    with np.errstate(divide="ignore", invalid="ignore"):
        links["cost_share"] = np.where(total_weight > 0, links["weight"] / total_weight, 1.0 / count)
    links["persons"] = (
        links["coefficient"].astype(float) * links["volume"].astype(float).fillna(0.0) * links["cost_share"]
    )
    links["attributed_cost"] = links["cost"].astype(float) * links["cost_share"]
    per_need = links.groupby("need_id").agg(
        offered=("persons", "sum"),
        activities=("activity_id", "nunique"),
        attributed_cost=("attributed_cost", lambda s: s.sum(min_count=1)),
    )
    result = needs.copy()
    result = result.join(per_need, how="left")
    result["offered"] = result["offered"].fillna(0.0)
    result["activities"] = result["activities"].fillna(0).astype(int)
    size = result["size"].astype(float)
    known = size.notna() & (size > 0)
    result["covered"] = np.where(known, np.minimum(result["offered"], size), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        result["coverage_rate"] = np.where(known, result["covered"] / size, np.nan)
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
