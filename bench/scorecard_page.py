"""Benchmark of the scorecard page with 300 indicators and of a 5 500-indicator organisation.

Goals (issue 20, item 5): "the scorecard of a 5 500-indicator organisation under 300 ms (API) and
of 300 indicators p95 under 150 ms (page)" (issue 4 asked p95 < 300 ms for the page).

Builds the demo in a fresh SQLite file, adds indicators (copies of the demo's measured ones,
with their measurements and targets) up to 300, signs in as the direction and times 50 renders
of the organisation's scorecard through the WSGI test client. Also times the Excel export and
the JSON API for the same period. Then copies indicators (in bulk) up to 5 500 and times the API
and the page. Each is timed twice: computed at each request (the process's kept results,
``services.cache``, cleared before each one) and as served while the data is unchanged (kept).
The floor, measured in the same run: the pure engine (``scorecard.engine.compute_scorecard``)
on the very frames the page handed it. Prints the figures; asserts nothing about time.

    .venv/bin/python bench/scorecard_page.py [--indicators 300] [--requests 50] [--large 5500]
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

from sqlalchemy import func, insert, select

from models import Indicator, Measurement, Target
from pilotis import create_app, schema
from pilotis.database import make_engine, write_session
from services import cache
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


def enlarge_in_bulk(engine, organisation_id: int, wanted: int) -> int:
    """Copy measured indicators (values and targets too) in bulk until there are ``wanted``."""
    skipped = {"id", "code", "label", "version", "created_at", "updated_at"}
    with write_session(engine) as session:
        existing = session.scalar(
            select(func.count()).select_from(Indicator).where(Indicator.organisation_id == organisation_id)
        )
        sources = session.scalars(
            select(Indicator).where(Indicator.organisation_id == organisation_id, Indicator.formula.is_(None))
        ).all()
        measured: dict[int, list[dict]] = {}
        for m in session.scalars(
            select(Measurement).where(Measurement.indicator_id.in_([i.id for i in sources]))
        ):
            row = {c.key: getattr(m, c.key) for c in Measurement.__table__.columns if c.key not in skipped}
            measured.setdefault(m.indicator_id, []).append(row)
        targeted: dict[int, list[dict]] = {}
        for t in session.scalars(select(Target).where(Target.indicator_id.in_([i.id for i in sources]))):
            row = {c.key: getattr(t, c.key) for c in Target.__table__.columns if c.key not in skipped}
            targeted.setdefault(t.indicator_id, []).append(row)
        copies = []
        for n in range(wanted - existing):
            source = sources[n % len(sources)]
            row = {c.key: getattr(source, c.key) for c in Indicator.__table__.columns if c.key not in skipped}
            copies.append(
                (source.id, {**row, "code": f"{source.code}_g{n}", "label": f"{source.label} [{n}]"})
            )
        for start in range(0, len(copies), 1000):
            chunk = copies[start : start + 1000]
            ids = session.scalars(
                insert(Indicator).returning(Indicator.id, sort_by_parameter_order=True),
                [row for _, row in chunk],
            ).all()
            values = [
                {**m, "indicator_id": new}
                for (old, _), new in zip(chunk, ids, strict=True)
                for m in measured.get(old, [])
            ]
            goals = [
                {**t, "indicator_id": new}
                for (old, _), new in zip(chunk, ids, strict=True)
                for t in targeted.get(old, [])
            ]
            if values:
                session.execute(insert(Measurement), values)
            if goals:
                session.execute(insert(Target), goals)
        return existing + len(copies)


def timed(client, url: str, n: int, *, cold: bool = False) -> list[float]:
    """Wall-clock times of ``n`` requests; ``cold``: the kept results cleared before each one."""
    times = []
    for _ in range(n):
        if cold:
            cache.clear()
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return times


def engine_floor(client, url: str, n: int) -> list[float]:
    """The pure engine alone on the frames the page hands it (captured from one request)."""
    import services.scorecard as S

    captured: list[tuple] = []
    core = S.compute_scorecard

    def capture(*args, **kwargs):
        captured.append((args, kwargs))
        return core(*args, **kwargs)

    S.compute_scorecard = capture
    try:
        cache.clear()
        client.get(url)
    finally:
        S.compute_scorecard = core
    args, kwargs = captured[0]
    times = []
    for _ in range(n):
        start = time.perf_counter()
        core(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float], floor: list[float] | None = None) -> None:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    ratio = (
        f"   {statistics.median(ordered) / statistics.median(floor):5.1f} × le moteur seul" if floor else ""
    )
    print(
        f"{label:<44} médiane {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   ({len(times)} requêtes){ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--indicators", type=int, default=300)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--large", type=int, default=5500, help="indicateurs du grand cas (0 : aucun)")
    args = parser.parse_args()
    print(
        "objectifs (issue 20, point 5) : the scorecard of a 5 500-indicator organisation under 300 ms (API) "
        "and of 300 indicators p95 under 150 ms (page)"
    )
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
        page_url, api_url = "/tableau-de-bord/?periode=2025-T4", "/api/v1/scorecard?period=2025-T4"
        floor = engine_floor(client, page_url, args.requests)
        report("moteur seul (plancher)", floor)
        report("page du tableau de bord, calculée", timed(client, page_url, args.requests, cold=True), floor)
        report("page du tableau de bord, résultat gardé", timed(client, page_url, args.requests), floor)
        report("API /api/v1/scorecard, calculée", timed(client, api_url, args.requests, cold=True), floor)
        report("API /api/v1/scorecard, résultat gardé", timed(client, api_url, args.requests), floor)
        report(
            "export Excel",
            timed(client, "/tableau-de-bord/export.xlsx?periode=2025-T4", max(5, args.requests // 5)),
        )
        report("accueil (référence)", timed(client, "/", args.requests))
        if args.large:
            engine = make_engine(url)
            start = time.perf_counter()
            total = enlarge_in_bulk(engine, demo.organisation_id, args.large)
            engine.dispose()
            print(f"organisation agrandie à {total} indicateurs en {time.perf_counter() - start:.1f} s")
            runs = max(5, args.requests // 5)
            floor = engine_floor(client, api_url, runs)
            report(f"moteur seul, {total} indicateurs (plancher)", floor)
            report(f"API, {total} indicateurs, calculée", timed(client, api_url, runs, cold=True), floor)
            report(f"API, {total} indicateurs, résultat gardé", timed(client, api_url, runs), floor)
            report(f"page, {total} indicateurs, calculée", timed(client, page_url, runs, cold=True), floor)
        app.extensions["pilotis.engine"].dispose()


if __name__ == "__main__":
    main()
