"""The pages say what counts: values to validate on the scorecard, what a review froze and what
it left out, no validation into a closed period, no entry into periods that have not started."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import delete, select

from models import (
    Measurement,
    MeasurementState,
    Notification,
    Organisation,
    Period,
    PeriodKind,
    PeriodState,
    Review,
)
from models.base import utcnow
from pilotis.database import write_session
from services.reviews import close_period
from tests.conftest import csrf_token

AWAITING = "2026-09"  # the demo's month whose values all await validation


def _period(session, organisation_id: int, key: str) -> Period:
    return session.scalar(select(Period).where(Period.organisation_id == organisation_id, Period.key == key))


@pytest.fixture
def closed_awaiting_month(engine, demo):
    """2026-09 closed (review frozen) while its values still await validation; reopened after."""
    with write_session(engine) as session:
        org = session.get(Organisation, demo.organisation_id)
        review = close_period(session, org, AWAITING, now=utcnow())
        period = _period(session, org.id, AWAITING)
        waiting = session.scalar(
            select(Measurement.id).where(
                Measurement.period_id == period.id, Measurement.state == MeasurementState.SUBMITTED
            )
        )
        ident = review.id
    yield {"review": ident, "measurement": waiting}
    with write_session(engine) as session:
        session.execute(delete(Notification).where(Notification.link == f"/revues/{ident}"))
        session.execute(delete(Review).where(Review.id == ident))
        period = _period(session, demo.organisation_id, AWAITING)
        period.state, period.closed_at = PeriodState.OPEN, None


def test_the_scorecard_shows_values_to_validate_as_not_counted(login_as):
    page = login_as("direction").get(f"/tableau-de-bord/?periode={AWAITING}").get_data(as_text=True)
    assert "À valider" in page and "une fois validée" in page
    assert re.search(
        r"\d+ valeur\(s\) à valider ou renvoyée\(s\), comptée\(s\) comme non renseignée\(s\)", page
    )
    assert "Seules les valeurs validées par la direction comptent" in page
    # no line is reached while it waits for validation
    waiting = [row for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S) if "> à valider</span>" in row]
    assert waiting and all("status-pending" in row and "status-green" not in row for row in waiting)


def test_a_review_lists_what_was_not_validated_and_a_closed_period_refuses_validation(
    login_as, closed_awaiting_month
):
    direction = login_as("direction")
    review = direction.get(f"/revues/{closed_awaiting_month['review']}").get_data(as_text=True)
    assert "Valeurs non validées à la clôture" in review
    assert re.search(r"\d+ valeur\(s\) ne l&#39;étaient pas|\d+ valeur\(s\) ne l'étaient pas", review)
    assert "à valider" in review
    listing = direction.get("/revues").get_data(as_text=True)
    assert "non validée(s) à la clôture" in listing

    pending = direction.get("/saisie/validation").get_data(as_text=True)
    assert f'value="{closed_awaiting_month["measurement"]}"' not in pending
    assert "encore soumises à la clôture de leur période" in pending
    refused = direction.post(
        "/saisie/validation",
        data={
            "csrf_token": csrf_token(pending),
            "mesure": [closed_awaiting_month["measurement"]],
            "action": "valider",
        },
    )
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and f"La période {AWAITING} est close" in text

    scorecard = direction.get(f"/tableau-de-bord/?periode={AWAITING}").get_data(as_text=True)
    assert "revue figée</a> fait foi" in scorecard
    assert f'href="/revues/{closed_awaiting_month["review"]}"' in scorecard


@pytest.fixture
def far_period(engine, demo):
    with write_session(engine) as session:
        session.add(
            Period(
                organisation_id=demo.organisation_id,
                key="2028-T1",
                kind=PeriodKind.QUARTER,
                start_date=date(2028, 1, 1),
                end_date=date(2028, 3, 31),
                state=PeriodState.OPEN,
            )
        )
    yield "2028-T1"
    with write_session(engine) as session:
        session.execute(
            delete(Period).where(Period.organisation_id == demo.organisation_id, Period.key == "2028-T1")
        )


def test_the_entry_grid_offers_only_periods_that_have_started(login_as, far_period):
    page = login_as("responsable.seniors").get("/saisie/").get_data(as_text=True)
    options = re.findall(r'<option value="(\d{4}(?:-\w+)?)"', page)
    assert "2026-10" in options and far_period not in options
