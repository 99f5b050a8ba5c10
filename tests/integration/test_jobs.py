"""Scheduled jobs: frozen reviews, reminders, guard rows, failures, and several processes at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from jobs import runner
from jobs.registry import BY_NAME, Context, JobSpec
from models import JobRun, Measurement, Notification, Organisation, Period, Review
from pilotis.database import write_session
from services.reviews import owed_values

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(now=NOW, packs_folder=tmp_path / "packs")


@pytest.fixture
def clean_runs(engine):
    yield
    with write_session(engine) as session:
        session.execute(delete(JobRun))


def test_close_period_freezes_a_review_that_later_edits_do_not_change(engine, demo, ctx, clean_runs):
    outcome = runner.run_one(engine, BY_NAME["close-period"], demo.organisation_id, "2025-T4", ctx)
    assert outcome.status == "succeeded"
    with write_session(engine) as session:
        period = session.scalar(
            select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == "2025-T4")
        )
        review = session.scalar(select(Review).where(Review.period_id == period.id))
        frozen = review.snapshot
        assert frozen["period"] == "2025-T4" and frozen["indicators"] == 49
        measurement = session.scalar(select(Measurement).where(Measurement.period_id == period.id).limit(1))
        measurement.value = (measurement.value or 0) + 1000  # an edit after the review
        review_id = review.id
    assert (
        runner.run_one(engine, BY_NAME["close-period"], demo.organisation_id, "2025-T4", ctx).status
        == "skipped"
    )
    pack = runner.run_one(engine, BY_NAME["review-pack"], demo.organisation_id, "2025-T4", ctx)
    assert pack.status == "succeeded"
    with write_session(engine) as session:
        review = session.get(Review, review_id)
        assert review.snapshot == frozen  # unchanged by the edit
        assert Path(review.pack_path).exists()
        measurement = session.scalar(
            select(Measurement).where(Measurement.period_id == review.period_id).limit(1)
        )
        measurement.value -= 1000
        session.delete(review)


def test_reminders_list_exactly_the_missing_values(engine, demo, ctx, clean_runs):
    with write_session(engine) as session:
        owed = {o.user.email: o.lines for o in owed_values(session, demo.organisation_id, "2026-10")}
        seniors = owed["responsable.seniors@carcassonne.pilotis.example"]
        expected = sorted(
            f"{label} (Pôle seniors et maintien à domicile)"
            for (label,) in session.execute(text(
                "SELECT i.label FROM indicators i JOIN services s ON s.id = i.service_id "
                "WHERE s.code = 'SENIORS' AND s.organisation_id = :org AND i.frequency = 'monthly' AND i.formula IS NULL"
            ), {"org": demo.organisation_id})
        )  # fmt: skip
        assert sorted(seniors) == expected and len(seniors) == 6
        before = session.scalar(select(func.count()).select_from(Notification))
    outcome = runner.run_one(engine, BY_NAME["reminders"], demo.organisation_id, "2026-10/après", ctx)
    assert outcome.status == "succeeded" and outcome.message == "2 rappel(s) envoyé(s)"
    with write_session(engine) as session:
        notes = session.scalars(select(Notification).order_by(Notification.id.desc()).limit(2)).all()
        assert session.scalar(select(func.count()).select_from(Notification)) == before + 2
        body = next(n.body for n in notes if "Repas livrés" in n.body)
        assert all(f"- {line}" in body for line in seniors)
        session.execute(delete(Notification).where(Notification.id.in_([n.id for n in notes])))


def test_a_failing_job_is_recorded_and_does_not_stop_the_others(engine, demo, ctx, clean_runs):
    def boom(session, organisation, key, ctx):
        raise RuntimeError("panne simulée")

    failing = JobSpec("test-failing", "Échec", {"minute": 0}, lambda s, o, c: ["k"], boom)
    assert runner.run_one(engine, failing, demo.organisation_id, "k", ctx).status == "failed"
    with write_session(engine) as session:
        run = session.scalar(select(JobRun).where(JobRun.job_name == "test-failing"))
        assert run.status == "failed" and "panne simulée" in run.error
    # the next tick takes the failed run over and retries it
    fixed = JobSpec("test-failing", "Réparée", {"minute": 0}, lambda s, o, c: ["k"], lambda s, o, k, c: "ok")
    assert runner.run_one(engine, fixed, demo.organisation_id, "k", ctx).status == "succeeded"
    assert (
        runner.run_one(engine, BY_NAME["freshness"], demo.organisation_id, "2026-11", ctx).status
        == "succeeded"
    )


def test_a_run_left_running_by_a_dead_process_is_taken_over_once(engine, demo, ctx, clean_runs):
    with write_session(engine) as session:
        slug = session.get(Organisation, demo.organisation_id).slug
        session.add(JobRun(job_name="test-stale", period_key=f"{slug}:k", status="running",
                           started_at=NOW - timedelta(hours=2)))  # fmt: skip
    spec = JobSpec("test-stale", "Reprise", {"minute": 0}, lambda s, o, c: ["k"], lambda s, o, k, c: "repris")
    assert runner.run_one(engine, spec, demo.organisation_id, "k", ctx).status == "succeeded"
    assert runner.run_one(engine, spec, demo.organisation_id, "k", ctx).status == "skipped"


WORKER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import datetime, UTC
    from pathlib import Path
    from sqlalchemy import text
    from jobs import runner
    from jobs.registry import Context, JobSpec
    from pilotis.database import make_engine

    url, organisation_id, keys, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), float(sys.argv[4])
    if len(sys.argv) > 5:
        runner.STALE_AFTER = __import__("datetime").timedelta(seconds=0)
    engine = make_engine(url)

    def work(session, organisation, key, ctx):
        session.execute(text("INSERT INTO job_effects (job_key, pid) VALUES (:k, :p)"), {"k": key, "p": os.getpid()})
        session.flush()
        time.sleep(pause)
        return "fait"

    spec = JobSpec("test-race", "Course", {"minute": 0}, lambda s, o, c: keys, work)
    for key in keys:
        runner.run_one(engine, spec, organisation_id, key, Context(now=datetime.now(UTC), packs_folder=Path(".")))
    engine.dispose()
    """
)


def test_several_schedulers_and_a_killed_one_run_each_job_once_per_period(
    engine, demo, database_url, tmp_path, clean_runs
):
    with write_session(engine) as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS job_effects (job_key VARCHAR(32), pid INTEGER)"))
        session.execute(text("DELETE FROM job_effects"))
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    keys = ",".join(f"P{i:02d}" for i in range(24))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, str(script), database_url, str(demo.organisation_id), keys]
    workers = [subprocess.Popen([*command, "0.05"], env=env) for _ in range(3)]
    victim = subprocess.Popen([*command, "5"], env=env)  # slow: killed in the middle of a run
    time.sleep(2.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    # a restarted scheduler takes over what the killed one left "running"
    restart = subprocess.run([*command, "0", "take-over"], env=env, timeout=120, check=False)
    assert restart.returncode == 0
    with write_session(engine) as session:
        runs = session.execute(
            select(JobRun.period_key, JobRun.status).where(JobRun.job_name == "test-race")
        ).all()
        effects = session.execute(text("SELECT job_key, COUNT(*) FROM job_effects GROUP BY job_key")).all()
        session.execute(text("DROP TABLE job_effects"))
    assert len(runs) == 24 and {status for _, status in runs} == {"succeeded"}
    assert sorted(k for k, _ in effects) == sorted(keys.split(","))
    assert all(count == 1 for _, count in effects)  # each period's work done, and committed, exactly once


def test_close_grace_per_frequency_and_coverage_drops(engine, db_session, demo):
    from models import Indicator, MeasurementState
    from services.coherence import COVERAGE_SOURCE, publish_coverage_indicators
    from services.reviews import coverage_drops, due_closures

    grace = {"month": timedelta(days=10), "quarter": timedelta(days=15), "year": timedelta(days=30)}
    due = due_closures(db_session, demo.organisation_id, now=datetime(2026, 10, 10, tzinfo=UTC), grace=grace)
    assert "2026-09" not in due and "2026-T3" not in due  # ended 30/09: 10 and 15 days have not passed
    due = due_closures(db_session, demo.organisation_id, now=datetime(2026, 10, 16, tzinfo=UTC), grace=grace)
    assert {"2026-09", "2026-T3"} <= set(due) and "2026" not in due
    publish_coverage_indicators(db_session, demo.organisation_id, year=2024)
    publish_coverage_indicators(db_session, demo.organisation_id, year=2025)
    assert coverage_drops(db_session, demo.organisation_id) == []
    indicator = db_session.scalar(select(Indicator).where(Indicator.organisation_id == demo.organisation_id,
                                                          Indicator.source == COVERAGE_SOURCE).limit(1))  # fmt: skip
    latest = db_session.scalar(select(Measurement).join(Period).where(Measurement.indicator_id == indicator.id,
                                                                      Period.key == "2025"))  # fmt: skip
    latest.value -= 5
    assert latest.state is MeasurementState.VALIDATED
    assert [label for label, _, _ in coverage_drops(db_session, demo.organisation_id)] == [indicator.label]


def test_an_interrupted_run_reads_as_such():
    run = JobRun(job_name="x", period_key="k", status="running", started_at=NOW - timedelta(hours=1))
    assert runner.status_text(run, NOW) == "interrompue (sera reprise)"
    run.started_at = NOW
    assert runner.status_text(run, NOW) == "en cours"


def test_close_surveys_closes_an_open_survey_past_its_day_once_and_tells_the_direction(
    engine, demo, ctx, clean_runs
):
    from datetime import date

    from models import Survey
    from services.surveys import QuestionInput, SurveyInput, add_question, create_survey, publish

    with write_session(engine) as session:
        survey = create_survey(
            session, demo.organisation_id, "Démo",
            SurveyInput(title="Tâche : enquête à clore", kind="needs", closes_on=date(2026, 11, 30)), user_id=None,
        )  # fmt: skip
        add_question(session, survey, QuestionInput(text="Votre avis", kind="text"))
        publish(session, survey, now=NOW)
        survey_id = survey.id
    job = BY_NAME["close-surveys"]
    # 0 h 30 in Paris on 1 December is still 30 November in UTC: the French day decides
    later = Context(now=datetime(2026, 11, 30, 23, 30, tzinfo=UTC), packs_folder=ctx.packs_folder)
    try:
        with write_session(engine) as session:
            org = session.get(Organisation, demo.organisation_id)
            assert job.due(session, org, ctx) == []  # the closing day has not passed yet
            assert job.due(session, org, later) == [f"enquete-{survey_id}-2026-11-30"]
        key = f"enquete-{survey_id}-2026-11-30"
        outcome = runner.run_one(engine, job, demo.organisation_id, key, later)
        assert outcome.status == "succeeded", outcome
        again = runner.run_one(engine, job, demo.organisation_id, key, later)
        assert again.status == "skipped"  # the guard row: once per survey
        with write_session(engine) as session:
            closed = session.get(Survey, survey_id)
            assert closed.state == "closed" and closed.closed_at == later.now
            notes = session.scalars(
                select(Notification.title).where(
                    Notification.title == "Enquête close : Tâche : enquête à clore"
                )
            ).all()
            assert len(notes) >= 1  # the direction is told
    finally:
        with write_session(engine) as session:
            session.execute(delete(Notification).where(Notification.title.like("Enquête close : Tâche%")))
            session.execute(delete(Survey).where(Survey.id == survey_id))
