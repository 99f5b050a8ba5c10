"""Benchmarking between organisations: gather standard indicators, compare (``scorecard.benchmark``),
present and export.

Who is compared
---------------
Every organisation of the database, and the rows of the anonymised reference files imported into
the instance folder (``<instance>/benchmark/*.csv``, see :func:`import_reference`). Organisations of
demonstration (slug ``demo-…``) are compared as well with the illustrative reference bundled with
Pilotis (:data:`SAMPLE_REFERENCE`); a real organisation never is, unless that file is imported.

The standard indicators (code: definition)
------------------------------------------
- ``depense_hab_total`` and ``depense_hab_<fonction>``: operating spending per inhabitant (EUR),
  by M57 function (three first digits of the function, after the M14 -> M57 mapping): the actual
  amounts (accounts: CA / CFU, not an execution export) of the operating section, real operations,
  expenses, of the newest year with accounts, divided by ``Organisation.population``.
- ``cout_unite_<activité>`` / ``cout_benef_<activité>``: full cost (activity-based costing,
  ``services.costing.latest_report``) per unit of output / per beneficiary of comparable activities,
  recognised by their output unit (meal delivered, home-help hour, domiciliation…, see
  :data:`COMPARABLE_ACTIVITIES`); several activities of one kind are pooled (sum of full costs over
  sum of volumes or beneficiaries).
- ``couverture_<public>``: coverage rate of the needs of a population group (%), persons covered
  over persons in need (``scorecard.coherence``), for groups whose needs count at least the
  statistical-confidentiality threshold; matched across organisations by the group's code.
- ``delai_<code>``: processing delays (days): the indicators whose code starts with ``delai``; the
  mean of the validated organisation-wide values of the newest complete calendar year (12 months,
  4 quarters or the year), matched across organisations by the indicator's code.

Anonymity: see ``scorecard.benchmark`` (k >= 3, stable letters, names only with consent
``Organisation.benchmark_named``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from models import (
    BenchmarkRefresh,
    BenchmarkValue,
    CostKind,
    CostLine,
    Indicator,
    Measurement,
    MeasurementState,
    Need,
    Organisation,
    Period,
    PeriodKind,
    PopulationGroup,
)
from models.base import utcnow
from scorecard.benchmark import (
    K_ANONYMITY_RULE,
    MIN_CONTRIBUTORS,
    NOT_COMPARABLE,
    ROW_COLUMNS,
    STRATA,
    STRATUM_KEYS,
    STRATUM_LABELS,
    Comparison,
    Quartiles,
    anonymous_labels,
    size_stratum,
)
from scorecard.confidentiality import DEFAULT_THRESHOLD
from scorecard.errors import UserError
from services import tabular
from services.coherence import coherence_of, load_frames
from services.costing import latest_report
from services.exports import set_cell, write_header
from services.nomenclatures import function_label
from services.numbers import NumberError, check_value, parse_french_number

DATA_DIR = Path(__file__).resolve().parent / "data" / "benchmark"
#: The illustrative reference shipped with Pilotis (invented values, documented in its header).
SAMPLE_REFERENCE = DATA_DIR / "reference_ccas_occitanie.csv"
#: Where imported reference files live, under the instance folder.
REFERENCE_FOLDER = "benchmark"
DEMO_PREFIX = "demo-"
MAX_REFERENCE_BYTES = 16 * 1024 * 1024
MAX_REFERENCE_ROWS = 400_000
#: The size and rows above; comments and blank lines count among the physical lines.
REFERENCE_CSV_LIMITS = tabular.CsvLimits(
    bytes=MAX_REFERENCE_BYTES, lines=4 * MAX_REFERENCE_ROWS, rows=MAX_REFERENCE_ROWS + 1, columns=1_000
)
HEADER = ("organisation", "strate", "indicateur", "valeur", "annee")
CODE_PATTERN = re.compile(r"^(?=.*\d)[A-Za-z0-9-]{1,12}$")
FILE_NAME_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")


class BenchmarkError(UserError):
    """A reference file refused as a whole; ``problems`` lists every located problem, in French."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(" ; ".join(problems), problems=problems)


# --- The catalogue of standard indicators -----------------------------------------------------------


@dataclass(frozen=True)
class ComparableActivity:
    key: str
    label: str
    unit: str
    #: Normalised fragments (lower case, no accents) of the output unit that recognise it.
    patterns: tuple[str, ...]


COMPARABLE_ACTIVITIES: tuple[ComparableActivity, ...] = (
    ComparableActivity("repas", "Portage de repas", "repas livré", ("repas",)),
    ComparableActivity("heure_aide", "Aide à domicile", "heure d'aide", ("heure d'aide", "heure d aide")),
    ComparableActivity("domiciliation", "Domiciliation", "domiciliation active", ("domiciliation",)),
    ComparableActivity("dossier_asl", "Aide sociale légale", "dossier instruit", ("dossier instruit",)),
    ComparableActivity("panier", "Épicerie sociale", "panier", ("panier",)),
    ComparableActivity("heure_accueil", "Accueil du jeune enfant", "heure d'accueil", ("heure d'accueil",)),
    ComparableActivity("nuitee", "Hébergement d'urgence", "nuitée", ("nuitee",)),
)
FAMILIES: dict[str, str] = {
    "depense": "Dépense de fonctionnement par habitant",
    "cout": "Coût complet des activités comparables",
    "couverture": "Couverture des besoins par public",
    "delai": "Délais de traitement",
}
FAMILY_NOTES: dict[str, str] = {
    "depense": (
        "Dépenses réelles de fonctionnement du dernier compte administratif, par fonction M57 "
        "(trois premiers chiffres), divisées par la population de l'organisation."
    ),
    "cout": (
        "Coût complet (comptabilité analytique, fonctions support réparties) du dernier exercice "
        "calculé, par unité produite ou par bénéficiaire, des activités reconnues à leur unité d'œuvre."
    ),
    "couverture": (
        "Personnes couvertes par l'offre / effectif des besoins du public (cohérence offre-besoins), "
        f"pour les publics d'au moins {DEFAULT_THRESHOLD} personnes."
    ),
    "delai": (
        "Moyenne des valeurs validées de la dernière année civile complète des indicateurs de délai "
        "(code commençant par « delai »)."
    ),
}


@dataclass(frozen=True)
class IndicatorInfo:
    code: str
    family: str
    label: str
    unit: str
    decimals: int


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def comparable_activity(output_unit: str) -> ComparableActivity | None:
    """The kind of comparable activity an output unit designates, or None."""
    unit = _normalise(output_unit)
    for kind in COMPARABLE_ACTIVITIES:
        if any(p in unit for p in kind.patterns):
            return kind
    return None


def indicator_info(code: str, labels: dict[str, str] | None = None) -> IndicatorInfo | None:
    """The family, label, unit and decimals of a standard indicator code; None when not standard."""
    labels = labels or {}
    if code == "depense_hab_total":
        return IndicatorInfo(code, "depense", "Toutes fonctions", "€ / habitant", 2)
    if match := re.fullmatch(r"depense_hab_(\d{3})", code):
        function = match.group(1)
        label = function_label("M57", function)
        return IndicatorInfo(code, "depense", f"{function} {label or ''}".strip(), "€ / habitant", 2)
    for prefix, per, unit_text in (
        ("cout_unite_", "par {unit}", "€ / {unit}"),
        ("cout_benef_", "par bénéficiaire", "€ / bénéficiaire"),
    ):
        if code.startswith(prefix):
            kind = next((k for k in COMPARABLE_ACTIVITIES if k.key == code[len(prefix) :]), None)
            if kind is None:
                return None
            return IndicatorInfo(
                code,
                "cout",
                f"{kind.label} — coût {per.format(unit=kind.unit)}",
                unit_text.format(unit=kind.unit),
                2,
            )
    if re.fullmatch(r"couverture_[a-z0-9_]{1,60}", code):
        group = code[len("couverture_") :]
        return IndicatorInfo(
            code, "couverture", labels.get(code, group.replace("_", " ").capitalize()), "%", 1
        )
    if re.fullmatch(r"delai_[a-z0-9_]{1,58}", code):
        return IndicatorInfo(code, "delai", labels.get(code, code.replace("_", " ").capitalize()), "jours", 1)
    return None


# --- Gathering the values of one organisation ----------------------------------------------------------


@dataclass
class Contribution:
    """The standard indicators of one organisation (or of one row set of a reference file)."""

    key: tuple[Any, ...]
    stratum: str | None
    #: code -> (value, year)
    values: dict[str, tuple[float, int | None]]
    name: str | None = None
    named: bool = False
    source: str = "base"


def spending_per_inhabitant(session: Session, organisation: Organisation) -> dict[str, tuple[float, int]]:
    """``depense_hab_*`` of an organisation: actual operating expenses of the newest year with
    accounts, by M57 function (3 digits) and in total, over its population (EUR per inhabitant)."""
    if not organisation.population:
        return {}
    actual = [
        CostLine.organisation_id == organisation.id,
        CostLine.kind == CostKind.ACTUAL,
        func.coalesce(CostLine.document_type, "") != "EXEC",
        CostLine.section == "fonctionnement",
        CostLine.operation == "reelle",
        CostLine.flow == "depense",
    ]
    year = session.scalar(select(func.max(CostLine.year)).where(*actual))
    if year is None:
        return {}
    rows = session.execute(
        select(func.coalesce(CostLine.m57_function_code, CostLine.function_code), CostLine.amount).where(
            *actual, CostLine.year == year
        )
    ).all()
    sums: dict[str, Decimal] = {}
    for function, amount in rows:
        code = str(function or "")[:3]
        if len(code) < 3 or not code.isdigit():
            continue  # an annex budget (M22) has no function: not comparable per inhabitant
        sums[code] = sums.get(code, Decimal(0)) + Decimal(amount)
    if not sums:
        return {}
    population = Decimal(organisation.population)
    out = {f"depense_hab_{code}": (float(total / population), int(year)) for code, total in sums.items()}
    out["depense_hab_total"] = (float(sum(sums.values(), Decimal(0)) / population), int(year))
    return out


def activity_costs(session: Session, organisation_id: int) -> dict[str, tuple[float, int]]:
    """``cout_unite_*`` and ``cout_benef_*`` from the organisation's latest costing."""
    report = latest_report(session, organisation_id)
    if report is None:
        return {}
    frame = report.activities
    pooled: dict[str, list[float]] = {}
    for _, row in frame.iterrows():
        kind = comparable_activity(str(row["output_unit"] or ""))
        full = float(row["full_cost"])
        if kind is None or not np.isfinite(full) or full <= 0:
            continue
        totals = pooled.setdefault(kind.key, [0.0, 0.0, 0.0])
        totals[0] += full
        totals[1] += float(row["volume"]) if np.isfinite(row["volume"]) else 0.0
        totals[2] += float(row["beneficiaries"]) if np.isfinite(row["beneficiaries"]) else 0.0
    out: dict[str, tuple[float, int]] = {}
    for key, (full, volume, beneficiaries) in pooled.items():
        if volume > 0:
            out[f"cout_unite_{key}"] = (full / volume, report.year)
        if beneficiaries > 0:
            out[f"cout_benef_{key}"] = (full / beneficiaries, report.year)
    return out


def coverage_rates(
    session: Session, organisation_id: int, labels: dict[str, str]
) -> dict[str, tuple[float, int | None]]:
    """``couverture_<group code>`` (%): covered / size over the group's needs of known size."""
    needs = session.execute(
        select(
            Need.id,
            Need.size,
            Need.priority,
            Need.priority_weight,
            Need.vintage,
            PopulationGroup.code,
            PopulationGroup.name,
        )
        .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
        .where(Need.organisation_id == organisation_id)
    ).all()
    if not needs:
        return {}
    frames = load_frames(session, organisation_id)
    result = coherence_of(frames).needs
    code_of = {n.id: n.code for n in needs}
    vintage_of = {n.id: n.vintage for n in needs}
    known = result[result["size"].notna() & (result["size"] > 0)].copy()
    if known.empty:
        return {}
    known["code"] = [code_of[int(i)] for i in known.index]
    out: dict[str, tuple[float, int | None]] = {}
    for code, group in known.groupby("code"):
        size = float(group["size"].sum())
        if size < DEFAULT_THRESHOLD:
            continue  # secret statistique: a rate over a handful of persons is not published
        vintages = [vintage_of[int(i)] for i in group.index if vintage_of[int(i)] is not None]
        key = f"couverture_{code}"
        out[key] = (float(group["covered"].sum()) / size * 100, max(vintages) if vintages else None)
        labels.setdefault(key, next(n.name for n in needs if n.code == code))
    return out


PER_YEAR = {PeriodKind.MONTH: 12, PeriodKind.QUARTER: 4, PeriodKind.YEAR: 1}


def processing_delays(
    session: Session, organisation_id: int, labels: dict[str, str]
) -> dict[str, tuple[float, int]]:
    """``delai_*``: mean of the validated values of the newest complete year of each delay indicator."""
    rows = session.execute(
        select(Indicator.code, Indicator.label, Period.kind, Period.start_date, Measurement.value)
        .join(Measurement, Measurement.indicator_id == Indicator.id)
        .join(Period, Period.id == Measurement.period_id)
        .where(Indicator.organisation_id == organisation_id, Indicator.code.like("delai%"))
        .where(Measurement.territory_id.is_(None), Measurement.state == MeasurementState.VALIDATED)
        .where(Measurement.value.is_not(None))
    ).all()
    frame = pd.DataFrame(rows, columns=["code", "label", "kind", "start", "value"])
    out: dict[str, tuple[float, int]] = {}
    if frame.empty:
        return out
    frame["year"] = [d.year for d in frame["start"]]
    for code, group in frame.groupby("code"):
        best: tuple[int, float] | None = None
        for cell_key, cell in group.groupby(["year", "kind"]):
            year, kind = int(cast(int, cell_key[0])), PeriodKind(cast(str, cell_key[1]))
            if len(cell) == PER_YEAR[kind] and (best is None or year > best[0]):
                best = (year, float(cell["value"].astype(float).mean()))
        if best is None:
            continue
        key = str(code).lower()
        if not re.fullmatch(r"delai_[a-z0-9_]{1,58}", key):
            continue
        out[key] = (best[1], best[0])
        labels.setdefault(key, str(group["label"].iloc[0]))
    return out


def organisation_contribution(
    session: Session, organisation: Organisation, labels: dict[str, str]
) -> Contribution:
    values: dict[str, tuple[float, int | None]] = {}
    values.update(spending_per_inhabitant(session, organisation))
    values.update(activity_costs(session, organisation.id))
    values.update(coverage_rates(session, organisation.id, labels))
    values.update(processing_delays(session, organisation.id, labels))
    values = {k: v for k, v in values.items() if math.isfinite(v[0])}
    return Contribution(
        key=("base", organisation.id),
        stratum=size_stratum(organisation.population),
        values=values,
        name=organisation.name,
        named=bool(organisation.benchmark_named),
        source="base",
    )


# --- Reference files -------------------------------------------------------------------------------------


def parse_reference(content: bytes, filename: str = "fichier") -> list[Contribution]:
    """Read an anonymised reference file, or refuse it whole (``BenchmarkError``, every problem located).

    Format: CSV in UTF-8 (a BOM is accepted), separator ``;`` (or ``,``), lines starting with ``#``
    are comments; header ``organisation;strate;indicateur;valeur;annee``; one row per organisation
    and indicator. ``organisation`` is an opaque code (1-12 letters, digits or hyphens, at least one
    digit: ``R01``, ``OCC-07``), never a name; ``strate`` a key of the size strata (``0-5k``,
    ``5-20k``, ``20-50k``, ``50-100k``, ``100k+``); ``indicateur`` a standard code; ``valeur`` a
    non-negative number (French: ``1 234,5`` or ``1234.5``, ``1.234`` refused as ambiguous, as in the grid; a coverage rate in % is at most 100); ``annee``
    the year of the value. One organisation has one stratum and one value per indicator.
    """
    if len(content) > MAX_REFERENCE_BYTES:
        raise BenchmarkError(
            [f"{filename} : fichier trop volumineux ({MAX_REFERENCE_BYTES // 2**20} Mo au plus)"]
        )
    try:  # the one CSV reader; UTF-8 only: these files are written for Pilotis, not by Excel
        table = tabular.read_csv(
            content, REFERENCE_CSV_LIMITS, strict=True, separators=(";", ","), comment="#"
        )
    except tabular.CsvError as exc:
        message = exc.messages[0]
        if message.startswith(tabular.EMPTY):
            message = "fichier vide"
        elif message.startswith("fichier trop long"):
            message = f"plus de {MAX_REFERENCE_ROWS} lignes"
        raise BenchmarkError([f"{filename} : {message}"]) from None
    problems: list[str] = []
    header_line, header_cells = table.rows[0]
    header = [h.strip().lower() for h in header_cells]
    if header != list(HEADER):
        raise BenchmarkError(
            [f"ligne {header_line} : en-tête attendu « {';'.join(HEADER)} », trouvé « {';'.join(header)} »"]
        )
    strata: dict[str, str] = {}
    seen: dict[tuple[str, str], int] = {}
    rows: list[tuple[str, str, float, int]] = []  # code, indicator, value, year
    for number, raw_cells in table.rows[1:]:
        cells = [c.strip() for c in raw_cells]
        where = f"ligne {number}"
        if len(cells) != len(HEADER):
            problems.append(f"{where} : {len(cells)} colonnes au lieu de {len(HEADER)}")
            continue
        code, stratum, indicator, raw_value, raw_year = cells
        ok = True
        if not CODE_PATTERN.match(code):
            problems.append(
                f"{where}, colonne « organisation » : « {code} » n'est pas un code anonyme "
                "(1 à 12 lettres, chiffres ou tirets, dont au moins un chiffre ; jamais un nom)"
            )
            ok = False
        if stratum not in STRATUM_KEYS:
            problems.append(
                f"{where}, colonne « strate » : « {stratum} » inconnue (attendu : {', '.join(STRATUM_KEYS)})"
            )
            ok = False
        elif code in strata and strata[code] != stratum:
            problems.append(
                f"{where}, colonne « strate » : l'organisation {code} est déjà dans la strate {strata[code]}"
            )
            ok = False
        info = indicator_info(indicator)
        if info is None:
            problems.append(
                f"{where}, colonne « indicateur » : « {indicator} » n'est pas un indicateur standard"
            )
            ok = False
        value: float | None
        try:  # the grid's reading: ``1.234`` is ambiguous there and here alike
            value = parse_french_number(raw_value)
        except NumberError as exc:
            value = None
            problems.append(f"{where}, colonne « valeur » : {exc}")
            ok = False
        if value is None:
            ok = False  # unreadable: already said above
        elif value < 0:
            problems.append(f"{where}, colonne « valeur » : {raw_value} est négatif")
            ok = False
        elif info is not None and info.unit == "%" and value > 100:
            problems.append(f"{where}, colonne « valeur » : un taux de couverture ne dépasse pas 100 %")
            ok = False
        else:
            try:
                check_value(value, info.unit if info else None, raw=raw_value)
            except NumberError as exc:
                problems.append(f"{where}, colonne « valeur » : {exc}")
                ok = False
        year = int(raw_year) if raw_year.isascii() and raw_year.isdigit() and len(raw_year) == 4 else None
        if year is None or not 1990 <= year <= 2200:
            problems.append(f"{where}, colonne « annee » : « {raw_year} » n'est pas une année (1990 à 2200)")
            ok = False
        if (code, indicator) in seen:
            problems.append(
                f"{where} : l'organisation {code} a déjà une valeur de « {indicator} » (ligne {seen[(code, indicator)]})"
            )
            ok = False
        if not ok:
            continue
        assert value is not None and year is not None  # noqa: S101 - checked just above
        strata.setdefault(code, stratum)
        seen[(code, indicator)] = number
        rows.append((code, indicator, value, year))
    if problems:
        raise BenchmarkError(problems)
    if not rows:
        raise BenchmarkError([f"{filename} : aucune ligne de valeurs"])
    by_code: dict[str, Contribution] = {}
    for code, indicator, value, year in rows:
        item = by_code.setdefault(
            code, Contribution(key=("ref", filename, code), stratum=strata[code], values={}, source=filename)
        )
        item.values[indicator] = (value, year)
    return list(by_code.values())


def reference_folder(instance_path: Path) -> Path:
    return Path(instance_path) / REFERENCE_FOLDER


def reference_files(instance_path: Path) -> list[Path]:
    """The imported reference files, by name."""
    folder = reference_folder(instance_path)
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def _safe_name(filename: str) -> str:
    stem = FILE_NAME_PATTERN.sub("_", Path(filename).name).strip("._") or "reference"
    return stem if stem.lower().endswith(".csv") else f"{stem}.csv"


@dataclass(frozen=True)
class ImportResult:
    path: Path
    organisations: int
    values: int
    replaced: bool
    unchanged: bool


def import_reference(instance_path: Path, content: bytes, filename: str) -> ImportResult:
    """Validate a reference file (all or nothing) and store it as ``<instance>/benchmark/<name>.csv``.

    A file of the same name is replaced; the same content again changes nothing.
    """
    contributions = parse_reference(content, filename)
    folder = reference_folder(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _safe_name(filename)
    existed = target.exists()
    unchanged = existed and hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(content).digest()
    if not unchanged:
        partial = target.with_suffix(".csv.part")
        partial.write_bytes(content)
        shutil.move(partial, target)  # atomic on one file system: the page never reads half a file
    return ImportResult(
        target,
        len(contributions),
        sum(len(c.values) for c in contributions),
        existed and not unchanged,
        unchanged,
    )


# --- Column mappings: a file laid out otherwise (one row per organisation, a column per indicator) ----

MAPPING_FOLDER = "mappings"
MAX_SOURCE_BYTES = 16 * 1024 * 1024
SOURCE_CSV_LIMITS = tabular.CsvLimits(
    bytes=MAX_SOURCE_BYTES, lines=200_000, rows=100_001, columns=1_000, label="fichier source"
)
MAPPING_NAME_PATTERN = re.compile(r"^[\w .'’()-]{1,80}$")


@dataclass(frozen=True)
class ReferenceMapping:
    """Which column of a source file holds what: the organisation's code, its stratum (a stratum key)
    or its population (the stratum is then computed), the year (or one year for the whole file), and
    the column of each standard indicator. Saved by name, reused for the next vintage of the file."""

    name: str
    organisation: str
    indicators: dict[str, str]
    stratum: str | None = None
    population: str | None = None
    year: str | None = None
    fixed_year: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "organisation": self.organisation,
            "stratum": self.stratum,
            "population": self.population,
            "year": self.year,
            "fixed_year": self.fixed_year,
            "indicators": dict(self.indicators),
        }


def check_mapping(mapping: ReferenceMapping) -> None:
    """Refuse a mapping that cannot work, whatever the file (every problem said, in French)."""
    problems: list[str] = []
    if not MAPPING_NAME_PATTERN.match(mapping.name.strip()):
        problems.append("nom de la correspondance : 1 à 80 lettres, chiffres, espaces ou « .'()- »")
    if not mapping.organisation.strip():
        problems.append("colonne du code de l'organisation : obligatoire")
    if not (mapping.stratum or mapping.population):
        problems.append("colonne de la strate ou de la population : l'une des deux est obligatoire")
    if not mapping.year and mapping.fixed_year is None:
        problems.append("année : une colonne ou une année pour tout le fichier est obligatoire")
    if mapping.fixed_year is not None and not 1990 <= mapping.fixed_year <= 2200:
        problems.append(f"année : « {mapping.fixed_year} » n'est pas une année (1990 à 2200)")
    if not mapping.indicators:
        problems.append("indicateurs : au moins une colonne d'indicateur standard")
    for code, column in mapping.indicators.items():
        if indicator_info(code) is None:
            problems.append(f"indicateurs : « {code} » n'est pas un indicateur standard")
        if not column.strip():
            problems.append(f"indicateurs : colonne vide pour « {code} »")
    if problems:
        raise BenchmarkError(problems)


def parse_mapping_lines(text: str) -> dict[str, str]:
    """``code = colonne`` per line (the form's text box) -> {code: column}; a bad line is refused."""
    out: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        code, sep, column = line.partition("=")
        if not sep or not code.strip() or not column.strip():
            problems.append(
                f"indicateurs, ligne {number} : attendu « code = colonne », trouvé « {line.strip()} »"
            )
            continue
        out[code.strip()] = column.strip()
    if problems:
        raise BenchmarkError(problems)
    return out


def _mapping_folder(instance_path: Path) -> Path:
    return reference_folder(instance_path) / MAPPING_FOLDER


def _mapping_path(instance_path: Path, name: str) -> Path:
    stem = FILE_NAME_PATTERN.sub("_", name.strip()).strip("._") or "correspondance"
    return _mapping_folder(instance_path) / f"{stem}.json"


def save_mapping(instance_path: Path, mapping: ReferenceMapping) -> Path:
    """Store a mapping (replacing one of the same name) after checking it."""
    check_mapping(mapping)
    path = _mapping_path(instance_path, mapping.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(mapping.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    shutil.move(partial, path)
    return path


def mappings(instance_path: Path) -> list[ReferenceMapping]:
    """The saved mappings, by name (a file that no longer reads is left out)."""
    folder = _mapping_folder(instance_path)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            out.append(
                ReferenceMapping(
                    name=str(data["name"]),
                    organisation=str(data["organisation"]),
                    indicators={str(k): str(v) for k, v in dict(data["indicators"]).items()},
                    stratum=data.get("stratum"),
                    population=data.get("population"),
                    year=data.get("year"),
                    fixed_year=data.get("fixed_year"),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def find_mapping(instance_path: Path, name: str) -> ReferenceMapping:
    for mapping in mappings(instance_path):
        if mapping.name == name:
            return mapping
    known = ", ".join(m.name for m in mappings(instance_path)) or "aucune"
    raise BenchmarkError([f"correspondance « {name} » inconnue (enregistrées : {known})"])


def apply_mapping(content: bytes, filename: str, mapping: ReferenceMapping) -> bytes:
    """Rewrite a source file through a mapping into the reference format (``HEADER``), or refuse it
    whole with located problems. Empty cells of an indicator are left out (no value); the values are
    then checked as any reference file's (:func:`parse_reference`)."""
    check_mapping(mapping)
    try:
        table = tabular.read_csv(content, SOURCE_CSV_LIMITS, separators=(";", ",", "\t"), comment="#")
    except tabular.CsvError as exc:
        raise BenchmarkError([f"{filename} : {m}" for m in exc.messages]) from None
    header_line, header_cells = table.rows[0]
    header = [h.strip() for h in header_cells]
    index = {name.casefold(): i for i, name in enumerate(header)}
    wanted = {
        "organisation": mapping.organisation,
        "strate": mapping.stratum,
        "population": mapping.population,
        "annee": mapping.year,
    } | {f"indicateur {code}": col for code, col in mapping.indicators.items()}
    missing = [
        f"ligne {header_line} : colonne « {column} » ({role}) absente du fichier"
        for role, column in wanted.items()
        if column and column.strip().casefold() not in index
    ]
    if missing:
        raise BenchmarkError([*missing, f"colonnes du fichier : {', '.join(header)}"])

    def cell(cells: list[str], column: str | None) -> str:
        i = index[column.strip().casefold()] if column else None
        return cells[i].strip() if i is not None and i < len(cells) else ""

    problems: list[str] = []
    lines = [";".join(HEADER)]
    for number, cells in table.rows[1:]:
        code = cell(cells, mapping.organisation)
        stratum = cell(cells, mapping.stratum)
        if not stratum and mapping.population:
            raw = cell(cells, mapping.population)
            try:
                population = parse_french_number(raw)
            except NumberError as exc:
                problems.append(f"ligne {number}, colonne « {mapping.population} » : {exc}")
                continue
            stratum = (
                size_stratum(int(population)) or "" if population is not None and population >= 0 else ""
            )
        year = cell(cells, mapping.year) if mapping.year else str(mapping.fixed_year)
        for indicator, column in mapping.indicators.items():
            value = cell(cells, column)
            if value:
                lines.append(";".join((code, stratum, indicator, value.replace(";", ","), year)))
    if problems:
        raise BenchmarkError(problems)
    if len(lines) == 1:
        raise BenchmarkError([f"{filename} : aucune valeur dans les colonnes des indicateurs"])
    return ("\n".join(lines) + "\n").encode("utf-8")


def import_mapped(
    instance_path: Path, content: bytes, filename: str, mapping: ReferenceMapping
) -> ImportResult:
    """Import a source file through a mapping: rewritten, checked whole, stored as a reference file."""
    converted = apply_mapping(content, filename, mapping)
    try:
        return import_reference(instance_path, converted, filename)
    except BenchmarkError as exc:  # the lines are the rewritten file's: say so
        raise BenchmarkError(
            [f"{p} (après correspondance « {mapping.name} »)" for p in exc.messages]
        ) from None


# --- The comparison ---------------------------------------------------------------------------------------


_REFERENCE_CACHE: dict[tuple[str, int, int], list[Contribution]] = {}


def load_references(instance_path: Path | None, *, include_sample: bool) -> list[Contribution]:
    """The contributions of the imported reference files (and of the sample, when asked and not
    imported already). A file that no longer reads is skipped: it was checked on import. A file is
    parsed once per content (name, size, modification time)."""
    out: list[Contribution] = []
    files = reference_files(instance_path) if instance_path is not None else []
    names = {f.name for f in files}
    if include_sample and SAMPLE_REFERENCE.name not in names:
        files = [*files, SAMPLE_REFERENCE]
    for path in files:
        try:
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            if key not in _REFERENCE_CACHE:
                _REFERENCE_CACHE[key] = parse_reference(path.read_bytes(), path.name)
            out += _REFERENCE_CACHE[key]
        except (BenchmarkError, OSError):
            continue
    return out


# --- Stored indicators ----------------------------------------------------------------------------------


def mark_stale(session: Session, organisation_id: int) -> None:
    """Say that an organisation's inputs changed (a budget, an adoption, a statistics import): its
    stored indicators are computed again at its next view of the comparison or by the nightly job."""
    refresh = session.get(BenchmarkRefresh, organisation_id)
    if refresh is None:
        session.add(BenchmarkRefresh(organisation_id=organisation_id, computed_at=None, stale=True))
    else:
        refresh.stale = True
    session.flush()


def refresh_indicators(session: Session, organisation_id: int, *, now: datetime | None = None) -> int:
    """Compute an organisation's standard indicators once and store them (replacing the previous
    ones) with their vintage; returns how many were stored. Flushes."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise ValueError("organisation inconnue")
    _lock(session, organisation_id)
    now = now or utcnow()
    labels: dict[str, str] = {}
    contribution = organisation_contribution(session, organisation, labels)
    session.execute(delete(BenchmarkValue).where(BenchmarkValue.organisation_id == organisation_id))
    rows = [
        {
            "organisation_id": organisation_id,
            "code": code,
            "value": value,
            "year": year,
            "label": labels.get(code),
            "computed_at": now,
        }
        for code, (value, year) in contribution.values.items()
    ]
    if rows:
        session.execute(insert(BenchmarkValue), rows)
    refresh = session.get(BenchmarkRefresh, organisation_id)
    if refresh is None:
        session.add(BenchmarkRefresh(organisation_id=organisation_id, computed_at=now, stale=False))
    else:
        refresh.computed_at, refresh.stale = now, False
    session.flush()
    return len(rows)


#: The first key of the PostgreSQL advisory locks of the refresh (the second is the organisation).
LOCK_SPACE = 0x62656E63  # "benc"


def _lock(session: Session, organisation_id: int) -> None:
    """Two refreshes of one organisation at once (two views, the nightly job) wait for each other on
    PostgreSQL (a transaction-scoped advisory lock); SQLite's writes are serialised already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_SPACE, organisation_id)))


def needs_refresh(session: Session, organisation_id: int) -> bool:
    """True when the organisation's indicators were never stored or their inputs changed since."""
    refresh = session.scalars(
        select(BenchmarkRefresh)
        .where(BenchmarkRefresh.organisation_id == organisation_id)
        .execution_options(populate_existing=True)
    ).first()
    return refresh is None or refresh.stale or refresh.computed_at is None


def _refresh_if_needed(session: Session, organisation_id: int) -> None:
    if needs_refresh(session, organisation_id):
        _lock(session, organisation_id)
        if needs_refresh(session, organisation_id):  # not done meanwhile by another process
            refresh_indicators(session, organisation_id)


def organisations_to_refresh(session: Session) -> list[int]:
    """The organisations whose indicators were never stored or are stale, by id."""
    fresh = select(BenchmarkRefresh.organisation_id).where(
        BenchmarkRefresh.stale.is_(False), BenchmarkRefresh.computed_at.is_not(None)
    )
    return list(
        session.scalars(
            select(Organisation.id).where(Organisation.id.not_in(fresh)).order_by(Organisation.id)
        )
    )


def refresh_all(session: Session, *, only_stale: bool = True, now: datetime | None = None) -> int:
    """Store the indicators of every organisation (or of those missing or stale); returns how many."""
    ids = (
        organisations_to_refresh(session)
        if only_stale
        else list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
    )
    for organisation_id in ids:
        refresh_indicators(session, organisation_id, now=now)
    return len(ids)


#: At a view, organisations never computed are computed at once when they are this few (a small
#: instance just upgraded, a new organisation); more are left to the nightly job.
MAX_INLINE_REFRESH = 20


def ensure_fresh(session: Session, organisation_id: int) -> None:
    """Store the viewer's indicators when missing or stale, and those of the few organisations never
    computed (see :data:`MAX_INLINE_REFRESH`); the others' stale values wait for the nightly job."""
    _refresh_if_needed(session, organisation_id)
    never = (
        select(Organisation.id)
        .where(Organisation.id.not_in(select(BenchmarkRefresh.organisation_id)))
        .limit(MAX_INLINE_REFRESH + 1)
    )
    missing = list(session.scalars(never))
    if len(missing) <= MAX_INLINE_REFRESH:
        for other in missing:
            _refresh_if_needed(session, other)


# --- The comparison ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Counts of values between equal-width bounds; the viewer's bin; the stratum's counts."""

    edges: list[float]
    counts: list[int]
    own_bin: int | None
    stratum_counts: list[int] | None


@dataclass
class IndicatorComparison:
    info: IndicatorInfo
    comparison: Comparison
    own_year: int | None
    #: A French sentence when the indicator cannot be compared.
    note: str | None = None
    histogram: Histogram | None = None
    #: the size stratum of each contributor (stratum key -> contributors), when comparable
    strata: dict[str, int] = field(default_factory=dict)


@dataclass
class Benchmark:
    organisation_id: int
    organisation_name: str
    stratum: str | None
    stratum_label: str | None
    named: bool
    #: family key -> its indicators, in catalogue order.
    families: dict[str, list[IndicatorComparison]]
    database_organisations: int
    reference_sources: list[str]
    reference_organisations: int
    rule: str = K_ANONYMITY_RULE.format(k=MIN_CONTRIBUTORS)
    notes: dict[str, str] = field(default_factory=lambda: dict(FAMILY_NOTES))
    #: when the viewer's own indicators were computed
    computed_at: datetime | None = None

    @property
    def comparable_count(self) -> int:
        return sum(1 for items in self.families.values() for i in items if i.comparison.comparable)


def _sort_key(code: str) -> tuple[int, str]:
    if code == "depense_hab_total":
        return (0, "")
    for i, kind in enumerate(COMPARABLE_ACTIVITIES):
        if code.endswith("_" + kind.key) and code.startswith("cout_"):
            return (1, f"{i:02d}{code}")
    return (2, code)


HISTOGRAM_BINS = 10


#: The size stratum (index in ``STRATA``, -1 unknown) of a population, computed by the database.
_STRATUM_SQL = (
    "CASE WHEN o.population IS NULL THEN -1 "
    + " ".join(f"WHEN o.population < {s.high} THEN {i}" for i, s in enumerate(STRATA) if s.high is not None)
    + f" ELSE {len(STRATA) - 1} END"
)
#: Fixed text (no input goes into it): the stored values by indicator, with their stratum.
_STORED_SQL = (
    f"SELECT v.code, v.value, {_STRATUM_SQL} FROM benchmark_values v "  # noqa: S608 - constants only
    "JOIN organisations o ON o.id = v.organisation_id ORDER BY v.code"
)

Distribution = dict[str, tuple[np.ndarray, np.ndarray]]


_STORED_SQL_POSTGRESQL = (
    f"SELECT v.code, array_agg(v.value), array_agg({_STRATUM_SQL}) FROM benchmark_values v "  # noqa: S608
    "JOIN organisations o ON o.id = v.organisation_id GROUP BY v.code"
)


def _stored_values_postgresql(session: Session) -> Distribution:
    """PostgreSQL gathers each indicator's values into one array: a dozen rows cross the wire."""
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STORED_SQL_POSTGRESQL)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return {
        str(code): (np.asarray(values, dtype=float), np.asarray(strata, dtype=np.int64))
        for code, values, strata in rows
    }


def stored_values(session: Session) -> Distribution:
    """Every stored indicator of the organisations compared, in one SQL query read by the driver's
    cursor (no ORM row per value: 14 000 organisations hold some 160 000 values): code -> (values,
    stratum index of each, -1 when the population is unknown)."""
    if session.get_bind().dialect.name == "postgresql":
        return _stored_values_postgresql(session)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STORED_SQL)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return {}
    codes, values, strata = zip(*rows, strict=True)
    code_array = np.asarray(codes, dtype=object)
    value_array = np.asarray(values, dtype=float)
    stratum_array = np.asarray(strata, dtype=np.int64)
    # rows come by code: each code's rows are one slice
    starts = [0, *(np.flatnonzero(code_array[1:] != code_array[:-1]) + 1).tolist(), len(codes)]
    out: Distribution = {}
    for start, end in itertools.pairwise(starts):
        out[str(codes[start])] = (value_array[start:end], stratum_array[start:end])
    return out


def histogram(values: np.ndarray, own: float | None, strata: np.ndarray, own_stratum: int) -> Histogram:
    """``HISTOGRAM_BINS`` equal-width bins from the lowest to the highest value (numpy's rule: the
    last bin includes its upper bound); the bin holding ``own``; the counts of ``own_stratum``."""
    low, high = float(values.min()), float(values.max())
    if high == low:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(low, high))
    own_bin = None
    if own is not None:
        own_bin = min(HISTOGRAM_BINS - 1, int(np.searchsorted(edges, own, side="right")) - 1)
    peer = None
    if own_stratum >= 0 and (strata == own_stratum).sum() >= MIN_CONTRIBUTORS:
        peer = [int(c) for c in np.histogram(values[strata == own_stratum], bins=edges)[0]]
    return Histogram([float(e) for e in edges], [int(c) for c in counts], own_bin, peer)


def _summarise(
    values: np.ndarray, strata: np.ndarray, own_value: float | None, own_stratum: int
) -> tuple[Comparison, Histogram | None]:
    """The comparison of one indicator from its values (the viewer's included, when known)."""
    n = len(values)
    comparable = n >= MIN_CONTRIBUTORS
    key = STRATA[own_stratum].key if own_stratum >= 0 else None
    rank = stats = None
    if comparable:
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        stats = Quartiles(float(q1), float(median), float(q3))
        rank = 1 + int((values < own_value).sum()) if own_value is not None else None
    peers = values[strata == own_stratum] if own_stratum >= 0 else values[:0]
    stratum_comparable = comparable and len(peers) >= MIN_CONTRIBUTORS
    stratum_rank = stratum_stats = None
    if stratum_comparable:
        q1, median, q3 = np.quantile(peers, [0.25, 0.5, 0.75])
        stratum_stats = Quartiles(float(q1), float(median), float(q3))
        stratum_rank = 1 + int((peers < own_value).sum()) if own_value is not None else None
    rows = pd.DataFrame(columns=ROW_COLUMNS)
    comparison = Comparison(
        n=n,
        comparable=comparable,
        own_value=own_value,
        rank=rank,
        quartiles=stats,
        stratum=key,
        stratum_n=len(peers) if key is not None else 0,
        stratum_comparable=stratum_comparable,
        stratum_rank=stratum_rank,
        stratum_quartiles=stratum_stats,
        rows=rows,
    )
    return comparison, histogram(values, own_value, strata, own_stratum) if comparable else None


def _own_rows(session: Session, organisation_id: int) -> dict[str, tuple[float, int | None, str | None]]:
    rows = session.execute(
        select(BenchmarkValue.code, BenchmarkValue.value, BenchmarkValue.year, BenchmarkValue.label).where(
            BenchmarkValue.organisation_id == organisation_id
        )
    ).all()
    return {code: (float(value), year, label) for code, value, year, label in rows}


def _with_references(stored: Distribution, references: Sequence[Contribution]) -> Distribution:
    index = {s.key: i for i, s in enumerate(STRATA)}
    extra: dict[str, tuple[list[float], list[int]]] = {}
    for c in references:
        for code, (value, _) in c.values.items():
            values, strata = extra.setdefault(code, ([], []))
            values.append(value)
            strata.append(index.get(c.stratum or "", -1))
    out = dict(stored)
    for code, (values, strata) in extra.items():
        old_values, old_strata = out.get(code, (np.empty(0), np.empty(0, dtype=np.int64)))
        out[code] = (
            np.concatenate([old_values, np.asarray(values, dtype=float)]),
            np.concatenate([old_strata, np.asarray(strata, dtype=np.int64)]),
        )
    return out


def build_benchmark(
    session: Session, organisation_id: int, *, instance_path: Path | None = None, update_own: bool = True
) -> Benchmark:
    """Compare one organisation with the stored indicators of the others and the reference files.

    The viewer's own indicators are computed first when missing or stale; the others' are read as
    stored. Every statistic shown obeys the k >= 3 rule (overall and within the stratum).
    """
    own = session.get(Organisation, organisation_id)
    if own is None:
        raise ValueError("organisation inconnue")
    if update_own:
        ensure_fresh(session, organisation_id)
    mine = _own_rows(session, organisation_id)
    labels = {code: label for code, (_, _, label) in mine.items() if label}
    references = load_references(instance_path, include_sample=own.slug.startswith(DEMO_PREFIX))
    grouped = _with_references(stored_values(session), references)
    own_stratum_key = size_stratum(own.population)
    own_stratum = STRATUM_KEYS.index(own_stratum_key) if own_stratum_key else -1
    families: dict[str, list[IndicatorComparison]] = {key: [] for key in FAMILIES}
    missing = [code for code in grouped if code not in labels and indicator_info(code) is not None]
    if missing:
        found = session.execute(
            select(BenchmarkValue.code, func.min(BenchmarkValue.label))
            .where(BenchmarkValue.code.in_(missing), BenchmarkValue.label.is_not(None))
            .group_by(BenchmarkValue.code)
        ).all()
        for code, label in found:
            labels[str(code)] = str(label)
    for code in sorted(grouped, key=_sort_key):
        info = indicator_info(code, labels)
        if info is None:
            continue
        code_values, code_strata = grouped[code]
        own_value = mine[code][0] if code in mine else None
        comparison, hist = _summarise(code_values, code_strata, own_value, own_stratum)
        if own_value is not None:
            own_row = pd.DataFrame(
                [
                    [
                        ("base", own.id),
                        f"{own.name} (vous)",
                        own_stratum_key,
                        own_value,
                        mine[code][1],
                        True,
                        True,
                    ]
                ],
                columns=ROW_COLUMNS,
            )
            comparison = replace(comparison, rows=own_row)
        if own_value is None and not comparison.comparable:
            continue  # nothing to say: neither a value of ours nor a distribution we may show
        note = None if comparison.comparable else NOT_COMPARABLE.format(k=MIN_CONTRIBUTORS)
        by_stratum: dict[str, int] = {}
        if comparison.comparable:
            keys, counts = np.unique(code_strata, return_counts=True)
            by_stratum = {STRATA[int(i)].key: int(n) for i, n in zip(keys, counts, strict=True) if i >= 0}
        own_year = mine[code][1] if code in mine else None
        families[info.family].append(IndicatorComparison(info, comparison, own_year, note, hist, by_stratum))
    refresh = session.get(BenchmarkRefresh, organisation_id)
    return Benchmark(
        organisation_id=own.id,
        organisation_name=own.name,
        stratum=own_stratum_key,
        stratum_label=STRATUM_LABELS.get(own_stratum_key or ""),
        named=bool(own.benchmark_named),
        families={k: v for k, v in families.items() if v},
        database_organisations=int(session.scalar(select(func.count(Organisation.id))) or 0),
        reference_sources=sorted({c.source for c in references}),
        reference_organisations=len(references),
        computed_at=refresh.computed_at if refresh else None,
    )


PAGE_SIZE = 50


@dataclass(frozen=True)
class PageRow:
    label: str
    stratum: str | None
    value: float
    year: int | None
    own: bool
    contributor: tuple[Any, ...]


@dataclass(frozen=True)
class ValuesPage:
    """One page of the values of a comparable indicator, by increasing value."""

    info: IndicatorInfo
    rows: list[PageRow]
    page: int
    pages: int
    total: int


def values_page(
    session: Session,
    organisation_id: int,
    code: str,
    *,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    instance_path: Path | None = None,
    update_own: bool = True,
) -> ValuesPage | None:
    """A page of the values of one indicator, for a viewer: None when fewer than k organisations
    contribute (nothing of the others is shown). Others are « Organisation A, B… » (stable letters:
    database ids, then reference codes) unless they agreed to be named."""
    own = session.get(Organisation, organisation_id)
    if own is None:
        raise ValueError("organisation inconnue")
    if update_own:
        ensure_fresh(session, organisation_id)
    rows = session.execute(
        select(
            BenchmarkValue.organisation_id,
            BenchmarkValue.value,
            BenchmarkValue.year,
            BenchmarkValue.label,
            Organisation.name,
            Organisation.benchmark_named,
            Organisation.population,
        )
        .join(Organisation, Organisation.id == BenchmarkValue.organisation_id)
        .where(BenchmarkValue.code == code)
        .order_by(BenchmarkValue.organisation_id)
    ).all()
    references = [
        c
        for c in load_references(instance_path, include_sample=own.slug.startswith(DEMO_PREFIX))
        if code in c.values
    ]
    label_of = next((r.label for r in rows if r.organisation_id == own.id and r.label), None)
    info = indicator_info(code, {code: label_of} if label_of else {})
    if info is None or len(rows) + len(references) < MIN_CONTRIBUTORS:
        return None
    all_ids = session.scalars(select(Organisation.id).order_by(Organisation.id)).all()
    letters = anonymous_labels([("base", i) for i in all_ids if i != own.id] + [c.key for c in references])
    out: list[PageRow] = []
    for r in rows:
        key = ("base", r.organisation_id)
        is_own = r.organisation_id == own.id
        label = f"{own.name} (vous)" if is_own else (r.name if r.benchmark_named else letters[key])
        out.append(PageRow(label, size_stratum(r.population), float(r.value), r.year, is_own, key))
    for c in references:
        value, year = c.values[code]
        out.append(PageRow(letters[c.key], c.stratum, value, year, False, c.key))
    out.sort(key=lambda r: (r.value, not r.own))
    pages = max(1, math.ceil(len(out) / per_page))
    page = min(max(1, page), pages)
    return ValuesPage(info, out[(page - 1) * per_page : page * per_page], page, pages, len(out))


def set_named(session: Session, organisation_id: int, named: bool) -> bool:
    """Record the organisation's consent to be named in others' benchmarks. Flushes; True if changed."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise ValueError("organisation inconnue")
    if organisation.benchmark_named == named:
        return False
    organisation.benchmark_named = named
    session.flush()
    return True


# --- Outputs ----------------------------------------------------------------------------------------------


def _num(value: float | None, decimals: int = 2) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), decimals)


def _histogram_json(hist: Histogram | None, decimals: int) -> dict[str, Any] | None:
    if hist is None:
        return None
    return {
        "bins": [
            {"from": _num(low, decimals), "to": _num(high, decimals), "organisations": n}
            for low, high, n in zip(hist.edges, hist.edges[1:], hist.counts, strict=False)
        ],
        "own_bin": hist.own_bin,
        "stratum_counts": hist.stratum_counts,
    }


def values_page_json(page: ValuesPage) -> dict[str, Any]:
    """One page of an indicator's values (labels anonymous unless consented), for the CLI."""
    decimals = page.info.decimals
    return {
        "code": page.info.code,
        "page": page.page,
        "pages": page.pages,
        "organisations_total": page.total,
        "organisations": [
            {
                "label": r.label,
                "stratum": r.stratum,
                "value": _num(r.value, decimals),
                "year": r.year,
                "own": r.own,
            }
            for r in page.rows
        ],
    }


def benchmark_json(view: Benchmark) -> dict[str, Any]:
    """The comparison as plain data (what the CLI prints): never another organisation's value of an
    indicator that is not comparable."""
    families = []
    for family, items in view.families.items():
        indicators = []
        for item in items:
            c, info = item.comparison, item.info
            q = c.quartiles
            sq = c.stratum_quartiles
            indicators.append(
                {
                    "code": info.code,
                    "label": info.label,
                    "unit": info.unit,
                    "value": _num(c.own_value, info.decimals),
                    "year": item.own_year,
                    "comparable": c.comparable,
                    "note": item.note,
                    "contributors": c.n if c.comparable else None,
                    "rank": c.rank,
                    "quartiles": None if q is None else [_num(x, info.decimals) for x in q],
                    "stratum": {
                        "contributors": c.stratum_n,
                        "rank": c.stratum_rank,
                        "quartiles": [_num(x, info.decimals) for x in sq],
                    }
                    if c.stratum_comparable and sq is not None
                    else None,
                    "strata": item.strata if c.comparable else None,
                    "histogram": _histogram_json(item.histogram, info.decimals),
                }
            )
        families.append(
            {
                "family": family,
                "label": FAMILIES[family],
                "note": view.notes[family],
                "indicators": indicators,
            }
        )
    return {
        "organisation": view.organisation_name,
        "stratum": view.stratum,
        "stratum_label": view.stratum_label,
        "named_in_others_benchmarks": view.named,
        "rule": view.rule,
        "database_organisations": view.database_organisations,
        "computed_at": view.computed_at.isoformat() if view.computed_at else None,
        "reference_files": view.reference_sources,
        "reference_organisations": view.reference_organisations,
        "families": families,
    }


def benchmark_workbook(view: Benchmark) -> bytes:
    """The comparison as a workbook: a summary per indicator, the detail of the comparable ones,
    and the rules (k-anonymity, strata, definitions). Numbers stay numbers; text is never a formula."""
    book = Workbook()
    summary = book.active
    if summary is None:  # pragma: no cover - a new workbook always has a sheet
        raise RuntimeError("classeur sans feuille")
    summary.title = "Synthèse"
    set_cell(summary.cell(row=1, column=1), f"Comparaison entre organisations — {view.organisation_name}")
    summary.cell(row=1, column=1).font = Font(bold=True, size=14)
    set_cell(
        summary.cell(row=2, column=1), f"Strate de taille : {view.stratum_label or 'population inconnue'}"
    )
    set_cell(summary.cell(row=3, column=1), view.rule)
    headers = [
        "Famille",
        "Code",
        "Indicateur",
        "Unité",
        "Votre valeur",
        "Année",
        "Organisations",
        "Rang (croissant)",
        "1er quartile",
        "Médiane",
        "3e quartile",
        "Organisations de la strate",
        "Rang dans la strate",
        "Médiane de la strate",
        "Remarque",
    ]
    write_header(summary, 5, headers)
    detail = book.create_sheet("Détail")
    write_header(
        detail, 1, ["Code", "Indicateur", "Unité", "De", "À", "Organisations", "Dont votre strate", "Vous"]
    )
    row = 6
    drow = 2
    for family, items in view.families.items():
        for item in items:
            c, info = item.comparison, item.info
            q, sq = c.quartiles, c.stratum_quartiles
            values: list[Any] = [
                FAMILIES[family],
                info.code,
                info.label,
                info.unit,
                _num(c.own_value, info.decimals),
                item.own_year,
                c.n if c.comparable else None,
                c.rank,
                *(list(q) if q else [None] * 3),
                c.stratum_n if c.stratum_comparable else None,
                c.stratum_rank,
                sq.median if sq else None,
                item.note or "",
            ]
            for col, value in enumerate(values, start=1):
                cell = summary.cell(row=row, column=col)
                set_cell(cell, _num(value, info.decimals) if isinstance(value, float) else value)
                if isinstance(value, float):
                    cell.number_format = "#,##0." + "0" * info.decimals if info.decimals else "#,##0"
            row += 1
            if not c.comparable:
                continue
            hist = item.histogram
            if hist is None:
                continue
            for i, count in enumerate(hist.counts):
                out: list[Any] = [
                    info.code,
                    info.label,
                    info.unit,
                    _num(hist.edges[i], info.decimals),
                    _num(hist.edges[i + 1], info.decimals),
                    count,
                    hist.stratum_counts[i] if hist.stratum_counts else None,
                    "oui" if hist.own_bin == i else "",
                ]
                for col, value in enumerate(out, start=1):
                    set_cell(detail.cell(row=drow, column=col), value)
                drow += 1
    rules = book.create_sheet("Règles")
    lines = [
        view.rule,
        "Rang : ordre croissant des valeurs (1 = la plus faible), ex aequo au meilleur rang ; il ne dit pas "
        "ce qui est « mieux ».",
        "Quartiles : interpolation linéaire entre valeurs ordonnées (QUARTILE.INC d'Excel).",
        f"Détail : la distribution en {HISTOGRAM_BINS} classes de même largeur, de la plus faible à la plus "
        "forte valeur (la dernière classe inclut sa borne haute).",
        "Anonymat : les autres organisations sont « Organisation A, B… » (lettres stables), sauf celles qui "
        "ont accepté d'être nommées.",
        "Strates de taille : " + " ; ".join(f"{s.key} = {s.label}" for s in STRATA) + ".",
        *(f"{FAMILIES[k]} : {v}" for k, v in view.notes.items()),
        "Référentiels importés : " + (", ".join(view.reference_sources) or "aucun") + ".",
    ]
    for i, line in enumerate(lines, start=1):
        set_cell(rules.cell(row=i, column=1), line)
    for sheet, widths in (
        (summary, [30, 24, 44, 18, 14, 8, 14, 14, 12, 12, 12, 16, 14, 14, 44]),
        (detail, [24, 44, 18, 12, 12, 14, 16, 6]),
        (rules, [160]),
    ):
        for col, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(col)].width = width
    summary.freeze_panes = "A6"
    detail.freeze_panes = "A2"
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def reference_text_summary(contributions: Sequence[Contribution]) -> str:
    """One French line describing a parsed reference file (for the CLI)."""
    strata = pd.Series([c.stratum for c in contributions]).value_counts()
    parts = ", ".join(f"{int(n)} en {k}" for k, n in strata.items())
    return f"{len(contributions)} organisation(s) anonyme(s) ({parts})"


__all__ = [
    "SAMPLE_REFERENCE",
    "Benchmark",
    "BenchmarkError",
    "IndicatorComparison",
    "benchmark_json",
    "benchmark_workbook",
    "build_benchmark",
    "ensure_fresh",
    "import_reference",
    "mark_stale",
    "parse_reference",
    "reference_files",
    "refresh_all",
    "refresh_indicators",
    "set_named",
    "values_page",
]
