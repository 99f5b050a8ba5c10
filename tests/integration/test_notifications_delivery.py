"""E-mails: those queued before SMTP was configured leave the outbox once it is; bodies link to their page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import select

from models import Notification, User
from services import notifications as N

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class FakeSmtp:
    sent: ClassVar[list] = []

    def __init__(self, host, port, timeout):
        self.host = host

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self):
        """The fake server accepts the upgrade: nothing to do."""

    def login(self, user, password):
        """The fake server accepts any credentials: nothing to check."""

    def send_message(self, message):
        FakeSmtp.sent.append(message)


def test_mails_queued_without_smtp_are_sent_once_it_is_configured(db_session, demo, monkeypatch):
    """Bug: a mail moved to the outbox while no server was configured was never sent afterwards."""
    user = db_session.scalar(select(User).where(User.email == "direction@carcassonne.pilotis.example"))
    N.notify(
        db_session,
        [user],
        kind="alert",
        title="Au rouge : repas livrés",
        body="Repas livrés : 3 100 repas.",
        link="/indicateurs/7",
        now=NOW,
    )
    note = db_session.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc())
    ).first()
    assert N.deliver_emails(db_session, None, now=NOW)["outbox"] >= 1
    assert note.email_status == "outbox"
    FakeSmtp.sent = []
    monkeypatch.setattr(N.smtplib, "SMTP", FakeSmtp)
    counts = N.deliver_emails(
        db_session, N.SmtpSettings(host="smtp.example", base_url="https://pilotis.example.fr/"), now=NOW
    )
    assert counts["sent"] >= 1 and note.email_status == "sent" and note.emailed_at is not None
    mine = [m for m in FakeSmtp.sent if m["Subject"] == "[Pilotis] Au rouge : repas livrés"]
    assert len(mine) == 1
    assert "Voir dans Pilotis : https://pilotis.example.fr/indicateurs/7" in mine[0].get_content()
    assert N.deliver_emails(db_session, N.SmtpSettings(host="smtp.example"), now=NOW)["sent"] == 0  # once


def test_the_scheduler_reads_the_base_address_and_starttls(monkeypatch):
    from jobs.scheduler import smtp_from_env

    monkeypatch.setenv("PILOTIS_SMTP_HOST", "smtp.example")
    monkeypatch.setenv("PILOTIS_SMTP_STARTTLS", "0")
    monkeypatch.setenv("PILOTIS_BASE_URL", "https://pilotis.example.fr")
    smtp = smtp_from_env()
    assert smtp is not None and smtp.starttls is False and smtp.base_url == "https://pilotis.example.fr"
