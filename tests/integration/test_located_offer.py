"""The located offer on the demo, and today's problem written from the database.

The demo delivers its social grocery in two quarters and its RSA support mostly in the priority
districts, so the coherence page shows under-served quarters; ``pilotis scenario problem`` writes
the same coverage into the problem file, without creating a scenario.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Activity, ActivityDelivery, Scenario
from optimizer import evaluate
from services.coherence import build_coherence
from services.problem_files import read_problem_file


def _rsa_rates(session: Session, organisation_id: int) -> dict[str, float]:
    view = build_coherence(session, organisation_id)
    return {
        line.code: line.coverage_rate
        for line in view.needs
        if line.code.startswith("RSA_") and line.coverage_rate is not None
    }


def test_the_demo_offer_is_located_and_the_quarters_differ(db_session: Session, demo: Any) -> None:
    grocery = db_session.scalar(
        select(Activity).where(
            Activity.organisation_id == demo.organisation_id, Activity.code == "A_EPICERIE"
        )
    )
    assert grocery is not None
    where = db_session.scalars(
        select(ActivityDelivery).where(ActivityDelivery.activity_id == grocery.id)
    ).all()
    assert len(where) == 2 and sum(d.share for d in where) == pytest.approx(1.0)
    rates = _rsa_rates(db_session, demo.organisation_id)
    assert len(rates) >= 15
    # the priority districts, where RSA support is delivered, are better covered than the rest
    assert max(rates.values()) - min(rates.values()) > 0.2
    assert rates["RSA_110690902"] > rates["RSA_110690703"]  # Saint-Jacques-Le Viguier vs Cavayères


def test_todays_problem_is_written_without_a_scenario(
    db_session: Session, demo: Any, runner: Any, tmp_path: Path
) -> None:
    before = db_session.scalar(select(func.count()).select_from(Scenario))
    path = tmp_path / "aujourdhui.json"
    result = runner.invoke(
        args=["scenario", "problem", "--organisation", demo.slug, "--year", "2027", "-o", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "pilotis optimize" in result.output
    assert db_session.scalar(select(func.count()).select_from(Scenario)) == before

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["year"] == 2027 and data["deliveries"] and data["territories"]
    problem = read_problem_file(path)  # read back and checked as any outside file would be
    today = evaluate(problem, {a.code: a.current_volume for a in problem.activities})
    view = build_coherence(db_session, demo.organisation_id)
    by_code = {line.code: line for line in view.needs}
    for need in problem.needs:
        line = by_code[need.code]
        assert need.current_covered == pytest.approx(line.covered, rel=1e-9)
        assert today.covered[need.code] == pytest.approx(line.covered, rel=1e-9)


def test_todays_problem_to_the_screen_and_an_unknown_organisation(runner: Any, demo: Any) -> None:
    shown = runner.invoke(args=["scenario", "problem", "--organisation", demo.slug, "--year", "2027"])
    assert shown.exit_code == 0 and json.loads(shown.output)["format"]
    refused = runner.invoke(args=["scenario", "problem", "--organisation", "nulle-part", "--year", "2027"])
    assert refused.exit_code != 0 and "organisation « nulle-part » inconnue" in refused.output


def test_an_archived_activity_is_not_in_todays_offer(db_session: Session, demo: Any) -> None:
    from models.base import utcnow
    from services.scenarios import current_problem

    grocery = db_session.scalar(
        select(Activity).where(
            Activity.organisation_id == demo.organisation_id, Activity.code == "A_EPICERIE"
        )
    )
    assert grocery is not None
    assert "A_EPICERIE" in {a.code for a in current_problem(db_session, demo.organisation_id).activities}
    grocery.archived_at = utcnow()
    db_session.flush()
    problem = current_problem(db_session, demo.organisation_id)
    assert "A_EPICERIE" not in {a.code for a in problem.activities}
    assert all(c.activity != "A_EPICERIE" for c in problem.coverages)
    assert all(d.activity != "A_EPICERIE" for d in problem.deliveries)
    assert evaluate(problem, {a.code: a.current_volume for a in problem.activities}).total_cost > 0


def test_an_archived_activity_is_not_in_the_coherence(db_session: Session, demo: Any) -> None:
    from models.base import utcnow

    before = {line.code: line.offered for line in build_coherence(db_session, demo.organisation_id).needs}
    grocery = db_session.scalar(
        select(Activity).where(
            Activity.organisation_id == demo.organisation_id, Activity.code == "A_EPICERIE"
        )
    )
    assert grocery is not None
    grocery.archived_at = utcnow()
    db_session.flush()
    after = {line.code: line.offered for line in build_coherence(db_session, demo.organisation_id).needs}
    assert after["MONOPARENTS"] is not None and before["MONOPARENTS"] is not None
    assert after["MONOPARENTS"] < before["MONOPARENTS"]  # the grocery no longer feeds single parents
