"""Statistical confidentiality for published figures (secret statistique).

One decision for a whole set of published figures: every table, page, export and API answer of
an organisation shows the figures that this module leaves visible, and nothing else.

The rule
--------
1. **Primary suppression.** A count below ``threshold`` (default 11) and above zero is masked
   (:func:`primary_mask`): a zero reveals nobody. A figure secret at its source (INSEE, CNAF) is
   masked too; its value may be unknown to Pilotis, it still takes part in the relations.
2. **Relations.** The figures are *cells* (hashable keys); the additive relations between them
   are linear equations ``sum_i c_i x_i = 0`` (:class:`Relation`): IRIS cells summing to their
   commune, the total row of a table, a need sized from a statistic (``need = 0.4 x pop_80p``),
   a matrix cell summing its needs, the pro-rata weight of an activity's shares summing the sizes
   of the needs it serves.
3. **Complementary (secondary) suppression.** With ``A`` the matrix of the relations (one row
   per relation, one column per cell) and ``M`` the masked cells, a masked cell ``j`` can be
   derived by differencing (any linear combination of the published cells and the relations)
   exactly when column ``j`` of ``A[:, M]`` is not in the span of the other masked columns, i.e.
   when the null space of ``A[:, M]`` is zero on ``j`` (:func:`recoverable`, a rank test). While
   some masked cell is recoverable, one more cell is masked: among the published cells of the
   relations that reach it, the cheapest (by default the smallest positive count, zeros and
   totals last) that makes it unrecoverable; else the cheapest pair that does (two totals can
   give the same figure); else the cheapest
   cell, and the search goes on (:func:`protect`).
   Cells listed together (``together``: a nonlinear figure and its inputs) are masked together.
4. **Derived figures** (rates, shares, imputed costs, coverage of a masked need) are masked with
   their source by the caller: they are not cells of the relations.

Limits
------
- Protection is against *exact* recovery by linear relations. Bounds are not protected: with
  counts known to be non-negative, two masked cells summing to 19 still tell that each is at
  most 19 (interval disclosure). Complements are chosen among positive counts first, which
  keeps these intervals wide, but no minimum width is enforced.
- Only the relations given are protected: a relation the caller does not declare (an external
  publication, a nonlinear formula not listed in ``together``) is not.
- The greedy choice is not optimal (fewest or smallest cells); it is deterministic (same input,
  same mask) and always ends, since each step masks one more cell.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 11
RULE = (
    "Secret statistique : les effectifs inférieurs à {threshold} et les chiffres qui en découlent sont "
    "masqués ; quand un total, une somme ou une part permettrait de retrouver une case masquée, "
    "d'autres cases le sont aussi, dans toutes les pages et tous les fichiers."
)
#: How many of the cheapest candidates are tried two at a time when no single one is enough.
PAIR_CANDIDATES = 20
#: Numerical tolerance of the rank test (the relations' coefficients are small numbers).
TOLERANCE = 1e-9

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Relation(Generic[K]):
    """A linear relation ``sum(coefficient x cell) = 0`` between published figures."""

    terms: tuple[tuple[K, float], ...]

    @property
    def cells(self) -> list[K]:
        return [cell for cell, _ in self.terms]


def additive(total: K, parts: Iterable[K]) -> Relation[K]:
    """``total = sum(parts)``."""
    return Relation(((total, 1.0), *((part, -1.0) for part in parts)))


def scaled(target: K, source: K, factor: float) -> Relation[K]:
    """``target = factor x source`` (a need sized as a fixed share of a statistic)."""
    return Relation(((target, 1.0), (source, -float(factor))))


def primary_mask(
    counts: pd.Series | pd.DataFrame, threshold: int = DEFAULT_THRESHOLD
) -> pd.Series | pd.DataFrame:
    """Cells below the threshold (and above zero): a zero reveals nobody."""
    return (counts > 0) & (counts < threshold)


def is_small(value: float | None, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """A count masked by the primary rule (``0 < value < threshold``)."""
    return value is not None and 0 < value < threshold


def _index(relations: Sequence[Relation[K]]) -> dict[K, list[int]]:
    """cell -> the indices of the relations it takes part in."""
    by_cell: dict[K, list[int]] = {}
    for i, relation in enumerate(relations):
        for cell, _ in relation.terms:
            rows = by_cell.setdefault(cell, [])
            if not rows or rows[-1] != i:
                rows.append(i)
    return by_cell


def _determined(
    masked: set[K],
    relations: Sequence[Relation[K]],
    by_cell: Mapping[K, Sequence[int]],
    starts: Iterable[K],
) -> set[K]:
    """The determined cells of the components of masked cells that hold ``starts``.

    A component: masked cells linked by the relations they share (the published cells of a
    relation are constants). Components are independent, so a cell is determined in its
    component exactly when it is in the whole system: only the components asked for are solved.
    """
    seen: set[K] = set()
    found: set[K] = set()
    for start in starts:
        if start in seen or start not in masked or not by_cell.get(start):
            continue
        seen.add(start)
        component, rows, stack = [], set(), [start]
        while stack:
            current = stack.pop()
            component.append(current)
            for i in by_cell.get(current, ()):
                if i in rows:
                    continue
                rows.add(i)
                for cell, _ in relations[i].terms:
                    if cell in masked and cell not in seen:
                        seen.add(cell)
                        stack.append(cell)
        component.sort(key=repr)
        column = {cell: j for j, cell in enumerate(component)}
        ordered = sorted(rows)
        matrix = np.zeros((len(ordered), len(component)))
        for r, i in enumerate(ordered):
            for cell, coefficient in relations[i].terms:
                if cell in column:
                    matrix[r, column[cell]] += coefficient
        _, singular, vt = np.linalg.svd(matrix)
        rank = int((singular > TOLERANCE * max(1.0, float(singular.max(initial=0.0)))).sum())
        null = vt[rank:]  # rows: a basis of the null space
        free = np.abs(null).max(axis=0) > 1e-7 if len(null) else np.zeros(len(component), dtype=bool)
        found |= {cell for cell, is_free in zip(component, free, strict=True) if not is_free}
    return found


def recoverable(masked: Iterable[K], relations: Sequence[Relation[K]]) -> set[K]:
    """The masked cells whose value follows from the published cells and the relations.

    With ``B = A[:, masked]`` (the relations restricted to the masked cells), the published cells
    fix ``B x = b``; a masked cell ``j`` is determined exactly when every vector of the null space
    of ``B`` is zero on ``j``. Cells of no relation are never recoverable. Solved component by
    component (masked cells linked by shared relations).
    """
    masked_set = set(masked)
    return _determined(masked_set, relations, _index(relations), sorted(masked_set, key=repr))


def _default_cost(value: float | None) -> tuple[int, float]:
    if value is None:
        return (2, 0.0)
    return (1 if value <= 0 else 0, float(value))


def protect(
    values: Mapping[K, float | None],
    relations: Sequence[Relation[K]],
    *,
    primary: Iterable[K] = (),
    threshold: int = DEFAULT_THRESHOLD,
    together: Sequence[Iterable[K]] = (),
    cost: Mapping[K, float] | None = None,
    shown: Iterable[K] = (),
) -> frozenset[K]:
    """The cells to mask so that no masked cell can be derived by differencing (module rule).

    Parameters
    ----------
    values : mapping cell -> value
        Every published figure; ``None`` for a figure secret at its source (masked).
    relations : sequence of Relation
        The linear relations a reader can use (cells absent from ``values`` are unpublished:
        masked from the start).
    primary : cells masked whatever their value, besides counts below ``threshold``
        (:func:`is_small`); pass ``threshold=0`` to mask only ``primary`` and secret cells.
    together : groups of cells masked as one (a nonlinear figure and its inputs).
    cost : optional penalty per cell added to the default order (smallest positive count
        first): a total or a figure shown on many pages gets a higher cost.
    shown : cells that stay published whatever happens (the totals of a table that always
        shows them): never chosen as complements.

    Returns
    -------
    frozenset
        The masked cells: primary, secret at source, and complementary.
    """
    penalty = dict(cost or {})
    fixed = set(shown)
    masked: set[K] = {cell for cell, value in values.items() if value is None or is_small(value, threshold)}
    masked |= set(primary)
    masked |= {cell for r in relations for cell, _ in r.terms if cell not in values}
    groups = [set(g) for g in together]
    by_cell = _index(relations)

    def close() -> None:
        changed = True
        while changed:
            changed = False
            for group in groups:
                if group & masked and not group <= masked:
                    masked.update(group)
                    changed = True

    def order(cell: K) -> tuple[float, int, float, str]:
        kind, size = _default_cost(values.get(cell))
        return (penalty.get(cell, 0.0), kind, size, repr(cell))

    close()
    stuck: set[K] = set()  # fixed by the relations alone (``x = 0``): nothing a mask can hide
    while True:
        exposed = sorted(_determined(masked, relations, by_cell, sorted(masked, key=repr)) - stuck, key=repr)
        if not exposed:
            return frozenset(masked)
        target = exposed[0]
        # the published cells of the relations reached from the target through masked cells
        seen, stack, candidates = {target}, [target], set()
        while stack:
            current = stack.pop()
            for i in by_cell.get(current, []):
                for cell, _ in relations[i].terms:
                    if cell in seen:
                        continue
                    seen.add(cell)
                    if cell in masked:
                        stack.append(cell)
                    elif cell not in fixed:
                        candidates.add(cell)
        ranked = sorted(candidates, key=order)

        def hides(cells: tuple[K, ...], target: K = target) -> bool:
            return target not in _determined(masked | set(cells), relations, by_cell, (target,))

        if not ranked:
            stuck.add(target)
            continue
        chosen: tuple[K, ...] | None = next(((c,) for c in ranked if hides((c,))), None)
        if chosen is None:  # no single cell is enough (two totals give the same figure): a pair
            few = ranked[:PAIR_CANDIDATES]
            pairs = ((a, b) for i, a in enumerate(few) for b in few[i + 1 :])
            chosen = next((pair for pair in pairs if hides(pair)), (ranked[0],))
        masked.update(chosen)
        close()


def suppress_table(counts: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The mask of a two-way table shown with its row and column totals (:func:`protect`).

    NaN cells are absent (not published, no part of any total).
    """
    cells: dict[tuple[int, int], float | None] = {}
    values = counts.to_numpy(dtype=float)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isnan(values[i, j]):
                cells[(i, j)] = float(values[i, j])
    relations: list[Relation[tuple[int, int]]] = []
    for i in range(values.shape[0]):
        row = [(i, j) for j in range(values.shape[1]) if (i, j) in cells]
        if row:
            relations.append(Relation((((-1, i), 1.0), *((c, -1.0) for c in row))))
    for j in range(values.shape[1]):
        column = [(i, j) for i in range(values.shape[0]) if (i, j) in cells]
        if column:
            relations.append(Relation((((-2, j), 1.0), *((c, -1.0) for c in column))))
    totals = {r.terms[0][0]: float(sum(cells[c] or 0 for c, _ in r.terms[1:])) for r in relations}
    masked = protect({**cells, **totals}, relations, threshold=threshold, shown=set(totals) - set(cells))
    mask = np.zeros(values.shape, dtype=bool)
    for i, j in masked:
        if i >= 0 and (i, j) in cells:
            mask[i, j] = True
    return pd.DataFrame(mask, index=counts.index, columns=counts.columns)
