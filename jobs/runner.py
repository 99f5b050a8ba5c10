"""Running a job for one organisation and period key, exactly once.

The guard row ``job_runs(job_name, period_key)`` is unique: the process that inserts it does the
work. A run found ``failed``, or ``running`` for longer than ``STALE_AFTER`` (its process died),
is taken over by a compare-and-swap on its status and start time, so only one process retries it.
Each run works in its own transaction and records its outcome (and error) in another.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from jobs.registry import BY_NAME, Context, JobSpec
from models import JobRun, Organisation
from pilotis.database import session_factory, write_session
from services.audit import acting_as

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class Outcome:
    job: str
    key: str
    status: str  # succeeded | failed | skipped
    message: str


def status_text(run: JobRun, now: datetime) -> str:
    """How a run reads to a person (a run still "running" long after it started was interrupted)."""
    if run.status == "running" and run.started_at <= now - STALE_AFTER:
        return "interrompue (sera reprise)"
    return {"succeeded": "réussie", "failed": "en échec", "running": "en cours"}[run.status]


def guard_key(organisation: Organisation, key: str) -> str:
    return f"{organisation.slug}:{key}"


def claim(engine: Engine, job: str, key: str, *, now: datetime) -> bool:
    """Take the (job, key) run for this process, or learn that another one has it or did it."""
    factory = session_factory(engine, write=True)
    with factory() as session:
        session.add(JobRun(job_name=job, period_key=key, status="running", started_at=now))
        try:
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
    with factory() as session:
        run = session.scalar(select(JobRun).where(JobRun.job_name == job, JobRun.period_key == key))
        if run is None or run.status == "succeeded":
            return False
        if run.status == "running" and run.started_at > now - STALE_AFTER:
            return False
        taken = session.execute(
            update(JobRun)
            .where(JobRun.id == run.id, JobRun.status == run.status, JobRun.started_at == run.started_at)
            .values(status="running", started_at=now, finished_at=None, error=None)
        )
        session.commit()
        return getattr(taken, "rowcount", 0) == 1


def _finish(engine: Engine, job: str, key: str, status: str, error: str | None, *, now: datetime) -> None:
    with write_session(engine) as session:
        session.execute(update(JobRun).where(JobRun.job_name == job, JobRun.period_key == key)
                        .values(status=status, finished_at=now, error=error))  # fmt: skip


def run_one(engine: Engine, spec: JobSpec, organisation_id: int, key: str, ctx: Context) -> Outcome:
    with session_factory(engine)() as session:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None:
            return Outcome(spec.name, key, "failed", "organisation introuvable")
        slug = guard_key(organisation, key)
    if not claim(engine, spec.name, slug, now=ctx.now):
        return Outcome(spec.name, key, "skipped", "déjà fait, ou en cours dans un autre processus")
    try:
        with write_session(engine) as session, acting_as(None):
            organisation = session.get(Organisation, organisation_id)
            assert organisation is not None  # noqa: S101 - read just above
            message = spec.run(session, organisation, key, ctx)
    except Exception as exc:  # a failing job is recorded and does not stop the others
        log.exception("tâche %s (%s) en échec", spec.name, slug)
        _finish(
            engine,
            spec.name,
            slug,
            "failed",
            "".join(traceback.format_exception_only(exc)).strip()[:2000],
            now=ctx.now,
        )
        return Outcome(spec.name, key, "failed", str(exc))
    _finish(engine, spec.name, slug, "succeeded", None, now=ctx.now)
    return Outcome(spec.name, key, "succeeded", message)


def tick(engine: Engine, name: str, ctx: Context) -> list[Outcome]:
    """Run a job for every organisation and every key due now."""
    spec = BY_NAME[name]
    outcomes = []
    with session_factory(engine)() as session:
        work = [
            (org.id, key)
            for org in session.scalars(select(Organisation))
            for key in spec.due(session, org, ctx)
        ]
    for organisation_id, key in work:
        outcomes.append(run_one(engine, spec, organisation_id, key, ctx))
    return outcomes
