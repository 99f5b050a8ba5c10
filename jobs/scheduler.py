"""The scheduler process (``pilotis scheduler``): APScheduler 3 with a job store in the database.

Run it as one process of its own, never inside web workers (RELIABILITY.md, trap 2); even so,
two schedulers would not run a job twice for a period: the runner's guard rows see to it.

At each firing the scheduler only fans out: one ``scheduled`` task per organisation, put in the
background queue (``pilotis.worker``); the workers find what is due for their organisation and run
it (``pilotis.tasks``), so that 1 000 organisations share the workers instead of one process.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, func, select

from jobs.registry import DEFAULT_CLOSE_GRACE, JOBS, Context
from models import Organisation
from pilotis.database import make_engine, write_session, writing
from pilotis.settings import Settings, public_url_from_env
from pilotis.worker import dispatch, new_task
from services.notifications import SmtpSettings

log = logging.getLogger(__name__)
TIMEZONE = "Europe/Paris"


def smtp_from_env() -> SmtpSettings | None:
    host = os.environ.get("PILOTIS_SMTP_HOST")
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=int(os.environ.get("PILOTIS_SMTP_PORT", "587")),
        user=os.environ.get("PILOTIS_SMTP_USER"),
        password=os.environ.get("PILOTIS_SMTP_PASSWORD"),
        sender=os.environ.get("PILOTIS_SMTP_SENDER", "pilotis@localhost"),
        starttls=os.environ.get("PILOTIS_SMTP_STARTTLS", "1") != "0",
        base_url=public_url_from_env(),
    )


def close_grace_from_env() -> dict[str, timedelta]:
    grace = dict(DEFAULT_CLOSE_GRACE)
    for kind in grace:
        value = os.environ.get(f"PILOTIS_CLOSE_GRACE_DAYS_{kind.upper()}")
        if value:
            grace[kind] = timedelta(days=int(value))
    return grace


def context(settings: Settings, now: datetime | None = None) -> Context:
    return Context(
        now=now or datetime.now(UTC),
        packs_folder=Path(settings.instance_path) / "packs",
        smtp=smtp_from_env(),
        close_grace=close_grace_from_env(),
    )


def run_scheduled(name: str) -> None:
    """What APScheduler calls (by reference, so that the job store can keep it)."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        queued = fan_out(engine, name, context(settings))
        log.info("%s : %s tâche(s) mise(s) en file, une par organisation", name, len(queued))
    finally:
        engine.dispose()


def fan_out(engine: Engine, name: str, ctx: Context) -> list[int]:
    """One background task per organisation for this firing of job ``name`` (their ids)."""
    stamp = ctx.now.isoformat()
    with write_session(engine) as session:
        ids = [
            new_task(
                session,
                "scheduled",
                organisation_id=organisation_id,
                user_id=None,
                args={"job": name, "now": stamp, "packs_folder": str(ctx.packs_folder)},
                key=f"{name}:{organisation_id}:{ctx.now:%Y-%m-%dT%H:%M}",
            ).id
            for organisation_id in session.scalars(select(Organisation.id).order_by(Organisation.id))
        ]
    dispatch(engine, ids)
    return ids


#: The PostgreSQL advisory lock under which a starting scheduler creates the job store's table.
STORE_LOCK_KEY = 0x50494C4F  # "PILO"


def prepare_job_store(store: SQLAlchemyJobStore) -> None:
    """Create the job store's table, one starting scheduler at a time.

    APScheduler checks for the table then creates it: schedulers started together on a new
    database all saw it missing and all but one crashed on the CREATE. Here the check and the
    CREATE run in one transaction under a lock (SQLite's write lock, taken at BEGIN; a PostgreSQL
    advisory lock, whose DDL is transactional), so the others find the table made.
    """
    with writing(store.engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(STORE_LOCK_KEY)))
        store.jobs_t.create(conn, checkfirst=True)


def build_scheduler(database_url: str) -> BlockingScheduler:
    """The scheduler and its job store, ready to start (several may start at once: each job is
    stored once, and the runner's guard rows make each run happen once)."""
    store = SQLAlchemyJobStore(engine=make_engine(database_url), tablename="apscheduler_jobs")
    prepare_job_store(store)
    scheduler = BlockingScheduler(
        jobstores={"default": store},
        timezone=TIMEZONE,
        job_defaults={"coalesce": True, "misfire_grace_time": 3600, "max_instances": 1},
    )
    for spec in JOBS:
        scheduler.add_job(
            "jobs.scheduler:run_scheduled",
            CronTrigger(timezone=TIMEZONE, **spec.cron),
            args=[spec.name],
            id=spec.name,
            name=spec.label,
            replace_existing=True,
        )
    return scheduler


def next_run(cron: dict[str, object], now: datetime) -> datetime | None:
    trigger = CronTrigger(timezone=TIMEZONE, **cron)
    fire = trigger.get_next_fire_time(None, now)
    return fire.astimezone(UTC) if fire else None
