"""What the worker does: the handlers of ``pilotis.worker`` that need the rest of the shell.

- ``scenario``: a budget scenario's solve (``pilotis.background``);
- ``abs-pdf`` and ``abs-docx``: the ABS report as a PDF (about 3 s of CPU) or a Word file, stored in
  the task for the page to download;
- ``scheduled``: one scheduled job for one organisation (``jobs.scheduler`` fans a job out into one
  task per organisation; the runner's guard rows still make each period run once).
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from models import Organisation
from pilotis import background
from pilotis.database import session_factory
from pilotis.worker import TaskContext, handler
from scorecard.errors import UserError

if TYPE_CHECKING:
    from flask import Flask

#: how far a scenario's solve is at each of its phases (services.scenarios.solve_problem)
SCENARIO_STEPS = {"construction du modèle": 10, "résolution par le solveur (HiGHS)": 40}


@handler("scenario")
def _scenario(ctx: TaskContext) -> None:
    def on_progress(text: str) -> None:
        ctx.progress(SCENARIO_STEPS.get(text, 80), text)

    ctx.progress(5, "construction du modèle")
    background.run_scenario(
        ctx.engine,
        int(ctx.args["scenario_id"]),
        user_id=ctx.user_id,
        time_limit=float(ctx.args.get("time_limit", 30.0)),
        on_progress=on_progress,
    )


_apps: dict[str, Flask] = {}
_apps_lock = threading.Lock()


def rendering_app(ctx: TaskContext) -> Flask:
    """An application of this process for the templates (never its database: the task's engine)."""
    from pilotis import create_app

    url = ctx.engine.url.render_as_string(hide_password=False)
    with _apps_lock:
        if url not in _apps:
            _apps[url] = create_app({"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32)})
        return _apps[url]


def abs_file_name(year: int, kind: str, theme: str | None, extension: str) -> str:
    if kind == "theme":
        return f"analyse-thematique-{year}-{theme}.{extension}"
    return f"abs-{year}-diagnostic.{extension}"


@handler("abs-pdf")
def _abs_pdf(ctx: TaskContext) -> None:
    _abs(ctx, "pdf")


@handler("abs-docx")
def _abs_docx(ctx: TaskContext) -> None:
    _abs(ctx, "docx")


def _abs(ctx: TaskContext, extension: str) -> None:
    from services.abs_calendar import abs_calendar
    from services.abs_report import ReportError, build_report
    from services.abs_word import DOCX_MIME, word_document

    year, kind = int(ctx.args["year"]), str(ctx.args.get("kind", "full"))
    theme = ctx.args.get("theme") or None
    if ctx.organisation_id is None:
        raise UserError("rapport sans organisation")
    app = rendering_app(ctx)
    ctx.progress(10, "lecture des données")
    with app.test_request_context("/abs"), session_factory(ctx.engine)() as session:
        try:
            report = build_report(session, ctx.organisation_id, year=year, kind=kind, theme=theme)
        except ReportError as exc:
            raise UserError(str(exc)) from exc
        if not ctx.args.get("with_texts"):
            report.texts = {}  # a partner's copy: the analysis is a draft until published (policy)
        calendar = abs_calendar(datetime.fromisoformat(str(ctx.args["today"])).date())
        if extension == "pdf":
            from views.report import pdf_bytes

            ctx.progress(40, "mise en page du PDF")
            content, mimetype = pdf_bytes(report, calendar=calendar), "application/pdf"
        else:
            ctx.progress(40, "écriture du document Word")
            content, mimetype = word_document(report, calendar=calendar), DOCX_MIME
    ctx.progress(95, "enregistrement du fichier")
    ctx.store(content, abs_file_name(year, kind, theme, extension), mimetype)


@handler("scheduled")
def _scheduled(ctx: TaskContext) -> None:
    from jobs.registry import BY_NAME, Context
    from jobs.runner import run_one
    from jobs.scheduler import close_grace_from_env, smtp_from_env

    spec = BY_NAME[str(ctx.args["job"])]
    job_ctx = Context(
        now=datetime.fromisoformat(str(ctx.args["now"])),
        packs_folder=Path(str(ctx.args["packs_folder"])),
        smtp=smtp_from_env(),
        close_grace=close_grace_from_env(),
    )
    with session_factory(ctx.engine)() as session:
        organisation = session.get(Organisation, ctx.organisation_id)
        if organisation is None:
            return  # deleted since the fan-out: nothing to do
        keys = spec.due(session, organisation, job_ctx)
    failed = []
    for done, key in enumerate(keys):
        outcome = run_one(ctx.engine, spec, organisation.id, key, job_ctx)
        if outcome.status == "failed":
            failed.append(f"{key} : {outcome.message}")
        ctx.progress(round(100 * (done + 1) / len(keys)), f"{spec.name} {key} : {outcome.status}")
    if failed:
        raise UserError(" ; ".join(failed))
