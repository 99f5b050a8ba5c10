"""Notifications: in the app (a bell and a page), and by e-mail when an SMTP server is configured.

Without an SMTP server, e-mails wait in the outbox (``email_status = 'outbox'``), visible to the
administrator, and leave it at the first delivery once a server is configured. Each user chooses,
per kind, in-app and e-mail delivery. A mail ends with the address of the page it speaks of
(``PILOTIS_BASE_URL`` + the notification's link) when the base address is configured.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Notification, NotificationPreference, User

KIND_LABELS = {
    "reminder": "Rappels de saisie",
    "alert": "Alertes (indicateur au rouge)",
    "review": "Revues de période",
    "freshness": "Fraîcheur des données",
}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "pilotis@localhost"
    starttls: bool = True
    #: The address people open Pilotis at (``https://pilotis.example.fr``): links in mails.
    base_url: str | None = None


def mail_body(note: Notification, base_url: str | None) -> str:
    """The notification's text, then the address of its page (absolute when ``base_url`` is known)."""
    if not note.link:
        return note.body
    address = f"{base_url.rstrip('/')}{note.link}" if base_url else note.link
    return f"{note.body}\n\nVoir dans Pilotis : {address}\n"


def preferences(session: Session, user_id: int) -> dict[str, tuple[bool, bool]]:
    """(in-app, e-mail) wanted for each kind; both by default."""
    found = {p.kind: (p.in_app, p.email) for p in session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id))}  # fmt: skip
    return {kind: found.get(kind, (True, True)) for kind in KIND_LABELS}


def set_preferences(session: Session, user_id: int, wanted: dict[str, tuple[bool, bool]]) -> None:
    for kind, (in_app, email) in wanted.items():
        if kind not in KIND_LABELS:
            raise ValueError(f"type de notification inconnu : {kind}")
        row = session.get(NotificationPreference, (user_id, kind)) or NotificationPreference(
            user_id=user_id, kind=kind
        )
        row.in_app, row.email = in_app, email
        session.add(row)
    session.flush()


def notify(
    session: Session,
    users: Iterable[User],
    *,
    kind: str,
    title: str,
    body: str,
    link: str | None,
    now: datetime,
) -> int:
    """One notification per user who wants this kind (in the app, by e-mail, or both)."""
    sent = 0
    for user in {u.id: u for u in users if u.is_active}.values():
        in_app, email = preferences(session, user.id)[kind]
        if not (in_app or email):
            continue
        session.add(Notification(
            organisation_id=user.organisation_id, user_id=user.id, kind=kind, title=title[:300], body=body,
            link=link, created_at=now, read_at=None if in_app else now, email_status="pending" if email else "none",
        ))  # fmt: skip
        sent += 1
    session.flush()
    return sent


def unread_count(session: Session, user_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)  # fmt: skip


def deliver_emails(session: Session, smtp: SmtpSettings | None, *, now: datetime) -> dict[str, int]:
    """Send the pending e-mails (and those waiting in the outbox), or move them to the outbox when
    no SMTP server is configured."""
    counts = {"sent": 0, "outbox": 0, "failed": 0}
    waiting = ("pending",) if smtp is None else ("pending", "outbox")
    pending = session.scalars(
        select(Notification).where(Notification.email_status.in_(waiting)).order_by(Notification.id)
    ).all()
    if not pending:
        return counts
    if smtp is None:
        for note in pending:
            note.email_status = "outbox"
            counts["outbox"] += 1
        session.flush()
        return counts
    with smtplib.SMTP(smtp.host, smtp.port, timeout=20) as server:
        if smtp.starttls:
            server.starttls()
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        for note in pending:
            user = session.get(User, note.user_id)
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = (
                smtp.sender,
                user.email if user else "",
                f"[Pilotis] {note.title}",
            )
            message.set_content(mail_body(note, smtp.base_url))
            try:
                server.send_message(message)
            except smtplib.SMTPException:
                note.email_status = "failed"
                counts["failed"] += 1
            else:
                note.email_status, note.emailed_at = "sent", now
                counts["sent"] += 1
    session.flush()
    return counts
