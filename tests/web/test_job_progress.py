"""A background task's progress on its page: « en file d'attente », « en cours 40 % », « prêt »
(with its file), « échec : … »; only the person who asked sees it; the ABS PDF is prepared by a
worker and downloaded from its task's page."""

from __future__ import annotations

import re
import time

from flask import render_template
from sqlalchemy import delete, select

from models import Task, User
from models.base import utcnow
from pilotis.database import write_session
from tests.conftest import csrf_token, demo_email


def prepared(client, url: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    """Ask for a document on its page (POST), follow its task's page as its refresh does until it
    is over, and download it: the file's response."""
    page = client.get(url)
    assert page.status_code == 200
    asked = client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert asked.status_code == 303, asked.status_code
    task_page = asked.headers["Location"]
    assert re.fullmatch(r"/taches/\d+", task_page)
    deadline = time.monotonic() + timeout
    while True:
        shown = client.get(task_page).get_data(as_text=True)
        if '<meta http-equiv="refresh"' not in shown:
            break
        assert "en file d&#39;attente" in shown or "en cours" in shown
        assert time.monotonic() < deadline, "the background task did not end"
        time.sleep(0.2)
    assert "prêt" in shown, shown[:2000]
    return client.get(f"{task_page}/fichier")


def test_a_tasks_progress_and_file_read_on_its_page_for_the_person_who_asked(app, engine, login_as):
    with write_session(engine) as session:
        direction = session.scalar(select(User).where(User.email == demo_email("direction")))
        now = utcnow()
        common = {
            "organisation_id": direction.organisation_id,
            "user_id": direction.id,
            "kind": "abs-pdf",
            "key": "essai-progression",
            "created_at": now,
        }
        running = Task(
            **common,
            state="running",
            progress=40,
            step="mise en page du PDF",
            worker="ailleurs:1:1",
            heartbeat_at=now,
            attempts=1,
        )
        ready = Task(
            **common,
            state="succeeded",
            progress=100,
            result=b"%PDF-essai",
            result_name="abs.pdf",
            result_type="application/pdf",
            finished_at=now,
        )
        failed = Task(**common, state="failed", error="rapport sans organisation", finished_at=now)
        session.add_all([running, ready, failed])
        session.flush()
        ids = running.id, ready.id, failed.id
    try:
        client = login_as("direction")
        page = client.get(f"/taches/{ids[0]}").get_data(as_text=True)
        assert (
            "en cours 40 %" in page
            and "mise en page du PDF" in page
            and '<progress max="100" value="40"' in page
        )
        assert '<meta http-equiv="refresh"' in page and "Annuler" in page
        page = client.get(f"/taches/{ids[1]}").get_data(as_text=True)
        assert "prêt" in page and f'href="/taches/{ids[1]}/fichier"' in page
        assert '<meta http-equiv="refresh"' not in page
        download = client.get(f"/taches/{ids[1]}/fichier")
        assert download.data == b"%PDF-essai" and download.mimetype == "application/pdf"
        assert 'filename="abs.pdf"' in download.headers["Content-Disposition"]
        assert "échec : rapport sans organisation" in client.get(f"/taches/{ids[2]}").get_data(as_text=True)
        assert client.get(f"/taches/{ids[2]}/fichier").status_code == 404
        # another person of the organisation does not see it
        assert login_as("finances").get(f"/taches/{ids[1]}/fichier").status_code == 403
        with app.test_request_context():
            queued = Task(state="queued", progress=0, step="", attempts=0, id=0)
            assert "en file d&#39;attente" in render_template("_task_progress.html", task=queued)
    finally:
        with write_session(engine) as session:
            session.execute(delete(Task).where(Task.id.in_(ids)))


def test_the_abs_pdf_is_prepared_by_a_worker_and_downloaded_when_ready(login_as):
    client = login_as("direction")
    pdf = prepared(client, "/abs/rapport.pdf?annee=2027")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and len(pdf.data) > 20_000
    assert 'filename="abs-2027-diagnostic.pdf"' in pdf.headers["Content-Disposition"]
    # the document's page now shows the file ready, with a button for an up-to-date one
    page = client.get("/abs/rapport.pdf?annee=2027").get_data(as_text=True)
    assert "prêt" in page and "Préparer une version à jour" in page
