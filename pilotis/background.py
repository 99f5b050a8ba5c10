"""Scenario solves as background tasks (``pilotis.worker``): queued by the page, run by a worker.

The request that starts a run commits the scenario as ``running`` with a ``scenario`` task
(:func:`queue_run`); a worker — ``pilotis worker`` on any machine, or the web process's embedded
worker thread — solves without holding a transaction, writes its progress between phases, and
stores the results unless the run was cancelled meanwhile. The page polls the scenario's state;
it never waits for the solver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models import Scenario, ScenarioState, Task
from models.base import utcnow
from pilotis.database import make_engine, write_session
from pilotis.worker import cancel, new_task
from services.audit import acting_as
from services.scenarios import fail_run, solve_problem, store_results

log = logging.getLogger(__name__)


def task_key(scenario_id: int) -> str:
    return f"scenario:{scenario_id}"


def queue_run(session: Session, scenario: Scenario, *, user_id: int | None, time_limit: float) -> Task:
    """The run's task, in the caller's transaction (dispatch it once committed)."""
    return new_task(
        session,
        "scenario",
        organisation_id=scenario.organisation_id,
        user_id=user_id,
        args={"scenario_id": scenario.id, "time_limit": time_limit},
        key=task_key(scenario.id),
    )


def run_task(session: Session, scenario_id: int) -> Task | None:
    """The latest task of a scenario's runs."""
    return session.scalar(
        select(Task).where(Task.key == task_key(scenario_id)).order_by(Task.id.desc()).limit(1)
    )


def cancel_tasks(session: Session, scenario_id: int) -> list[Task]:
    """Cancel the scenario's unfinished run tasks (in the caller's transaction)."""
    tasks = session.scalars(
        select(Task).where(Task.key == task_key(scenario_id), Task.state.in_(("queued", "running")))
    ).all()
    return [task for task in tasks if cancel(session, task)]


def _progress(engine: Engine, scenario_id: int, text: str) -> None:
    with write_session(engine) as session:
        scenario = session.get(Scenario, scenario_id)
        if scenario is not None and scenario.state is ScenarioState.RUNNING:
            scenario.progress = text[:200]


def run_scenario(
    engine: Engine,
    scenario_id: int,
    *,
    user_id: int | None,
    time_limit: float,
    on_progress: Callable[[str], None] | None = None,
) -> None:
    """Solve a scenario marked running, outside any request.

    The run has its own engine, disposed when it ends: its connections never outlive it.
    ``on_progress`` hears each phase (the task's progress; it raises to stop a cancelled task).
    """
    own = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        _run(own, scenario_id, user_id=user_id, time_limit=time_limit, on_progress=on_progress)
    finally:
        own.dispose()


def _run(
    engine: Engine,
    scenario_id: int,
    *,
    user_id: int | None,
    time_limit: float,
    on_progress: Callable[[str], None] | None,
) -> None:
    with write_session(engine) as session:
        scenario = session.get(Scenario, scenario_id)
        if scenario is None or scenario.state is not ScenarioState.RUNNING:
            return
        raw, method = dict(scenario.problem), scenario.method
        scenario.progress = "construction du modèle"

    def progress(text: str) -> None:
        _progress(engine, scenario_id, text)
        if on_progress is not None:
            on_progress(text)

    try:
        result = solve_problem(raw, method, time_limit=time_limit, progress=progress)
    except Exception as exc:  # the page must say the run failed, never spin forever
        log.exception("calcul du scénario %s en échec", scenario_id)
        with write_session(engine) as session, acting_as(user_id):
            scenario = session.get(Scenario, scenario_id)
            if scenario is not None:
                fail_run(session, scenario, f"Le calcul a échoué : {exc}")
        return
    with write_session(engine) as session, acting_as(user_id):
        scenario = session.get(Scenario, scenario_id)
        if scenario is not None and scenario.state is ScenarioState.RUNNING:
            store_results(session, scenario, result, now=utcnow())
