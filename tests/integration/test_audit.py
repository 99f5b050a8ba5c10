"""The audit trail is written in the same transaction as the change, field by field."""

from __future__ import annotations

import json

from sqlalchemy import select

from models import AuditEntry, Role
from models.base import utcnow
from pilotis.database import session_factory
from services import accounts
from services.audit import acting_as
from tests.integration import factories as f


def _entries(session, table, row_id):
    """The journal of the row's current life: from its last insert (SQLite gives a deleted row's id to
    the next row, and other tests, in any order, leave their rows' entries behind)."""
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == table, AuditEntry.row_id == str(row_id))
        .order_by(AuditEntry.id)
    ).all()
    inserts = [i for i, e in enumerate(entries) if e.action == "insert"]
    return entries[inserts[-1] :] if inserts else entries


def test_insert_update_delete_are_recorded_with_who_and_values(engine, db_session):
    factory = session_factory(engine, write=True)
    with factory() as session:
        with acting_as(None):
            org = f.organisation(session)
            service = f.service(session, org, name="Épicerie")
            editor = accounts.create_user(
                session,
                organisation=org,
                email=f"editeur-{org.id}@example.org",
                full_name="Éditrice",
                role=Role.DIRECTION,
                services=[],
                password="une longue phrase secrète",
                now=utcnow(),
            )
        with acting_as(editor.id):
            service.name = "Épicerie solidaire"
            session.flush()
        entries = _entries(session, "services", service.id)
        assert [e.action for e in entries] == ["insert", "update"]
        insert, update = entries
        assert json.loads(insert.new_value)["name"] == "Épicerie"
        assert (update.field, update.old_value, update.new_value) == (
            "name",
            "Épicerie",
            "Épicerie solidaire",
        )
        assert update.user_id == editor.id and insert.user_id is None
        assert update.organisation_id == org.id
        assert update.occurred_at.utcoffset().total_seconds() == 0
        session.delete(service)
        session.flush()
        assert _entries(session, "services", service.id)[-1].action == "delete"
        session.rollback()  # the change is undone: so is its trail
    with factory() as session:
        assert _entries(session, "services", service.id) == []


def test_secrets_are_masked_and_link_changes_listed(engine):
    factory = session_factory(engine, write=True)
    with factory() as session:
        org = f.organisation(session)
        s1, s2 = f.service(session, org), f.service(session, org)
        user = accounts.create_user(
            session,
            organisation=org,
            email=f"audit-{org.id}@example.org",
            full_name="Audit Test",
            role=Role.SERVICE_MANAGER,
            services=[s1],
            password="une longue phrase secrète",
            now=utcnow(),
        )
        accounts.set_password(user, "une autre phrase bien longue", now=utcnow())
        user.services = [s1, s2]
        session.flush()
        updates = {e.field: e for e in _entries(session, "users", user.id) if e.action == "update"}
        assert updates["password_hash"].new_value == "••••••"
        assert "scrypt" not in (updates["password_hash"].old_value or "")
        assert json.loads(updates["services"].new_value) == sorted([s1.id, s2.id])
        created = _entries(session, "users", user.id)[0]
        assert "scrypt" not in created.new_value
        session.rollback()


def test_link_rows_are_journaled_under_their_organisation(engine):
    factory = session_factory(engine, write=True)
    with factory() as session:
        org = f.organisation(session)
        activity, need = f.activity(session, org), f.need(session, org)
        from models import ActivityNeedCoverage

        session.add(ActivityNeedCoverage(activity_id=activity.id, need_id=need.id, coefficient=0.5))
        session.flush()
        entry = _entries(session, "activity_need_coverages", f"{activity.id}/{need.id}")[0]
        assert entry.organisation_id == org.id
        session.rollback()


def test_sign_in_bookkeeping_is_not_journaled(engine):
    factory = session_factory(engine, write=True)
    with factory() as session:
        org = f.organisation(session)
        user = accounts.create_user(
            session,
            organisation=org,
            email=f"compteur-{org.id}@example.org",
            full_name="Compteur",
            role=Role.READER,
            services=[],
            password="une longue phrase secrète",
            now=utcnow(),
        )
        before = len(_entries(session, "users", user.id))
        result = accounts.sign_in(
            session, user.email, "une longue phrase secrète", address="10.0.0.1", now=utcnow()
        )
        assert result.user is user
        assert len(_entries(session, "users", user.id)) == before
        session.rollback()
