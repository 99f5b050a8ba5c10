"""Bad input in imports: a located French refusal and nothing written; blank cells write nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Measurement
from services.measurement_io import import_measurements
from services.workbooks import WorkbookError
from tests.integration.test_measurement_import import PERIOD, counts, edited, run
from tests.integration.test_measurement_import import setting as setting  # the fixture

GOOD = {"F4": 205, "F5": 33500, "F6": 55000, "F7": 1900, "F8": 212, "F9": 3150}


@pytest.mark.parametrize(
    ("cell", "value", "message"),
    [
        ("F9", 1e300, "hors limites : un nombre de repas va de 0 à mille milliards"),
        ("F9", "1e300", "n'est pas un nombre"),
        ("F9", -5, "hors limites"),
        ("F5", "1 000 000 000 000", "hors limites : un montant"),
    ],
)
def test_a_number_beyond_its_unit_is_refused_in_the_workbook(setting, cell, value, message):
    """Bug: 1e300 in the workbook was stored, and every page showing it answered HTTP 500."""
    before = counts(setting["session"])
    report = run(setting, edited(setting["template"], **{**GOOD, cell: value}))
    text = " | ".join(str(e) for e in report.errors)
    assert f"ligne {cell[1:]}, colonne « Valeur »" in text and message in text, text
    assert report.saved == 0 and counts(setting["session"]) == before


def _values(session, principal):
    return {
        m.indicator.code: (m.value, m.state.value)
        for m in session.scalars(select(Measurement).where(Measurement.entered_by_id == principal.user_id))
        if m.period.key == PERIOD
    }


def test_blank_value_cells_leave_stored_drafts_alone(setting):
    """Bug: the blank template sent back wiped six saved drafts and said « 6 valeur(s) importée(s) »."""
    session, principal = setting["session"], setting["principal"]
    first = run(setting, edited(setting["template"], **GOOD))
    assert first.errors == [] and first.saved == 6
    drafts = _values(session, principal)
    assert len(drafts) == 6 and all(v is not None for v, _ in drafts.values())

    with pytest.raises(
        WorkbookError, match="aucune valeur à importer : toutes les cases « Valeur » sont vides"
    ):
        run(setting, setting["template"])  # the template downloaded before, every value blank
    assert _values(session, principal) == drafts

    partial = run(setting, edited(setting["template"], F9=3200))
    assert partial.errors == [] and partial.saved == 1 and partial.left_alone == 5
    assert "1 valeur(s) importée(s)" in partial.summary and "5 ligne(s) sans valeur" in partial.summary
    assert _values(session, principal) == {**drafts, "repas_livres": (3200.0, "draft")}


def test_submitting_with_a_blank_cell_is_refused_not_erased(setting):
    session, principal = setting["session"], setting["principal"]
    run(setting, edited(setting["template"], **GOOD))
    drafts = _values(session, principal)
    report = import_measurements(
        session, principal, edited(setting["template"], F4=210), submit=True, now=_now()
    )
    assert report.saved == 0 and "Valeur manquante" in " | ".join(str(e) for e in report.errors)
    assert _values(session, principal) == drafts


def _now():
    from models.base import utcnow

    return utcnow()


# -- survey paper entry ------------------------------------------------------------------------
def test_a_paper_answer_beyond_any_bound_is_refused_where_it_is(db_session):
    """Bug: a number question without bounds took 1e300 (and the results pages then had to show it)."""
    from sqlalchemy.orm.attributes import flag_modified

    from services.survey_io import template_workbook
    from tests.integration import test_survey_io as T

    setting = T.build(db_session)
    hours = next(q for q in setting.questions if q.kind == "number")
    hours.settings = {k: v for k, v in (hours.settings or {}).items() if k not in ("min", "max")}
    flag_modified(hours, "settings")
    db_session.flush()
    before = T.counts(db_session)
    for value in (1e300, "1 000 000 000 000 000"):
        content = T.filled(template_workbook(db_session, setting.survey), [{**T.GOOD, "4.": value}])
        report = T.run(setting, content)
        assert report.saved == 0 and len(report.errors) == 1, report.errors
        error = report.errors[0]
        assert error.column.startswith("4. Heures") and "hors limites" in error.message, error
    assert T.counts(db_session) == before
    content = T.filled(template_workbook(db_session, setting.survey), [{**T.GOOD, "4.": "1 200"}])
    assert T.run(setting, content).saved == 1


# -- benchmark reference files -----------------------------------------------------------------
def test_the_benchmark_reads_numbers_as_the_grid_does():
    """Bug: the benchmark import read ``1.234`` as 1.234 while the entry grid refuses it."""
    from services.benchmark import BenchmarkError, parse_reference

    header = "organisation;strate;indicateur;valeur;annee\n"
    good = parse_reference((header + "R01;20-50k;depense_hab_total;1 234,5;2024\n").encode())
    assert good[0].values["depense_hab_total"][0] == 1234.5
    with pytest.raises(BenchmarkError) as caught:
        parse_reference(
            (
                header
                + "R01;20-50k;depense_hab_total;1.234;2024\n"
                + "R02;20-50k;depense_hab_total;1e300;2024\n"
                + "R03;20-50k;depense_hab_total;1 000 000 000 000 000;2024\n"
            ).encode()
        )
    problems = caught.value.messages
    assert problems[0].startswith("ligne 2, colonne « valeur » : « 1.234 » est ambigu"), problems
    assert problems[1] == "ligne 3, colonne « valeur » : « 1e300 » n'est pas un nombre"
    assert problems[2].startswith("ligne 4, colonne « valeur » : « 1 000 000 000 000 000 » est hors limites")
