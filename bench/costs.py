"""Benchmark of issue 5: full activity-based costing of a large organisation.

200,000 ledger lines, 100 cost centres (20 support functions serving each other, 80 services),
2,000 activities, five driver types (ETP, time, files, area, direct %), with revenues and lines
directly assigned to activities. Times ``scorecard.costing.compute_costing`` by each method
(median and worst of several runs) against a reference measured in the same run: the least any
costing must do, summing the lines by centre with ``numpy.bincount``. Prints peak memory
(tracemalloc) and checks that every euro in comes out. Goal: full costing under one second.

    .venv/bin/python bench/costs.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scorecard.costing import compute_costing

LINES, CENTRES, SUPPORTS, ACTIVITIES = 200_000, 100, 20, 2_000
DRIVERS = ("etp", "time", "files", "area", "direct")


def generate(seed: int = 7) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    codes = [f"C{i:03d}" for i in range(CENTRES)]
    kinds = ["support" if i < SUPPORTS else "operational" for i in range(CENTRES)]
    centres = pd.DataFrame(
        {
            "name": [f"Centre {c}" for c in codes],
            "kind": kinds,
            "service": pd.array([i + 1 if i >= SUPPORTS else None for i in range(CENTRES)], dtype="Int64"),
            "function_codes": [(f"{9000 + i}",) for i in range(CENTRES)],
            "step_order": list(range(CENTRES)),
            "driver": [DRIVERS[i % len(DRIVERS)] for i in range(CENTRES)],
        },
        index=codes,
    )
    keys = []
    for s in range(SUPPORTS):
        receivers = rng.choice([c for c in range(CENTRES) if c != s], size=12, replace=False)
        weights = rng.random(12)
        weights /= weights.sum()
        weights[-1] = 1.0 - weights[:-1].sum()
        keys += [(codes[s], codes[r], float(w)) for r, w in zip(receivers, weights, strict=True)]
    keys_frame = pd.DataFrame(keys, columns=["provider", "receiver", "share"])
    drivers = []
    per_centre = ACTIVITIES // (CENTRES - SUPPORTS)
    for i in range(SUPPORTS, CENTRES):
        first = (i - SUPPORTS) * per_centre
        for a in range(first, first + per_centre):
            drivers.append((codes[i], a, float(rng.integers(1, 500))))
        for a in rng.choice(ACTIVITIES, size=5, replace=False):  # shared activities
            drivers.append((codes[i], int(a), float(rng.integers(1, 50))))
    drivers_frame = pd.DataFrame(drivers, columns=["centre", "activity", "quantity"]).drop_duplicates(
        ["centre", "activity"]
    )
    centre_of_line = rng.integers(0, CENTRES, LINES)
    by_service = rng.random(LINES) < 0.7
    lines = pd.DataFrame(
        {
            "line": np.arange(LINES),
            "flow": np.where(rng.random(LINES) < 0.85, "depense", "recette"),
            "amount": np.round(rng.gamma(2.0, 900.0, LINES), 2),
            "service": pd.array(
                [
                    c + 1 if (b and c >= SUPPORTS) else None
                    for c, b in zip(centre_of_line, by_service, strict=True)
                ],
                dtype="Int64",
            ),
            "function": [
                f"{9000 + c}{d}" for c, d in zip(centre_of_line, rng.integers(0, 10, LINES), strict=True)
            ],
            "nature": rng.choice(["011", "012", "65", "6411", "6042", "7066", "7478"], LINES),
        }
    )
    assigned = rng.choice(LINES, size=5_000, replace=False)
    allocations = pd.DataFrame(
        {"line": assigned, "activity": rng.integers(0, ACTIVITIES, len(assigned)), "share": 1.0}
    )
    activities = pd.DataFrame(
        {"volume": rng.integers(0, 10_000, ACTIVITIES), "beneficiaries": rng.integers(0, 800, ACTIVITIES)},
        index=range(ACTIVITIES),
    )
    return centres, keys_frame, drivers_frame, lines, allocations, activities


def timed(function, runs: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    inputs = generate()
    centres, keys, drivers, lines, _allocations, activities = inputs
    print(
        f"{len(lines):,} lignes, {len(centres)} centres ({SUPPORTS} fonctions support), "
        f"{len(activities):,} activités, {len(drivers):,} quantités d'inducteurs, {len(keys)} clés".replace(
            ",", " "
        )
    )
    codes = lines["function"].str[:4].astype(int).to_numpy() - 9000
    amounts = lines["amount"].to_numpy()

    def reference() -> np.ndarray:
        return np.bincount(codes, weights=amounts, minlength=len(centres))

    ref_median, _, _ = timed(reference, runs)
    print(f"référence (somme des lignes par centre, numpy.bincount) : médiane {ref_median * 1000:.1f} ms")
    for method in ("direct", "step-down", "reciprocal"):
        median, worst, result = timed(lambda m=method: compute_costing(*inputs, method=m), runs)  # type: ignore[misc]
        tracemalloc.start()
        compute_costing(*inputs, method=method)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        costing = result  # type: ignore[assignment]
        balance = costing.total_in - costing.unassigned - costing.total_out  # type: ignore[attr-defined]
        print(
            f"coût complet, méthode {method:<10} : médiane {median * 1000:7.1f} ms, pire {worst * 1000:7.1f} ms "
            f"({median / ref_median:,.0f} × la référence), mémoire de pointe {peak / 2**20:.0f} Mio, "
            f"écart de conservation {balance:+.6f} € — objectif < 1 s : {'tenu' if worst < 1 else 'MANQUÉ'}"
        )


if __name__ == "__main__":
    main()
