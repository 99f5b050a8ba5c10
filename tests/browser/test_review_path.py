"""The periodic review in Chromium: a period closed by the job, its review page and pack."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import delete, select

from jobs.registry import BY_NAME, Context
from jobs.runner import run_one
from models import JobRun, Period, Review
from models.base import utcnow
from pilotis.database import write_session
from tests.browser.conftest import axe_violations, describe, nav_link, sign_in


def test_a_closed_period_has_its_review_page_and_pack(live_server, page, engine, demo, tmp_path: Path):
    outcome = run_one(engine, BY_NAME["close-period"], demo.organisation_id, "2026-T2",
                      Context(now=utcnow(), packs_folder=tmp_path))  # fmt: skip
    assert outcome.status == "succeeded"
    try:
        sign_in(page, live_server, "elu")
        nav_link(page, "Revues").click()
        page.get_by_role("link", name="Revue de la période 2026-T2").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Revue de la période 2026-T2"
        table = page.get_by_role("table", name="Valeur et statut de chaque indicateur", exact=False)
        assert "Repas livrés à domicile" in table.inner_text()
        assert axe_violations(page) == [], describe(axe_violations(page))
        with page.expect_download() as download:
            page.get_by_role("link", name="Dossier de revue (Excel)").click()
        book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert "Revue de la période 2026-T2" in book.active["A1"].value
        page.goto(live_server + "/notifications")
        assert "Revue 2026-T2 figée" in page.get_by_role("main").inner_text()
        assert axe_violations(page) == []
    finally:
        with write_session(engine) as session:
            period = session.scalar(
                select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == "2026-T2")
            )
            session.execute(delete(Review).where(Review.period_id == period.id))
            session.execute(delete(JobRun))
