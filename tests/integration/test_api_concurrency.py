"""8 clients x N read-modify-write updates of one value through the API: none lost (issue 22, item 4).

Each client reads the value with ``GET /api/v1/indicators/<id>/measurements`` and writes it plus one
with ``POST /api/v1/measurements``, as a script feeding Pilotis from another tool would. On the old
main a write without ``version`` was applied over whatever had been saved meanwhile: 352 of 400
updates lost on SQLite, 313 on PostgreSQL. Now the API refuses a write without the version read
(400) and a write on an older version (409, with the current value): the client reads again and
retries, and every update lands. Threads against the real application (its engine, pool, sessions
and SQLite write lock), on the session's backend.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, select

from models import Indicator, Measurement, Period
from pilotis.database import write_session

THREADS = 8
#: Updates per client. The issue's figure is 50 (8 x 50 = 400: none lost on either database, 547
#: stale writes retried on SQLite, 2 409 on PostgreSQL, 1 to 6 minutes on a loaded machine); the
#: suite runs 12 per client, which races as hard (hundreds of 409) in a fraction of the time.
#: ``PILOTIS_API_CONCURRENCY_UPDATES=50`` runs the issue's figure.
UPDATES = int(os.environ.get("PILOTIS_API_CONCURRENCY_UPDATES", "12"))
#: The values are far below target (red): the grid's rules ask for a comment.
COMMENT = "compteur de l'essai de concurrence"


@pytest.fixture
def meals(engine: Engine, demo: Any) -> Iterator[tuple[int, str]]:
    """The demo's meals indicator and an open period with no value yet; the value is removed after."""
    with write_session(engine) as session:
        indicator_id = session.scalar(
            select(Indicator.id).where(
                Indicator.organisation_id == demo.organisation_id, Indicator.code == "repas_livres"
            )
        )
        period_id = session.scalar(
            select(Period.id).where(Period.organisation_id == demo.organisation_id, Period.key == "2026-11")
        )
        assert (
            session.scalar(
                select(Measurement.id).where(
                    Measurement.indicator_id == indicator_id, Measurement.period_id == period_id
                )
            )
            is None
        )
    yield indicator_id, "2026-11"
    with write_session(engine) as session:
        session.execute(
            delete(Measurement).where(
                Measurement.indicator_id == indicator_id, Measurement.period_id == period_id
            )
        )


def _read(client: FlaskClient, indicator_id: int, period: str) -> tuple[float, int]:
    rows = client.get(f"/api/v1/indicators/{indicator_id}/measurements").get_json()
    row = next(r for r in rows if r["period"] == period)
    return float(row["value"]), int(row["version"])


def test_no_update_is_lost_by_concurrent_read_modify_write_clients(
    login_as: Callable[[str], FlaskClient], engine: Engine, meals: tuple[int, str]
) -> None:
    indicator_id, period = meals
    clients = [login_as("responsable.seniors") for _ in range(THREADS)]
    tokens = [{"X-CSRFToken": c.get("/api/v1/moi").get_json()["csrf_token"]} for c in clients]
    first = clients[0].post(
        "/api/v1/measurements",
        json={
            "indicator_id": indicator_id,
            "period": period,
            "value": 0,
            "version": None,
            "comment": COMMENT,
        },
        headers=tokens[0],
    )
    assert first.status_code == 200, first.get_json()
    conflicts, busy, unexpected = [0] * THREADS, [0] * THREADS, []

    def add_one_50_times(n: int) -> None:
        client, headers = clients[n], tokens[n]
        try:
            for _ in range(UPDATES):
                for _attempt in range(500):
                    value, version = _read(client, indicator_id, period)
                    response = client.post(
                        "/api/v1/measurements",
                        json={
                            "indicator_id": indicator_id,
                            "period": period,
                            "value": value + 1,
                            "version": version,
                            "comment": COMMENT,
                        },
                        headers=headers,
                    )
                    if response.status_code == 200:
                        break
                    if response.status_code == 503 and "Réessayez" in response.get_json()["error"]:
                        busy[n] += 1  # SQLite busy past its timeout (a loaded machine): nothing written
                        continue
                    if response.status_code != 409:
                        unexpected.append((response.status_code, response.get_data(as_text=True)[:300]))
                        return
                    conflicts[n] += 1
                else:
                    unexpected.append((0, "500 conflicts in a row"))
                    return
        except BaseException as exc:  # pragma: no cover - reported below
            unexpected.append((-1, repr(exc)))

    threads = [threading.Thread(target=add_one_50_times, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert unexpected == []
    value, version = _read(clients[0], indicator_id, period)
    print(
        f"\n{THREADS} x {UPDATES} updates: value {value:.0f}, {sum(conflicts)} stale writes refused (409) "
        f"and {sum(busy)} busy (503) retried"
    )
    # none lost (the old main, 8 x 50: 48 of 400 kept on SQLite, 87 on PostgreSQL)
    assert value == THREADS * UPDATES
    assert version == 1 + THREADS * UPDATES
    assert sum(conflicts) > 0  # the clients really raced, and the stale writes were refused


def test_a_write_without_version_is_refused_not_applied(
    login_as: Callable[[str], FlaskClient], meals: tuple[int, str]
) -> None:
    """The rule that makes the count above hold: no version, no write (and the current one is said)."""
    indicator_id, period = meals
    client = login_as("responsable.seniors")
    headers = {"X-CSRFToken": client.get("/api/v1/moi").get_json()["csrf_token"]}
    body = {"indicator_id": indicator_id, "period": period, "comment": COMMENT}
    assert (
        client.post(
            "/api/v1/measurements", json={**body, "value": 5, "version": None}, headers=headers
        ).status_code
        == 200
    )
    _, version = _read(client, indicator_id, period)
    refused = client.post("/api/v1/measurements", json={**body, "value": 6}, headers=headers)
    assert refused.status_code == 400 and refused.get_json()["version"] == version
    assert "« version » est obligatoire" in refused.get_json()["error"]
    assert _read(client, indicator_id, period) == (5.0, version)
