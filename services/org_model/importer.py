"""Reading the organisation's model workbook back: everything checked, then everything written.

Three passes, like the measurement import (services/measurement_io.py):

1. every cell of every sheet is read (hostile files refused by ``open_workbook``; headers, formulas,
   numbers in French, dates, lists, duplicates): any problem stops here, located;
2. the references between sheets and the rules across rows are checked against what Pilotis holds
   and what the workbook adds (unknown codes, shares of an activity not adding to 100 %, cycles
   among objectives or formulas, rows changed in Pilotis since the export): located again;
3. only what differs is written, through the ORM (the audit journal records each field) and the
   services that own the rules (objectives and indicators: services/steering.py), inside a
   savepoint: a refusal there undoes the whole import.

Rows absent from the workbook are left alone. Detail rows (yearly volumes, territories served,
coverage links, targets) are removed by « Supprimer : oui »; an activity is archived, an
objective closed; services, publics, needs and indicators are never deleted by a workbook.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Activity,
    ActivityDelivery,
    ActivityKind,
    ActivityNeedCoverage,
    ActivityVolume,
    Direction,
    Indicator,
    Need,
    Objective,
    ObjectiveStatus,
    Organisation,
    PopulationGroup,
    Service,
    ServiceKind,
    Target,
    TerritoryStatistic,
    ThresholdMode,
)
from scorecard import periods as P
from scorecard.formula import FormulaError, parse_formula
from services import statistics_catalog as catalog
from services.editing import StaleEdit, last_change
from services.needs import resize_needs, set_priority
from services.numbers import format_number
from services.org_model import sheets as S
from services.org_model.state import Current, Key, Lookups, current_state, load_lookups
from services.policy import Action, Principal, can
from services.steering import (
    FREQUENCY_KIND,
    IndicatorInput,
    ObjectiveInput,
    SteeringError,
    close_objective,
    create_indicator,
    create_objective,
    ensure_periods,
    update_indicator,
    update_objective,
)
from services.workbooks import MAX_COLUMNS, MAX_ROWS, Located, WorkbookError, open_workbook

ADDED, UPDATED, DELETED = "ajout", "modification", "suppression"
#: Shares of one activity's output over its territories add up to 100 %, to this much.
SHARE_TOLERANCE = 1e-4
OBJECTIVE_FIELDS = {
    "code": "Code",
    "title": "Intitulé",
    "parent_id": "Code parent",
    "service_id": "Code service",
    "owner_id": "Responsable (courriel)",
    "weight": "Poids",
    "perspective": "Perspective",
}
INDICATOR_FIELDS = {
    "code": "Code",
    "label": "Intitulé",
    "unit": "Unité",
    "decimals": "Décimales",
    "weight": "Poids",
    "formula": "Formule",
    "baseline_period_key": "Période de référence",
    "service_id": "Code service",
    "owner_id": "Responsable (courriel)",
    "objective_id": "Code objectif",
    "activity_id": "Code activité",
    "need_id": "Code besoin",
}


@dataclass
class Row:
    """A data row of the workbook: its number, and its cells read, by header (present columns only)."""

    sheet: str
    number: int
    values: dict[str, Any]
    key: Key = ()

    def has(self, header: str) -> bool:
        return header in self.values

    def get(self, header: str, default: Any = None) -> Any:
        return self.values.get(header, default)


@dataclass
class ModelReport:
    errors: list[Located] = field(default_factory=list)
    #: By sheet: how many rows were added, updated, deleted.
    changes: dict[str, Counter[str]] = field(default_factory=dict)
    resized_needs: int = 0

    @property
    def changed(self) -> bool:
        return any(sum(c.values()) for c in self.changes.values())

    def count(self, sheet: str, what: str) -> None:
        self.changes.setdefault(sheet, Counter())[what] += 1

    def summary(self) -> list[str]:
        """One French line per sheet that changed, in the sheets' order."""
        lines = []
        for spec in S.SHEETS:
            counts = self.changes.get(spec.name)
            if not counts or not sum(counts.values()):
                continue
            parts = [
                f"{counts[w]} {w}{'s' if counts[w] > 1 else ''}"
                for w in (ADDED, UPDATED, DELETED)
                if counts[w]
            ]
            lines.append(f"{spec.name} : {', '.join(parts)}")
        return lines


class _Refused(Exception):
    """Stops the write pass: the located problems are in the report."""


def import_model(session: Session, principal: Principal, content: bytes, *, now: datetime) -> ModelReport:
    """Check the whole workbook, then write every change it makes (or none). Flushes, never commits.

    Raises :class:`WorkbookError` for a file refused as a whole."""
    organisation = session.get(Organisation, principal.organisation_id)
    if organisation is None:
        raise WorkbookError("organisation inconnue")
    book = open_workbook(content)
    try:
        versions = _meta(book, organisation)
        report = ModelReport()
        rows = _read_sheets(book, report)
    finally:
        book.close()
    if report.errors:
        return report
    look = load_lookups(session, organisation.id)
    state = current_state(session, look)
    run = _Import(session, principal, look, state, rows, versions, report, now)
    run.check()
    if report.errors:
        return report
    savepoint = session.begin_nested()
    try:
        run.write()
    except _Refused:
        savepoint.rollback()
        report.changes.clear()
        report.resized_needs = 0
        return report
    savepoint.commit()
    return report


# -- pass 1: cells ------------------------------------------------------------------------------------
def _meta(book: Any, organisation: Organisation) -> dict[tuple[str, str], int]:
    """The versions the workbook was exported at; refuses another organisation's workbook."""
    if not any(spec.name in book.sheetnames for spec in S.SHEETS):
        raise WorkbookError(
            "aucune feuille du modèle de l'organisation (Services, Activités, Besoins…) : "
            "partez du modèle téléchargé depuis Pilotis"
        )
    if S.META_SHEET not in book.sheetnames:
        return {}
    versions: dict[tuple[str, str], int] = {}
    slug = None
    for number, cells in enumerate(book[S.META_SHEET].iter_rows(max_col=3, values_only=True), start=1):
        if number > 3 * MAX_ROWS * len(S.SHEETS):
            break
        first = str(cells[0]).strip() if cells and cells[0] is not None else ""
        if number == 1 and first == "organisation":
            slug = str(cells[1] or "").strip()
        elif number > 5 and first and len(cells) > 2 and isinstance(cells[2], int):
            versions[(first, str(cells[1]))] = cells[2]
    if slug is not None and slug != organisation.slug:
        raise WorkbookError(f"ce classeur a été exporté pour une autre organisation ({slug})")
    return versions


def _read_sheets(book: Any, report: ModelReport) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {}
    for spec in S.SHEETS:
        if spec.name in book.sheetnames:
            rows[spec.name] = _read_sheet(book[spec.name], spec, report.errors)
    return rows


def _read_sheet(sheet: Any, spec: S.Sheet, errors: list[Located]) -> list[Row]:
    header_cells = next(sheet.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS, values_only=True), ())
    columns: dict[int, S.Col] = {}
    seen_headers: dict[str, int] = {}
    known = {c.header.casefold(): c for c in spec.columns}
    for index, raw in enumerate(header_cells, start=1):
        text = str(raw).strip() if raw is not None else ""
        if not text:
            continue
        col = known.get(text.casefold())
        letter = get_column_letter(index)
        if col is None:
            errors.append(
                Located(
                    spec.name, 1, letter, f"colonne « {text} » inconnue (attendu : {', '.join(spec.headers)})"
                )
            )
            continue
        if col.header in seen_headers:
            errors.append(
                Located(
                    spec.name,
                    1,
                    letter,
                    f"colonne « {col.header} » en double (déjà en colonne {get_column_letter(seen_headers[col.header])})",
                )
            )
            continue
        seen_headers[col.header] = index
        columns[index] = col
    missing = [h for h in spec.key if h not in seen_headers]
    if missing:
        errors.append(
            Located(
                spec.name,
                1,
                "",
                f"colonne(s) {', '.join(missing)} manquante(s) : elles repèrent chaque ligne",
            )
        )
        return []
    rows: list[Row] = []
    keys: dict[Key, int] = {}
    for number, cells in enumerate(sheet.iter_rows(min_row=2, max_col=MAX_COLUMNS), start=2):
        if number > MAX_ROWS + 1:
            errors.append(Located(spec.name, number, "", f"plus de {MAX_ROWS} lignes : refusé"))
            break
        if not any(getattr(c, "value", None) not in (None, "") for c in cells):
            continue
        values: dict[str, Any] = {}
        ok = True
        for index, cell in enumerate(cells, start=1):
            raw = getattr(cell, "value", None)
            col = columns.get(index)
            if getattr(cell, "data_type", None) == "f" or (isinstance(raw, str) and raw.startswith("=")):
                where = col.header if col else get_column_letter(index)
                errors.append(
                    Located(spec.name, number, where, "formule refusée : saisissez la valeur elle-même")
                )
                ok = False
                continue
            if col is None:
                continue
            if col.informative:
                continue
            try:
                value = col.read(raw)
            except S.CellError as exc:
                errors.append(Located(spec.name, number, col.header, str(exc)))
                ok = False
                continue
            if col.required and value is None:
                errors.append(Located(spec.name, number, col.header, "valeur obligatoire"))
                ok = False
                continue
            values[col.header] = value
        for header, col in ((h, spec.column(h)) for h in seen_headers):
            if col.kind == "bool" and header not in values and ok:
                values[header] = False
        if not ok:
            continue
        key = tuple(values.get(h) for h in spec.key)
        if key in keys:
            errors.append(
                Located(
                    spec.name,
                    number,
                    spec.key[-1],
                    f"« {' / '.join(map(str, key))} » figure déjà en ligne {keys[key]}",
                )
            )
            continue
        keys[key] = number
        rows.append(Row(spec.name, number, values, key))
    return rows


# -- comparing ------------------------------------------------------------------------------------------
def same(a: Any, b: Any) -> bool:
    """Whether two cell values mean the same (numbers to a relative 1e-9, text without edge spaces)."""
    if isinstance(a, str) or isinstance(b, str):
        return (str(a).strip() if a is not None else "") == (str(b).strip() if b is not None else "")
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        x, y = float(a), float(b)
        return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return sorted(a) == sorted(b)
    return bool(a == b)


def diff(spec: S.Sheet, row: Row, current: Current | None) -> dict[str, Any]:
    """The cells of ``row`` that differ from Pilotis (all of them for a new row)."""
    out = {}
    for header, value in row.values.items():
        if header in spec.key or header == "Supprimer":
            continue
        if current is None or not same(current.values.get(header), value):
            out[header] = value
    return out


def _known_variables(session: Session, organisation_id: int) -> set[str]:
    names = {v.variable for v in [*catalog.CAF_IRIS, *catalog.FILOSOFI_IRIS, *catalog.FILOSOFI_COMMUNE]}
    names |= {g[0] for g in catalog.CENSUS_AGE_GROUPS}
    names |= set(
        session.scalars(
            select(TerritoryStatistic.variable)
            .where(TerritoryStatistic.organisation_id == organisation_id)
            .distinct()
        )
    )
    return names


def _cycle(parents: dict[str, str | None]) -> list[str] | None:
    """A cycle of the parent map (codes), or None."""
    state: dict[str, int] = {}
    for start in parents:
        path: list[str] = []
        node: str | None = start
        while node is not None and state.get(node, 0) == 0:
            state[node] = 1
            path.append(node)
            node = parents.get(node)
        if node is not None and state.get(node) == 1:
            return [*path[path.index(node) :], node]
        for done in path:
            state[done] = 2
    return None


def _order(items: Iterable[str], depends: Callable[[str], Iterable[str]]) -> list[str]:
    """``items`` with what each depends on (among them) first; assumes no cycle."""
    wanted = list(items)
    inside = set(wanted)
    done: set[str] = set()
    out: list[str] = []

    def visit(node: str, depth: int = 0) -> None:
        if node in done or depth > len(wanted):
            return
        done.add(node)
        for other in depends(node):
            if other in inside:
                visit(other, depth + 1)
        out.append(node)

    for item in wanted:
        visit(item)
    return out


# -- passes 2 and 3 ----------------------------------------------------------------------------------
class _Import:
    def __init__(
        self,
        session: Session,
        principal: Principal,
        look: Lookups,
        state: dict[str, dict[Key, Current]],
        rows: dict[str, list[Row]],
        versions: dict[tuple[str, str], int],
        report: ModelReport,
        now: datetime,
    ) -> None:
        self.session, self.principal, self.look, self.state = session, principal, look, state
        self.rows, self.versions, self.report, self.now = rows, versions, report, now
        self.org = principal.organisation_id
        #: What the write pass does, sheet by sheet: (row, current or None, changed cells).
        self.plan: dict[str, list[tuple[Row, Current | None, dict[str, Any]]]] = defaultdict(list)
        self.deletions: dict[str, list[tuple[Row, Current]]] = defaultdict(list)
        self.codes: dict[str, set[str]] = {}

    # located problems
    def error(self, row: Row, column: str, message: str) -> None:
        self.report.errors.append(Located(row.sheet, row.number, column, message))

    def _rows(self, spec: S.Sheet) -> list[Row]:
        return self.rows.get(spec.name, [])

    def _final_codes(self, spec: S.Sheet) -> set[str]:
        """Codes of a keyed sheet once imported: Pilotis's and the workbook's."""
        if spec.name not in self.codes:
            self.codes[spec.name] = {k[0] for k in self.state[spec.name]} | {
                r.key[0] for r in self._rows(spec)
            }
        return self.codes[spec.name]

    def _ref(self, row: Row, header: str, spec: S.Sheet, what: str) -> None:
        code = row.get(header)
        if code is not None and code not in self._final_codes(spec):
            self.error(
                row,
                header,
                f"{what} « {code} » introuvable : ni dans Pilotis, ni dans la feuille « {spec.name} »",
            )

    def _stale(self, spec: S.Sheet, row: Row, current: Current) -> bool:
        version = getattr(current.obj, "version", None)
        key_text = " | ".join(str(current.values.get(h)) for h in spec.key)
        exported = self.versions.get((spec.name, key_text))
        if version is None or exported is None or exported == version:
            return False
        who, when = last_change(self.session, current.obj.__tablename__, str(current.obj.id))
        by = f" par {who}" if who else ""
        at = f" le {when:%d/%m/%Y à %H:%M} (UTC)" if when else ""
        self.error(
            row,
            spec.key[0],
            f"ligne modifiée dans Pilotis{by}{at} depuis l'export de ce classeur : "
            "téléchargez un nouveau modèle et reportez-y vos changements",
        )
        return True

    def _planned(self, spec: S.Sheet, *, required_new: Iterable[str] = ()) -> None:
        """Compare each row with Pilotis; plan what differs; refuse rows changed since the export
        and new rows without what a creation needs."""
        current_rows = self.state[spec.name]
        for row in self._rows(spec):
            current = current_rows.get(row.key)
            if spec.deletable and row.get("Supprimer"):
                if current is not None:
                    self.deletions[spec.name].append((row, current))
                continue
            changes = diff(spec, row, current)
            if not changes:
                continue
            if current is None:
                lacking = [h for h in required_new if row.get(h) is None]
                for header in lacking:
                    self.error(row, header, "valeur obligatoire pour une nouvelle ligne")
                if lacking:
                    continue
            elif self._stale(spec, row, current):
                continue
            self.plan[spec.name].append((row, current, changes))

    def _value(self, row: Row, current: Current | None, header: str) -> Any:
        """The cell's value once imported: the workbook's if the column is there, else Pilotis's."""
        if row.has(header):
            return row.get(header)
        return current.values.get(header) if current is not None else None

    # -- pass 2 ----------------------------------------------------------------------------------
    def check(self) -> None:
        self._check_publics()
        self._check_services()
        self._check_activities()
        self._check_volumes()
        self._check_deliveries()
        self._check_needs()
        self._check_coverages()
        self._check_objectives()
        self._check_indicators()
        self._check_targets()
        if not self.report.errors:
            self._check_rights()

    def _check_rights(self) -> None:
        kinds = {
            S.PUBLICS.name: (Need(organisation_id=self.org), "les publics"),
            S.SERVICES.name: (Service(organisation_id=self.org), "les services"),
            S.ACTIVITIES.name: (Activity(organisation_id=self.org), "les activités"),
            S.VOLUMES.name: (Activity(organisation_id=self.org), "les volumes des activités"),
            S.DELIVERIES.name: (Activity(organisation_id=self.org), "les territoires desservis"),
            S.COVERAGES.name: (Activity(organisation_id=self.org), "les couvertures des besoins"),
            S.NEEDS.name: (Need(organisation_id=self.org), "les besoins"),
        }
        for name, (probe, what) in kinds.items():
            touched = [r for r, _, _ in self.plan.get(name, [])] + [
                r for r, _ in self.deletions.get(name, [])
            ]
            if touched and not can(self.principal, Action.EDIT, probe):
                for row in touched:
                    self.error(row, "", f"vos droits ne permettent pas de modifier {what}")
        for row, _, changes in self.plan.get(S.NEEDS.name, []):
            if "Priorité" in changes and not can(
                self.principal, Action.SET_PRIORITY, Need(organisation_id=self.org)
            ):
                self.error(row, "Priorité", "seuls les élus fixent la priorité des besoins")

    def _check_publics(self) -> None:
        self._planned(S.PUBLICS, required_new=("Nom",))
        for row in self._rows(S.PUBLICS):
            self._ref(row, "Code public parent", S.PUBLICS, "public")
        parents = {k[0]: c.values["Code public parent"] for k, c in self.state[S.PUBLICS.name].items()}
        by_code = {r.key[0]: r for r in self._rows(S.PUBLICS)}
        for row in by_code.values():
            if row.has("Code public parent"):
                parents[row.key[0]] = row.get("Code public parent")
        loop = _cycle(parents)
        if loop:
            row = next(by_code[c] for c in loop if c in by_code)
            self.error(row, "Code public parent", f"boucle entre publics : {' → '.join(loop)}")

    def _check_services(self) -> None:
        self._planned(S.SERVICES, required_new=("Nom",))
        for row, current, _ in self.plan.get(S.SERVICES.name, []):
            kind = self._value(row, current, "Type")
            partner = self._value(row, current, "Type de partenaire")
            if kind is None:
                kind = ServiceKind.PARTNER if partner is not None else ServiceKind.OWN
            if kind is ServiceKind.PARTNER and partner is None:
                self.error(
                    row, "Type de partenaire", "un partenaire a un type (CAF, Département, association…)"
                )
            if kind is ServiceKind.OWN and partner is not None:
                self.error(
                    row, "Type de partenaire", "un service de l'organisation n'a pas de type de partenaire"
                )

    def _check_activities(self) -> None:
        self._planned(S.ACTIVITIES, required_new=("Nom", "Code service", "Unité de production"))
        for row in self._rows(S.ACTIVITIES):
            self._ref(row, "Code service", S.SERVICES, "service")
            if row.get("Code territoire") is not None:
                found = self.look.territory(row.get("Code territoire"))
                if isinstance(found, str):
                    self.error(row, "Code territoire", found)
        for row, current, _ in self.plan.get(S.ACTIVITIES.name, []):
            for header in (
                "Coût unitaire (€)",
                "Coût fixe (€)",
                "Capacité",
                "Volume annuel",
                "Bénéficiaires",
                "Volume minimum légal",
                "ETP",
            ):
                value = row.get(header)
                if value is not None and value < 0:
                    self.error(row, header, "valeur négative refusée")
            capacity = self._value(row, current, "Capacité")
            minimum = self._value(row, current, "Volume minimum légal") or 0
            if capacity is not None and minimum > capacity:
                self.error(
                    row,
                    "Volume minimum légal",
                    f"le volume minimum légal ({minimum:g}) dépasse la capacité ({capacity:g})",
                )

    def _check_volumes(self) -> None:
        self._planned(S.VOLUMES)
        for row in self._rows(S.VOLUMES):
            self._ref(row, "Code activité", S.ACTIVITIES, "activité")
            if not 1990 <= row.key[1] <= 2200:
                self.error(row, "Année", f"année {row.key[1]} invraisemblable (1990 à 2200)")
            for header in ("Volume prévu", "Volume réalisé"):
                if (row.get(header) or 0) < 0:
                    self.error(row, header, "valeur négative refusée")

    def _check_deliveries(self) -> None:
        # Codes as Pilotis writes them, so that « 11069 » and « commune:11069 » are one key.
        by_key: dict[Key, Row] = {}
        before = len(self.report.errors)
        for row in self._rows(S.DELIVERIES):
            self._ref(row, "Code activité", S.ACTIVITIES, "activité")
            found = self.look.territory(row.key[1])
            if isinstance(found, str):
                self.error(row, "Code territoire", found)
                continue
            row.key = (row.key[0], self.look.territory_code[found.id])
            row.values["Code territoire"] = row.key[1]
            if row.key in by_key:
                self.error(row, "Code territoire", f"territoire déjà en ligne {by_key[row.key].number}")
                continue
            by_key[row.key] = row
            share = row.get("Part (%)")
            if share is not None and not 0 < share <= 1 and not row.get("Supprimer"):
                self.error(row, "Part (%)", "une part est comprise entre 0 (exclu) et 100 %")
        if len(self.report.errors) > before:
            return
        self._planned(S.DELIVERIES)
        final: dict[str, dict[str, float]] = defaultdict(dict)
        for (activity, territory), current in self.state[S.DELIVERIES.name].items():
            final[activity][territory] = current.values["Part (%)"]
        touched: dict[str, list[Row]] = defaultdict(list)
        for row in self._rows(S.DELIVERIES):
            activity, territory = row.key
            touched[activity].append(row)
            if row.get("Supprimer"):
                final[activity].pop(territory, None)
            else:
                final[activity][territory] = row.get("Part (%)")
        for activity, rows in touched.items():
            shares = final[activity]
            total = sum(shares.values())
            # at most 100 %: less leaves the rest undelivered, as the coverage model and the page allow
            if shares and total > 1 + SHARE_TOLERANCE:
                outside = [t for t in shares if (activity, t) not in {r.key for r in rows}]
                also = (
                    f" (dont {', '.join(outside)}, absent(s) du classeur mais enregistré(s))"
                    if outside
                    else ""
                )
                lines = ("lignes " if len(rows) > 1 else "ligne ") + ", ".join(str(r.number) for r in rows)
                percent = format_number(total * 100, 2)
                self.error(
                    rows[0],
                    "Part (%)",
                    f"les parts de l'activité « {activity} » font {percent} %, plus que 100 % "
                    f"({lines}){also}",
                )

    def _check_needs(self) -> None:
        self._planned(S.NEEDS, required_new=("Intitulé", "Code public", "Code territoire", "Unité"))
        variables: set[str] | None = None
        for row in self._rows(S.NEEDS):
            self._ref(row, "Code public", S.PUBLICS, "public")
            if row.get("Code territoire") is not None:
                found = self.look.territory(row.get("Code territoire"))
                if isinstance(found, str):
                    self.error(row, "Code territoire", found)
        for row, current, changes in self.plan.get(S.NEEDS.name, []):
            formula = self._value(row, current, "Formule de dimensionnement")
            if formula:
                try:
                    parsed = parse_formula(formula)
                except FormulaError as exc:
                    self.error(row, "Formule de dimensionnement", f"formule refusée : {exc}")
                    continue
                if variables is None:
                    variables = _known_variables(self.session, self.org)
                unknown = sorted(set(parsed.codes) - variables)
                if unknown:
                    self.error(
                        row,
                        "Formule de dimensionnement",
                        f"variable(s) statistique(s) inconnue(s) : {', '.join(unknown)}",
                    )
                if "Effectif" in changes and row.get("Effectif") is not None and current is not None:
                    self.error(
                        row,
                        "Effectif",
                        "l'effectif d'un besoin dimensionné par une formule est calculé : "
                        "videz la formule pour saisir un effectif",
                    )
            size = row.get("Effectif")
            if size is not None and size < 0:
                self.error(row, "Effectif", "valeur négative refusée")
            priority = row.get("Priorité")
            if priority is not None and not 1 <= priority <= 5:
                self.error(row, "Priorité", "la priorité va de 1 (faible) à 5 (très forte)")
            vintage = row.get("Millésime")
            if vintage is not None and not 1900 <= vintage <= 2200:
                self.error(row, "Millésime", f"millésime {vintage} invraisemblable")

    def _check_coverages(self) -> None:
        for row in self._rows(S.COVERAGES):
            self._ref(row, "Code activité", S.ACTIVITIES, "activité")
            self._ref(row, "Code besoin", S.NEEDS, "besoin")
            if (row.get("Coefficient") or 0) < 0:
                self.error(row, "Coefficient", "valeur négative refusée")
            share = row.get("Part (%)")
            if share is not None and not 0 <= share <= 1:
                self.error(row, "Part (%)", "une part est comprise entre 0 et 100 %")
        self._planned(S.COVERAGES)
        final: dict[str, dict[str, float | None]] = defaultdict(dict)
        for (activity, need), current in self.state[S.COVERAGES.name].items():
            final[activity][need] = current.values["Part (%)"]
        touched: dict[str, list[Row]] = defaultdict(list)
        for row in self._rows(S.COVERAGES):
            activity, need = row.key
            touched[activity].append(row)
            if row.get("Supprimer"):
                final[activity].pop(need, None)
            elif row.has("Part (%)"):
                final[activity][need] = row.get("Part (%)")
        for activity, rows in touched.items():
            total = sum(s for s in final[activity].values() if s is not None)
            if total > 1 + SHARE_TOLERANCE:
                self.error(
                    rows[0],
                    "Part (%)",
                    f"les parts explicites de l'activité « {activity} » font "
                    f"{format_number(total * 100, 2)} %, plus que toute sa production (100 %)",
                )

    def _check_objectives(self) -> None:
        self._planned(S.OBJECTIVES, required_new=("Intitulé", "Perspective"))
        for row in self._rows(S.OBJECTIVES):
            self._ref(row, "Code parent", S.OBJECTIVES, "objectif")
            self._ref(row, "Code service", S.SERVICES, "service")
            self._owner(row)
            for code in row.get("Besoins visés", ()):
                if code not in self._final_codes(S.NEEDS):
                    self.error(row, "Besoins visés", f"besoin « {code} » inconnu")
            for code in row.get("Activités mobilisées", ()):
                if code not in self._final_codes(S.ACTIVITIES):
                    self.error(row, "Activités mobilisées", f"activité « {code} » inconnue")
            if row.get("Code parent") == row.key[0]:
                self.error(row, "Code parent", "un objectif ne peut pas être son propre parent")
        parents = {k[0]: c.values["Code parent"] for k, c in self.state[S.OBJECTIVES.name].items()}
        by_code = {r.key[0]: r for r in self._rows(S.OBJECTIVES)}
        for row in by_code.values():
            if row.has("Code parent"):
                parents[row.key[0]] = row.get("Code parent")
        self.objective_parents = parents
        loop = _cycle(parents)
        if loop and len(loop) > 2:
            row = next(by_code[c] for c in loop if c in by_code)
            self.error(row, "Code parent", f"boucle entre objectifs : {' → '.join(loop)}")

    def _owner(self, row: Row) -> None:
        email = row.get("Responsable (courriel)")
        if email is not None and email.lower() not in self.look.users:
            self.error(row, "Responsable (courriel)", f"aucun compte « {email} » dans votre organisation")

    def _check_indicators(self) -> None:
        self._planned(S.INDICATORS, required_new=("Type", "Unité", "Sens", "Fréquence", "Perspective"))
        for row in self._rows(S.INDICATORS):
            self._ref(row, "Code service", S.SERVICES, "service")
            self._ref(row, "Code objectif", S.OBJECTIVES, "objectif")
            self._ref(row, "Code activité", S.ACTIVITIES, "activité")
            self._ref(row, "Code besoin", S.NEEDS, "besoin")
            self._owner(row)
        self.formula_codes: dict[str, set[str]] = {}
        for row, current, _ in self.plan.get(S.INDICATORS.name, []):
            formula = self._value(row, current, "Formule")
            if not formula:
                continue
            try:
                parsed = parse_formula(formula)
            except FormulaError as exc:
                self.error(row, "Formule", f"formule refusée : {exc}")
                continue
            self.formula_codes[row.key[0]] = set(parsed.codes)
            unknown = sorted(set(parsed.codes) - self._final_codes(S.INDICATORS))
            if unknown:
                self.error(row, "Formule", f"code(s) d'indicateur inconnu(s) : {', '.join(unknown)}")
        # A cycle through the formulas of the workbook's rows and Pilotis's (steering checks each again).
        graph: dict[str, set[str]] = {}
        for key, held in self.state[S.INDICATORS.name].items():
            formula = held.values.get("Formule")
            if formula:
                try:
                    graph[key[0]] = set(parse_formula(formula).codes)
                except FormulaError:
                    continue
        graph.update(self.formula_codes)
        by_code = {r.key[0]: r for r, _, _ in self.plan.get(S.INDICATORS.name, [])}
        for code in self.formula_codes:
            loop = _formula_loop(graph, code)
            if loop:
                self.error(by_code[code], "Formule", f"boucle entre formules : {' → '.join(loop)}")

    def _check_targets(self) -> None:
        self._planned(S.TARGETS)
        indicator_rows = {r.key[0]: r for r in self._rows(S.INDICATORS)}
        for row in self._rows(S.TARGETS):
            code, key = row.key
            self._ref(row, "Code indicateur", S.INDICATORS, "indicateur")
            try:
                span = P.parse_period_key(key)
            except ValueError as exc:
                self.error(row, "Période", str(exc))
                continue
            row.values["Période"] = span.key
            current_indicator = self.state[S.INDICATORS.name].get((code,))
            source = indicator_rows.get(code)
            frequency = (
                source.get("Fréquence") if source is not None and source.has("Fréquence") else None
            ) or (current_indicator.values["Fréquence"] if current_indicator else None)
            if frequency is not None and FREQUENCY_KIND[frequency].value != span.kind:
                self.error(
                    row,
                    "Période",
                    f"l'indicateur « {code} » est {S.FREQUENCIES[frequency].lower()} : "
                    f"la période « {key} » n'est pas de ce type",
                )
        for row, current, _ in self.plan.get(S.TARGETS.name, []):
            code = row.key[0]
            current_indicator = self.state[S.INDICATORS.name].get((code,))
            source = indicator_rows.get(code)
            direction = (source.get("Sens") if source is not None and source.has("Sens") else None) or (
                current_indicator.values["Sens"] if current_indicator else None
            )
            low, high = self._value(row, current, "Borne basse"), self._value(row, current, "Borne haute")
            if direction is Direction.WITHIN_BAND:
                if low is None and high is None:
                    self.error(
                        row,
                        "Borne basse",
                        "un indicateur « dans une fourchette » demande une borne basse ou haute",
                    )
            elif self._value(row, current, "Cible") is None:
                self.error(row, "Cible", "valeur obligatoire")
            if low is not None and high is not None and low > high:
                self.error(row, "Borne basse", "la borne basse dépasse la borne haute")
            amber = self._value(row, current, "Seuil orange")
            red = self._value(row, current, "Seuil rouge")
            if amber is not None and amber < 0:
                self.error(row, "Seuil orange", "valeur négative refusée")
            if amber is not None and red is not None and red < amber:
                self.error(row, "Seuil rouge", "le seuil rouge est au moins le seuil orange")

    def _mode(self, row: Row, current: Current | None) -> ThresholdMode:
        mode = self._value(row, current, "Seuils")
        return mode if isinstance(mode, ThresholdMode) else ThresholdMode.RELATIVE

    # -- pass 3 ----------------------------------------------------------------------------------
    def write(self) -> None:
        self._write_publics()
        self._write_services()
        self._write_activities()
        self._write_volumes()
        self._write_deliveries()
        resize = self._write_needs()
        self._write_coverages()
        closing = self._write_objectives()
        self._write_indicators()
        self._write_targets()
        self._close(closing)
        if self.report.errors:
            raise _Refused
        self.session.flush()
        if resize:
            self.report.resized_needs = len(resize_needs(self.session, self.org).resized)

    def _set(self, obj: Any, values: dict[str, Any]) -> bool:
        changed = False
        for attribute, value in values.items():
            if not same(getattr(obj, attribute), value):
                setattr(obj, attribute, value)
                changed = True
        return changed

    def _territory_id(self, written: str | None) -> int | None:
        if written is None:
            return None
        found = self.look.territory(written)
        if isinstance(found, str):  # pragma: no cover - checked in pass 2
            raise WorkbookError(found)
        return found.id

    def _write_publics(self) -> None:
        planned = {
            row.key[0]: (row, current, changes) for row, current, changes in self.plan.get(S.PUBLICS.name, [])
        }
        parents = lambda code: [p] if (p := self._value(*planned[code][:2], "Code public parent")) else []  # noqa: E731
        for code in _order(planned, parents):
            _row, current, changes = planned[code]
            group = current.obj if current else PopulationGroup(organisation_id=self.org, code=code, name="")
            values: dict[str, Any] = {}
            if "Nom" in changes:
                values["name"] = changes["Nom"]
            if "Code public parent" in changes:
                parent = changes["Code public parent"]
                values["parent_id"] = self.look.publics[parent].id if parent else None
            self._set(group, values)
            if current is None:
                self.session.add(group)
                self.look.publics[code] = group
            self.session.flush()
            self.report.count(S.PUBLICS.name, UPDATED if current else ADDED)

    def _write_services(self) -> None:
        for row, current, changes in self.plan.get(S.SERVICES.name, []):
            service = current.obj if current else Service(organisation_id=self.org, code=row.key[0])
            kind = self._value(row, current, "Type")
            partner = self._value(row, current, "Type de partenaire")
            if kind is None:
                kind = ServiceKind.PARTNER if partner is not None else ServiceKind.OWN
            values = {"kind": kind, "partner_type": partner}
            for header, attribute in (
                ("Nom", "name"),
                ("Fonction M57", "m57_function"),
                ("Description", "description"),
                ("Fonction support", "is_support"),
            ):
                if header in changes or current is None:
                    values[attribute] = self._value(row, current, header)
            values["is_support"] = bool(values.get("is_support", service.is_support))
            self._set(service, values)
            if current is None:
                self.session.add(service)
                self.look.services[row.key[0]] = service
            self.session.flush()
            self.report.count(S.SERVICES.name, UPDATED if current else ADDED)

    ACTIVITY_ATTRIBUTES: ClassVar[dict[str, str]] = {
        "Nom": "name",
        "Unité de production": "output_unit",
        "Coût unitaire (€)": "unit_cost",
        "Coût fixe (€)": "fixed_cost",
        "Capacité": "capacity",
        "Volume annuel": "volume",
        "Bénéficiaires": "beneficiaries",
        "Volume minimum légal": "min_volume",
        "ETP": "staff_etp",
        "Fonction M57": "m57_function",
        "Description": "description",
    }

    def _write_activities(self) -> None:
        for row, current, changes in self.plan.get(S.ACTIVITIES.name, []):
            activity = current.obj if current else Activity(organisation_id=self.org, code=row.key[0])
            values: dict[str, Any] = {}
            for header, attribute in self.ACTIVITY_ATTRIBUTES.items():
                if header in changes:
                    values[attribute] = changes[header]
            if "ETP" in values:
                values["staff_etp"] = Decimal(str(round(values["staff_etp"] or 0, 2)))
            if current is None:
                values.setdefault("fixed_cost", Decimal("0"))
                values.setdefault("staff_etp", Decimal("0"))
                values.setdefault("min_volume", 0.0)
                if values["fixed_cost"] is None:
                    values["fixed_cost"] = Decimal("0")
                if values.get("min_volume") is None:
                    values["min_volume"] = 0.0
            if "Code service" in changes:
                values["service_id"] = self.look.services[changes["Code service"]].id
            if "Obligatoire" in changes:
                values["kind"] = ActivityKind.MANDATORY if changes["Obligatoire"] else ActivityKind.OPTIONAL
            elif current is None:
                values["kind"] = ActivityKind.OPTIONAL
            if "Code territoire" in changes:
                values["territory_id"] = self._territory_id(changes["Code territoire"])
            if "Archivée" in changes:
                values["archived_at"] = self.now if changes["Archivée"] else None
            self._set(activity, values)
            if current is None:
                self.session.add(activity)
                self.look.activities[row.key[0]] = activity
            self.session.flush()
            self.report.count(S.ACTIVITIES.name, UPDATED if current else ADDED)

    def _write_volumes(self) -> None:
        for row, current, changes in self.plan.get(S.VOLUMES.name, []):
            activity = self.look.activities[row.key[0]]
            volume = current.obj if current else ActivityVolume(activity_id=activity.id, year=row.key[1])
            values = {
                attribute: changes[header]
                for header, attribute in (
                    ("Volume prévu", "planned_volume"),
                    ("Volume réalisé", "actual_volume"),
                    ("Source", "source"),
                )
                if header in changes
            }
            self._set(volume, values)
            if current is None:
                self.session.add(volume)
            self.report.count(S.VOLUMES.name, UPDATED if current else ADDED)
        for _row, gone in self.deletions.get(S.VOLUMES.name, []):
            self.session.delete(gone.obj)
            self.report.count(S.VOLUMES.name, DELETED)
        self.session.flush()

    def _write_deliveries(self) -> None:
        for _row, gone in self.deletions.get(S.DELIVERIES.name, []):
            self.session.delete(gone.obj)
            self.report.count(S.DELIVERIES.name, DELETED)
        self.session.flush()
        for row, current, changes in self.plan.get(S.DELIVERIES.name, []):
            if current is not None:
                current.obj.share = changes["Part (%)"]
            else:
                activity = self.look.activities[row.key[0]]
                self.session.add(
                    ActivityDelivery(
                        activity_id=activity.id,
                        territory_id=self._territory_id(row.key[1]),
                        share=row.get("Part (%)"),
                    )
                )
            self.report.count(S.DELIVERIES.name, UPDATED if current else ADDED)
        self.session.flush()

    NEED_ATTRIBUTES: ClassVar[dict[str, str]] = {
        "Intitulé": "label",
        "Unité": "unit",
        "Effectif": "size",
        "Formule de dimensionnement": "sizing_formula",
        "Source": "source",
        "Millésime": "vintage",
        "Effectif au": "size_as_of",
        "Preuves": "evidence_note",
        "Description": "description",
    }

    def _write_needs(self) -> bool:
        resize = False
        for row, current, changes in self.plan.get(S.NEEDS.name, []):
            need = current.obj if current else Need(organisation_id=self.org, code=row.key[0])
            values = {a: changes[h] for h, a in self.NEED_ATTRIBUTES.items() if h in changes}
            if "Code public" in changes:
                values["population_group_id"] = self.look.publics[changes["Code public"]].id
            if "Code territoire" in changes:
                values["territory_id"] = self._territory_id(changes["Code territoire"])
            if self._value(row, current, "Formule de dimensionnement") and (
                current is None or {"Formule de dimensionnement", "Code territoire"} & set(changes)
            ):
                resize = True
                values.pop("size", None)
            priority = changes.get("Priorité")
            if current is None:
                values["priority"] = priority or 3
                values["priority_weight"] = float(values["priority"])
                if priority is not None:
                    values["priority_set_by_id"] = self.principal.user_id or None
                    values["priority_set_at"] = self.now
            self._set(need, values)
            if current is None:
                self.session.add(need)
                self.look.needs[row.key[0]] = need
            self.session.flush()
            if current is not None and priority is not None:
                if self.principal.user_id:
                    set_priority(
                        self.session, self.principal, need, level=priority, weight=None, now=self.now
                    )
                else:  # the command line without --as: the system sets it
                    self._set(
                        need,
                        {
                            "priority": priority,
                            "priority_weight": float(priority),
                            "priority_set_by_id": None,
                            "priority_set_at": self.now,
                        },
                    )
            self.report.count(S.NEEDS.name, UPDATED if current else ADDED)
        self.session.flush()
        return resize

    def _write_coverages(self) -> None:
        for _row, gone in self.deletions.get(S.COVERAGES.name, []):
            self.session.delete(gone.obj)
            self.report.count(S.COVERAGES.name, DELETED)
        self.session.flush()
        for row, current, changes in self.plan.get(S.COVERAGES.name, []):
            values = {
                a: changes[h]
                for h, a in (("Coefficient", "coefficient"), ("Part (%)", "share"), ("Note", "note"))
                if h in changes
            }
            if current is not None:
                self._set(current.obj, values)
            else:
                self.session.add(
                    ActivityNeedCoverage(
                        activity_id=self.look.activities[row.key[0]].id,
                        need_id=self.look.needs[row.key[1]].id,
                        **values,
                    )
                )
            self.report.count(S.COVERAGES.name, UPDATED if current else ADDED)
        self.session.flush()

    def _steering(
        self, row: Row, fields: dict[str, str], call: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        """``call(session, principal, *args, **kw)``, a refusal becoming a located error (None)."""
        try:
            return call(self.session, self.principal, *args, **kw)
        except SteeringError as exc:
            self.error(row, fields.get(exc.field or "", ""), str(exc).rstrip("."))
        except StaleEdit:
            self.error(row, "Code", "ligne modifiée dans Pilotis pendant l'import : recommencez")
        return None

    def _write_objectives(self) -> list[tuple[Row, Objective, bool]]:
        planned = {
            row.key[0]: (row, current, changes)
            for row, current, changes in self.plan.get(S.OBJECTIVES.name, [])
        }
        closing: list[tuple[Row, Objective, bool]] = []

        def parent(code: str) -> list[str]:
            found = self.objective_parents.get(code)
            return [found] if found else []

        for code in _order(planned, parent):
            row, current, changes = planned[code]
            value = partial(self._value, row, current)
            status = changes.pop("Statut", None)
            if changes or current is None:
                owner = value("Responsable (courriel)")
                parent_code = value("Code parent")
                service_code = value("Code service")
                data = ObjectiveInput(
                    code=code,
                    title=value("Intitulé") or "",
                    description=value("Description"),
                    perspective=value("Perspective"),
                    parent_id=self.look.objectives[parent_code].id if parent_code else None,
                    service_id=self.look.services[service_code].id if service_code else None,
                    owner_id=self.look.users[owner.lower()].id if owner else None,
                    deadline=value("Échéance"),
                    weight=float(value("Poids") if value("Poids") is not None else 1.0),
                    need_ids=[self.look.needs[c].id for c in value("Besoins visés") or ()],
                    activity_ids=[self.look.activities[c].id for c in value("Activités mobilisées") or ()],
                )
                if current is None:
                    objective = self._steering(row, OBJECTIVE_FIELDS, create_objective, data)
                    if objective is None:
                        continue
                    self.look.objectives[code] = objective
                else:
                    objective = current.obj
                    done = self._steering(
                        row,
                        OBJECTIVE_FIELDS,
                        update_objective,
                        objective,
                        data,
                        objective.version,
                    )
                    if done is None and self.report.errors:
                        continue
                self.report.count(S.OBJECTIVES.name, UPDATED if current else ADDED)
            else:
                objective = current.obj
                self.report.count(S.OBJECTIVES.name, UPDATED)
            wanted = status or (current.values["Statut"] if current else "active")
            if wanted != objective.status.value:
                closing.append((row, objective, wanted == ObjectiveStatus.CLOSED.value))
        return closing

    def _close(self, closing: list[tuple[Row, Objective, bool]]) -> None:
        """Reopen first (parents before children), then close (children before parents)."""
        depth = {}
        for _row, objective, _ in closing:
            level, walker = 0, objective
            while walker.parent is not None and level < 100:
                level, walker = level + 1, walker.parent
            depth[objective.id] = level
        reopen = sorted((c for c in closing if not c[2]), key=lambda c: depth[c[1].id])
        close = sorted((c for c in closing if c[2]), key=lambda c: -depth[c[1].id])
        for row, objective, shut in [*reopen, *close]:
            self._steering(
                row,
                {"": "Statut"},
                close_objective,
                objective,
                now=self.now,
                reopen=not shut,
            )

    def _write_indicators(self) -> None:
        planned = {
            row.key[0]: (row, current, changes)
            for row, current, changes in self.plan.get(S.INDICATORS.name, [])
        }
        for code in _order(planned, lambda c: self.formula_codes.get(c, set())):
            row, current, _changes = planned[code]
            value = partial(self._value, row, current)

            def ident(table: dict[str, Any], header: str) -> int | None:
                written = value(header)  # noqa: B023
                return (
                    table[written.lower() if header.startswith("Responsable") else written].id
                    if written
                    else None
                )

            data = IndicatorInput(
                code=code,
                label=value("Intitulé") or "",
                description=value("Description"),
                type=value("Type"),
                unit=value("Unité") or "",
                direction=value("Sens"),
                frequency=value("Fréquence"),
                perspective=value("Perspective"),
                formula=value("Formule"),
                decimals=value("Décimales") if value("Décimales") is not None else 0,
                weight=float(value("Poids") if value("Poids") is not None else 1.0),
                source=value("Source"),
                vintage=value("Millésime"),
                baseline_value=value("Valeur de référence"),
                baseline_period_key=value("Période de référence"),
                service_id=ident(self.look.services, "Code service"),
                owner_id=ident(self.look.users, "Responsable (courriel)"),
                objective_id=ident(self.look.objectives, "Code objectif"),
                activity_id=ident(self.look.activities, "Code activité"),
                need_id=ident(self.look.needs, "Code besoin"),
            )
            if current is None:
                made = self._steering(row, INDICATOR_FIELDS, create_indicator, data)
                if made is not None:
                    self.look.indicators[code] = made
                    self.report.count(S.INDICATORS.name, ADDED)
            else:
                indicator = current.obj
                self._steering(
                    row,
                    INDICATOR_FIELDS,
                    update_indicator,
                    indicator,
                    data,
                    indicator.version,
                )
                self.report.count(S.INDICATORS.name, UPDATED)

    def _write_targets(self) -> None:
        for row, gone in self.deletions.get(S.TARGETS.name, []):
            if not self._target_allowed(row, self.look.indicators[row.key[0]]):
                continue
            self.session.delete(gone.obj)
            self.report.count(S.TARGETS.name, DELETED)
        planned = self.plan.get(S.TARGETS.name, [])
        if not planned:
            self.session.flush()
            return
        spans = {P.parse_period_key(row.key[1]).key: P.parse_period_key(row.key[1]) for row, _, _ in planned}
        periods = ensure_periods(self.session, self.org, list(spans.values()))
        for row, current, _changes in planned:
            indicator = self.look.indicators.get(row.key[0])
            if indicator is None or not self._target_allowed(row, indicator):
                continue
            value = partial(self._value, row, current)
            mode = self._mode(row, current)
            scale = 100.0 if mode is ThresholdMode.RELATIVE else 1.0
            amber = value("Seuil orange")
            red = value("Seuil rouge")
            amber = (5.0 if mode is ThresholdMode.RELATIVE else 0.0) if amber is None else amber
            red = max(amber, 10.0 if mode is ThresholdMode.RELATIVE else amber) if red is None else red
            target = (
                current.obj
                if current
                else Target(indicator_id=indicator.id, period_id=periods[row.key[1]].id)
            )
            self._set(
                target,
                {
                    "value": value("Cible"),
                    "band_low": value("Borne basse"),
                    "band_high": value("Borne haute"),
                    "threshold_mode": mode,
                    "amber_tolerance": round(amber / scale, 10),
                    "red_tolerance": round(red / scale, 10),
                },
            )
            if current is None:
                self.session.add(target)
            self.report.count(S.TARGETS.name, UPDATED if current else ADDED)
        self.session.flush()

    def _target_allowed(self, row: Row, indicator: Indicator) -> bool:
        if can(self.principal, Action.EDIT, indicator):
            return True
        self.error(
            row,
            "Code indicateur",
            f"vos droits ne permettent pas de fixer les cibles de « {indicator.code} »",
        )
        return False


def _formula_loop(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path from ``start`` back to itself through the formulas, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for other in graph.get(node, ()):
            if other == start:
                return [*path, start]
            if other not in seen:
                seen.add(other)
                stack.append((other, [*path, other]))
    return None
