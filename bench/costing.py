"""Benchmark of issue 20 item 5: "one costing per request at most; the 200 000-line costing under 300 ms".

The ledger of ``bench/costs.py`` (200,000 lines, 100 centres of which 20 support functions
serving each other, 2,000 activities, 5,000 lines assigned directly to activities, revenues):
times ``scorecard.costing.compute_costing`` (the reciprocal method, the demo's) against a floor
measured in the same run: a plain vectorised numpy/pandas computation of the same activities'
full costs (lines to centres by service then by the longest function prefix, the supports'
reciprocal system, the driver shares), and checks that both give the same costs. Median and
worst of several runs, no memory tracing while timing.

The « one costing per request » half is pinned by tests/web/test_cache.py (a counted costing
per page); this script also prints how many costings the core ran for the repeated calls of one
session (:mod:`services.cache`), on the same ledger, through ``services.cache.remember``.

    .venv/bin/python bench/costing.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/: bench/scorecard.py must not shadow the package

from bench.costs import generate
from scorecard.costing import compute_costing

GOALS = "one costing per request at most; the 200 000-line costing under 300 ms"


def floor(centres, keys, drivers, lines, allocations, activities) -> pd.Series:  # type: ignore[no-untyped-def]
    """Full cost of each activity, reciprocal method, in plain vectorised numpy/pandas."""
    codes = centres.index.astype(str)
    position = pd.Series(np.arange(len(codes)), index=codes)
    # each line's centre: its service's centre, else the longest function prefix a centre claims
    by_service = pd.Series(
        position[codes[centres["service"].notna().to_numpy()]].to_numpy(),
        index=centres["service"].dropna().astype(int).to_numpy(),
    )
    centre = lines["service"].map(by_service).to_numpy(dtype=float, na_value=np.nan)
    functions, function_codes = pd.factorize(lines["function"])
    claimed = np.full(len(function_codes), np.nan)
    prefixes = sorted(
        ((str(p), position[c]) for c, ps in centres["function_codes"].items() for p in ps),
        key=lambda x: len(x[0]),
    )
    names = pd.Index(function_codes).astype(str)
    for prefix, where in prefixes:  # shortest first: the longest match is written last
        claimed[names.str.startswith(prefix)] = where
    centre = np.where(np.isnan(centre), claimed[functions], centre)
    # the shares of lines assigned to activities leave the centres
    share = allocations.groupby("line")["share"].sum()
    rest = lines["amount"].to_numpy() * (1.0 - lines["line"].map(share).fillna(0.0).to_numpy())
    expense = (lines["flow"] == "depense").to_numpy() & ~np.isnan(centre)
    direct = np.bincount(centre[expense].astype(int), weights=rest[expense], minlength=len(codes))
    # reciprocal: x = d_S + K_SS^T x for the supports, then each passes x_s k[s, o] on
    k = np.zeros((len(codes), len(codes)))
    np.add.at(
        k, (position[keys["provider"]].to_numpy(), position[keys["receiver"]].to_numpy()), keys["share"]
    )
    np.fill_diagonal(k, 0.0)
    support = (centres["kind"] == "support").to_numpy()
    k = k[support] / k[support].sum(axis=1, keepdims=True)
    x = np.linalg.solve(np.eye(support.sum()) - k[:, support].T, direct[support])
    operational = direct[~support] + k[:, ~support].T @ x
    # driver shares from the operational centres to the activities
    activity_position = pd.Series(np.arange(len(activities)), index=activities.index)
    q = np.zeros((len(codes), len(activities)))
    np.add.at(
        q,
        (position[drivers["centre"]].to_numpy(), activity_position[drivers["activity"]].to_numpy()),
        drivers["quantity"],
    )
    q = q[~support]
    totals = q.sum(axis=1, keepdims=True)
    full = (q / np.where(totals > 0, totals, 1.0)).T @ operational
    assigned = allocations.merge(lines[["line", "flow", "amount"]], on="line")
    assigned = assigned[assigned["flow"] == "depense"]
    full += np.bincount(
        activity_position[assigned["activity"]].to_numpy(),
        weights=(assigned["amount"] * assigned["share"]).to_numpy(),
        minlength=len(activities),
    )
    return pd.Series(full, index=activities.index)


def timed(function, runs: int):  # type: ignore[no-untyped-def]
    """Median and worst wall-clock time, median CPU time of this process, and the result."""
    times, cpu, result = [], [], None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), max(times), statistics.median(cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    inputs = generate()
    centres, _, _, lines, allocations, activities = inputs
    print(f"objectifs (issue 20, point 5) : {GOALS}")
    print(
        f"{len(lines):_} lignes, {len(centres)} centres, {len(activities):_} activités, "
        f"{len(allocations):_} affectations directes".replace("_", " ")
    )
    floor_median, floor_worst, floor_cpu, reference = timed(lambda: floor(*inputs), runs)
    median, worst, cpu, costing = timed(lambda: compute_costing(*inputs, method="reciprocal"), runs)
    gap = float((costing.activities["full_cost"] - reference).abs().max())  # type: ignore[union-attr]
    print(
        f"plancher (numpy/pandas vectorisé, mêmes coûts complets) : médiane {floor_median * 1000:6.1f} ms, "
        f"pire {floor_worst * 1000:6.1f} ms, CPU médian {floor_cpu * 1000:6.1f} ms"
    )
    print(
        f"compute_costing (méthode réciproque)                 : médiane {median * 1000:6.1f} ms, "
        f"pire {worst * 1000:6.1f} ms, CPU médian {cpu * 1000:6.1f} ms — {median / floor_median:.1f} × le plancher ; "
        f"écart maximal des coûts complets {gap:.2e} €"
    )
    from sqlalchemy.orm import Session

    from services import cache

    session, before = Session(), cache.computed.get("bench-costing", 0)  # no database: the session's memo
    for _ in range(5):  # a page that asks five times (the cost page did)
        cache.remember(session, ("bench-costing",), lambda: compute_costing(*inputs, method="reciprocal"))
    print(
        f"costings calculés pour 5 demandes dans une même session : {cache.computed['bench-costing'] - before}"
    )
    one, five, _ = os.getloadavg()
    print(f"charge de la machine : {one:.2f} {five:.2f} (pour {os.cpu_count()} cœurs)")
    print(
        f"objectif < 300 ms : {'tenu' if median < 0.3 else 'MANQUÉ'} (médiane {median * 1000:.0f} ms, "
        f"pire {worst * 1000:.0f} ms, CPU {cpu * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
