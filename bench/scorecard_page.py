"""Benchmark of the scorecard page with 300 indicators (issue 4: p95 < 300 ms over 50 requests).

Builds the demo in a fresh SQLite file, adds indicators (copies of the demo's measured ones,
with their measurements and targets) up to 300, signs in as the direction and times 50 renders
of the organisation's scorecard through the WSGI test client. Also times the Excel export and
the JSON API for the same period. Prints the figures; asserts nothing about time.

    .venv/bin/python bench/scorecard_page.py [--indicators 300] [--requests 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from models import Indicator, Measurement, Target
from pilotis import create_app, schema
from pilotis.database import make_engine, write_session
from services.demo import build_demo


def enlarge(engine, organisation_id: int, wanted: int) -> int:
    """Copy measured indicators (with their values and targets) until there are ``wanted``."""
    with write_session(engine) as session:
        existing = session.scalar(
            select(func.count()).select_from(Indicator).where(Indicator.organisation_id == organisation_id)
        )
        sources = session.scalars(
            select(Indicator).where(Indicator.organisation_id == organisation_id, Indicator.formula.is_(None))
        ).all()
        copy = 0
        while existing < wanted:
            source = sources[copy % len(sources)]
            copy += 1
            clone = Indicator(
                organisation_id=organisation_id,
                code=f"{source.code}_c{copy}",
                label=f"{source.label} ({copy})",
                type=source.type,
                unit=source.unit,
                direction=source.direction,
                frequency=source.frequency,
                perspective=source.perspective,
                decimals=source.decimals,
                weight=source.weight,
                service_id=source.service_id,
                objective_id=source.objective_id,
            )
            session.add(clone)
            session.flush()
            for m in session.scalars(select(Measurement).where(Measurement.indicator_id == source.id)):
                session.add(
                    Measurement(
                        organisation_id=organisation_id,
                        indicator_id=clone.id,
                        period_id=m.period_id,
                        value=m.value,
                        state=m.state,
                    )
                )
            for t in session.scalars(select(Target).where(Target.indicator_id == source.id)):
                session.add(
                    Target(
                        indicator_id=clone.id,
                        period_id=t.period_id,
                        value=t.value,
                        band_low=t.band_low,
                        band_high=t.band_high,
                        threshold_mode=t.threshold_mode,
                        amber_tolerance=t.amber_tolerance,
                        red_tolerance=t.red_tolerance,
                    )
                )
            existing += 1
        return existing


def timed(client, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return times


def report(label: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{label:<34} médiane {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   ({len(times)} requêtes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--indicators", type=int, default=300)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        schema.upgrade(engine)
        with write_session(engine) as session:
            demo = build_demo(session, "11069", as_of=date(2026, 11, 26))
        total = enlarge(engine, demo.organisation_id, args.indicators)
        engine.dispose()
        app = create_app(
            {"DATABASE_URL": url, "SECRET_KEY": "bench" * 8, "INSTANCE_PATH": folder, "TESTING": True}
        )
        from tests.conftest import sign_in

        client = sign_in(app.test_client(), "direction")
        page = client.get("/tableau-de-bord/?periode=2025-T4").get_data(as_text=True)
        rows = page.count('<th scope="row">')
        print(
            f"organisation : {total} indicateurs ; page du tableau de bord : {rows} lignes d'indicateurs, {len(page) // 1024} Kio"
        )
        report("page du tableau de bord", timed(client, "/tableau-de-bord/?periode=2025-T4", args.requests))
        report("API /api/v1/scorecard", timed(client, "/api/v1/scorecard?period=2025-T4", args.requests))
        report(
            "export Excel",
            timed(client, "/tableau-de-bord/export.xlsx?periode=2025-T4", max(5, args.requests // 5)),
        )
        report("accueil (référence)", timed(client, "/", args.requests))
        app.extensions["pilotis.engine"].dispose()


if __name__ == "__main__":
    main()
