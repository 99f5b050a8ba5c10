"""Optimizer problem files (JSON or Excel) and the printed solution (``pilotis optimize FILE``).

A problem file is the JSON of :data:`optimizer.problem.PROBLEM_SCHEMA` (docs/problem.schema.json)
or the same content as an Excel workbook with one sheet per table ("parametres", "services",
"activites", "besoins", "couverture", "equite"; columns in :data:`optimizer.TABLE_COLUMNS`), so
that finance can prepare a scenario in Excel and anyone can check a result independently.

Reading is all-or-nothing: every error is collected and reported at once, each located (JSON
path, or sheet, row and column) and in French, in :class:`ProblemFileError`. Workbooks are
checked before parsing (size, zip bomb, macros, DTD: RELIABILITY.md trap 4), formulas are refused
(a value is expected), and numbers typed as French text (« 1 234,56 », « -10 % ») are accepted
(trap 5). Written workbooks store every text as text, never as a formula (trap 3).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer import (
    TABLE_COLUMNS,
    Explanation,
    Problem,
    ProblemError,
    Solution,
    problem_from_dict,
    problem_from_tables,
    problem_to_dict,
    problem_to_tables,
)
from optimizer.fr import format_euros, format_number, format_percent, format_signed_percent
from optimizer.problem import COLLECTIONS, PARAMETERS_SHEET, SHEETS
from services.numbers import MAX_MAGNITUDE, NumberError, check_value, parse_french_number

if TYPE_CHECKING:
    import pandas as pd

MAX_JSON_BYTES = 100 * 1024 * 1024
MAX_ROWS_PER_SHEET = 200_000
MAX_COLUMNS = 30

#: Columns holding numbers, by sheet; those holding rates accept « -10 % » typed as text.
NUMERIC_COLUMNS = {
    SHEETS[c]: {f.column for f in fields if f.kind == "number"} for c, fields in COLLECTIONS.items()
}
RATE_COLUMNS = {
    SHEETS[c]: {f.column for f in fields if f.check in ("rate", ">=-1")} for c, fields in COLLECTIONS.items()
}
NUMERIC_PARAMETERS = {"enveloppe", "limite_etp", "annee"}


class ProblemFileError(ProblemError):
    """A problem file refused as a whole; ``messages`` are French and located."""

    headline = "fichier de problème refusé"


def read_problem_file(path: str | Path) -> Problem:
    """The problem in ``path`` (``.json`` or ``.xlsx``), checked; :class:`ProblemFileError` otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".xlsx"):
        raise ProblemFileError([f"{path.name} : format non reconnu (attendu : .json ou .xlsx)"])
    try:
        if suffix == ".json":
            # the bytes are decoded and released at once: a 100 MB file is not held three times
            # (bytes, text, parsed) while the problem is built
            return _problem_from_json_text(_json_text(path.read_bytes(), path.name), path.name)
        content = path.read_bytes()
    except OSError as exc:
        raise ProblemFileError([f"{path.name} : lecture impossible ({exc.strerror or exc})"]) from None
    return read_problem_xlsx(content, name=path.name)


def read_problem_json(content: bytes, *, name: str = "problème") -> Problem:
    """A problem from the bytes of a JSON file."""
    return _problem_from_json_text(_json_text(content, name), name)


def _json_text(content: bytes, name: str) -> str:
    """The text of a JSON file's bytes (UTF-8, with or without BOM), its size checked."""
    if len(content) > MAX_JSON_BYTES:
        raise ProblemFileError(
            [f"{name} : fichier trop volumineux ({len(content) / 2**20:.0f} Mo ; 100 Mo au plus)"]
        )
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemFileError([f"{name} : le fichier n'est pas du texte UTF-8"]) from None


def _problem_from_json_text(text: str, name: str) -> Problem:
    """A problem from a JSON document; the parsed document is released as the problem is built."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemFileError(
            [f"{name}, ligne {exc.lineno}, colonne {exc.colno} : JSON invalide ({exc.msg})"]
        ) from None
    except RecursionError:
        raise ProblemFileError([f"{name} : JSON imbriqué trop profondément pour un problème"]) from None
    except ValueError as exc:  # an integer of more than 4 300 digits (Python's own limit)
        raise ProblemFileError([f"{name} : nombre trop long ({exc})"]) from None
    del text  # this frame's reference; the caller's expression holds none
    beyond = list(_numbers_beyond_bounds(data, ""))
    if beyond:
        raise ProblemFileError([f"{name} : {m}" for m in beyond])
    try:
        # the collections' rows are released as they are converted (the document is ours)
        return problem_from_dict(data, consume=isinstance(data, dict))
    except ProblemError as exc:
        raise ProblemFileError([f"{name} : {m}" for m in exc.messages]) from None


def _numbers_beyond_bounds(data: Any, where: str) -> Iterator[str]:
    """Every number of a JSON document that is not finite or not below a thousand billion.

    The path of a value (``activities[3].unit_cost``) is written only for a value refused: a
    large file holds millions of numbers, all within bounds."""
    if isinstance(data, dict):
        items: Iterable[tuple[Any, Any]] = data.items()
        keyed = True
    elif isinstance(data, list):
        items = enumerate(data)
        keyed = False
    else:
        if _beyond(data):
            yield from _refusals(data, where)
        return
    for key, value in items:
        if isinstance(value, (dict, list)):
            path = (f"{where}.{key}" if where else str(key)) if keyed else f"{where}[{key}]"
            yield from _numbers_beyond_bounds(value, path)
        elif _beyond(value):
            path = (f"{where}.{key}" if where else str(key)) if keyed else f"{where}[{key}]"
            yield from _refusals(value, path)


def _beyond(value: Any) -> bool:
    """Whether ``value`` is a number that :func:`services.numbers.check_value` may refuse."""
    if isinstance(value, float):
        return not -MAX_MAGNITUDE < value < MAX_MAGNITUDE  # NaN too
    if isinstance(value, int) and not isinstance(value, bool):
        return not -MAX_MAGNITUDE < value < MAX_MAGNITUDE
    return False


def _refusals(value: Any, where: str) -> Iterator[str]:
    try:
        check_value(value, "")
    except NumberError as exc:
        yield f"{where or 'valeur'} : {exc}"


def _cell_value(where: str, cell: Any, errors: list[str], *, numeric: bool, rate: bool) -> Any:
    """A cell's value, a number typed as French text converted when ``numeric``; formulas refused."""
    if getattr(cell, "data_type", None) == "f":
        errors.append(f"{where} : formule refusée, saisissez la valeur")
        return None
    value = cell.value
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("="):
            errors.append(f"{where} : formule refusée, saisissez la valeur")
            return None
        if value and numeric:
            try:
                number = check_value(parse_french_number(value), "", raw=value)
            except NumberError as exc:
                errors.append(f"{where} : {exc}")
                return None
            return number / 100 if rate and value.endswith("%") else number
    elif numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            check_value(value, "")
        except NumberError as exc:
            errors.append(f"{where} : {exc}")
            return None
    return value


def read_problem_xlsx(content: bytes, *, name: str = "classeur") -> Problem:
    """A problem from the bytes of an Excel workbook (one sheet per table)."""
    # the workbook route's libraries are imported here: `pilotis optimize` on JSON starts without them
    import pandas as pd

    from services.workbooks import WorkbookError, larger, open_workbook

    try:
        book = open_workbook(
            content, limits=larger(cells=500_000, rows=MAX_ROWS_PER_SHEET + 1, elements=2_000_000)
        )
    except WorkbookError as exc:
        raise ProblemFileError([f"{name} : {exc}"]) from None
    errors: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    try:
        for sheet in TABLE_COLUMNS:
            if sheet not in book.sheetnames:
                continue  # missing required sheets are reported by problem_from_tables
            rows = book[sheet].iter_rows(max_col=MAX_COLUMNS)
            header_cells = next(rows, ())
            header = [str(c.value).strip() if c.value is not None else "" for c in header_cells]
            while header and not header[-1]:
                header.pop()
            records: list[list[Any]] = []
            for number, cells in enumerate(rows, start=2):
                if number - 1 > MAX_ROWS_PER_SHEET:
                    errors.append(f"feuille « {sheet} » : plus de {MAX_ROWS_PER_SHEET} lignes")
                    break
                cells = cells[: len(header)]
                parameter = str(cells[0].value).strip() if sheet == PARAMETERS_SHEET and cells else ""
                values = [
                    _cell_value(
                        f"feuille « {sheet} », ligne {number}, colonne « {header[i]} »",
                        cell,
                        errors,
                        numeric=header[i] in NUMERIC_COLUMNS.get(sheet, set())
                        or (header[i] == "valeur" and parameter in NUMERIC_PARAMETERS),
                        rate=header[i] in RATE_COLUMNS.get(sheet, set()),
                    )
                    for i, cell in enumerate(cells)
                ]
                values += [None] * (len(header) - len(values))
                records.append(values)
            while records and all(v is None or v == "" for v in records[-1]):
                records.pop()  # trailing blank rows of a sheet that was edited
            tables[sheet] = pd.DataFrame(records, columns=header, dtype=object)
    except WorkbookError as exc:  # a sheet openpyxl cannot read to the end
        raise ProblemFileError([f"{name} : {exc}"]) from None
    finally:
        book.close()
    try:
        problem = problem_from_tables(tables)
    except ProblemError as exc:
        # a cell already refused here (formula, number) is not reported again as missing
        located = {m.split(" : ", 1)[0] for m in errors}
        later = [m for m in exc.messages if m.split(" : ", 1)[0] not in located]
        raise ProblemFileError([f"{name} : {m}" for m in [*errors, *later]]) from None
    if errors:
        raise ProblemFileError([f"{name} : {m}" for m in errors])
    return problem


def write_problem_json(problem: Problem, path: str | Path) -> None:
    """Write ``problem`` as JSON (UTF-8, indented, accents kept)."""
    Path(path).write_text(
        json.dumps(problem_to_dict(problem), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def problem_xlsx_bytes(problem: Problem) -> bytes:
    """The workbook of ``problem``: one sheet per table, texts stored as text, rates as percents."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    from services.exports import set_cell, write_header

    book = Workbook()
    first = book.active
    if first is not None:  # pragma: no branch - a new workbook always has a sheet
        book.remove(first)
    for sheet_name, frame in problem_to_tables(problem).items():
        sheet = book.create_sheet(sheet_name)
        rates = RATE_COLUMNS.get(sheet_name, set())
        write_header(sheet, 1, [str(header) for header in frame.columns])
        for col, header in enumerate(frame.columns, start=1):
            sheet.column_dimensions[get_column_letter(col)].width = max(12, len(str(header)) + 4)
        for r, row in enumerate(frame.itertuples(index=False, name=None), start=2):
            for c, value in enumerate(row, start=1):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                cell = sheet.cell(row=r, column=c)
                set_cell(cell, value)
                if frame.columns[c - 1] in rates and isinstance(value, int | float):
                    cell.number_format = "0.0%"
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_problem_xlsx(problem: Problem, path: str | Path) -> None:
    """Write ``problem`` as an Excel workbook (see :func:`problem_xlsx_bytes`)."""
    Path(path).write_bytes(problem_xlsx_bytes(problem))


# ----------------------------------------------------------------------------------------------
# The solution, for a machine (JSON) or a person (text)
# ----------------------------------------------------------------------------------------------


def _num(value: float | None) -> float | None:
    """A JSON number: None for absent or infinite values."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def solution_to_dict(problem: Problem, solution: Solution, explanation: Explanation) -> dict[str, Any]:
    """The solution and its explanation as a JSON-ready dict (amounts in EUR, rates as fractions)."""
    budgets = problem.current_budgets()
    bounds = problem.service_bounds()
    has = solution.has_values
    services = []
    for s in problem.services:
        low, high, reason = bounds[s.code]
        budget = solution.service_budget.get(s.code)
        current = budgets[s.code]
        services.append(
            {
                "code": s.code,
                "name": s.name,
                "current_budget": _num(current),
                "budget": _num(budget) if has else None,
                "change": _num(budget / current - 1) if has and budget is not None and current > 0 else None,
                "lower_bound": _num(low) if low > 0 else None,
                "lower_bound_reason": reason or None,
                "upper_bound": _num(high),
                "dual_lower": _num(solution.duals.get(f"service_min[{s.code}]")),
                "dual_upper": _num(solution.duals.get(f"service_max[{s.code}]")),
            }
        )
    activities = [
        {
            "code": a.code,
            "name": a.name,
            "service": a.service,
            "current_volume": a.current_volume,
            "volume": _num(solution.volumes.get(a.code)) if has else None,
            "runs": solution.runs.get(a.code) if has else None,
            "cost": _num(solution.activity_cost.get(a.code)) if has else None,
            "reduced_cost": _num(solution.reduced_costs.get(a.code)),
            "reason": explanation.activity_reasons.get(a.code),
        }
        for a in problem.activities
    ]
    needs = [
        {
            "code": n.code,
            "name": n.name,
            "size": n.size,
            "priority": n.priority,
            "covered": _num(solution.covered.get(n.code)) if has else None,
            "coverage_rate": _num(solution.coverage_rate.get(n.code)) if has else None,
            "dual": _num(solution.duals.get(f"cover[{n.code}]")),
            "reason": explanation.need_reasons.get(n.code),
        }
        for n in problem.needs
    ]
    return {
        "problem": {"name": problem.name, "year": problem.year, "envelope": problem.envelope},
        "status": solution.status,
        "status_fr": solution.status_fr,
        "solver": solution.solver,
        "is_mip": solution.is_mip,
        "objective": _num(solution.objective),
        "coverage_value": _num(solution.coverage_value),
        "penalty": _num(solution.penalty),
        "mip_gap": _num(solution.mip_gap),
        "total_cost": _num(solution.total_cost),
        "staff_total": _num(solution.staff_total),
        "solve_seconds": round(solution.solve_seconds, 4),
        "message": solution.message or None,
        "explanation": list(explanation.sentences),
        "diagnosis": list(explanation.diagnosis),
        "binding": [
            {
                "name": b.name,
                "label": b.label_fr,
                "shadow_price": _num(b.shadow_price),
                "range_low": _num(b.range_low),
                "range_high": _num(b.range_high),
                "step": _num(b.step),
                "step_value": _num(b.step_value),
            }
            for b in explanation.binding
        ],
        "shortfalls": {k: _num(v) for k, v in solution.shortfalls.items()},
        "posts": dict(solution.posts),
        "services": services,
        "activities": activities,
        "needs": needs,
    }


def _table(headers: list[str], rows: list[list[str]], align_right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in align_right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def format_solution_text(
    problem: Problem, solution: Solution, explanation: Explanation, *, max_rows: int = 40
) -> str:
    """A French plain-text report: status, explanation, services, then the largest changes."""
    title = problem.name or "Scénario"
    out = [f"{title}{f' ({problem.year})' if problem.year else ''} — arbitrage budgétaire", ""]
    out.append(
        f"Statut : {solution.status_fr} (solveur {solution.solver}, {format_number(solution.solve_seconds, 2)} s)"
    )
    if solution.has_values and solution.objective is not None:
        out.append(
            f"Enveloppe : {format_euros(problem.envelope)} ; dépensé : {format_euros(solution.total_cost or 0.0)}"
        )
        if solution.mip_gap is not None:
            out.append(f"Écart d'optimalité : {format_percent(solution.mip_gap, 2)}")
    out += ["", "Explication", "-----------", *explanation.sentences]
    if not solution.has_values:
        return "\n".join(out) + "\n"
    budgets = problem.current_budgets()
    rows = []
    for s in problem.services:
        current = budgets[s.code]
        budget = solution.service_budget.get(s.code, 0.0)
        change = format_signed_percent(budget / current - 1) if current > 0 else ""
        rows.append([s.code, (s.name or "")[:40], format_euros(current), format_euros(budget), change])
    out += [
        "",
        "Services",
        "--------",
        *_table(["code", "service", "actuel", "optimal", "variation"], rows[:max_rows], {2, 3, 4}),
    ]
    if len(rows) > max_rows:
        out.append(f"… et {len(rows) - max_rows} autres services")
    moves = sorted(
        problem.activities,
        key=lambda a: -abs(solution.activity_cost.get(a.code, 0.0) - a.current_cost),
    )[:max_rows]
    rows = [
        [
            a.code,
            format_number(a.current_volume),
            format_number(solution.volumes.get(a.code, 0.0)),
            format_euros(solution.activity_cost.get(a.code, 0.0) - a.current_cost),
        ]
        for a in moves
    ]
    out += [
        "",
        "Activités (plus forts mouvements)",
        "---------------------------------",
        *_table(["code", "volume actuel", "volume optimal", "écart de coût"], rows, {1, 2, 3}),
    ]
    return "\n".join(out) + "\n"
