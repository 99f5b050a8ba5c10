"""Benchmark of issue 6: importing national statistics files and computing the coherence matrix.

1. Imports the full national files of ``../shared/data/territoire`` (CAF allocataires by IRIS,
   ~13,400 rows; Filosofi by IRIS, ~12,500 rows; Filosofi by commune, ~31,000 rows) into the
   demo organisation of a fresh SQLite database: rows outside its communes are read, checked
   and skipped. Goal: seconds, not minutes.
2. Computes the coherence of a synthetic département-size organisation (1,000 needs, 500
   activities, 50 territories, ~2,500 coverage links) with ``scorecard.coherence``, against a
   row-by-row Python reference in the same run. Goal: under one second.
Prints times and peak memory. Not part of the tests (it reads ../shared, which the project does
not ship).

    .venv/bin/python bench/coherence.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pilotis import schema
from pilotis.database import make_engine, write_session
from scorecard.coherence import compute_coherence
from services.demo import build_demo
from services.needs import resize_needs
from services.statistics_import import import_statistics

SHARED = ROOT.parent / "shared" / "data" / "territoire"
FILES = [
    ("caf", SHARED / "caf_2020" / "data_CAF_2020_IRIS.csv"),
    ("filosofi", SHARED / "insee_filosofi_2019" / "BASE_TD_FILO_DISP_IRIS_2019.csv"),
    ("filosofi", SHARED / "insee_filosofi_2019" / "FILO2019_DISP_COM.csv"),
]


def measure(label: str, action):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<58} {elapsed:7.3f} s   pic mémoire {peak / 2**20:7.1f} Mio")
    return result, elapsed


def imports() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        schema.upgrade(engine)
        with write_session(engine) as session:
            organisation_id = build_demo(session, "11069", as_of=date(2026, 11, 26)).organisation_id
        for source, path in FILES:
            if not path.exists():
                print(f"{path} absent : import non mesuré")
                continue
            content = path.read_bytes()
            with write_session(engine) as session:
                report, _ = measure(
                    f"import {path.name} ({len(content) / 2**20:.1f} Mo)",
                    lambda s=session, c=content, src=source, p=path: import_statistics(
                        s, organisation_id, c, source=src, filename=p.name
                    ),
                )
                print(
                    f"    {report.rows_read} lignes lues, {report.rows_outside} territoires hors organisation, "
                    f"{report.stats.inserted} ajoutés, {report.stats.unchanged} inchangés, erreurs : {len(report.errors)}"
                )
                measure(
                    "    redimensionnement des besoins", lambda s=session: resize_needs(s, organisation_id)
                )
        engine.dispose()


def synthetic(n_needs: int = 1000, n_activities: int = 500, n_territories: int = 50, seed: int = 3):
    rng = np.random.default_rng(seed)
    needs = pd.DataFrame(
        {"size": rng.integers(20, 5000, n_needs).astype(float), "priority": rng.integers(1, 6, n_needs),
         "group": rng.choice([f"public {i}" for i in range(12)], n_needs),
         "territory": rng.choice([f"territoire {i}" for i in range(n_territories)], n_needs)},
        index=pd.Index(range(1, n_needs + 1), name="need_id"),
    )  # fmt: skip
    needs["priority_weight"] = needs["priority"].astype(float)
    activities = pd.DataFrame(
        {"volume": rng.integers(100, 50_000, n_activities).astype(float),
         "cost": rng.integers(10_000, 900_000, n_activities).astype(float)},
        index=pd.Index(range(1, n_activities + 1), name="activity_id"),
    )  # fmt: skip
    links = pd.DataFrame(
        {"activity_id": rng.integers(1, n_activities + 1, n_activities * 5),
         "need_id": rng.integers(1, n_needs + 1, n_activities * 5),
         "coefficient": rng.uniform(0.001, 1.0, n_activities * 5)}
    ).drop_duplicates(["activity_id", "need_id"])  # fmt: skip
    return needs, activities, links


def reference(needs: pd.DataFrame, activities: pd.DataFrame, links: pd.DataFrame) -> dict[int, float]:
    """Row by row, in plain Python."""
    size = {int(i): float(s) for i, s in needs["size"].items()}
    by_activity: dict[int, list[tuple[int, float]]] = {}
    for row in links.itertuples(index=False):
        by_activity.setdefault(int(row.activity_id), []).append((int(row.need_id), float(row.coefficient)))
    offered = dict.fromkeys(size, 0.0)
    for activity_id, pairs in by_activity.items():
        volume = float(activities.at[activity_id, "volume"])
        total = sum(size[n] for n, _ in pairs)
        for need_id, coefficient in pairs:
            offered[need_id] += coefficient * volume * (size[need_id] / total if total else 1 / len(pairs))
    return {n: min(offered[n], size[n]) / size[n] for n in size}


def main() -> None:
    imports()
    frames = synthetic()
    print(
        f"organisation synthétique : {len(frames[0])} besoins, {len(frames[1])} activités, "
        f"{frames[0]['territory'].nunique()} territoires, {len(frames[2])} liens de couverture"
    )
    result, engine_time = measure("cohérence (moteur vectorisé)", lambda: compute_coherence(*frames))
    rates, reference_time = measure("cohérence (référence Python ligne à ligne)", lambda: reference(*frames))
    gaps = max(abs(result.needs.loc[n, "coverage_rate"] - r) for n, r in rates.items())
    print(
        f"écart maximal moteur / référence sur les taux : {gaps:.2e} ; rapport {reference_time / engine_time:.1f} x"
    )
    print(f"matrice : {len(result.matrix)} cases public × territoire")


if __name__ == "__main__":
    main()
