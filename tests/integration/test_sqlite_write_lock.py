"""A slow upload must not make every other save wait (issue 22, item 2).

On SQLite a write transaction holds the database's one write lock from its first statement to its
end. A POST used to take it when it loaded the signed-in user and keep it until its response, so
one upload being parsed blocked every sign-in and save (503 after the 10 s busy timeout). Now the
signed-in user and the bell are read without the write lock and the uploaded file is read before
the first write. On PostgreSQL (row locks, no database-wide lock) the same requests never waited:
the tests hold there too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, make_url, text

import services.measurement_io as measurement_io
from tests.conftest import csrf_token, demo_email, is_postgresql

PARSE_SECONDS = 1.5


@pytest.fixture
def slow_parse(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Reading an uploaded workbook takes PARSE_SECONDS (a big file); the event tells when it started."""
    started = threading.Event()
    original = measurement_io.open_workbook

    def slow(content: bytes) -> Any:
        started.set()
        time.sleep(PARSE_SECONDS)
        return original(content)

    monkeypatch.setattr(measurement_io, "open_workbook", slow)
    yield started


def _upload(client: FlaskClient) -> tuple[int, str, float]:
    page = client.get("/saisie/excel/depot").get_data(as_text=True)
    began = time.perf_counter()
    response = client.post(
        "/saisie/excel/depot",
        data={"csrf_token": csrf_token(page), "file": (_not_a_workbook(), "valeurs.xlsx")},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True), time.perf_counter() - began


def _not_a_workbook() -> Any:
    import io

    return io.BytesIO(b"PK\x03\x04 not really a workbook " * 50)


def _sign_in_timed(client: FlaskClient, login: str) -> tuple[int, float]:
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    began = time.perf_counter()
    response = client.post(
        "/connexion",
        data={"csrf_token": token, "email": demo_email(login), "password": "demo-pilotis-2026"},
    )
    return response.status_code, time.perf_counter() - began


def test_a_sign_in_does_not_wait_for_an_upload_being_read(
    app: Flask, login_as: Callable[[str], FlaskClient], slow_parse: threading.Event
) -> None:
    uploader = login_as("responsable.seniors")
    result: list[tuple[int, str, float]] = []
    thread = threading.Thread(target=lambda: result.append(_upload(uploader)))
    thread.start()
    assert slow_parse.wait(10), "the upload never reached the workbook"
    status, elapsed = _sign_in_timed(app.test_client(), "direction")
    upload_still_running = thread.is_alive()
    thread.join(30)
    assert status == 302
    # on the old main the sign-in waited for the whole upload (its write lock) then got in
    assert elapsed < PARSE_SECONDS / 2, f"the sign-in waited {elapsed:.2f} s behind the upload"
    assert upload_still_running
    code, body, _ = result[0]
    assert code == 400 and "Fichier refusé" in body


def test_four_uploads_at_once_are_read_side_by_side(
    login_as: Callable[[str], FlaskClient], slow_parse: threading.Event
) -> None:
    clients = [login_as("responsable.seniors") for _ in range(4)]
    results: list[tuple[int, str, float]] = []
    threads = [threading.Thread(target=lambda c=c: results.append(_upload(c))) for c in clients]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    total = time.perf_counter() - began
    assert len(results) == 4
    for code, body, _ in results:
        assert code == 400 and "Fichier refusé" in body, body[:300]
        assert "locked" not in body
    # one after the other (each holding the write lock while it read) they took 4 x 1.5 s
    assert total < 2.5 * PARSE_SECONDS, f"four uploads took {total:.2f} s: they queued"


def test_a_post_that_writes_nothing_does_not_take_the_write_lock(
    app: Flask, engine: Engine, database_url: str, login_as: Callable[[str], FlaskClient]
) -> None:
    """Another process holds the write lock (a long import, the scheduler): a signed-in POST
    refused by its form (no file) is answered at once, user, page and bell read without it."""
    client = login_as("responsable.seniors")
    page = client.get("/saisie/excel/depot").get_data(as_text=True)
    if is_postgresql(database_url):
        other = engine.connect()
        other.execute(text("LOCK TABLE users, notifications IN EXCLUSIVE MODE"))  # reads still pass
        release = other.close
    else:
        raw = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")  # SQLite's write lock, kept until the rollback
        release = raw.close
    try:
        began = time.perf_counter()
        response = client.post("/saisie/excel/depot", data={"csrf_token": csrf_token(page)})
        elapsed = time.perf_counter() - began
    finally:
        release()
    assert response.status_code == 400
    assert "Choisissez un fichier." in response.get_data(as_text=True)
    assert elapsed < 2, f"the POST waited {elapsed:.2f} s for the write lock"
