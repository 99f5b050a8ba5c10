"""Benchmark of the scorecard engine on a département-sized organisation.

5,000 measured indicators (and 500 more computed by formula), 60 monthly periods, 20
territories: 6 million measurements. Times the engine's full scorecard of one period for one
territory (values, computed indicators, statuses, trends, roll-ups) and a straightforward
row-by-row Python reference on the same data, checks they agree, and prints time, peak memory
and the ratio.
Goal (issue 4): engine < 2 s and < 2 GB, at least 20 times faster than the reference.

    .venv/bin/python bench/scorecard.py [--indicators 5000] [--territories 20]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scorecard import periods as P
from scorecard.engine import GREEN_FROM, SCORES, compute_scorecard, reading_period
from scorecard.formula import evaluate, parse_formula


def synthetic(n_indicators: int, n_territories: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    n_indicators = n_indicators + n_indicators // 10  # measured ones, plus 10 % computed
    months = [s.key for s in P.periods_between("month", P.month(2021, 1).start, P.month(2025, 12).end)]
    ids = np.arange(1, n_indicators + 1)
    n_objectives = max(4, n_indicators // 20)
    computed = ids % 11 == 0
    formulas = [f"i{i - 1} / i{i - 2}" if c else None for i, c in zip(ids, computed, strict=True)]
    indicators = pd.DataFrame(
        {
            "code": [f"i{i}" for i in ids],
            "direction": rng.choice(["higher", "lower", "band"], n_indicators, p=[0.6, 0.3, 0.1]),
            "frequency": "monthly",
            "formula": formulas,
            "objective_id": (ids % n_objectives) + 1.0,
            "perspective": rng.choice(["users", "finance", "processes", "learning"], n_indicators),
            "weight": rng.integers(1, 4, n_indicators).astype(float),
        },
        index=pd.Index(ids, name="indicator_id"),
    )
    measured = ids[~computed]  # 5,000 measured indicators, plus 10 % computed ones
    n = len(measured) * len(months) * n_territories
    measurements = pd.DataFrame(
        {
            "indicator_id": np.repeat(measured, len(months) * n_territories).astype(np.int32),
            "period_key": pd.Categorical(np.tile(np.repeat(months, n_territories), len(measured))),
            "territory_id": np.tile(np.arange(1, n_territories + 1), len(measured) * len(months)).astype(
                np.int16
            ),
            "value": rng.gamma(4.0, 25.0, n),
        }
    )
    base = rng.gamma(4.0, 25.0, n_indicators)
    targets = pd.DataFrame(
        {
            "indicator_id": np.repeat(ids, len(months)),
            "period_key": np.tile(months, n_indicators),
            "target": np.repeat(base, len(months)),
            "band_low": np.repeat(base * 0.8, len(months)),
            "band_high": np.repeat(base * 1.2, len(months)),
            "threshold_mode": "relative",
            "amber_tolerance": 0.05,
            "red_tolerance": 0.10,
        }
    )
    parents = [np.nan if o <= 4 else float((o % 4) + 1) for o in range(1, n_objectives + 1)]
    objectives = pd.DataFrame(
        {
            "parent_id": parents,
            "perspective": [
                ["users", "finance", "processes", "learning"][o % 4] for o in range(n_objectives)
            ],
            "weight": 1.0,
        },
        index=pd.Index(range(1, n_objectives + 1), name="objective_id"),
    )
    return indicators, measurements, targets, objectives


def reference(indicators, measurements, targets, objectives, period, territory):
    """Row by row, in plain Python: the straightforward way."""
    key = reading_period("monthly", period).key
    values: dict[int, float] = {}
    for row in measurements.itertuples(index=False):
        if row.territory_id == territory and row.period_key == key:
            values[row.indicator_id] = row.value
    codes = {row.Index: row.code for row in indicators.itertuples()}
    by_code = {codes[i]: v for i, v in values.items()}
    for row in indicators.itertuples():
        if isinstance(row.formula, str):
            result = (
                evaluate(parse_formula(row.formula), by_code)
                if all(c in by_code for c in parse_formula(row.formula).codes)
                else float("nan")
            )
            values[row.Index] = result
            by_code[row.code] = result
    target_of = {}
    for row in targets.itertuples(index=False):
        if row.period_key == key:
            target_of[row.indicator_id] = row
    statuses, obj_sum, obj_w = {}, {}, {}
    for row in indicators.itertuples():
        value = values.get(row.Index, float("nan"))
        t = target_of[row.Index]
        if value != value:
            status = "missing"
        else:
            if row.direction == "higher":
                gap, ref = t.target - value, t.target
            elif row.direction == "lower":
                gap, ref = value - t.target, t.target
            else:
                gap = max(t.band_low - value, value - t.band_high, 0.0)
                ref = t.band_low if value < t.band_low else t.band_high
            status = "green" if gap <= 0.05 * abs(ref) else "amber" if gap <= 0.10 * abs(ref) else "red"
        statuses[row.Index] = status
        obj_sum[row.objective_id] = obj_sum.get(row.objective_id, 0.0) + SCORES[status] * row.weight
        obj_w[row.objective_id] = obj_w.get(row.objective_id, 0.0) + row.weight
    greens = sum(1 for o in obj_sum if obj_sum[o] / obj_w[o] >= GREEN_FROM)
    return statuses, greens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--indicators", type=int, default=5000)
    parser.add_argument("--territories", type=int, default=20)
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = synthetic(args.indicators, args.territories)
    made = time.perf_counter() - t0
    print(
        f"données : {len(data[1]):_} mesures, {args.indicators:_} indicateurs mesurés, "
        f"{args.territories} territoires, 60 mois ({made:.1f} s pour les produire)".replace("_", " ")
    )
    period = P.parse_period_key("2025-T4")

    runs = []
    for _ in range(5):
        start = time.perf_counter()
        result = compute_scorecard(*data, period=period, territory=7)
        runs.append(time.perf_counter() - start)
    engine_time = min(runs)
    tracemalloc.start()  # memory in a run of its own: tracing slows allocations down
    compute_scorecard(*data, period=period, territory=7)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"moteur     : {engine_time:6.3f} s (meilleur de 5, médiane {sorted(runs)[2]:.3f} s), "
        f"pic mémoire du calcul {peak / 2**20:.1f} Mio"
    )

    start = time.perf_counter()
    statuses, _ = reference(*data, period=period, territory=7)
    reference_time = time.perf_counter() - start
    print(f"référence  : {reference_time:6.3f} s (Python ligne à ligne)")
    engine_statuses = result.indicators["status"].to_dict()
    disagree = sum(1 for i, s in statuses.items() if engine_statuses[i] != s)
    print(f"écarts de statut moteur / référence : {disagree}")
    print(f"rapport référence / moteur : {reference_time / engine_time:.1f} x")
    print(
        f"mémoire maximale du processus : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} Mio"
    )
    print(f"statuts : {result.indicators['status'].value_counts().to_dict()}")


if __name__ == "__main__":
    main()
