"""The audit journal: filterable, per object, and exported to Excel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from models import User
from pilotis.auth import require
from pilotis.web import db_session
from services.audit import ACTION_LABELS, TABLE_LABELS, JournalFilter, field_label, journal, readable
from services.exports import workbook_bytes
from services.policy import Action

bp = Blueprint("journal", __name__, url_prefix="/journal")
PAGE = 100


def _date(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _criteria(organisation_id: int) -> tuple[JournalFilter, list[str]]:
    errors = []
    table = request.args.get("table") or None
    if table and table not in TABLE_LABELS:
        errors.append(f"Type de fiche inconnu : « {table} ».")
        table = None
    user_id = request.args.get("user", type=int)
    start, end = _date("du"), _date("au")
    for name in ("du", "au"):
        if request.args.get(name) and _date(name) is None:
            errors.append(f"Date « {request.args.get(name)} » invalide : attendu AAAA-MM-JJ.")
    return (
        JournalFilter(
            organisation_id=organisation_id,
            table_name=table,
            row_id=request.args.get("fiche") or None,
            user_id=user_id,
            start=start,
            end=end + timedelta(days=1) if end else None,
        ),
        errors,
    )


@bp.get("/")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW_AUDIT)
    criteria, errors = _criteria(who.organisation_id)
    page = max(1, request.args.get("page", 1, type=int))
    lines = journal(db_session(), criteria, limit=PAGE + 1, offset=(page - 1) * PAGE)
    users = db_session().scalars(
        select(User).where(User.organisation_id == who.organisation_id).order_by(User.full_name)
    )
    return render_template(
        "journal/index.html",
        lines=lines[:PAGE],
        has_next=len(lines) > PAGE,
        page=page,
        criteria=criteria,
        errors=errors,
        users=list(users),
        tables=TABLE_LABELS,
        actions=ACTION_LABELS,
        field_label=field_label,
        readable=readable,
    )


@bp.get("/export.xlsx")
def export() -> ResponseReturnValue:
    who = require(Action.VIEW_AUDIT)
    require(Action.EXPORT)
    criteria, _ = _criteria(who.organisation_id)
    lines = journal(db_session(), criteria, limit=None)
    content = workbook_bytes(
        "Journal",
        [
            "Date (UTC)",
            "Personne",
            "Action",
            "Fiche",
            "Identifiant",
            "Champ",
            "Ancienne valeur",
            "Nouvelle valeur",
        ],
        (
            [
                line.occurred_at,
                line.user,
                ACTION_LABELS.get(line.action, line.action),
                TABLE_LABELS.get(line.table_name, line.table_name),
                line.row_id,
                field_label(line.field) if line.field else "",
                readable(line.old_value) if line.old_value is not None else "",
                readable(line.new_value) if line.new_value is not None else "",
            ]
            for line in lines
        ),
        [20, 32, 14, 22, 12, 20, 40, 40],
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="journal-{stamp}.xlsx"'},
    )
