"""Background work: tasks, their queue, and the worker that runs them (``pilotis worker``).

A task is a row of ``tasks`` (models.task): what to do, its state, its progress and its result
file. It is the one truth the pages read. What carries it to a worker depends on the database:

- **PostgreSQL**: procrastinate (its own tables, created by ``pilotis db upgrade``). The request
  commits the row, then defers a procrastinate job holding the row's id; any ``pilotis worker``
  on any machine fetches it (``SELECT … FOR UPDATE SKIP LOCKED``), so each job is fetched once.
  Workers send heartbeats; each worker also looks every few seconds for jobs of workers whose
  heartbeat stopped (killed, machine lost) and hands them back to the queue.
- **SQLite** (the demo, one machine): the ``tasks`` table is the queue. A worker claims a row by a
  conditional UPDATE under SQLite's write lock (``BEGIN IMMEDIATE``), and a running row whose
  heartbeat stopped can be claimed again.

On both, the claim of the row is conditional (queued, or running with a stale heartbeat), so a
task is done once even when two transports deliver it; a cancelled row is never claimed, and a
running one stops at its next progress step. After ``MAX_ATTEMPTS`` interrupted attempts a task
fails for good.

``PILOTIS_WORKER=embedded`` (the default) lets ``pilotis serve`` and ``pilotis scheduler`` run one
worker thread of their own (the table loop), so that the demo needs no other process;
``PILOTIS_WORKER=external`` leaves the work to ``pilotis worker`` processes (production).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from models import Task
from models.base import utcnow
from pilotis.database import make_engine, session_factory, write_session
from scorecard.errors import UserError

log = logging.getLogger(__name__)

#: procrastinate's name for the one task it carries (the row's id says what to do)
QUEUE_TASK = "pilotis.run_task"
QUEUE_NAME = "pilotis"
MAX_ATTEMPTS = 3
KEEP_FINISHED = timedelta(days=7)

STATE_LABELS = {
    "queued": "en file d'attente",
    "running": "en cours",
    "succeeded": "prêt",
    "failed": "échec",
    "cancelled": "annulé",
}


class TaskCancelled(UserError):
    """The task was cancelled while it ran: stop, store nothing."""

    def __init__(self) -> None:
        super().__init__("tâche annulée")


@dataclass(frozen=True)
class Timing:
    """Heartbeat and staleness, from the environment (short in the tests)."""

    heartbeat: float = 10.0
    #: a running task whose heartbeat is older than this was interrupted: it may be claimed again
    stale: float = 60.0
    poll: float = 1.0

    @classmethod
    def from_env(cls) -> Timing:
        def read(name: str, default: float) -> float:
            raw = os.environ.get(name)
            try:
                return float(raw) if raw else default
            except ValueError:
                raise UserError(f"{name} vaut « {raw} » : un nombre de secondes est attendu.") from None

        return cls(
            heartbeat=read("PILOTIS_WORKER_HEARTBEAT", 10.0),
            stale=read("PILOTIS_WORKER_STALE_AFTER", 60.0),
            poll=read("PILOTIS_WORKER_POLL", 1.0),
        )


def worker_mode() -> str:
    mode = os.environ.get("PILOTIS_WORKER", "embedded").strip() or "embedded"
    if mode not in ("embedded", "external"):
        raise UserError(f"PILOTIS_WORKER vaut « {mode} » : « embedded » ou « external » attendu.")
    return mode


def state_text(task: Task) -> str:
    """How a task reads to a person: « en cours 40 % », « échec : … »."""
    if task.state == "running":
        return f"en cours {task.progress} %"
    if task.state == "failed":
        return f"échec : {task.error or 'erreur inconnue'}"
    return STATE_LABELS[task.state]


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


# -- what a task does -----------------------------------------------------------------------------
@dataclass
class TaskContext:
    """What a handler gets: its arguments, a way to say how far it is, a place for its file."""

    engine: Engine
    task_id: int
    kind: str
    args: dict[str, Any]
    organisation_id: int | None
    user_id: int | None
    worker: str
    result: tuple[bytes, str, str] | None = None

    def progress(self, percent: int, step: str = "") -> None:
        """Write the progress; raise :class:`TaskCancelled` if the task was cancelled meanwhile."""
        with write_session(self.engine) as session:
            done = session.execute(
                update(Task)
                .where(Task.id == self.task_id, Task.state == "running", Task.worker == self.worker)
                .values(progress=max(0, min(100, int(percent))), step=step[:200], heartbeat_at=utcnow())
            )
        if getattr(done, "rowcount", 0) != 1:
            raise TaskCancelled()

    def store(self, content: bytes, name: str, mimetype: str) -> None:
        self.result = (content, name, mimetype)


Handler = Callable[[TaskContext], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[kind] = func
        return func

    return register


@handler("pause")
def _pause(ctx: TaskContext) -> None:
    """A diagnostic task: waits ``seconds`` in ``steps`` steps (the tests, the benchmark)."""
    seconds, steps = float(ctx.args.get("seconds", 0)), max(1, int(ctx.args.get("steps", 1)))
    for step in range(steps):
        if seconds:
            time.sleep(seconds / steps)
        ctx.progress(round(100 * (step + 1) / steps), f"étape {step + 1} sur {steps}")
    ctx.store(ctx.worker.encode(), "pause.txt", "text/plain")


# -- putting a task in the queue -------------------------------------------------------------------
def new_task(
    session: Session,
    kind: str,
    *,
    organisation_id: int | None,
    user_id: int | None,
    args: dict[str, Any] | None = None,
    key: str = "",
) -> Task:
    """The task's row, in the caller's transaction; :func:`dispatch` it once that is committed."""
    if kind not in HANDLERS:
        _load_handlers()
    if kind not in HANDLERS:
        raise UserError(f"tâche « {kind} » inconnue")
    task = Task(
        kind=kind,
        organisation_id=organisation_id,
        user_id=user_id,
        args=dict(args or {}),
        key=key[:200],
        state="queued",
        progress=0,
        step="",
        attempts=0,
        created_at=utcnow(),
    )
    session.add(task)
    session.flush()
    return task


def dispatch(engine: Engine, task_ids: list[int]) -> None:
    """Hand committed tasks to the workers: with ``pilotis worker`` processes on PostgreSQL, a
    procrastinate job each (a failure to defer is logged: the workers' sweep defers rows left
    queued without a job); with an embedded worker, a nudge to this process's thread."""
    if not task_ids:
        return
    embedded = worker_mode() == "embedded"
    if is_postgresql(engine) and not embedded:  # an embedded worker reads the table itself
        try:
            _defer(engine, task_ids)
        except Exception:  # the row is committed: the sweep of any worker will defer it
            log.exception("tâches %s non transmises à la file (elles le seront par un worker)", task_ids)
    _WAKE.set()
    if embedded:
        start_embedded_worker(engine)


def enqueue(
    engine: Engine,
    kind: str,
    *,
    organisation_id: int | None = None,
    user_id: int | None = None,
    args: dict[str, Any] | None = None,
    key: str = "",
) -> int:
    """Create and dispatch a task outside a request (the scheduler, the command line)."""
    with write_session(engine) as session:
        task_id = new_task(
            session, kind, organisation_id=organisation_id, user_id=user_id, args=args, key=key
        ).id
    dispatch(engine, [task_id])
    return task_id


def cancel(session: Session, task: Task) -> bool:
    """Cancel a task not finished yet (in the caller's transaction); False if it was over."""
    if task.state not in ("queued", "running"):
        return False
    task.state = "cancelled"
    task.finished_at = utcnow()
    task.step = "annulée"
    session.flush()
    return True


def forget_queue_job(engine: Engine, task: Task) -> None:
    """After a cancel is committed: take the task's job out of procrastinate's queue too (its row
    being cancelled, a worker fetching it would do nothing anyway)."""
    if task.queue_job_id is None or not is_postgresql(engine):
        return
    try:
        _queue_app(engine, sync=True).job_manager.cancel_job_by_id(task.queue_job_id)
    except Exception:  # the row decides: a fetched job of a cancelled row does nothing
        log.exception("job %s non retiré de la file", task.queue_job_id)


# -- running a task --------------------------------------------------------------------------------
def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def claimable(now: datetime, timing: Timing) -> Any:
    stale_before = now - timedelta(seconds=timing.stale)
    return or_(
        Task.state == "queued",
        and_(Task.state == "running", or_(Task.heartbeat_at.is_(None), Task.heartbeat_at < stale_before)),
    )


def claim(engine: Engine, task_id: int, worker: str, timing: Timing) -> bool:
    """Take the task for this worker if it is queued, or running with a stopped heartbeat."""
    now = utcnow()
    with write_session(engine) as session:
        taken = session.execute(
            update(Task)
            .where(Task.id == task_id, claimable(now, timing))
            .values(
                state="running",
                attempts=Task.attempts + 1,
                worker=worker,
                started_at=now,
                heartbeat_at=now,
                step="démarrage",
            )
        )
    return getattr(taken, "rowcount", 0) == 1


class _Heartbeats:
    """One thread per process refreshes the heartbeat of every task this process runs."""

    def __init__(self) -> None:
        self.tasks: dict[int, tuple[Engine, str]] = {}
        self.lock = threading.Lock()
        self.every = 10.0
        self.thread: threading.Thread | None = None

    @contextmanager
    def beating(self, engine: Engine, task_id: int, worker: str, every: float) -> Iterator[None]:
        with self.lock:
            self.tasks[task_id] = (engine, worker)
            self.every = min(self.every, every)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="pilotis-battements", daemon=True)
                self.thread.start()
        try:
            yield
        finally:
            with self.lock:
                self.tasks.pop(task_id, None)

    def run(self) -> None:
        while True:
            time.sleep(self.every)
            with self.lock:
                beating = list(self.tasks.items())
            for task_id, (engine, worker) in beating:
                try:
                    with write_session(engine) as session:
                        session.execute(
                            update(Task)
                            .where(Task.id == task_id, Task.worker == worker, Task.state == "running")
                            .values(heartbeat_at=utcnow())
                        )
                except Exception:  # a missed beat is only a late one
                    log.exception("battement de la tâche %s manqué", task_id)


_heartbeats = _Heartbeats()


def _finish(engine: Engine, task_id: int, worker: str, **values: Any) -> None:
    with write_session(engine) as session:
        session.execute(
            update(Task)
            .where(Task.id == task_id, Task.worker == worker, Task.state == "running")
            .values(finished_at=utcnow(), **values)
        )


def execute(engine: Engine, task_id: int, *, worker: str | None = None, timing: Timing | None = None) -> str:
    """Run one task if this worker can claim it; its outcome (``skipped`` when it could not)."""
    timing = timing or Timing.from_env()
    worker = worker or worker_name()
    if not claim(engine, task_id, worker, timing):
        return "skipped"
    with session_factory(engine)() as session:
        task = session.get(Task, task_id)
        assert task is not None  # noqa: S101 - claimed just above
        if task.attempts > MAX_ATTEMPTS:
            _finish(
                engine,
                task_id,
                worker,
                state="failed",
                error=f"interrompue {MAX_ATTEMPTS} fois (le worker s'est arrêté pendant le calcul)",
            )
            return "failed"
        ctx = TaskContext(
            engine, task_id, task.kind, dict(task.args), task.organisation_id, task.user_id, worker
        )
    if ctx.kind not in HANDLERS:
        _load_handlers()
    run = HANDLERS.get(ctx.kind)
    try:
        with _heartbeats.beating(engine, task_id, worker, timing.heartbeat):
            if run is None:
                raise UserError(f"tâche « {ctx.kind} » inconnue de ce worker")
            run(ctx)
    except TaskCancelled:
        return "cancelled"
    except Exception as exc:  # the page says it failed, in French, and the worker goes on
        log.exception("tâche %s (%s) en échec", task_id, ctx.kind)
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__} : {exc}"
        _finish(engine, task_id, worker, state="failed", error=message[:2000])
        return "failed"
    content, name, mimetype = ctx.result or (None, None, None)
    _finish(
        engine,
        task_id,
        worker,
        state="succeeded",
        progress=100,
        step="terminé",
        result=content,
        result_name=name,
        result_type=mimetype,
    )
    return "succeeded"


def _load_handlers() -> None:
    """The handlers that need the rest of the shell (reports, scenarios, scheduled jobs)."""
    import pilotis.tasks  # noqa: F401 - registers its handlers


# -- the table loop (SQLite, and the embedded worker) ----------------------------------------------
_WAKE = threading.Event()


def next_claimable(engine: Engine, timing: Timing, limit: int = 5) -> list[int]:
    with session_factory(engine)() as session:
        return list(
            session.scalars(select(Task.id).where(claimable(utcnow(), timing)).order_by(Task.id).limit(limit))
        )


def run_table_worker(
    engine: Engine, *, stop: threading.Event, burst: bool = False, timing: Timing | None = None
) -> int:
    """Claim and run tasks from the table until ``stop`` (or, in burst mode, until none is left)."""
    timing = timing or Timing.from_env()
    done, last_purge = 0, 0.0
    while not stop.is_set():
        ran = False
        try:
            if time.monotonic() - last_purge > 600:
                purge_finished(engine)
                last_purge = time.monotonic()
            for task_id in next_claimable(engine, timing):
                if execute(engine, task_id, timing=timing) != "skipped":
                    done += 1
                    ran = True
                    break
        except Exception:  # a lost database must not end the worker: it tries again
            log.exception("worker : lecture de la file en échec")
            stop.wait(max(timing.poll, 1.0))
            continue
        if ran:
            continue
        if burst:
            break
        _WAKE.wait(timing.poll)
        _WAKE.clear()
    return done


def purge_finished(engine: Engine, now: datetime | None = None) -> int:
    """Forget tasks (and their files) finished more than a week ago."""
    before = (now or utcnow()) - KEEP_FINISHED
    with write_session(engine) as session:
        gone = session.execute(delete(Task).where(Task.finished_at.is_not(None), Task.finished_at < before))
    return int(getattr(gone, "rowcount", 0) or 0)


_embedded: dict[str, threading.Thread] = {}
_embedded_lock = threading.Lock()


def start_embedded_worker(engine: Engine) -> None:
    """One worker thread in this process (``PILOTIS_WORKER=embedded``), started once."""
    url = engine.url.render_as_string(hide_password=False)
    with _embedded_lock:
        if url in _embedded and _embedded[url].is_alive():
            return
        own = make_engine(url)

        def loop() -> None:
            try:
                run_table_worker(own, stop=threading.Event())
            finally:
                own.dispose()

        thread = threading.Thread(target=loop, name="pilotis-worker-integre", daemon=True)
        _embedded[url] = thread
        thread.start()


# -- procrastinate (PostgreSQL) --------------------------------------------------------------------
_apps: dict[tuple[str, bool], Any] = {}
_apps_lock = threading.Lock()
_schema_ready: set[str] = set()
#: the advisory lock under which one process creates procrastinate's schema
SCHEMA_LOCK_KEY = 0x50494C51


def conninfo(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def prepare_queue(engine: Engine) -> bool:
    """Create procrastinate's schema if it is missing (PostgreSQL; one process at a time under an
    advisory lock). True if it was created."""
    if not is_postgresql(engine):
        return False
    from procrastinate.schema import SchemaManager

    with engine.begin() as conn:
        conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(SchemaManager.get_schema())  # procrastinate's own SQL, no parameters
        cursor.close()
    return True


def _queue_app(engine: Engine, *, sync: bool) -> Any:
    """The procrastinate application for this database (sync: to defer and cancel; async: to work)."""
    import procrastinate

    url = conninfo(engine)
    with _apps_lock:
        if (url, sync) in _apps:
            return _apps[(url, sync)]
        if url not in _schema_ready:
            prepare_queue(engine)
            _schema_ready.add(url)
        if sync:
            app = procrastinate.App(
                connector=procrastinate.SyncPsycopgConnector(conninfo=url, min_size=1, max_size=2)
            )
        else:
            app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
        app.task(name=QUEUE_TASK, queue=QUEUE_NAME)(_run_queued)
        if sync:
            app.open()
        _apps[(url, sync)] = app
        return app


#: the engine of this ``pilotis worker`` process, for procrastinate's task function
_worker_engine: list[Engine] = []


def _run_queued(task_id: int) -> None:
    outcome = execute(_worker_engine[0], task_id)
    log.info("tâche %s : %s", task_id, outcome)


def _defer(engine: Engine, task_ids: list[int]) -> None:
    """One procrastinate job per task, deferred in batches of 500 (the scheduler's fan-out), and
    each row told its job's id (to cancel it in the queue too)."""
    app = _queue_app(engine, sync=True)
    deferrer = app.configure_task(QUEUE_TASK, queue=QUEUE_NAME)
    for start in range(0, len(task_ids), 500):
        batch = task_ids[start : start + 500]
        job_ids = deferrer.batch_defer(*({"task_id": task_id} for task_id in batch))
        with write_session(engine) as session:
            session.execute(
                update(Task),
                [
                    {"id": task_id, "queue_job_id": job_id}
                    for task_id, job_id in zip(batch, job_ids, strict=True)
                ],
            )


async def _sweep(app: Any, engine: Engine, timing: Timing, stop: asyncio.Event) -> None:
    """Every few seconds: hand back to the queue the jobs of workers whose heartbeat stopped, and
    defer the rows left queued without a job (a web process died between its commit and its
    deferral, or an embedded worker's process enqueued them)."""
    from procrastinate.exceptions import ProcrastinateException

    last_purge = 0.0
    while not stop.is_set():
        try:
            for job in await app.job_manager.get_stalled_jobs(
                queue=QUEUE_NAME, seconds_since_heartbeat=timing.stale + timing.heartbeat
            ):
                try:
                    await app.job_manager.retry_job(job)
                    log.warning("job %s d'un worker arrêté remis dans la file", job.id)
                except ProcrastinateException:
                    log.info("job %s déjà repris par un autre worker", job.id)
            orphans = await asyncio.to_thread(_orphans, engine, timing)
            if orphans:
                await asyncio.to_thread(_defer, engine, orphans)
            if time.monotonic() - last_purge > 600:
                await asyncio.to_thread(purge_finished, engine)
                last_purge = time.monotonic()
        except Exception:  # the sweep must outlive a lost connection
            log.exception("balayage de la file en échec")
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(1.0, timing.heartbeat))
        except TimeoutError:
            continue


def _orphans(engine: Engine, timing: Timing) -> list[int]:
    before = utcnow() - timedelta(seconds=max(5.0, timing.heartbeat))
    with session_factory(engine)() as session:
        return list(
            session.scalars(
                select(Task.id)
                .where(Task.state == "queued", Task.queue_job_id.is_(None), Task.created_at < before)
                .order_by(Task.id)
                .limit(500)
            )
        )


def run_queue_worker(
    engine: Engine, *, concurrency: int = 1, burst: bool = False, timing: Timing | None = None
) -> None:
    """A procrastinate worker for this PostgreSQL database, with its sweep."""
    timing = timing or Timing.from_env()
    _worker_engine[:] = [engine]
    app = _queue_app(engine, sync=False)

    async def main() -> None:
        stop = asyncio.Event()
        async with app.open_async():
            sweeper = asyncio.create_task(_sweep(app, engine, timing, stop))
            try:
                await app.run_worker_async(
                    queues=[QUEUE_NAME],
                    concurrency=concurrency,
                    wait=not burst,
                    update_heartbeat_interval=timing.heartbeat,
                    stalled_worker_timeout=timing.stale + timing.heartbeat,
                    delete_jobs="successful",
                    install_signal_handlers=True,
                    fetch_job_polling_interval=max(timing.poll, 1.0),
                )
            finally:
                stop.set()
                await sweeper

    asyncio.run(main())


# -- health ----------------------------------------------------------------------------------------
@dataclass
class QueueHealth:
    ok: bool
    backend: str
    queued: int = 0
    running: int = 0
    oldest_queued_seconds: float | None = None
    workers: int | None = None
    problems: list[str] = field(default_factory=list)


def queue_health(engine: Engine, *, max_wait: float = 900.0) -> QueueHealth:
    """The queue's state for ``/sante``: readable, and no task waiting longer than ``max_wait``."""
    now = utcnow()
    backend = "procrastinate (PostgreSQL)" if is_postgresql(engine) else "table tasks (SQLite)"
    health = QueueHealth(ok=True, backend=backend)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Task.state, func.count()).where(Task.state.in_(("queued", "running"))).group_by(Task.state)
        )
        counts = {str(state): int(count) for state, count in rows}
        health.queued, health.running = int(counts.get("queued", 0)), int(counts.get("running", 0))
        oldest = conn.execute(select(func.min(Task.created_at)).where(Task.state == "queued")).scalar()
        if oldest is not None:
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            health.oldest_queued_seconds = round((now - oldest).total_seconds(), 1)
            if health.oldest_queued_seconds > max_wait:
                health.ok = False
                health.problems.append(f"une tâche attend depuis plus de {int(max_wait)} s")
        if is_postgresql(engine):
            if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
                health.ok = False
                health.problems.append("schéma de la file absent : pilotis db upgrade")
            else:
                health.workers = int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM procrastinate_workers "
                            "WHERE last_heartbeat > now() - make_interval(secs => :secs)"
                        ),
                        {"secs": 3 * Timing.from_env().stale},
                    ).scalar()
                    or 0
                )
    return health
