"""Notifications: in the app (a bell and a page), and by e-mail when an SMTP server is configured.

Without an SMTP server, e-mails wait in the outbox (``email_status = 'outbox'``), visible to the
administrator, and leave it at the first delivery once a server is configured. Each user chooses,
per kind, in-app and e-mail delivery. A mail ends with the address of the page it speaks of
(``PILOTIS_PUBLIC_URL`` + the notification's link) when the base address is configured.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from models import Notification, NotificationPreference, Role, User

KIND_LABELS = {
    "reminder": "Rappels de saisie et valeurs renvoyées",
    "alert": "Alertes (indicateur au rouge)",
    "review": "Revues de période et scénarios à adopter",
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


def notify_roles(
    session: Session,
    organisation_id: int,
    roles: Iterable[Role],
    *,
    kind: str,
    title: str,
    body: str,
    link: str | None,
    now: datetime,
) -> int:
    """:func:`notify` every active user of the organisation who holds one of ``roles``."""
    users = session.scalars(
        select(User).where(User.organisation_id == organisation_id, User.role.in_(list(roles)))
    )
    return notify(session, users, kind=kind, title=title, body=body, link=link, now=now)


def unread_count(session: Session, user_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)  # fmt: skip


#: A claim older than this belongs to a delivery whose process died: the mail is given up.
CLAIM_STALE_AFTER = timedelta(minutes=30)


def deliver_emails(
    session: Session, smtp: SmtpSettings | None, *, now: datetime, organisation_id: int | None = None
) -> dict[str, int]:
    """Send the pending e-mails (and those waiting in the outbox) of one organisation (all when
    ``organisation_id`` is None), or move them to the outbox when no SMTP server is configured.

    Each e-mail leaves once, whatever the number of deliveries running at the same time: it is
    claimed (``pending``/``outbox`` -> ``sending``, the row locked with ``SKIP LOCKED`` on
    PostgreSQL, under SQLite's write lock) and committed before it is sent, and its outcome is
    committed after. The SMTP conversation runs outside any transaction (no SQLite write lock is
    held while a server answers). A claim left ``sending`` for :data:`CLAIM_STALE_AFTER` (its
    process was killed, perhaps after the server took the mail) is marked ``failed``, never sent
    again. Commits: a delivery is a job's whole work.
    """
    counts = {"sent": 0, "outbox": 0, "failed": 0}
    mine = Notification.organisation_id == organisation_id if organisation_id is not None else true()
    for stale in session.scalars(
        select(Notification)
        .where(mine, Notification.email_status == "sending")
        .where(Notification.email_claimed_at < now - CLAIM_STALE_AFTER)
        .with_for_update(skip_locked=True)
    ):
        stale.email_status = "failed"
        counts["failed"] += 1
    session.commit()
    if smtp is None:
        for note in session.scalars(
            select(Notification).where(mine, Notification.email_status == "pending").with_for_update()
        ):
            note.email_status = "outbox"
            counts["outbox"] += 1
        session.commit()
        return counts
    waiting = Notification.email_status.in_(("pending", "outbox"))
    first = session.scalar(select(Notification.id).where(mine, waiting).limit(1))
    session.commit()
    if first is None:
        return counts
    with smtplib.SMTP(smtp.host, smtp.port, timeout=20) as server:
        if smtp.starttls:
            server.starttls()
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        while (claimed := _claim_next(session, mine, waiting, smtp, now=now)) is not None:
            note, message = claimed
            try:
                server.send_message(message)
            except smtplib.SMTPServerDisconnected:
                note.email_status = "failed"  # it may have left: never sent twice
                session.commit()
                raise  # the others wait for the next delivery
            except smtplib.SMTPException:
                note.email_status = "failed"
                counts["failed"] += 1
            else:
                note.email_status, note.emailed_at = "sent", now
                counts["sent"] += 1
            session.commit()
    return counts


def _claim_next(
    session: Session,
    mine: ColumnElement[bool],
    waiting: ColumnElement[bool],
    smtp: SmtpSettings,
    *,
    now: datetime,
) -> tuple[Notification, EmailMessage] | None:
    """Take the next waiting e-mail for this delivery and commit the claim; the message is
    written before the commit, so that sending it reads nothing from the database."""
    note = session.scalars(
        select(Notification)
        .where(mine, waiting)
        .order_by(Notification.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if note is None:
        session.commit()
        return None
    user = session.get(User, note.user_id)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        smtp.sender,
        user.email if user else "",
        f"[Pilotis] {note.title}",
    )
    # the same id whoever sends it: a mail system that receives it twice can tell
    domain = smtp.sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<notification-{note.id}@{domain}>"
    message.set_content(mail_body(note, smtp.base_url))
    note.email_status, note.email_claimed_at = "sending", now
    session.commit()
    return note, message
