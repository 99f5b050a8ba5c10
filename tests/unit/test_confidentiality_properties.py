"""Complementary suppression (scorecard.confidentiality.protect): on random tables with totals,
no masked cell is determined by the published cells and the relations."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.confidentiality import Relation, additive, protect, recoverable, scaled, suppress_table

counts = st.one_of(st.integers(0, 12), st.integers(0, 400))


def matrix_of(relations, cells):
    column = {cell: j for j, cell in enumerate(cells)}
    a = np.zeros((len(relations), len(cells)))
    for i, r in enumerate(relations):
        for cell, coefficient in r.terms:
            if cell in column:  # a published cell: a known constant
                a[i, column[cell]] += coefficient
    return a


def determined(values, relations, masked):
    """Masked cells whose value a reader obtains from the published ones: ``e_j`` lies in the row
    space of the relations restricted to the masked cells (a rank test, written independently of
    the module's null-space test)."""
    hidden = sorted(masked, key=repr)
    if not hidden:
        return set()
    b = matrix_of(relations, hidden)
    rank = np.linalg.matrix_rank(b) if len(b) else 0
    out = set()
    for j, cell in enumerate(hidden):
        e = np.zeros((1, len(hidden)))
        e[0, j] = 1.0
        if np.linalg.matrix_rank(np.vstack([b, e])) == rank:
            out.add(cell)
    return out


def another_table(truth, relations, masked, cell):
    """A second table that agrees with every published cell and every relation but differs on
    ``cell``: the proof that differencing cannot recover it."""
    hidden = sorted(masked, key=repr)
    b = matrix_of(relations, hidden)
    _, s, vt = np.linalg.svd(b)
    rank = int((s > 1e-9).sum())
    null = vt[rank:]
    j = hidden.index(cell)
    v = next(row for row in null if abs(row[j]) > 1e-7)
    x = np.array([truth[c] for c in hidden]) + v
    return dict(zip(hidden, x, strict=True))


@st.composite
def two_way_tables(draw):
    rows, cols = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    cells = {(i, j): float(draw(counts)) for i in range(rows) for j in range(cols)}
    secret = draw(st.sets(st.sampled_from(sorted(cells)), max_size=2))
    values: dict = {c: (None if c in secret else v) for c, v in cells.items()}
    relations: list[Relation] = []
    for i in range(rows):
        relations.append(additive(("row", i), [(i, j) for j in range(cols)]))
        values[("row", i)] = sum(cells[(i, j)] for j in range(cols))
    for j in range(cols):
        relations.append(additive(("col", j), [(i, j) for i in range(rows)]))
        values[("col", j)] = sum(cells[(i, j)] for i in range(rows))
    relations.append(additive("all", [("row", i) for i in range(rows)]))
    values["all"] = sum(cells.values())
    return values, relations, {**values, **cells}


@st.composite
def territories(draw):
    """IRIS counts summing to communes, communes to an EPCI; needs sized as shares of IRIS cells;
    a matrix cell adding two needs; a pro-rata weight adding every need."""
    values: dict = {}
    truths: dict = {}
    relations: list[Relation] = []
    communes = []
    for c in range(draw(st.integers(1, 3))):
        iris = [("iris", c, i) for i in range(draw(st.integers(1, 5)))]
        truth = {cell: float(draw(counts)) for cell in iris}
        for cell in iris:
            values[cell] = None if draw(st.booleans()) and draw(st.booleans()) else truth[cell]
        values[("commune", c)] = sum(truth.values())
        truths.update(truth)
        relations.append(additive(("commune", c), iris))
        communes.append(("commune", c))
        for cell in iris:
            if values[cell] is not None and draw(st.booleans()):  # a secret IRIS sizes no need
                need = ("need", *cell[1:])
                factor = draw(st.sampled_from([1.0, 0.5, 0.4]))
                values[need] = truth[cell] * factor
                relations.append(scaled(need, cell, factor))
    values["epci"] = sum(values[c] or 0 for c in communes)
    relations.append(additive("epci", communes))
    needs = [c for c in values if c[0] == "need"]
    if len(needs) >= 2:
        values["matrix"] = values[needs[0]] + values[needs[1]]
        relations.append(additive("matrix", needs[:2]))
        values["weight"] = sum(values[n] for n in needs)
        relations.append(additive("weight", needs))
    return values, relations, {**values, **truths}


def check(values, relations, truth):
    masked = protect(values, relations)
    # primary cells and source secrets are masked
    assert all(c in masked for c, v in values.items() if v is None or 0 < v < 11)
    assert not determined(values, relations, masked)
    assert not recoverable(masked, relations)
    for cell in masked:
        if any(cell in r.cells for r in relations):
            other = another_table(truth, relations, masked, cell)
            full = {**{c: v for c, v in values.items() if c not in masked}, **other}
            for r in relations:
                assert abs(sum(k * full[c] for c, k in r.terms)) < 1e-6
            assert abs(other[cell] - truth[cell]) > 1e-9
    return masked


@settings(max_examples=150, deadline=None)
@given(two_way_tables())
def test_no_masked_cell_of_a_table_with_totals_is_recoverable(table):
    check(*table)


@settings(max_examples=150, deadline=None)
@given(territories())
def test_no_masked_cell_of_nested_territories_and_needs_is_recoverable(case):
    check(*case)


def test_a_lone_small_cell_gets_the_smallest_positive_complement():
    values = {"T": 100.0, "a": 7.0, "b": 50.0, "c": 43.0, "z": 0.0}
    masked = protect(values, [additive("T", ["a", "b", "c", "z"])])
    assert masked == {"a", "c"}  # not the zero: x + 0 = 7 would give the 7 back as a bound


def test_a_secret_at_source_cell_is_protected_from_its_total():
    # the commune total published, one IRIS secret at source: the commune minus the others
    values = {"commune": 2978.0, "i1": None, "i2": 120.0, "i3": 69.0}
    masked = protect(values, [additive("commune", ["i1", "i2", "i3"])])
    assert masked == {"i1", "i3"}


def test_the_complement_spreads_to_the_need_sized_from_it():
    values = {"commune": 200.0, "i1": 7.0, "i2": 120.0, "i3": 73.0, "need3": 73.0, "need1": 7.0}
    relations = [
        additive("commune", ["i1", "i2", "i3"]),
        scaled("need3", "i3", 1.0),
        scaled("need1", "i1", 1.0),
    ]
    masked = protect(values, relations)
    assert {"i1", "need1"} <= masked
    assert ("i3" in masked) == ("need3" in masked)  # the need shows its IRIS: masked with it
    assert not determined(values, relations, masked)


def test_nonlinear_figures_are_masked_together():
    values = {"rate": 12.0, "a": 400.0, "b": 30.0, "t": 430.0}
    masked = protect(values, [additive("t", ["a", "b"])], primary={"b"}, together=[{"rate", "b"}])
    assert {"b", "rate", "a"} <= masked


def test_a_two_way_table_masks_complements_in_rows_and_columns():
    import pandas as pd

    table = pd.DataFrame({"Nord": [5.0, 40.0, 60.0], "Sud": [30.0, 20.0, np.nan]}, index=["a", "b", "c"])
    mask = suppress_table(table)
    assert mask.loc["a", "Nord"] and mask.loc["a", "Sud"]
    assert mask.to_numpy().sum() == 4  # Nord and Sud each need a second masked cell
