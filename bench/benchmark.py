"""Issue 20's goal for the comparison between organisations:

    .venv/bin/python bench/benchmark.py --database-url postgresql://postgres@127.0.0.1:5432/pilotis_bench_cmp
    .venv/bin/python bench/benchmark.py --organisations 2000      # SQLite file in a temporary folder

The bench creates the database (its name must contain « bench »; PostgreSQL: created, then dropped
at the end), upgrades it, writes stored indicators for N generated organisations (about 12 standard
indicators each, populations spread over the size strata), signs in a direction account of one of
them, then measures, each ``--repeat`` times after a warm-up:

- the page ``/comparaison`` through the Flask test client (signed in, HTTP 200 checked);
- ``pilotis benchmark show`` in process (click's runner, JSON parsed);
- the floor: the same quartiles, ranks, stratum quartiles and histograms computed directly with one
  SQL query over the same rows and numpy (no page, no JSON, no ORM).

It prints the goal as the issue writes it, the p50 / p95 of each, their ratio to the floor and the
load average (the machine is shared: take the figures with it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from models import BenchmarkRefresh, BenchmarkValue, Organisation, OrganisationKind, Role, User
from models.base import utcnow
from pilotis import create_app, schema
from pilotis.database import make_engine
from services.accounts import hash_password

GOAL = "benchmark page and `pilotis benchmark show` for 14 000 organisations: p95 under 1 s"
CODES = (
    "depense_hab_total",
    "depense_hab_420",
    "depense_hab_421",
    "depense_hab_422",
    "depense_hab_423",
    "cout_unite_repas",
    "cout_benef_repas",
    "cout_unite_heure_aide",
    "cout_unite_domiciliation",
    "couverture_personnes_agees",
    "couverture_familles",
    "delai_instruction_asl",
)
PASSWORD = secrets.token_urlsafe(16) + "-Aa1"  # a throwaway account of a throwaway database
BOUNDS = np.array([5_000, 20_000, 50_000, 100_000], dtype=float)


def create_database(url: str) -> None:
    parsed = make_url(url)
    if "bench" not in (parsed.database or ""):
        sys.exit("the benchmark creates and drops its database: give one whose name contains « bench »")
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()


def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()
    elif parsed.database:
        Path(parsed.database).unlink(missing_ok=True)


def generate(engine, n: int, seed: int = 20) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """N organisations with stored indicators; returns the viewer's slug and its direction e-mail."""
    rng = np.random.default_rng(seed)
    now = utcnow()
    populations = np.clip(rng.lognormal(8.3, 1.3, n), 100, 900_000).astype(int)
    with engine.begin() as conn:
        conn.execute(
            insert(Organisation),
            [
                {
                    "slug": f"bench-ccas-{i:05d}",
                    "name": f"CCAS générique {i:05d}",
                    "kind": OrganisationKind.CCAS,
                    "population": int(populations[i]),
                    "costing_method": "reciprocal",
                    "benchmark_named": bool(i % 7 == 0),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
        ids = [row[0] for row in conn.execute(text("SELECT id FROM organisations ORDER BY id"))]
        base = rng.lognormal(3.5, 0.5, (n, len(CODES)))
        present = rng.random((n, len(CODES))) < 0.85
        present[0] = True  # the viewer has every indicator
        rows = [
            {
                "organisation_id": ids[i],
                "code": code,
                "value": float(min(base[i, j], 99.0) if code.startswith("couverture") else base[i, j]),
                "year": 2025,
                "label": None,
                "computed_at": now,
            }
            for i in range(n)
            for j, code in enumerate(CODES)
            if present[i, j]
        ]
        for start in range(0, len(rows), 20_000):
            conn.execute(insert(BenchmarkValue), rows[start : start + 20_000])
        conn.execute(
            insert(BenchmarkRefresh),
            [{"organisation_id": i, "computed_at": now, "stale": False} for i in ids],
        )
        email = "direction@bench-comparaison.example"
        conn.execute(
            insert(User),
            [
                {
                    "organisation_id": ids[0],
                    "email": email,
                    "full_name": "Direction (bench)",
                    "role": Role.DIRECTION,
                    "password_hash": hash_password(PASSWORD),
                    "session_token": secrets.token_hex(16),
                    "is_active": True,
                    "is_superadmin": False,
                    "failed_logins": 0,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    return "bench-ccas-00000", email


def floor(engine, viewer_slug: str) -> dict[str, tuple[float, ...]]:  # type: ignore[no-untyped-def]
    """The same statistics, directly: one SQL query on the driver's cursor, numpy per indicator."""
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        viewer = conn.execute(
            text("SELECT id FROM organisations WHERE slug = :s"), {"s": viewer_slug}
        ).scalar_one()
        if engine.dialect.name == "postgresql":  # one row per indicator, its values in arrays
            cursor.execute(
                "SELECT v.code, array_agg(v.value), array_agg(o.population), array_agg(v.organisation_id) "
                "FROM benchmark_values v JOIN organisations o ON o.id = v.organisation_id GROUP BY v.code"
            )
            groups = cursor.fetchall()
        else:
            cursor.execute(
                "SELECT v.code, v.value, o.population, v.organisation_id FROM benchmark_values v "
                "JOIN organisations o ON o.id = v.organisation_id ORDER BY v.code"
            )
            rows = cursor.fetchall()
            groups = [
                (code, *zip(*[r[1:] for r in grp], strict=True))
                for code, grp in itertools.groupby(rows, key=lambda r: r[0])
            ]
        cursor.close()
    out = {}
    for code, values, pops, owners in groups:
        v = np.asarray(values, dtype=float)
        s = np.searchsorted(
            BOUNDS, np.asarray([np.nan if p is None else p for p in pops], dtype=float), side="right"
        )
        o = np.asarray(owners) == viewer
        mine = float(v[o][0])
        peers = v[s == s[o][0]]
        q = np.quantile(v, [0.25, 0.5, 0.75])
        sq = np.quantile(peers, [0.25, 0.5, 0.75])
        counts, _ = np.histogram(v, bins=10)
        out[str(code)] = (*q, *sq, 1 + int((v < mine).sum()), 1 + int((peers < mine).sum()), *counts)
    return out


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up: imports, templates, caches
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--organisations", type=int, default=14_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pilotis-bench-benchmark-"))
    url = args.database_url or f"sqlite:///{folder / 'pilotis_bench_benchmark.db'}"
    create_database(url)
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        start = time.perf_counter()
        slug, email = generate(engine, args.organisations)
        print(
            f"{args.organisations} organisations and their stored indicators written in {time.perf_counter() - start:.1f} s"
        )
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench-" + "x" * 40,
                "INSTANCE_PATH": str(folder / "instance"),
                "TESTING": True,
            }
        )
        client = app.test_client()
        from tests.conftest import csrf_token

        token = csrf_token(client.get("/connexion").get_data(as_text=True))
        response = client.post("/connexion", data={"csrf_token": token, "email": email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        sizes: list[int] = []

        def page() -> None:
            response = client.get("/comparaison")
            assert response.status_code == 200, response.status_code
            sizes.append(len(response.data))

        runner = app.test_cli_runner()

        def cli() -> None:
            result = runner.invoke(args=["benchmark", "show", "--organisation", slug])
            assert result.exit_code == 0, result.output[:300]
            data = json.loads(result.output)
            assert data["families"][0]["indicators"][0]["contributors"] >= 3

        # the same numbers: the page's service against the floor, for one indicator
        reference = floor(engine, slug)
        with app.app_context():
            from pilotis.database import write_session
            from services.benchmark import build_benchmark

            with write_session(engine) as session:
                org_id = session.execute(
                    text("SELECT id FROM organisations WHERE slug = :s"), {"s": slug}
                ).scalar_one()
                view = build_benchmark(session, org_id)
        item = next(i for i in view.families["depense"] if i.info.code == "depense_hab_total")
        expected = reference["depense_hab_total"]
        assert np.allclose(tuple(item.comparison.quartiles), expected[:3])
        assert item.comparison.rank == expected[6] and item.histogram.counts == list(expected[8:])
        from sqlalchemy import event

        from pilotis.web import engine as app_engine

        statements: list[str] = []
        with app.app_context():
            app_db = app_engine()

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(app_db, "before_cursor_execute", count)
        page()
        page_statements = len(statements)
        event.remove(app_db, "before_cursor_execute", count)

        def values() -> None:
            response = client.get("/comparaison/indicateurs/depense_hab_total?page=140")
            assert response.status_code == 200, response.status_code

        page_times = timed(page, args.repeat)
        values_times = timed(values, max(3, args.repeat // 3))
        cli_times = timed(cli, args.repeat)
        floor_times = timed(lambda: floor(engine, slug), args.repeat)
    finally:
        engine.dispose()
        if "app" in locals():
            from pilotis.web import engine as app_engine

            with app.app_context():
                app_engine().dispose()
        drop_database(url)
    load = os.getloadavg()
    backend = make_url(url).get_backend_name()
    print(f"\nGoal (issue 20): {GOAL}")
    print(
        f"{args.organisations} organisations, {backend}, {args.repeat} runs each, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores"
    )
    f95 = p95(floor_times)
    for name, samples in (
        ("page /comparaison", page_times),
        ("pilotis benchmark show", cli_times),
        ("floor (1 SQL query + numpy)", floor_times),
    ):
        status = (
            "" if name.startswith("floor") else ("  goal met" if p95(samples) < 1.0 else "  goal NOT met")
        )
        print(
            f"  {name:30s} p50 {statistics.median(samples) * 1000:7.0f} ms  p95 {p95(samples) * 1000:7.0f} ms  "
            f"p95 / floor p95 {p95(samples) / f95:5.2f}{status}"
        )
    print(
        f"  page size: {statistics.median(sizes) / 1024:.1f} KiB, {page_statements} SQL statements + 1 on the "
        "driver cursor per view (both the same whatever the number of organisations)"
    )
    print(f"  (not in the goal) a page of 50 values of one indicator: p95 {p95(values_times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
