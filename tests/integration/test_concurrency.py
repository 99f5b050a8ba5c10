"""8 threads x 50 read-modify-write edits of one shared row: 0 lost updates (RELIABILITY.md).

Each edit reads the row in one transaction (a form being displayed), then writes it in another
with the version it read, as the web pages and the API do. A stale edit is refused and retried.
"""

from __future__ import annotations

import threading

from sqlalchemy import select, text

from models import Activity
from pilotis.database import session_factory
from services.editing import StaleEdit, apply_edit
from tests.integration import factories as f


def test_no_update_is_lost_under_concurrent_edits(engine):
    writer = session_factory(engine, write=True)
    reader = session_factory(engine)
    with writer() as setup:
        org = f.organisation(setup)
        activity = f.activity(setup, org, volume=0.0)
        setup.commit()
        activity_id, org_id, service_id = activity.id, org.id, activity.service_id
    conflicts, errors = [0], []
    lock = threading.Lock()

    def edit_50_times() -> None:
        try:
            for _ in range(50):
                while True:
                    with reader() as read:
                        volume, version = read.execute(
                            select(Activity.volume, Activity.version).where(Activity.id == activity_id)
                        ).one()
                    with writer() as write:
                        row = write.get(Activity, activity_id)
                        try:
                            apply_edit(write, row, version, {"volume": volume + 1})
                            write.commit()
                            break
                        except StaleEdit:
                            write.rollback()
                            with lock:
                                conflicts[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=edit_50_times) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with reader() as check:
            volume, version = check.execute(
                select(Activity.volume, Activity.version).where(Activity.id == activity_id)
            ).one()
        assert volume == 400  # 8 x 50, none lost
        assert version == 401
        assert conflicts[0] > 0  # the edits really raced, and the stale ones were refused
    finally:
        with writer() as cleanup:
            cleanup.execute(text("DELETE FROM activities WHERE id = :id"), {"id": activity_id})
            cleanup.execute(text("DELETE FROM services WHERE id = :id"), {"id": service_id})
            cleanup.execute(text("DELETE FROM audit_entries WHERE organisation_id = :id"), {"id": org_id})
            cleanup.execute(text("DELETE FROM organisations WHERE id = :id"), {"id": org_id})
            cleanup.commit()
