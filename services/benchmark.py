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
import math
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
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
from scorecard.benchmark import (
    K_ANONYMITY_RULE,
    MIN_CONTRIBUTORS,
    NOT_COMPARABLE,
    STRATA,
    STRATUM_KEYS,
    STRATUM_LABELS,
    Comparison,
    anonymous_labels,
    compare,
    size_stratum,
)
from scorecard.confidentiality import DEFAULT_THRESHOLD
from scorecard.errors import UserError
from services import tabular
from services.coherence import coherence_of, load_frames
from services.costing import latest_report
from services.exports import set_cell
from services.nomenclatures import function_label
from services.numbers import NumberError, check_value, parse_french_number

DATA_DIR = Path(__file__).resolve().parent / "data" / "benchmark"
#: The illustrative reference shipped with Pilotis (invented values, documented in its header).
SAMPLE_REFERENCE = DATA_DIR / "reference_ccas_occitanie.csv"
#: Where imported reference files live, under the instance folder.
REFERENCE_FOLDER = "benchmark"
DEMO_PREFIX = "demo-"
MAX_REFERENCE_BYTES = 2 * 1024 * 1024
MAX_REFERENCE_ROWS = 50_000
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
        select(Need.id, Need.size, Need.priority, Need.priority_weight, Need.vintage,
               PopulationGroup.code, PopulationGroup.name)
        .join(PopulationGroup, PopulationGroup.id == Need.population_group_id)
        .where(Need.organisation_id == organisation_id)
    ).all()  # fmt: skip
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
        raise BenchmarkError([f"{filename} : fichier trop volumineux (2 Mo au plus)"])
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


# --- The comparison ---------------------------------------------------------------------------------------


@dataclass
class IndicatorComparison:
    info: IndicatorInfo
    comparison: Comparison
    own_year: int | None
    #: A French sentence when the indicator cannot be compared.
    note: str | None = None


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


def load_references(instance_path: Path | None, *, include_sample: bool) -> list[Contribution]:
    """The contributions of the imported reference files (and of the sample, when asked and not
    imported already). A file that no longer reads is skipped: it was checked on import."""
    out: list[Contribution] = []
    files = reference_files(instance_path) if instance_path is not None else []
    names = {f.name for f in files}
    if include_sample and SAMPLE_REFERENCE.name not in names:
        files = [*files, SAMPLE_REFERENCE]
    for path in files:
        try:
            out += parse_reference(path.read_bytes(), path.name)
        except (BenchmarkError, OSError):
            continue
    return out


def build_benchmark(
    session: Session, organisation_id: int, *, instance_path: Path | None = None
) -> Benchmark:
    """Compare one organisation with the others of the database and the reference files."""
    own = session.get(Organisation, organisation_id)
    if own is None:
        raise ValueError("organisation inconnue")
    labels: dict[str, str] = {}
    organisations = session.scalars(select(Organisation).order_by(Organisation.id)).all()
    mine = organisation_contribution(session, own, labels)  # its labels of publics and delays first
    contributions = [mine] + [
        organisation_contribution(session, o, labels) for o in organisations if o.id != own.id
    ]
    references = load_references(instance_path, include_sample=own.slug.startswith(DEMO_PREFIX))
    contributions += references
    letters = anonymous_labels(c.key for c in contributions if c.key != mine.key)
    display = {
        c.key: (c.name or "") if c.named and c.name else str(letters[c.key])
        for c in contributions
        if c.key != mine.key
    }
    display[mine.key] = f"{own.name} (vous)"
    codes = {code for c in contributions for code in c.values}
    families: dict[str, list[IndicatorComparison]] = {key: [] for key in FAMILIES}
    for code in sorted(codes, key=_sort_key):
        info = indicator_info(code, labels)
        if info is None:
            continue
        frame = pd.DataFrame(
            [
                {
                    "contributor": c.key,
                    "label": display[c.key],
                    "stratum": c.stratum,
                    "value": c.values[code][0],
                    "year": c.values[code][1],
                    "source": c.source,
                }
                for c in contributions
                if code in c.values
            ],
            columns=["contributor", "label", "stratum", "value", "year", "source"],
        )
        result = compare(frame, mine.key, own_stratum=mine.stratum)
        if code not in mine.values and not result.comparable:
            continue  # nothing to say: neither a value of ours nor a distribution we may show
        note = None if result.comparable else NOT_COMPARABLE.format(k=MIN_CONTRIBUTORS)
        own_year = mine.values[code][1] if code in mine.values else None
        families[info.family].append(IndicatorComparison(info, result, own_year, note))
    return Benchmark(
        organisation_id=own.id,
        organisation_name=own.name,
        stratum=mine.stratum,
        stratum_label=STRATUM_LABELS.get(mine.stratum or ""),
        named=bool(own.benchmark_named),
        families={k: v for k, v in families.items() if v},
        database_organisations=len(organisations),
        reference_sources=sorted({c.source for c in references}),
        reference_organisations=len(references),
    )


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
                    "organisations": [
                        {
                            "label": str(r["label"]),
                            "stratum": r["stratum"],
                            "value": _num(float(r["value"]), info.decimals),
                            "year": None if pd.isna(r["year"]) else int(r["year"]),
                            "own": bool(r["own"]),
                        }
                        for _, r in c.rows.iterrows()
                    ]
                    if c.comparable
                    else [],
                }
            )
        families.append({"family": family, "label": FAMILIES[family], "note": view.notes[family],
                         "indicators": indicators})  # fmt: skip
    return {
        "organisation": view.organisation_name,
        "stratum": view.stratum,
        "stratum_label": view.stratum_label,
        "named_in_others_benchmarks": view.named,
        "rule": view.rule,
        "database_organisations": view.database_organisations,
        "reference_files": view.reference_sources,
        "reference_organisations": view.reference_organisations,
        "families": families,
    }


def _header(sheet: Any, row: int, headers: Sequence[str]) -> None:
    for col, header in enumerate(headers, start=1):
        cell = sheet.cell(row=row, column=col)
        set_cell(cell, header)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E8C")


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
        "Famille", "Code", "Indicateur", "Unité", "Votre valeur", "Année", "Organisations", "Rang (croissant)",
        "1er quartile", "Médiane", "3e quartile", "Organisations de la strate", "Rang dans la strate",
        "Médiane de la strate", "Remarque",
    ]  # fmt: skip
    _header(summary, 5, headers)
    detail = book.create_sheet("Détail")
    _header(detail, 1, ["Code", "Indicateur", "Unité", "Organisation", "Strate", "Valeur", "Année", "Vous"])
    row = 6
    drow = 2
    for family, items in view.families.items():
        for item in items:
            c, info = item.comparison, item.info
            q, sq = c.quartiles, c.stratum_quartiles
            values: list[Any] = [
                FAMILIES[family], info.code, info.label, info.unit, _num(c.own_value, info.decimals), item.own_year,
                c.n if c.comparable else None, c.rank, *(list(q) if q else [None] * 3),
                c.stratum_n if c.stratum_comparable else None, c.stratum_rank,
                sq.median if sq else None, item.note or "",
            ]  # fmt: skip
            for col, value in enumerate(values, start=1):
                cell = summary.cell(row=row, column=col)
                set_cell(cell, _num(value, info.decimals) if isinstance(value, float) else value)
                if isinstance(value, float):
                    cell.number_format = "#,##0." + "0" * info.decimals if info.decimals else "#,##0"
            row += 1
            if not c.comparable:
                continue
            for _, r in c.rows.iterrows():
                out: list[Any] = [
                    info.code, info.label, info.unit, str(r["label"]), STRATUM_LABELS.get(str(r["stratum"]), ""),
                    _num(float(r["value"]), info.decimals), None if pd.isna(r["year"]) else int(r["year"]),
                    "oui" if bool(r["own"]) else "",
                ]  # fmt: skip
                for col, value in enumerate(out, start=1):
                    set_cell(detail.cell(row=drow, column=col), value)
                drow += 1
    rules = book.create_sheet("Règles")
    lines = [
        view.rule,
        "Rang : ordre croissant des valeurs (1 = la plus faible), ex aequo au meilleur rang ; il ne dit pas "
        "ce qui est « mieux ».",
        "Quartiles : interpolation linéaire entre valeurs ordonnées (QUARTILE.INC d'Excel).",
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
        (detail, [24, 44, 18, 34, 28, 12, 8, 6]),
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
    "import_reference",
    "parse_reference",
    "reference_files",
    "set_named",
]
