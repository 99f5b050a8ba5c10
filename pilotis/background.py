"""Background solves of budget scenarios: one worker thread per process, its own sessions.

The request that starts a run commits the scenario as ``running`` and hands its id to the worker
(``pilotis.web.after_commit``); the worker solves without holding a transaction, writes its
progress between phases, and stores the results unless the run was cancelled meanwhile. The
page polls the scenario's state; it never waits for the solver.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from models import Scenario, ScenarioState
from models.base import utcnow
from pilotis.database import make_engine, write_session
from services.audit import acting_as
from services.scenarios import fail_run, solve_problem, store_results

log = logging.getLogger(__name__)
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pilotis-calcul")


def submit_run(engine: Engine, scenario_id: int, *, user_id: int | None, time_limit: float) -> Future[None]:
    return _executor.submit(run_scenario, engine, scenario_id, user_id=user_id, time_limit=time_limit)


def _progress(engine: Engine, scenario_id: int, text: str) -> None:
    with write_session(engine) as session:
        scenario = session.get(Scenario, scenario_id)
        if scenario is not None and scenario.state is ScenarioState.RUNNING:
            scenario.progress = text[:200]


def run_scenario(engine: Engine, scenario_id: int, *, user_id: int | None, time_limit: float) -> None:
    """Solve a scenario marked running, outside any request.

    The run has its own engine, disposed when it ends: its connections never outlive it, even when
    the application that started it has gone (tests, a reloading server).
    """
    own = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        _run(own, scenario_id, user_id=user_id, time_limit=time_limit)
    finally:
        own.dispose()


def _run(engine: Engine, scenario_id: int, *, user_id: int | None, time_limit: float) -> None:
    with write_session(engine) as session:
        scenario = session.get(Scenario, scenario_id)
        if scenario is None or scenario.state is not ScenarioState.RUNNING:
            return
        raw, method = dict(scenario.problem), scenario.method
        scenario.progress = "construction du modèle"
    try:
        result = solve_problem(
            raw, method, time_limit=time_limit, progress=lambda text: _progress(engine, scenario_id, text)
        )
    except Exception as exc:  # the page must say the run failed, never spin forever
        log.exception("calcul du scénario %s en échec", scenario_id)
        with write_session(engine) as session, acting_as(user_id):
            scenario = session.get(Scenario, scenario_id)
            if scenario is not None:
                fail_run(session, scenario, f"Le calcul a échoué : {exc}")
        return
    with write_session(engine) as session, acting_as(user_id):
        scenario = session.get(Scenario, scenario_id)
        if scenario is not None:
            store_results(session, scenario, result, now=utcnow())
