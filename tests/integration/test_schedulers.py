"""Several schedulers at once on a new database, one killed mid-delivery (issue 22, item 5).

Three processes start the real scheduler (``jobs.scheduler.build_scheduler``, its job store in
the database) at the same instant on a database that has never seen one, then each runs the
e-mail job for three ten-minute slots back to back, as three schedulers whose runs overlap would:
one process gets each slot's guard, so three deliveries of the same organisation's outbox run at
once (the local SMTP server answers none of them before the three are connected). One process
is killed (SIGKILL) while mails are leaving. The SMTP server counts what it receives. Before: two of three schedulers crashed creating the job store's table, and on
PostgreSQL two deliveries sent every mail twice.
"""

from __future__ import annotations

import email
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from jobs.registry import JOBS, Context
from jobs.runner import tick
from models import JobRun, Notification, Role, User
from pilotis import schema
from pilotis.database import make_engine, write_session
from pilotis.settings import PROJECT_ROOT
from services.notifications import SmtpSettings
from tests.integration import factories

MAILS = 36
KILL_AFTER = 9  # mails received when one scheduler is killed
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

CHILD = """
import os, sys, threading, time
from datetime import datetime, timedelta
from apscheduler.schedulers.base import STATE_STOPPED
from jobs.runner import tick
from jobs.scheduler import build_scheduler, context
from pilotis.database import make_engine
from pilotis.settings import Settings

settings = Settings.from_env()
print("imported", flush=True)
sys.stdin.readline()  # the three start at the same instant
scheduler = build_scheduler(settings.database_url)


def run():
    try:
        scheduler.start(paused=True)
    except BaseException as exc:
        print("crashed:", repr(exc), flush=True)
        os._exit(1)


threading.Thread(target=run, daemon=True).start()
while scheduler.state == STATE_STOPPED:  # jobs stored, then paused
    time.sleep(0.01)
print("started", flush=True)
sys.stdin.readline()
engine = make_engine(settings.database_url)
base = datetime.fromisoformat(sys.argv[1])
for minutes in (0, 10, 20):
    for outcome in tick(engine, "deliver-emails", context(settings, now=base + timedelta(minutes=minutes))):
        print(outcome.status, outcome.message, flush=True)
print("done", flush=True)
"""


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib; each accepted mail's subject and Message-ID are recorded."""

    server: _SmtpServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
            first_three = self.server.connections <= 3
        if first_three:  # the three deliveries are all under way before a mail is taken
            self.server.all_connected.wait(timeout=30)
        self._say("220 test")
        while line := self.rfile.readline():
            verb = line.decode("ascii", "replace").strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                self._say("250 test")
            elif verb == "DATA":
                self._say("354 go")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                time.sleep(0.02)  # a server that takes its time: deliveries overlap
                with self.server.lock:
                    mail = email.message_from_bytes(bytes(data))
                    self.server.received.append((mail["Subject"], mail["Message-ID"]))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self._say("250 ok")

    def _say(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Smtp)
        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []
        self.connections = 0
        self.all_connected = threading.Barrier(3)


@pytest.fixture
def smtp_server() -> Iterator[_SmtpServer]:
    server = _SmtpServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _pending_mails(url: str) -> None:
    engine = make_engine(url)
    schema.upgrade(engine)
    with write_session(engine) as session:
        org = factories.organisation(session)
        users = [
            User(
                organisation_id=org.id,
                email=f"u{i}-{uuid.uuid4().hex[:6]}@test.example",
                full_name=f"U{i}",
                role=Role.DIRECTION,
                session_token=uuid.uuid4().hex,
            )
            for i in range(3)
        ]
        session.add_all(users)
        session.flush()
        session.add_all(
            Notification(
                organisation_id=org.id,
                user_id=users[i % 3].id,
                kind="alert",
                title=f"Alerte {i}",
                body="Au rouge.",
                link=None,
                email_status="pending",
            )
            for i in range(MAILS)
        )
    engine.dispose()


def test_three_schedulers_start_together_and_one_killed_sends_no_mail_twice(
    empty_database_url: str, smtp_server: _SmtpServer, tmp_path: Path
) -> None:
    _pending_mails(empty_database_url)
    port = smtp_server.server_address[1]
    env = {
        **os.environ,
        "DATABASE_URL": empty_database_url,
        "PILOTIS_SECRET_KEY": "tests-only-" + "x" * 32,
        "PILOTIS_INSTANCE_PATH": str(tmp_path),
        "PILOTIS_SMTP_HOST": "127.0.0.1",
        "PILOTIS_SMTP_PORT": str(port),
        "PILOTIS_SMTP_STARTTLS": "0",
        "PILOTIS_SMTP_SENDER": "pilotis@test.example",
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, T0.isoformat()],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "imported"

        def tell_all() -> None:
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()

        tell_all()  # start together on a database without the job store's table
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            assert line == "started", f"a scheduler did not start: {line!r} {child.stderr.read()[-2000:]}"
        tell_all()  # deliver
        victim = children[0]
        deadline = time.monotonic() + 15
        while len(smtp_server.received) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.002)
        assert len(smtp_server.received) >= KILL_AFTER, (
            "the three deliveries never all got under way (one kept the database while it sent?)"
        )
        assert victim.poll() is None, "the scheduler to kill had already stopped"
        victim.send_signal(signal.SIGKILL)
        outputs = [child.communicate(timeout=30) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert victim.returncode == -signal.SIGKILL
    for child, (out, err) in zip(children[1:], outputs[1:], strict=True):
        assert child.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        assert out.rstrip().endswith("done")

    # a later slot: the killed scheduler's claim is long stale, what it left pending is sent
    engine = make_engine(empty_database_url)
    smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender="pilotis@test.example")
    tick(engine, "deliver-emails", Context(now=T0 + timedelta(hours=1), packs_folder=tmp_path, smtp=smtp))
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(Notification.id, Notification.email_status)).all())
        ids = dict(conn.execute(select(Notification.title, Notification.id)).all())
        stored_jobs = conn.scalar(text("SELECT count(*) FROM apscheduler_jobs"))
        guards = Counter(conn.scalars(select(JobRun.status)).all())
    engine.dispose()

    received = Counter(subject for subject, _ in smtp_server.received)
    twice = {subject: n for subject, n in received.items() if n > 1}
    assert twice == {}, f"mails sent more than once: {twice}"
    received_ids = {ids[subject.removeprefix("[Pilotis] ")] for subject in received}
    # the Message-ID names the notification: a mail system can tell a mail it already has
    assert all(
        mid == f"<notification-{ids[subject.removeprefix('[Pilotis] ')]}@test.example>"
        for subject, mid in smtp_server.received
    )
    sent = {i for i, status in statuses.items() if status == "sent"}
    failed = {i for i, status in statuses.items() if status == "failed"}
    assert sent | failed == set(statuses), Counter(statuses.values())
    # at most the one mail the killed scheduler had claimed is given up (it may have left)
    assert len(failed) <= 1
    assert sent <= received_ids and received_ids - sent <= failed
    assert len(received) >= MAILS - 1
    assert stored_jobs == len(JOBS)  # each job stored once by the three schedulers
    # the three slots and the later one; the killed scheduler's run never finished
    assert guards == {"succeeded": 3, "running": 1}, guards
