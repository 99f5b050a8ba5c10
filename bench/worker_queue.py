"""The background queue (pilotis.worker): enqueue latency, 1 000 tiny tasks with two worker
processes, and how long a killed worker's task waits before another worker takes it over.

    .venv/bin/python bench/worker_queue.py                       # SQLite (the tasks table)
    .venv/bin/python bench/worker_queue.py --database-url postgresql://postgres@127.0.0.1:5432/pilotis_bench_queue

The database is emptied and migrated (its name must contain « bench »). The floor is the same
1 000 tasks executed one after the other in this process, with no queue and no other process
(``pilotis.worker.execute`` on rows already written): what the queue adds is the rest.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text, update

from models import Task
from pilotis import schema
from pilotis.database import make_engine, normalise_url, write_session
from pilotis.worker import Timing, execute, new_task, prepare_queue

TIMING = {"PILOTIS_WORKER_HEARTBEAT": "1", "PILOTIS_WORKER_STALE_AFTER": "5", "PILOTIS_WORKER_POLL": "0.5"}


def fresh(url: str):  # type: ignore[no-untyped-def]
    parsed = normalise_url(url)
    if "bench" not in (parsed.database or ""):
        sys.exit("the benchmark empties its database: give one whose name contains « bench »")
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database or "").unlink(missing_ok=True)
    engine = make_engine(url)
    if parsed.get_backend_name() == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    schema.upgrade(engine)
    prepare_queue(engine)
    return engine


def workers(url: str, count: int) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        **TIMING,
        "DATABASE_URL": url,
        "PILOTIS_WORKER": "external",
        "PILOTIS_SECRET_KEY": "bench-" + "x" * 32,
        "PILOTIS_INSTANCE_PATH": str(Path(tempfile.gettempdir()) / "pilotis-bench-queue"),
    }
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "pilotis", "worker"],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    for process in started:
        assert process.stdout is not None
        process.stdout.readline()
    time.sleep(2)  # procrastinate opens its pool and listens after the first line
    return started


def stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def count(engine, state: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(Task).where(Task.state == state)).scalar() or 0
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="sqlite:////tmp/pilotis_bench_queue.db")
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    os.environ["PILOTIS_WORKER"] = "external"  # this process only enqueues
    os.environ.update(TIMING)
    url, n = args.database_url, args.tasks
    engine = fresh(url)
    from pilotis.worker import dispatch

    print(f"database: {engine.dialect.name}; load average {os.getloadavg()[0]:.1f}")

    # floor: the same tasks executed in this process, no queue
    with write_session(engine) as session:
        ids = [
            new_task(session, "pause", organisation_id=None, user_id=None, args={"seconds": 0}).id
            for _ in range(n)
        ]
    with engine.connect() as connection:  # the pool warmed up before the clock starts
        connection.exec_driver_sql("SELECT 1")
    start = time.perf_counter()
    for task_id in ids:
        execute(engine, task_id, timing=Timing(stale=60))
    floor = time.perf_counter() - start
    print(f"floor: {n} tasks executed in-process one after the other: {floor:.2f} s ({n / floor:.0f}/s)")

    # enqueue latency: one task per transaction, then handed to the queue (procrastinate's defer)
    latencies = []
    for _ in range(200):
        start = time.perf_counter()
        with write_session(engine) as session:
            task_id = new_task(session, "pause", organisation_id=None, user_id=None, args={"seconds": 0}).id
        dispatch(engine, [task_id])
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    print(
        f"enqueue latency (200 tasks, one per transaction): median {statistics.median(latencies) * 1000:.1f} ms,"
        f" p95 {latencies[189] * 1000:.1f} ms"
    )

    # throughput: two worker processes, n tasks enqueued in one transaction (the scheduler's fan-out)
    procs = workers(url, 2)
    try:
        start = time.perf_counter()
        with write_session(engine) as session:
            ids = [
                new_task(session, "pause", organisation_id=None, user_id=None, args={"seconds": 0}).id
                for _ in range(n)
            ]
        dispatch(engine, ids)
        queued_in = time.perf_counter() - start
        while count(engine, "succeeded") < 2 * n + 200:
            time.sleep(0.05)
        took = time.perf_counter() - start
        with engine.connect() as conn:
            names = conn.execute(select(Task.worker).where(Task.id.in_(ids))).scalars().all()
            twice = conn.execute(
                select(func.count()).select_from(Task).where(Task.id.in_(ids), Task.attempts != 1)
            ).scalar()
        print(
            f"throughput: {n} tiny tasks with 2 workers: {took:.2f} s ({n / took:.0f}/s; enqueued in {queued_in:.2f} s),"
            f" ratio to the floor {took / floor:.1f}; tasks per worker process {sorted(Counter(name.split(':')[1] for name in names).values())};"
            f" tasks not done exactly once: {twice}"
        )

        # crash: a worker killed in the middle of a task; the other takes it over
        with write_session(engine) as session:
            long = new_task(
                session, "pause", organisation_id=None, user_id=None, args={"seconds": 4, "steps": 8}
            ).id
        dispatch(engine, [long])
        while True:
            with engine.connect() as conn:
                task = conn.execute(
                    select(Task.state, Task.worker, Task.progress).where(Task.id == long)
                ).one()
            if task.state == "running" and task.progress >= 25:
                break
            time.sleep(0.05)
        victim = int(task.worker.split(":")[1])
        os.kill(victim, signal.SIGKILL)
        killed = time.perf_counter()
        while True:
            with engine.connect() as conn:
                task = conn.execute(
                    select(Task.state, Task.attempts, Task.started_at).where(Task.id == long)
                ).one()
            if task.attempts == 2:
                break
            time.sleep(0.05)
        retaken = time.perf_counter() - killed
        while count(engine, "succeeded") < 2 * n + 201:
            time.sleep(0.05)
        print(
            f"crash: worker killed (SIGKILL) at 25 %; its task taken over by the other after {retaken:.1f} s "
            f"(stale after {TIMING['PILOTIS_WORKER_STALE_AFTER']} s of silent heartbeat) and finished, 2 attempts"
        )
    finally:
        stop(procs)
        with write_session(engine) as session:
            session.execute(update(Task).values(result=None))
        engine.dispose()


if __name__ == "__main__":
    main()
