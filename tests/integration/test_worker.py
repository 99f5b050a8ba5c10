"""The background worker with real processes (``pilotis worker``), on SQLite and PostgreSQL.

Two workers share the queue: each task is done once; a cancelled task never runs; the worker
running a long task is killed (SIGKILL) in the middle of it and the other one takes it over once
its heartbeat has stopped. The module works on a database of its own: an embedded worker thread
that another test started in this process must not take these tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from models import Task
from pilotis import schema
from pilotis.database import make_engine, normalise_url, write_session
from pilotis.worker import cancel, enqueue, prepare_queue
from tests.conftest import _postgresql_database, is_postgresql

ROOT = Path(__file__).resolve().parents[2]
TIMING = {"PILOTIS_WORKER_HEARTBEAT": "0.3", "PILOTIS_WORKER_STALE_AFTER": "2", "PILOTIS_WORKER_POLL": "0.2"}


@pytest.fixture(scope="module")
def queue_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if is_postgresql(database_url):
        name = f"{normalise_url(database_url).database}_worker"
        with _postgresql_database(database_url, name) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('queue') / 'queue.db'}"


@pytest.fixture(scope="module")
def queue_engine(queue_database: str) -> Iterator[Engine]:
    engine = make_engine(queue_database)
    schema.upgrade(engine)
    prepare_queue(engine)
    yield engine
    engine.dispose()


def start_worker(url: str, instance: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **TIMING,
        "DATABASE_URL": url,
        "PILOTIS_WORKER": "external",
        "PILOTIS_INSTANCE_PATH": str(instance),
        "PILOTIS_SECRET_KEY": "worker-test-" + "x" * 32,
    }
    env.pop("PILOTIS_TEST_DATABASE_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "pilotis", "worker"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    return worker


def ready(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    assert "Worker démarré" in worker.stdout.readline()  # its application is built: it polls now


def rows(engine: Engine, ids: list[int]) -> dict[int, Task]:
    with write_session(engine) as session:
        return {task.id: task for task in session.scalars(select(Task).where(Task.id.in_(ids)))}


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the workers did not get there in time"
        time.sleep(0.1)


def test_two_workers_share_the_queue_once_each_skip_a_cancelled_task_and_retry_a_killed_one(
    queue_database: str, queue_engine: Engine, tmp_path: Path
) -> None:
    os.environ["PILOTIS_WORKER"] = "external"  # this process only enqueues
    started: list[subprocess.Popen[str]] = []
    try:
        cancelled = enqueue(queue_engine, "pause", args={"seconds": 0})
        with write_session(queue_engine) as session:
            assert cancel(session, session.get(Task, cancelled))
        first, second = (
            start_worker(queue_database, tmp_path / "a"),
            start_worker(queue_database, tmp_path / "b"),
        )
        started += [first, second]
        ready(first), ready(second)  # started together: their start-ups overlap
        workers = {first.pid: first, second.pid: second}
        short = [enqueue(queue_engine, "pause", args={"seconds": 0.3, "steps": 1}) for _ in range(6)]
        long = enqueue(queue_engine, "pause", args={"seconds": 3, "steps": 6})

        def long_half_done() -> bool:
            task = rows(queue_engine, [long])[long]
            return task.state == "running" and task.progress >= 30

        wait_for(long_half_done)
        victim = int(rows(queue_engine, [long])[long].worker.split(":")[1])
        workers.pop(victim).send_signal(signal.SIGKILL)
        survivor = next(iter(workers.values()))
        wait_for(lambda: all(t.state == "succeeded" for t in rows(queue_engine, [long, *short]).values()))
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=30)
    finally:
        os.environ.pop("PILOTIS_WORKER", None)
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
    done = rows(queue_engine, [cancelled, long, *short])
    # the cancelled task never ran
    assert (done[cancelled].state, done[cancelled].attempts, done[cancelled].result) == ("cancelled", 0, None)
    # each short task done once, by one of the two processes, and both took some
    by = {int(done[i].result.decode().split(":")[1]) for i in short}
    assert all(done[i].attempts == 1 for i in short) and by <= {first.pid, second.pid} and len(by) == 2
    # the killed worker's task was taken over and finished by the other one
    assert done[long].attempts == 2 and done[long].progress == 100
    assert int(done[long].result.decode().split(":")[1]) == survivor.pid != victim


def test_the_scheduler_fans_a_job_out_into_one_task_per_organisation(engine, demo, tmp_path, monkeypatch):
    """The scheduler only queues; a worker finds what is due for its organisation and runs it once."""
    from datetime import UTC, datetime

    from jobs.registry import Context
    from jobs.scheduler import fan_out
    from models import JobRun, Organisation
    from pilotis.worker import execute
    from tests.conftest import rows_added_are_removed

    monkeypatch.setenv("PILOTIS_WORKER", "external")  # this process runs them itself, below
    ctx = Context(now=datetime(2031, 5, 5, 5, 53, tzinfo=UTC), packs_folder=tmp_path)
    with rows_added_are_removed(engine):
        ids = fan_out(engine, "deliver-emails", ctx)
        with write_session(engine) as session:
            organisations = set(session.scalars(select(Organisation.id)))
            tasks = session.scalars(select(Task).where(Task.id.in_(ids))).all()
            assert {t.organisation_id for t in tasks} == organisations and len(tasks) == len(organisations)
            assert {t.kind for t in tasks} == {"scheduled"}
            # queued, or already taken by the embedded worker thread an earlier test of this
            # process started (dispatch starts one in the default mode)
            assert {t.state for t in tasks} <= {"queued", "running", "succeeded"}
        for task_id in ids:
            execute(engine, task_id)  # « skipped » if an embedded worker of this process took it first
        wait_for(lambda: {t.state for t in rows(engine, ids).values()} == {"succeeded"})
        with write_session(engine) as session:
            runs = session.scalars(
                select(JobRun).where(
                    JobRun.job_name == "deliver-emails", JobRun.period_key.like("%:2031-05-05T05:50")
                )
            ).all()
            assert len(runs) == len(organisations) and {r.status for r in runs} == {"succeeded"}
        assert execute(engine, ids[0]) == "skipped"  # done: never again
