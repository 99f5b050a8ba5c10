"""Benchmark of issue 15: creating an organisation for a large commune and for a département.

For Marseille (13055: 17 communes and arrondissements, 393 IRIS), Paris (75056: 21, 992 IRIS),
the Nord (59: 648 communes, 655 IRIS) and the Pas-de-Calais (62: 890 communes), creates the
organisation in a fresh database with its territory tree, its statistics and its administrator
(one scrypt hash, ~0.1 s), committed — first with the reference files read from disk (as
``pilotis org create`` does, once per process), then with them already read (the web wizard's
second creation). Against it: a plain pandas read of the same reference rows (the five
statistics files and the three tree files read with ``pd.read_csv`` and filtered to the
organisation's territories). Prints the goals as written in the issue, the shipped size of the
reference files, and the ratio.

    .venv/bin/python bench/org_create.py [--database-url postgresql://…/pilotis_bench] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, select, text

from models import Organisation, TerritoryStatistic, User
from models.base import utcnow
from pilotis import schema
from pilotis.database import make_engine, normalise_url, write_session
from services import reference_data as ref
from services.organisations import create_organisation, perimeter

CASES = [
    ("ccas", "13055", "une commune", 2.0),
    ("ccas", "75056", "une commune", 2.0),
    ("departement", "59", "un département", 20.0),
    ("departement", "62", "un département", 20.0),
]


def clear_caches() -> None:
    for reader in (ref.communes, ref.wider_territories, ref.iris, ref.statistics_file, ref._search_table):
        reader.cache_clear()


def pandas_reference(kind: str, code: str) -> tuple[float, int]:
    """Seconds to read and filter the same reference rows with plain pandas, and the cells kept."""
    scope = perimeter(kind, code)
    start = time.perf_counter()
    read = {
        "dtype": str,
        "keep_default_na": False,
        "na_values": [],
        "sep": ";",
    }
    communes = pd.read_csv(ref.REFERENCE_DIR / "communes.csv.gz", **read)
    pd.read_csv(ref.REFERENCE_DIR / "territoires.csv.gz", **read)
    iris = pd.read_csv(ref.REFERENCE_DIR / "iris.csv.gz", **read)
    own = communes[communes["code"].isin(scope.communes) | communes["commune"].isin(scope.communes)]
    codes = set(own["code"])
    iris_codes = set(iris.loc[iris["commune"].isin(codes), "code"])
    cells = 0
    for name, layout, level, _ in ref.STATISTICS_FILES:
        frame = pd.read_csv(ref.REFERENCE_DIR / name, **read)
        column = ref.CODE_COLUMN[layout]
        wanted = (
            iris_codes
            if level == "iris"
            else codes
            if level == "commune"
            else set(own["dep"]) | set(own["reg"])
        )
        cells += int(frame[column].isin(wanted).sum()) * (frame.shape[1] - 1)
    return time.perf_counter() - start, cells


def one_run(engine, kind: str, code: str, *, cold: bool) -> tuple[float, int]:
    if cold:
        clear_caches()
    start = time.perf_counter()
    with write_session(engine) as session:
        created = create_organisation(
            session, kind, code, admin_email=f"admin-{code}@bench.example.org", now=utcnow()
        )
        org_id = created.organisation.id
    elapsed = time.perf_counter() - start
    with write_session(engine) as session:
        rows = session.scalar(
            select(func.count())
            .select_from(TerritoryStatistic)
            .where(TerritoryStatistic.organisation_id == org_id)
        )
        session.execute(delete(User).where(User.organisation_id == org_id))
        session.execute(delete(Organisation).where(Organisation.id == org_id))
    return elapsed, int(rows or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        if normalise_url(url).get_backend_name() == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        schema.upgrade(engine)
        size = ref.reference_size()
        print(f"base : {normalise_url(url).get_backend_name()} ; {args.runs} création(s) par cas, médiane")
        print(f"fichiers de référence livrés : {size / 2**20:.2f} Mo (objectif : moins de 15 Mo)")
        print()
        header = f"{'organisation':<22} {'territoires':>11} {'statistiques':>12} {'à froid':>9} {'à chaud':>9} {'pandas':>8} {'ratio':>6}  objectif"
        print(header)
        for kind, code, level, goal in CASES:
            scope = perimeter(kind, code)
            cold, warm = [], []
            rows = 0
            for _ in range(args.runs):
                seconds, rows = one_run(engine, kind, code, cold=True)
                cold.append(seconds)
                warm.append(one_run(engine, kind, code, cold=False)[0])
            reference = statistics.median(pandas_reference(kind, code)[0] for _ in range(args.runs))
            with write_session(engine) as session:
                created = create_organisation(session, kind, code, now=utcnow())
                territories = sum(created.territories.values())
                session.rollback()
            cold_s, warm_s = statistics.median(cold), statistics.median(warm)
            verdict = "tenu" if cold_s < goal else "MANQUÉ"
            print(
                f"{scope.name + ' (' + code + ')':<22} {territories:>11} {rows:>12} {cold_s:>8.2f}s {warm_s:>8.2f}s "
                f"{reference:>7.2f}s {cold_s / reference:>5.1f}x  {level} en moins de {goal:.0f} s : {verdict}"
            )
        engine.dispose()
    print()
    print(
        "à froid : fichiers de référence lus depuis le disque (pilotis org create) ; à chaud : déjà lus (assistant web)."
    )
    print("pandas : lecture simple des mêmes lignes de référence (read_csv + filtre), sans rien écrire.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
