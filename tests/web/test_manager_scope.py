"""A service manager reads their services' part of a review, as on the scorecard, and no more."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import Indicator, Organisation, Period, Review, Service
from models.base import utcnow
from pilotis.database import write_session
from services.reviews import close_period
from tests.conftest import rows_added_are_removed


@pytest.fixture(scope="module")
def review(engine, demo):  # type: ignore[no-untyped-def]
    """A frozen review of the demo (closed here if the demo has none), and the labels of the
    indicators of the seniors service and of the others."""
    with rows_added_are_removed(engine):
        with write_session(engine) as session:
            found = session.scalar(
                select(Review)
                .join(Period, Period.id == Review.period_id)
                .where(Review.organisation_id == demo.organisation_id, Period.key == "2024-T4")
            )
            if found is None:
                found = close_period(
                    session, session.get(Organisation, demo.organisation_id), "2024-T4", now=utcnow()
                )
            labels = session.execute(
                select(Indicator.label, Service.code)
                .join(Service, Service.id == Indicator.service_id, isouter=True)
                .where(Indicator.organisation_id == demo.organisation_id)
            ).all()
            in_review = {line["label"] for _, line in _lines(found.snapshot)}
            review_id = found.id
        seniors = {label for label, code in labels if code == "SENIORS"} & in_review
        others = {label for label, code in labels if code != "SENIORS"} & in_review
        yield review_id, seniors, others - seniors


def _lines(snapshot):  # type: ignore[no-untyped-def]
    from services.reviews import _all_lines

    return _all_lines(snapshot)


def _pack_labels(response) -> set[str]:  # type: ignore[no-untyped-def]
    sheet = load_workbook(BytesIO(response.data), read_only=True).active
    return {row[2] for row in sheet.iter_rows(min_row=5, values_only=True) if row[2]}


def test_the_review_holds_both_kinds_of_lines(review):
    _, seniors, others = review
    assert seniors and others  # else the tests below prove nothing


def test_a_manager_sees_only_their_services_lines_in_a_review(login_as, review):
    review_id, seniors, others = review
    page = login_as("responsable.seniors").get(f"/revues/{review_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert all(label.replace("'", "&#39;") in text for label in seniors)
    shown = [label for label in others if f'<th scope="row">{label}</th>'.replace("'", "&#39;") in text]
    assert shown == []
    whole = login_as("direction").get(f"/revues/{review_id}").get_data(as_text=True)
    assert all(f'<th scope="row">{label}</th>'.replace("'", "&#39;") in whole for label in others)


def test_a_managers_review_pack_holds_their_services_lines_only(login_as, review):
    review_id, seniors, others = review
    mine = _pack_labels(login_as("responsable.seniors").get(f"/revues/{review_id}/dossier.xlsx"))
    assert mine == seniors
    assert _pack_labels(login_as("direction").get(f"/revues/{review_id}/dossier.xlsx")) >= seniors | others


@pytest.mark.parametrize(
    "path", ["/couts", "/couts/export.xlsx", "/couts/modele", "/scenarios", "/scenarios/comparer"]
)
def test_a_manager_reads_neither_the_cost_model_nor_the_scenarios(login_as, path):
    response = login_as("responsable.seniors").get(path)
    assert response.status_code == 403
    assert "Accès refusé" in response.get_data(as_text=True)
