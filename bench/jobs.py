"""Issue 20's goal for the scheduled jobs, with two workers:

    .venv/bin/python bench/jobs.py                          # SQLite, 1 000 organisations
    .venv/bin/python bench/jobs.py --database-url postgresql://postgres@127.0.0.1:5432/pilotis_bench_jobs

Two measurements in one run, on a database the benchmark empties (its name must contain « bench »):

1. the queue's part: every scheduled job fanned out for N generated organisations (organisations
   of their own, with nothing due: what is timed is the fan-out, the queue and the two
   ``pilotis worker`` processes finding what is due), until the 8 × N tasks are over;
2. the work's part: each job run in this process for the demo organisation (Carcassonne, built
   here), the floor being that same work with no queue at all.

The estimate for N real organisations is (1) + N × (2) / 2 workers, printed beside the goal.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from bench.worker_queue import fresh  # the same emptied, migrated database
from jobs.registry import JOBS, Context
from jobs.runner import run_one
from jobs.scheduler import fan_out
from models import Organisation, OrganisationKind, Task
from pilotis.database import write_session

GOAL = "the scheduled jobs for 1 000 generated organisations complete within 10 minutes with two workers"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="sqlite:////tmp/pilotis_bench_jobs.db")
    parser.add_argument("--organisations", type=int, default=1000)
    args = parser.parse_args()
    os.environ["PILOTIS_WORKER"] = "external"
    url, n = args.database_url, args.organisations
    engine = fresh(url)
    print(f"goal: {GOAL}")
    print(f"database: {engine.dialect.name}; load average {os.getloadavg()[0]:.1f}")
    packs = Path(tempfile.mkdtemp(prefix="pilotis-bench-packs-"))
    now = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    ctx = Context(now=now, packs_folder=packs)

    # (2) the work: each job for the demo organisation, in this process, no queue (the floor)
    from services.demo import build_demo

    with write_session(engine) as session:
        demo_id = build_demo(session, "11069", as_of=date(2026, 11, 26)).organisation_id
    work = 0.0
    for spec in JOBS:
        with write_session(engine) as session:
            keys = spec.due(session, session.get(Organisation, demo_id), ctx)
        start = time.perf_counter()
        for key in keys:
            run_one(engine, spec, demo_id, key, ctx)
        took = time.perf_counter() - start
        work += took
        print(f"  {spec.name:<15} demo organisation: {len(keys)} key(s), {took:.2f} s")
    print(f"work of every job for one organisation (floor, no queue): {work:.2f} s")

    # (1) the queue: n generated organisations, every job fanned out, two workers
    with write_session(engine) as session:
        session.add_all(
            Organisation(slug=f"bench-{i:05d}", name=f"CCAS généré {i}", kind=OrganisationKind.CCAS)
            for i in range(n)
        )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PILOTIS_WORKER": "external",
        "PILOTIS_SECRET_KEY": "b" * 64,
        "PILOTIS_INSTANCE_PATH": str(packs),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "pilotis", "worker"],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            worker.stdout.readline()
        time.sleep(2)
        start = time.perf_counter()
        ids = [task_id for spec in JOBS for task_id in fan_out(engine, spec.name, ctx)]
        fanned = time.perf_counter() - start
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count())
                    .select_from(Task)
                    .where(Task.id.in_(ids), Task.state.in_(("queued", "running")))
                ).scalar()
            if not left:
                break
            time.sleep(0.2)
        queue = time.perf_counter() - start
        with engine.connect() as conn:
            failed = conn.execute(
                select(func.count()).select_from(Task).where(Task.id.in_(ids), Task.state != "succeeded")
            ).scalar()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    total = len(ids)
    print(
        f"queue for {n + 1} organisations: {total} tasks fanned out in {fanned:.1f} s, all over in {queue:.1f} s "
        f"with two workers ({total / queue:.0f} tasks/s; {failed} not succeeded)"
    )
    estimate = queue + n * work / 2
    print(
        f"estimate for {n} real organisations: {queue:.0f} s + {n} × {work:.2f} s / 2 workers = {estimate / 60:.1f} min"
    )
    scaled = queue * 1000 / (n + 1) + 1000 * work / 2
    print(
        f"extrapolated to 1 000 organisations: {queue * 1000 / (n + 1):.0f} s of queue + 1000 × {work:.2f} s / 2 = "
        f"{scaled / 60:.1f} min (goal: 10 min) — {'met' if scaled <= 600 else 'NOT met'}"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
