"""Statistical secrecy decided once for all the figures an organisation publishes.

Every page, export, API answer and ABS report that shows a territorial figure asks the one
:class:`Disclosure` of the organisation whether it may show it. The disclosure gathers the
published counts and the additive relations a reader can use between them, and lets
:func:`scorecard.confidentiality.protect` choose the complementary cells:

- each count statistic (``TerritoryStatistic`` of a count unit, every vintage): a cell, secret at
  source when the producer withheld it; a territory's statistic equals the sum of its children's
  (IRIS to commune, commune to EPCI) for the same variable and vintage;
- the sum Pilotis computes over the published children (the portrait's lower bound, the total
  row of the IRIS table): a cell equal to the sum of the children not secret at source;
- each need sized by a formula, at each vintage: a cell equal to its formula over the statistics
  it reads (a linear formula gives a linear relation; a nonlinear one is masked together with its
  inputs); a hand-entered need is a cell of no statistic relation;
- each cell of the coherence matrix: the sum of its needs of known size;
- each pro-rata weight: an activity shares its output among the needs it reaches in proportion
  to their sizes (``scorecard.coverage``), so the share shown for one need, with its size, gives
  the sum of the sizes: a cell (costly to mask) equal to that sum, for each group of needs
  sharing one delivery.

Derived figures follow their source: a need whose size is masked, or that takes part in a
pro-rata group whose weight is masked, shows no offer, coverage, unmet count, share, imputed
cost or cost per person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Need, TerritoryKind, TerritoryStatistic
from scorecard.confidentiality import DEFAULT_THRESHOLD, Relation, additive, is_small, protect
from scorecard.coverage import ancestry_matrix
from scorecard.formula import Formula, evaluate
from services.needs import _Statistics, size_history, sizing_formula

#: Count units: a value of such a variable below the threshold is masked.
COUNT_UNITS = frozenset({"personnes", "allocataires", "ménages", "enfants"})
#: Penalty of a cell no reader sees directly (a pro-rata weight): masked only as a last resort.
HIDDEN_TOTAL = 10.0
#: Penalty of a total shown on a page (a sum over territories, a matrix cell).
SHOWN_TOTAL = 1.0


def stat_key(stat_id: int) -> tuple[str, int]:
    return ("stat", stat_id)


def sum_key(territory_id: int, variable: str, vintage: int) -> tuple[str, int, str, int]:
    return ("sum", territory_id, variable, vintage)


def need_key(need_id: int, vintage: int | None = None) -> tuple[str, int, int | None]:
    return ("need", need_id, vintage)


def matrix_key(group: str, territory: str) -> tuple[str, str, str]:
    return ("matrix", group, territory)


@dataclass(frozen=True)
class Disclosure:
    """What the organisation may show: every key in ``masked`` is shown as « secret »."""

    threshold: int
    masked: frozenset[Hashable]
    #: the latest-vintage cell of each need sized from statistics
    need_cells: dict[int, Hashable] = field(default_factory=dict)
    #: needs whose derived figures are masked (their size or a pro-rata weight they take part in)
    derived: frozenset[int] = frozenset()

    def hides(self, key: Hashable) -> bool:
        return key in self.masked

    def stat(self, stat_id: int) -> bool:
        return stat_key(stat_id) in self.masked

    def total(self, territory_id: int, variable: str, vintage: int) -> bool:
        return sum_key(territory_id, variable, vintage) in self.masked

    def need(self, need_id: int, vintage: int | None = None) -> bool:
        """The need's size (now, or at ``vintage`` of its history) is masked."""
        if vintage is None:
            return self.need_cells.get(need_id, need_key(need_id)) in self.masked
        return need_key(need_id, vintage) in self.masked

    def need_figures(self, need_id: int) -> bool:
        """The need's derived figures (offer, coverage, shares, imputed cost) are masked."""
        return need_id in self.derived or self.need(need_id)

    def cell(self, group: str, territory: str) -> bool:
        return matrix_key(group, territory) in self.masked


def _linear_terms(formula: Formula) -> dict[str, float] | None:
    """``{variable: coefficient}`` when the formula is linear without constant, else None."""
    codes = sorted(formula.codes)

    def at(point: dict[str, float]) -> float:
        return float(evaluate(formula, point))

    zero = dict.fromkeys(codes, 0.0)
    try:
        if abs(at(zero)) > 1e-9:
            return None
        terms = {c: at({**zero, c: 1.0}) for c in codes}
        rng = np.random.default_rng(17)
        for _ in range(3):
            point = {c: float(rng.uniform(1, 1000)) for c in codes}
            expected = sum(terms[c] * point[c] for c in codes)
            if not np.isfinite(expected) or abs(at(point) - expected) > 1e-6 * max(1.0, abs(expected)):
                return None
    except (ZeroDivisionError, OverflowError, ValueError):  # pragma: no cover - guarded evaluation
        return None
    return terms


def build_disclosure(
    session: Session,
    organisation_id: int,
    *,
    sizes: dict[int, float | None],
    groups: dict[int, tuple[str, str]],
    prorata: list[list[int]],
    threshold: int = DEFAULT_THRESHOLD,
) -> Disclosure:
    """The organisation's disclosure (module rule).

    ``sizes``: need id -> size used by the coherence (None unknown); ``groups``: need id ->
    (population group, territory) of the matrix; ``prorata``: the groups of needs that share one
    delivery of an activity pro rata of their sizes (:func:`prorata_groups`).
    """
    values: dict[Hashable, float | None] = {}
    relations: list[Relation[Hashable]] = []
    together: list[set[Hashable]] = []
    cost: dict[Hashable, float] = {}
    stats = _Statistics(session, organisation_id)
    by_id: dict[int, TerritoryStatistic] = {}
    counted: dict[tuple[int, str, int], TerritoryStatistic] = {}
    for rows in stats.rows.values():
        for s in rows:
            by_id[s.id] = s
            if s.unit in COUNT_UNITS:
                values[stat_key(s.id)] = None if s.is_secret else s.value
                counted[(s.territory_id, s.variable, s.vintage)] = s
    children: dict[int, list[int]] = defaultdict(list)
    iris = set()
    for t in stats.territories:
        if t.parent_id is not None:
            children[t.parent_id].append(t.id)
        if t.kind is TerritoryKind.IRIS:
            iris.add(t.id)
    for parent, kids in children.items():
        variables = {(v, y) for (t, v, y) in counted if t in kids}
        for variable, vintage in variables:
            parts = [counted[(k, variable, vintage)] for k in kids if (k, variable, vintage) in counted]
            published = [p for p in parts if not p.is_secret]
            own = counted.get((parent, variable, vintage))
            if any(k in iris for k in kids):  # Pilotis shows its sum over the IRIS (portrait, IRIS table)
                key: Hashable = sum_key(parent, variable, vintage)
                values[key] = float(sum(p.value or 0 for p in published))
                relations.append(additive(key, [stat_key(p.id) for p in published]))
                cost[key] = SHOWN_TOTAL
            if own is not None:
                relations.append(additive(stat_key(own.id), [stat_key(p.id) for p in parts]))
    need_cells: dict[int, Hashable] = {}
    needs = session.scalars(select(Need).where(Need.organisation_id == organisation_id)).all()
    for need in needs:
        formula = sizing_formula(need)
        history = size_history(session, need, stats) if formula is not None else []
        if formula is None or not history:
            need_cells[need.id] = need_key(need.id)
            values[need_key(need.id)] = sizes.get(need.id, need.size)
            continue
        terms = _linear_terms(formula)
        for point in history:
            key = need_key(need.id, point.vintage)
            values[key] = point.size
            used = [by_id[i] for i in point.statistic_ids if i in by_id]
            if point.size is None:
                continue  # not sized (a secret or missing input): shown as unknown, no relation
            if terms is None or any(stat_key(s.id) not in values for s in used):
                together.append({key, *(stat_key(s.id) for s in used if stat_key(s.id) in values)})
                continue
            relations.append(
                Relation(
                    (
                        (key, 1.0),
                        *((stat_key(s.id), -terms.get(s.variable, 0.0)) for s in used if not s.is_secret),
                    )
                )
            )
        latest = need_key(need.id, history[-1].vintage)
        need_cells[need.id] = latest
        values[latest] = sizes.get(need.id, values.get(latest))
    by_cell: dict[tuple[str, str], list[int]] = defaultdict(list)
    for need_id, place in groups.items():
        if sizes.get(need_id) is not None and (sizes[need_id] or 0) > 0:
            by_cell[place].append(need_id)
    for (group, territory), members in by_cell.items():
        key = matrix_key(group, territory)
        values[key] = float(sum(sizes[m] or 0 for m in members))
        relations.append(additive(key, [need_cells[m] for m in members if m in need_cells]))
        cost[key] = SHOWN_TOTAL
    weights: list[tuple[Hashable, list[int]]] = []
    for i, members in enumerate(prorata):
        known = [m for m in members if sizes.get(m) is not None and (sizes[m] or 0) > 0 and m in need_cells]
        if len(known) < 2:
            continue  # a need alone in its group gets the whole part, whatever its size
        weight: Hashable = ("weight", i)
        values[weight] = float(sum(sizes[m] or 0 for m in known))
        relations.append(additive(weight, [need_cells[m] for m in known]))
        cost[weight] = HIDDEN_TOTAL
        weights.append((weight, known))
    masked = protect(values, relations, threshold=threshold, together=together, cost=cost)
    derived = {m for key, members in weights if key in masked for m in members}
    derived |= {n for n, key in need_cells.items() if key in masked}
    return Disclosure(threshold=threshold, masked=masked, need_cells=need_cells, derived=frozenset(derived))


def prorata_groups(frames: dict[str, Any]) -> list[list[int]]:
    """The groups of needs that share one delivery of an activity pro rata of their sizes, by the
    rule of :mod:`scorecard.coverage` (links without an explicit share; an activity without a
    delivery row reaches all its needs at once)."""
    coverage = frames["coverage"]
    needs = frames["needs"]
    deliveries = frames["deliveries"]
    parents: dict[Hashable, Hashable | None] = dict(frames["parents"])
    for t in needs["territory_id"].dropna():
        parents.setdefault(int(t), None)
    index, ancestry = ancestry_matrix(parents)
    rule = coverage[coverage["share"].isna()] if "share" in coverage else coverage
    territory_of = {
        int(n): (int(t) if t == t and t is not None else None) for n, t in needs["territory_id"].items()
    }
    out: list[list[int]] = []
    located = (
        deliveries.groupby("activity_id")["territory_id"].apply(list).to_dict() if len(deliveries) else {}
    )
    for activity_id, links in rule.groupby("activity_id"):
        members = [int(n) for n in links["need_id"] if int(n) in territory_of]
        places = located.get(activity_id)
        if not places:
            out.append(sorted(members))
            continue
        for place in places:
            if place not in index:
                continue
            p = index[place]

            def reaches(need_id: int, p: int = p) -> bool:
                t = territory_of.get(need_id)
                if t is None or t not in index:
                    return True
                n = index[t]
                return bool(ancestry[n, p] or ancestry[p, n])

            out.append(sorted(m for m in members if reaches(m)))
    return out


__all__ = ["COUNT_UNITS", "Disclosure", "build_disclosure", "is_small", "prorata_groups"]
