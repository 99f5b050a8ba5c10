"""Pages compute each costing at most once per request (counted), share their results between
requests while the database is unchanged, and show a write made between two requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

import services.costing
from models import Indicator, Need
from pilotis.database import write_session
from services import cache

PAGES = ["/", "/tableau-de-bord/", "/coherence", "/besoins", "/scenarios", "/couts"]


@pytest.fixture
def costings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, str]]:
    """Each costing computed (organisation, year, basis), from a cleared process cache."""
    calls: list[tuple[int, int, str]] = []
    compute = services.costing._compute

    def counted(session, organisation_id, year, used):  # type: ignore[no-untyped-def]
        calls.append((organisation_id, year, used))
        return compute(session, organisation_id, year, used)

    monkeypatch.setattr(services.costing, "_compute", counted)
    cache.clear()
    return calls


def _snapshot(app) -> str | None:  # type: ignore[no-untyped-def]
    """PostgreSQL's snapshot now (a commit anywhere on the server changes it), None on SQLite."""
    engine = app.extensions["pilotis.engine"]
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT pg_current_snapshot()::text")).scalar())


@pytest.mark.parametrize("path", PAGES)
def test_each_costing_at_most_once_per_request(app, login_as, costings, path):
    client = login_as("finances")
    cache.clear()
    costings.clear()
    assert client.get(path).status_code == 200
    assert len(costings) == len(set(costings)), costings  # no costing computed twice
    if path in ("/coherence", "/besoins"):
        assert len(costings) == 1  # the latest accounts' costing feeds the costs per person
    if path == "/":
        assert [basis for _, _, basis in costings] == ["budget"]  # the execution of a year still running
    done = len(costings)
    assert client.get(path).status_code == 200
    # the second request reads the first one's results: asserted on SQLite, where nothing else
    # commits; on PostgreSQL the shared version is the server's snapshot, which the suite's other
    # workers move at any time (tests/integration/test_cache.py checks the sharing there)
    if _snapshot(app) is None:
        assert len(costings) == done


@pytest.fixture
def renamed(app, demo) -> Iterator[tuple[int, str, int, str]]:  # type: ignore[no-untyped-def]
    """A need and an indicator of the demo (id, label); their labels are put back after the test."""
    engine = app.extensions["pilotis.engine"]
    with write_session(engine) as session:
        need = session.scalars(
            select(Need).where(Need.organisation_id == demo.organisation_id).order_by(Need.id)
        ).first()
        indicator = session.scalars(
            select(Indicator)
            .where(Indicator.organisation_id == demo.organisation_id, Indicator.objective_id.is_not(None))
            .order_by(Indicator.id)
        ).first()
        assert need is not None and indicator is not None
        kept = (need.id, need.label, indicator.id, indicator.label)
    yield kept
    with write_session(engine) as session:
        need, indicator = session.get(Need, kept[0]), session.get(Indicator, kept[2])
        assert need is not None and indicator is not None
        need.label, indicator.label = kept[1], kept[3]


def test_a_write_between_two_requests_is_seen(app, login_as, renamed, costings):
    need_id, need_label, indicator_id, indicator_label = renamed
    client = login_as("direction")
    pages = {
        "/coherence": need_label,
        "/besoins": need_label,
        "/tableau-de-bord/?periode=2025-T4": indicator_label,
    }
    for path, label in pages.items():
        assert label in client.get(path).get_data(as_text=True)
        assert label in client.get(path).get_data(as_text=True)  # kept, and still right
    # another person's save, through the same pool of connections as the pages
    with write_session(app.extensions["pilotis.engine"]) as session:
        need, indicator = session.get(Need, need_id), session.get(Indicator, indicator_id)
        assert need is not None and indicator is not None
        need.label, indicator.label = "Besoin renommé entre deux pages", "Indicateur renommé entre deux pages"
    assert "Besoin renommé entre deux pages" in client.get("/coherence").get_data(as_text=True)
    assert "Besoin renommé entre deux pages" in client.get("/besoins").get_data(as_text=True)
    page = client.get("/tableau-de-bord/?periode=2025-T4").get_data(as_text=True)
    assert "Indicateur renommé entre deux pages" in page
