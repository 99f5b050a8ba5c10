"""The organisation's model workbook: out, back in unchanged (nothing written), a changed volume
(one audited change), and refusals located with nothing written."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Activity, AuditEntry, Organisation, Role
from models.base import utcnow
from services.org_model import import_model, model_workbook
from services.policy import Principal


def _direction(org: Organisation) -> Principal:
    return Principal(user_id=0, organisation_id=org.id, role=Role.DIRECTION, service_ids=frozenset())


def _edited(content: bytes, sheet: str, code: str, header: str, value: Any) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(content))
    ws = book[sheet]
    headers = [c.value for c in ws[1]]
    column = headers.index(header) + 1
    for row in ws.iter_rows(min_row=2):
        if row[0].value == code:
            row[column - 1].value = value
            break
    else:
        raise AssertionError(f"{code} absent de la feuille {sheet}")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_unchanged_workbook_changes_nothing(db_session: Session, demo: Any) -> None:
    org = db_session.get(Organisation, demo.organisation_id)
    assert org is not None
    content = model_workbook(db_session, org, now=utcnow())
    before = _audit_count(db_session)
    report = import_model(db_session, _direction(org), content, now=utcnow())
    assert not report.errors
    assert not report.changed
    db_session.flush()
    assert _audit_count(db_session) == before


def test_changed_volume_is_written_and_audited(db_session: Session, demo: Any) -> None:
    org = db_session.get(Organisation, demo.organisation_id)
    assert org is not None
    content = _edited(
        model_workbook(db_session, org, now=utcnow()), "Activités", "A_AIDES_FAC", "Volume annuel", 640
    )
    report = import_model(db_session, _direction(org), content, now=utcnow())
    assert not report.errors, [str(e) for e in report.errors]
    assert sum(report.changes["Activités"].values()) == 1
    assert [sheet for sheet, counts in report.changes.items() if sum(counts.values())] == ["Activités"]
    db_session.flush()
    activity = db_session.scalars(
        select(Activity).where(Activity.organisation_id == org.id, Activity.code == "A_AIDES_FAC")
    ).one()
    assert activity.volume == 640
    entries = db_session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == "activities", AuditEntry.row_id == str(activity.id))
    ).all()
    assert any(e.field == "volume" for e in entries)


def test_unknown_service_is_refused_where_it_is_and_nothing_is_written(
    db_session: Session, demo: Any
) -> None:
    org = db_session.get(Organisation, demo.organisation_id)
    assert org is not None
    content = model_workbook(db_session, org, now=utcnow())
    content = _edited(content, "Activités", "A_AIDES_FAC", "Volume annuel", 700)
    content = _edited(content, "Activités", "A_AIDES_FAC", "Code service", "INCONNU")
    report = import_model(db_session, _direction(org), content, now=utcnow())
    assert report.errors
    assert any(e.sheet == "Activités" and "INCONNU" in str(e) for e in report.errors)
    db_session.flush()
    volume = db_session.scalar(
        select(Activity.volume).where(Activity.organisation_id == org.id, Activity.code == "A_AIDES_FAC")
    )
    assert volume == 600


def test_cli_round_trip(runner: Any, demo: Any, tmp_path: Any) -> None:
    path = tmp_path / "modele.xlsx"
    result = runner.invoke(args=["model", "export", "--organisation", demo.slug, "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 0
    result = runner.invoke(args=["model", "import", "--organisation", demo.slug, str(path)])
    assert result.exit_code == 0, result.output
    assert "Aucun changement" in result.output


def test_an_activity_delivered_partly_round_trips_and_more_than_all_is_refused(
    db_session: Session, demo: Any
) -> None:
    """The page allows an activity delivered at 85 % in one quarter (the rest undelivered): its own
    exported workbook must import back unchanged; 120 % is refused where it is."""
    org = db_session.get(Organisation, demo.organisation_id)
    assert org is not None
    content = model_workbook(db_session, org, now=utcnow())
    book = openpyxl.load_workbook(io.BytesIO(content))
    sheet = book["Territoires desservis"]
    headers = [c.value for c in sheet[1]]
    share = headers.index("Part (%)")
    grocery = [row for row in sheet.iter_rows(min_row=2) if row[0].value == "A_EPICERIE"]
    assert len(grocery) == 2
    grocery[0][share].value = 35  # 35 % + the other quarter's 52 %: under 100 %
    out = io.BytesIO()
    book.save(out)
    partly = import_model(db_session, _direction(org), out.getvalue(), now=utcnow())
    assert not partly.errors, partly.errors
    grocery[0][share].value = 95  # now over 100 %
    out = io.BytesIO()
    book.save(out)
    refused = import_model(db_session, _direction(org), out.getvalue(), now=utcnow())
    assert any("plus que 100 %" in str(e) for e in refused.errors), refused.errors
