"""Importing territorial statistics as INSEE and the CAF publish them (all or nothing).

Layouts recognised (:func:`detect_layout`):

- Filosofi by IRIS (``IRIS``, ``DISP_TP60yy``…) and by commune, EPCI, département, région or
  France (``CODGEO``, ``NBMENyy``…: INSEE's ``FILOyyyy_DISP_COM/EPCI/DEP/REG/METROPOLE`` files);
- CAF allocataires (``CODGEO``, ``NOTE``, ``A``…) at any of those levels;
- the census as INSEE publishes it: the « base infracommunale » by IRIS (``IRIS``, ``COM``…,
  ``P21_POP``, ``P21_POP0002`` … ``P21_POP80P``) and the communal bases (``CODGEO``,
  ``P21_POP``, ``P21_POP0014`` … ``P21_POP7589``, ``P21_POP90P``, and the same for 2015), each
  ``Pyy_``/``Cyy_`` prefix stored as its own vintage;
- the census population by single year of age (``CODGEO``, ``Age``, ``Nb_H``, ``Nb_F``).

The traps are handled: ``;`` or ``,`` separators, decimal commas, a byte-order mark, files in
Windows-1252 or Latin-1 (:func:`decode_text`), codes kept as text (leading zeros, Corsican
letters), secret cells left blank (stored as secret, never 0), a ``NOTE`` column that makes a
whole row secret, vintages in column names.

Each row's territory is read from the layout and its code (:func:`_levels`): IRIS are 9
characters (the commune's 5 then 4 digits; ``…0000`` is a commune INSEE does not split, stored
on the commune); communes 5; EPCI their 9-digit SIREN in ``CODGEO`` files (or any file whose name
says ``EPCI``); départements and régions 2 or 3 characters, told apart by the file's name
(``…_DEP…``, ``…_REG…``: their codes overlap); France ``FR``/``FRANCE``/``METRO`` or a file named
``…_FRANCE…``/``…_METROPOLE…``.

A national file is read for the organisation's territories only. Rows of other territories are
skipped and counted, even when a cell of theirs is not a number or their code is malformed
(:attr:`StatisticsReport.rows_skipped`); the organisation's own rows must be clean: one bad
cell of theirs refuses the file. A territory of the organisation's communes that its tree lacks
is reported, never invented. Duplicates and a value that contradicts a stored one for the same
vintage are errors. Nothing is written unless the file is valid for the organisation; importing
the same file again changes nothing; another vintage adds a vintage. A file none of whose rows
concerns the organisation writes nothing and says so in :attr:`StatisticsReport.warnings`.

The vintage is the file's own: from its columns (Filosofi ``DISP_TP6019``, census ``P21_POP``) or
its name (``data_CAF_2020_IRIS.csv``). A vintage given that contradicts it is refused unless
forced (the name may lie); a vintage imported by mistake is taken back whole by
:func:`remove_statistics` (audited row by row, like every change), after which the caller
resizes the needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import NeedEvidence, Territory, TerritoryKind, TerritoryStatistic
from scorecard.errors import UserError
from services import tabular
from services.statistics_catalog import (
    CAF_IRIS,
    CAF_SOURCE,
    CENSUS_AGE_GROUPS,
    CENSUS_COLUMNS,
    CENSUS_SOURCE,
    CENSUS_SUMS,
    FILOSOFI_COMMUNE,
    FILOSOFI_IRIS,
    FILOSOFI_SOURCE,
    Variable,
)
from services.sync import SyncStats, sync_rows

MAX_BYTES = 50 * 1024 * 1024
#: Physical lines: a national census base by single year of age is 35 000 communes x 101 ages.
MAX_LINES = 4_000_000
CSV_LIMITS = tabular.CsvLimits(bytes=MAX_BYTES, lines=MAX_LINES, rows=MAX_LINES, columns=2_000)
LAYOUTS = {"filosofi", "caf", "census"}
#: Located errors listed at most (the count of the others is given).
MAX_LISTED = 20
ROW_COLUMNS = ["code", "variable", "label", "unit", "value", "is_secret", "line", "vintage"]


class StatisticsImportError(UserError):
    """The file is refused as a whole (unknown layout, encoding…)."""


@dataclass
class StatisticsReport:
    layout: str = ""
    vintage: int | None = None
    #: Every vintage the file gave (the communal census base holds 2021 and 2015).
    vintages: list[int] = field(default_factory=list)
    rows_read: int = 0
    rows_outside: int = 0
    #: Lines of other territories skipped because a cell or their code is unreadable.
    rows_skipped: int = 0
    #: Rows (territory and variable) that concern the organisation's territories.
    rows_inside: int = 0
    errors: list[str] = field(default_factory=list)
    #: The file was valid but something deserves attention (it wrote nothing for the
    #: organisation, lines of other territories were unreadable, it was not in UTF-8).
    warnings: list[str] = field(default_factory=list)
    stats: SyncStats = field(default_factory=SyncStats)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def wrote_nothing(self) -> bool:
        """Valid, but not one figure of the file concerns the organisation."""
        return self.ok and self.rows_inside == 0


def decode_text(content: bytes) -> tuple[str, str | None]:
    """The text of a CSV file, and a note when it was not UTF-8 (:func:`services.tabular.decode`:
    UTF-8 with or without a byte-order mark, else Windows-1252, the encoding of files saved by
    Excel on Windows and of several INSEE bases, else Latin-1; the note asks to check the accents)."""
    try:
        text, _encoding, note = tabular.decode(content)
    except tabular.CsvError as exc:
        raise StatisticsImportError(str(exc)) from None
    return text, note


def read_table(content: bytes) -> tuple[pd.DataFrame, str | None]:
    """A CSV as text columns, read by :func:`services.tabular.read_frame` (size, lines, encoding,
    byte-order mark, separator; refusals located), and the note of :func:`decode_text`."""
    try:
        frame, note = tabular.read_frame(content, CSV_LIMITS, separators=(";", ",", "\t"))
    except tabular.CsvError as exc:
        raise StatisticsImportError(str(exc)) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, note


CENSUS_COLUMN = re.compile(r"([PC])(\d\d)_([A-Z0-9]+)")


def _census_vintages(columns: list[str]) -> list[int]:
    """The vintages of a census base's columns (``P21_POP`` -> 2021), newest first."""
    known = {(prefix, suffix) for prefix, suffix, *_ in CENSUS_COLUMNS}
    years = {
        _year(m.group(2))
        for c in columns
        if (m := CENSUS_COLUMN.fullmatch(c)) and (m.group(1), m.group(3)) in known
    }
    return sorted(years, reverse=True)


def _year(yy: str) -> int:
    return (1900 if int(yy) > 50 else 2000) + int(yy)


def detect_layout(columns: list[str]) -> str:
    cols = set(columns)
    census = bool(_census_vintages(columns))
    if "IRIS" in cols and any(re.fullmatch(r"DISP_TP60\d\d", c) for c in cols):
        return "filosofi-iris"
    if "CODGEO" in cols and any(re.fullmatch(r"NBMEN\d\d", c) for c in cols):
        return "filosofi-commune"
    if {"CODGEO", "NOTE", "A", "ARSAS"} <= cols:
        return "caf-iris"
    if {"CODGEO", "Age", "Nb_H", "Nb_F"} <= cols:
        return "census-age"
    if "IRIS" in cols and census:
        return "census-iris"
    if "CODGEO" in cols and census:
        return "census-commune"
    raise StatisticsImportError(
        "disposition de fichier inconnue : attendu un fichier Filosofi (IRIS ou CODGEO), CAF, recensement "
        "de l'INSEE (base infracommunale IRIS ou base communale, colonnes P21_POP…) ou recensement par âge ; "
        f"colonnes trouvées : {', '.join(columns[:8])}…"
    )


#: The column of each layout that holds the territory's code.
CODE_COLUMN = {"filosofi-iris": "IRIS", "census-iris": "IRIS"}


def _code_column(layout: str) -> str:
    return CODE_COLUMN.get(layout, "CODGEO")


def _numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values as floats (decimal comma accepted), and a mask of cells that are text, not numbers."""
    text = (
        series.astype(str)
        .str.strip()
        .str.replace("\u202f", "", regex=False)
        .str.replace("\u00a0", "", regex=False)
    )
    text = text.str.replace(" ", "", regex=False).str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & (text != "")
    return values, bad


def _vintage_from_columns(columns: list[str], pattern: str) -> int | None:
    for column in columns:
        if match := re.fullmatch(pattern, column):
            return _year(match.group(1))
    return None


def _value_columns(frame: pd.DataFrame, layout: str, vintage: int | None) -> list[str]:
    """The columns the layout reads as numbers (their unreadable cells are errors)."""
    columns = list(frame.columns)
    if layout in ("filosofi-iris", "filosofi-commune"):
        catalog = FILOSOFI_IRIS if layout == "filosofi-iris" else FILOSOFI_COMMUNE
        yy = f"{(vintage or 0) % 100:02d}"
        return [c for v in catalog if (c := v.column.replace("{yy}", yy)) in frame]
    if layout == "caf-iris":
        return [v.column for v in CAF_IRIS if v.column in frame]
    if layout == "census-age":
        return ["Age", "Nb_H", "Nb_F"]
    wanted = {(p, s) for p, s, *_ in CENSUS_COLUMNS} | {("P", s) for *_, sums in CENSUS_SUMS for s in sums}
    return [c for c in columns if (m := CENSUS_COLUMN.fullmatch(c)) and (m.group(1), m.group(3)) in wanted]


def bad_cells(frame: pd.DataFrame, layout: str, vintage: int | None) -> pd.Series:
    """Per row, the first unreadable cell as « colonne « X » : « v » n'est pas un nombre », or ""."""
    problem = pd.Series("", index=frame.index, dtype=object)
    for column in _value_columns(frame, layout, vintage):
        _, bad = _numbers(frame[column])
        fresh = bad & (problem == "")
        for index in fresh[fresh].index:
            problem[index] = f"colonne « {column} » : « {frame.at[index, column]!s} » n'est pas un nombre"
    return problem


def parse_statistics(
    frame: pd.DataFrame, *, layout: str, vintage: int | None
) -> tuple[pd.DataFrame, list[str], int | None]:
    """Long rows ``code, variable, label, unit, value, is_secret, line, vintage`` from a published
    table, the located errors (unreadable cells, missing vintage), and the file's (latest) vintage.

    ``frame`` keeps the index of the file's rows (line = index + 2: line 1 is the header), so a
    caller may pass only the rows it wants.
    """
    columns = list(frame.columns)
    errors: list[str] = []
    lines = pd.Series(np.asarray(frame.index, dtype=int) + 2, index=frame.index)
    parts: list[pd.DataFrame] = []

    def add(
        codes: pd.Series,
        var: Variable,
        column: str,
        secret_rows: pd.Series | None = None,
        year: int | None = None,
    ) -> None:
        values, bad = _numbers(frame[column])
        for index in bad[bad].index[:MAX_LISTED]:
            errors.append(
                f"ligne {lines[index]}, colonne « {column} » : « {frame.at[index, column]!s} » n'est pas un nombre"
            )
        secret = values.isna()
        if secret_rows is not None:
            secret = secret | secret_rows
        parts.append(pd.DataFrame({
            "code": codes, "variable": var.variable, "label": var.label, "unit": var.unit,
            "value": values.where(~secret), "is_secret": secret, "line": lines, "vintage": year or vintage,
        }))  # fmt: skip

    if layout in ("filosofi-iris", "filosofi-commune"):
        catalog = FILOSOFI_IRIS if layout == "filosofi-iris" else FILOSOFI_COMMUNE
        found = _vintage_from_columns(
            columns, r"DISP_TP60(\d\d)" if layout == "filosofi-iris" else r"NBMEN(\d\d)"
        )
        if vintage is not None and found is not None and vintage != found:
            errors.append(f"millésime {vintage} demandé mais les colonnes du fichier sont de {found}")
        vintage = found or vintage
        yy = f"{(vintage or 0) % 100:02d}"
        codes = frame[_code_column(layout)].astype(str).str.strip()
        note_column = f"DISP_NOTE{yy}"
        secret_rows = None
        if note_column in frame:
            note, _ = _numbers(frame[note_column])
            secret_rows = note.fillna(0) != 0
        for var in catalog:
            column = var.column.replace("{yy}", yy)
            if column in frame:
                add(codes, var, column, secret_rows)
    elif layout == "caf-iris":
        if vintage is None:
            errors.append(
                "millésime du fichier CAF inconnu : indiquez-le (le nom du fichier ne le donne pas)"
            )
        codes = frame["CODGEO"].astype(str).str.strip()
        note, _ = _numbers(frame["NOTE"])
        secret_rows = note.fillna(0) != 0
        for var in CAF_IRIS:
            if var.column in frame:
                add(codes, var, var.column, secret_rows)
            else:
                errors.append(f"colonne « {var.column} » absente du fichier CAF")
    elif layout in ("census-iris", "census-commune"):
        years = _census_vintages(columns)
        if vintage is not None and years and vintage != years[0]:
            errors.append(f"millésime {vintage} demandé mais les colonnes du fichier sont de {years[0]}")
        vintage = years[0] if years else vintage
        codes = frame[_code_column(layout)].astype(str).str.strip()
        for year in years:
            yy = f"{year % 100:02d}"
            present = set()
            for prefix, suffix, variable, label, unit in CENSUS_COLUMNS:
                column = f"{prefix}{yy}_{suffix}"
                if column in frame:
                    add(codes, Variable(column, variable, label, unit), column, year=year)
                    present.add(variable)
            for variable, label, suffixes in CENSUS_SUMS:
                summed = [f"P{yy}_{s}" for s in suffixes]
                if variable in present or not all(c in frame for c in summed):
                    continue
                values = [_numbers(frame[c])[0] for c in summed]
                total = sum(values[1:], values[0])  # a blank (secret) part leaves the sum blank
                parts.append(
                    pd.DataFrame(
                        {
                            "code": codes,
                            "variable": variable,
                            "label": label,
                            "unit": "personnes",
                            "value": total,
                            "is_secret": total.isna(),
                            "line": lines,
                            "vintage": year,
                        }
                    )
                )
    elif layout == "census-age":
        if vintage is None:
            errors.append("millésime du recensement inconnu : indiquez-le (ex. 2021)")
        ages, bad_age = _numbers(frame["Age"])
        men, bad_men = _numbers(frame["Nb_H"])
        women, bad_women = _numbers(frame["Nb_F"])
        for name, bad in (("Age", bad_age), ("Nb_H", bad_men), ("Nb_F", bad_women)):
            for index in bad[bad].index[:MAX_LISTED]:
                errors.append(
                    f"ligne {lines[index]}, colonne « {name} » : « {frame.at[index, name]!s} » n'est pas un nombre"
                )
        people = pd.DataFrame({"code": frame["CODGEO"].astype(str).str.strip().str.zfill(5), "age": ages, "n": men + women,
                               "line": lines})  # fmt: skip
        dup = people.duplicated(["code", "age"], keep=False)
        for (code, age), group in people[dup].groupby(["code", "age"]):
            errors.append(
                f"commune {code}, âge {age:.0f} : en double (lignes {', '.join(str(x) for x in group['line'])})"
            )
        first_line = people.groupby("code")["line"].min()
        for variable, label, low, high in CENSUS_AGE_GROUPS:
            mask = people["age"] >= low if high is None else people["age"].between(low, high)
            sums = people[mask].groupby("code")["n"].sum()
            parts.append(
                pd.DataFrame(
                    {
                        "code": sums.index,
                        "variable": "population" if variable == "pop_rp2021" else variable,
                        "label": label,
                        "unit": "personnes",
                        "value": sums.to_numpy(),
                        "is_secret": False,
                        "line": first_line.reindex(sums.index).to_numpy(),
                        "vintage": vintage,
                    }
                )
            )
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROW_COLUMNS)
    return rows, errors, vintage


SOURCE_OF = {
    "filosofi-iris": FILOSOFI_SOURCE,
    "filosofi-commune": FILOSOFI_SOURCE,
    "caf-iris": CAF_SOURCE,
    "census-age": CENSUS_SOURCE,
    "census-iris": CENSUS_SOURCE,
    "census-commune": CENSUS_SOURCE,
}


def vintage_from_filename(name: str) -> int | None:
    match = re.search(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)", name)
    return int(match.group(1)) if match else None


def _columns_vintage(layout: str, columns: list[str]) -> int | None:
    """The vintage a file's column names carry (``DISP_TP6019``, ``P21_POP`` -> 2019, 2021), or None."""
    if layout == "filosofi-iris":
        return _vintage_from_columns(columns, r"DISP_TP60(\d\d)")
    if layout == "filosofi-commune":
        return _vintage_from_columns(columns, r"NBMEN(\d\d)")
    if layout in ("census-iris", "census-commune"):
        years = _census_vintages(columns)
        return years[0] if years else None
    return None


COMMUNE_CODE = r"[0-9][0-9AB][0-9]{3}"
IRIS_CODE = COMMUNE_CODE + r"[0-9]{4}"
EPCI_CODE = r"2[0-9]{8}"  # the SIREN of an EPCI
SHORT_CODE = r"[0-9]{2,3}|2[AB]"  # a département (01, 2A, 971) or a région (76)
FRANCE_CODES = frozenset({"FR", "FRANCE", "FE", "FM", "METRO", "FRMETRO", "METROPOLE"})
#: The code of France in the territory trees (services.organisations).
FRANCE_CODE = "FR"
LEVEL_NAMES = {
    TerritoryKind.IRIS: "IRIS",
    TerritoryKind.COMMUNE: "communes",
    TerritoryKind.EPCI: "EPCI",
    TerritoryKind.DEPARTEMENT: "départements",
    TerritoryKind.REGION: "régions",
    TerritoryKind.FRANCE: "France",
}
#: Words of a file's name that give the level of its codes (INSEE's and the CNAF's names).
NAME_LEVELS: list[tuple[frozenset[str], TerritoryKind]] = [
    (frozenset({"FRANCE", "METROPOLE", "METRO", "NATIONAL", "NAT", "FE", "FM"}), TerritoryKind.FRANCE),
    (frozenset({"REG", "REGION", "REGIONS"}), TerritoryKind.REGION),
    (frozenset({"DEP", "DEPT", "DEPARTEMENT", "DEPARTEMENTS"}), TerritoryKind.DEPARTEMENT),
    (frozenset({"EPCI"}), TerritoryKind.EPCI),
    (frozenset({"IRIS", "IC"}), TerritoryKind.IRIS),
    (frozenset({"COM", "COMMUNE", "COMMUNES", "CC"}), TerritoryKind.COMMUNE),
]


def _named_level(filename: str) -> TerritoryKind | None:
    """The level the file's name says (``FILO2019_DISP_DEP.csv``: départements), or None."""
    words = set(re.split(r"[^A-Z]+", filename.upper()))
    for names, kind in NAME_LEVELS:
        if words & names:
            return kind
    return None


def _levels(codes: pd.Series, layout: str, filename: str) -> tuple[pd.Series, str | None]:
    """Each row's territory kind (None: malformed code), and why short codes cannot be placed."""
    kinds = pd.Series([None] * len(codes), index=codes.index, dtype=object)
    named = _named_level(filename)
    kinds[codes.str.fullmatch(COMMUNE_CODE)] = TerritoryKind.COMMUNE
    if layout == "census-age":
        return kinds, None
    nine = codes.str.fullmatch(IRIS_CODE)
    if layout in ("filosofi-iris", "census-iris") or (
        layout == "caf-iris" and named is not TerritoryKind.EPCI
    ):
        kinds[nine] = TerritoryKind.IRIS
        if layout != "caf-iris":
            return kinds, None
    else:
        kinds[codes.str.fullmatch(EPCI_CODE)] = TerritoryKind.EPCI
    france = codes.str.upper().isin(FRANCE_CODES)
    if named is TerritoryKind.FRANCE:
        france = france | (len(codes) == 1)  # INSEE's METROPOLE file: one row, whatever its code
    kinds[france] = TerritoryKind.FRANCE
    short = codes.str.fullmatch(SHORT_CODE) & ~france
    if not short.any():
        return kinds, None
    if named not in (TerritoryKind.DEPARTEMENT, TerritoryKind.REGION):
        return kinds, (
            "codes de 2 ou 3 caractères (départements ou régions ?) : le nom du fichier doit dire lequel "
            "(…_DEP… ou …_REG…, comme l'INSEE les nomme)"
        )
    kinds[short] = named
    return kinds, None


def _listed(errors: list[str], total: int) -> list[str]:
    """At most :data:`MAX_LISTED` errors, and how many more there are."""
    if total > len(errors[:MAX_LISTED]):
        return [*errors[:MAX_LISTED], f"… et {total - MAX_LISTED} autre(s) erreur(s)"]
    return errors


def import_statistics(
    session: Session,
    organisation_id: int,
    content: bytes,
    *,
    source: str,
    filename: str = "",
    vintage: int | None = None,
    force_vintage: bool = False,
) -> StatisticsReport:
    """Check the file for the organisation's territories, then store their statistics.

    ``vintage`` is for files that do not carry theirs; one that contradicts the file's name is
    refused unless ``force_vintage`` (one that contradicts its columns always is).
    """
    if source not in LAYOUTS:
        raise StatisticsImportError(f"source « {source} » inconnue : filosofi, caf ou census")
    frame, note = read_table(content)
    layout = detect_layout(list(frame.columns))
    if not layout.startswith(source):
        raise StatisticsImportError(
            f"ce fichier ressemble à un fichier « {layout} », pas à la source « {source} » demandée"
        )
    report = StatisticsReport(layout=layout, rows_read=len(frame))
    if note:
        report.warnings.append(note)
    named = vintage_from_filename(filename)
    if (
        vintage is not None
        and named is not None
        and vintage != named
        and not force_vintage
        and _columns_vintage(layout, list(frame.columns)) is None
    ):
        report.vintage = vintage
        report.errors.append(
            f"millésime {vintage} demandé mais le nom du fichier « {filename} » indique {named} : "
            f"importez-le comme {named}, ou forcez le millésime {vintage} si le nom du fichier est trompeur"
        )
        return report
    vintage = vintage or named
    code_column = _code_column(layout)
    if code_column not in frame:  # pragma: no cover - detect_layout checked it
        raise StatisticsImportError(f"colonne « {code_column} » absente")
    codes = frame[code_column].astype(str).str.strip()
    if layout == "census-age":
        codes = codes.str.zfill(5)
    kinds, short_problem = _levels(codes, layout, filename)
    if short_problem:
        report.errors.append(short_problem)
        return report
    codes = codes.where(kinds != TerritoryKind.FRANCE, FRANCE_CODE)
    frame[code_column] = codes  # the rows are stored under these codes

    territories = session.scalars(select(Territory).where(Territory.organisation_id == organisation_id)).all()
    communes = {t.code for t in territories if t.kind is TerritoryKind.COMMUNE}
    by_key = {(t.kind, t.code): t for t in territories}
    wider_codes = {
        t.code.upper() for t in territories if t.kind not in (TerritoryKind.IRIS, TerritoryKind.COMMUNE)
    }
    malformed = kinds.isna()
    local = kinds.isin([TerritoryKind.COMMUNE, TerritoryKind.IRIS])
    keys = pd.Series(list(zip(kinds, codes, strict=True)), index=frame.index, dtype=object)
    ours_by_prefix = codes.str.slice(0, 5).isin(communes)
    inside = (local & ours_by_prefix) | (~local & ~malformed & keys.isin(by_key))
    # a malformed code is the organisation's when it starts like one of its communes or is one of
    # its wider territories' codes: its rows must be clean; anyone else's is skipped
    own_malformed = malformed & (ours_by_prefix | codes.str.upper().str.replace(" ", "").isin(wider_codes))
    expected = {
        "census-age": "5 caractères attendus (code commune)",
        "filosofi-commune": "5 caractères (commune), 9 chiffres (EPCI) ou 2 à 3 (département, région) attendus",
        "census-commune": "5 caractères (commune), 9 chiffres (EPCI) ou 2 à 3 (département, région) attendus",
    }.get(layout, "5 ou 9 caractères attendus")
    for index in own_malformed[own_malformed].index[:MAX_LISTED]:
        report.errors.append(
            f"ligne {index + 2} : code de territoire « {codes[index]} » invalide ({expected})"
        )
    outside = ~inside & ~malformed
    report.rows_outside = int(codes[outside].nunique())
    # other territories' lines: unreadable ones are skipped and counted, never refuse the file
    others = frame[~inside & ~own_malformed]
    problems = bad_cells(others, layout, _columns_vintage(layout, list(frame.columns)) or vintage)
    unreadable = (problems != "") | malformed[others.index]
    report.rows_skipped = int(unreadable.sum())
    if report.rows_skipped:
        first = unreadable[unreadable].index[0]
        example = problems[first] or f"code de territoire « {codes[first]} » invalide ({expected})"
        report.warnings.append(
            f"{report.rows_skipped} ligne(s) d'autres territoires illisible(s) ignorée(s) "
            f"(par exemple ligne {first + 2}, {example})"
        )

    rows, errors, vintage = parse_statistics(frame[inside], layout=layout, vintage=vintage)
    report.vintage = vintage
    report.errors = _listed(report.errors + errors, len(report.errors) + len(errors))
    if vintage is None or report.errors:
        return report
    key_of = dict(zip(codes[inside], keys[inside], strict=True))
    rows["key"] = rows["code"].astype(str).map(key_of)
    if layout in ("filosofi-iris", "caf-iris", "census-iris"):
        # « …0000 »: a commune INSEE does not split into IRIS, stored on the commune
        whole = rows["code"].astype(str).str.endswith("0000") & ~rows["key"].isin(by_key)
        rows.loc[whole, "key"] = pd.Series(
            [(TerritoryKind.COMMUNE, c[:5]) for c in rows.loc[whole, "code"].astype(str)],
            index=rows.index[whole],
            dtype=object,
        )
    unknown = rows[~rows["key"].isin(by_key)]
    for code, line in (
        unknown[["code", "line"]].drop_duplicates("code").head(MAX_LISTED).itertuples(index=False)
    ):
        report.errors.append(
            f"ligne {line} : territoire « {code} » absent de l'arborescence de l'organisation (il n'est pas créé : "
            "ajoutez-le d'abord)"
        )
    duplicated = rows.duplicated(["key", "variable", "vintage"], keep=False)
    for (code, variable, _), group in rows[duplicated].groupby(["code", "variable", "vintage"]):
        report.errors.append(
            f"territoire {code}, « {variable} » en double (lignes {', '.join(str(x) for x in group['line'])})"
        )
    if report.errors:
        return report
    report.vintages = sorted({int(v) for v in rows["vintage"]}, reverse=True) if len(rows) else [vintage]
    report.rows_inside = len(rows)
    if not len(rows):
        levels = sorted({LEVEL_NAMES[k] for k in kinds.dropna()}) or ["aucun territoire"]
        report.warnings.append(
            f"aucun chiffre de ce fichier ne concerne votre organisation : ses {report.rows_outside} "
            f"territoire(s) ({', '.join(levels)}) sont tous hors de votre arborescence ; rien n'a été importé"
        )
        return report

    source_label = SOURCE_OF[layout]
    stored = {
        (s.territory_id, s.variable, s.vintage): s
        for s in session.scalars(
            select(TerritoryStatistic).where(
                TerritoryStatistic.organisation_id == organisation_id,
                TerritoryStatistic.vintage.in_(report.vintages),
                TerritoryStatistic.source == source_label,
            )
        )
    }
    records: list[dict[str, Any]] = []
    for row in rows.to_dict("records"):
        code, variable, line, year = (
            str(row["code"]),
            str(row["variable"]),
            int(row["line"]),
            int(row["vintage"]),
        )
        raw: Any = row["value"]
        territory = by_key[row["key"]]
        value = None if bool(row["is_secret"]) or pd.isna(raw) else float(raw)
        previous = stored.get((territory.id, variable, year))
        if previous is not None and (
            previous.is_secret != (value is None)
            or (value is not None and abs((previous.value or 0) - value) > 1e-9)
        ):
            shown = "secret" if previous.is_secret else f"{previous.value:g}"
            report.errors.append(
                f"ligne {line} : « {variable} » de {code} vaut {'secret' if value is None else f'{value:g}'} "
                f"mais {shown} est déjà enregistré pour le millésime {year} : fichier contradictoire"
            )
            continue
        records.append({
            "organisation_id": organisation_id, "territory_id": territory.id, "variable": variable,
            "label": row["label"], "unit": row["unit"], "vintage": year, "source": source_label,
            "value": value, "is_secret": value is None,
        })  # fmt: skip
    if report.errors:
        report.errors = _listed(report.errors, len(report.errors))
        return report
    result = sync_rows(
        session, TerritoryStatistic, records, ("territory_id", "variable", "vintage", "source"),
        scope=[TerritoryStatistic.organisation_id == organisation_id,
               TerritoryStatistic.vintage.in_(report.vintages), TerritoryStatistic.source == source_label],
        delete_missing=False,
    )  # fmt: skip
    report.stats = result.stats
    from services.benchmark import mark_stale  # the benchmark's coverage reads the needs they feed

    mark_stale(session, organisation_id)
    return report


# -- taking back a vintage -----------------------------------------------------------------------
SOURCE_LABELS = {"filosofi": FILOSOFI_SOURCE, "caf": CAF_SOURCE, "census": CENSUS_SOURCE}


@dataclass(frozen=True)
class ImportedVintage:
    """One vintage of one source as stored for the organisation."""

    source: str  # filosofi, caf, census
    source_label: str
    vintage: int
    figures: int
    evidencing: int  # needs whose size or rate rests on these figures


def imported_vintages(session: Session, organisation_id: int) -> list[ImportedVintage]:
    """The vintages of each source stored for the organisation, newest first."""
    codes = {label: code for code, label in SOURCE_LABELS.items()}
    counted = session.execute(
        select(TerritoryStatistic.source, TerritoryStatistic.vintage, func.count())
        .where(TerritoryStatistic.organisation_id == organisation_id)
        .group_by(TerritoryStatistic.source, TerritoryStatistic.vintage)
    ).all()
    evidenced = (
        select(
            TerritoryStatistic.source,
            TerritoryStatistic.vintage,
            func.count(NeedEvidence.need_id.distinct()),
        )
        .join(NeedEvidence, NeedEvidence.statistic_id == TerritoryStatistic.id)
        .where(TerritoryStatistic.organisation_id == organisation_id)
        .group_by(TerritoryStatistic.source, TerritoryStatistic.vintage)
    )
    needs = {(label, vintage): n for label, vintage, n in session.execute(evidenced)}
    return sorted(
        (
            ImportedVintage(codes.get(label, label), label, vintage, count, needs.get((label, vintage), 0))
            for label, vintage, count in counted
        ),
        key=lambda v: (v.source_label, -v.vintage),
    )


def remove_statistics(session: Session, organisation_id: int, *, source: str, vintage: int) -> int:
    """Delete every figure of ``source`` (filosofi, caf, census) for ``vintage``; how many. Flushes.

    Each deleted row goes to the audit journal (the ORM deletes them one by one). The needs
    they evidenced lose that evidence: call :func:`services.needs.resize_needs` afterwards to
    size them from what remains.
    """
    if source not in SOURCE_LABELS:
        raise StatisticsImportError(f"source « {source} » inconnue : filosofi, caf ou census")
    label = SOURCE_LABELS[source]
    rows = session.scalars(
        select(TerritoryStatistic).where(
            TerritoryStatistic.organisation_id == organisation_id,
            TerritoryStatistic.source == label,
            TerritoryStatistic.vintage == vintage,
        )
    ).all()
    if not rows:
        known = [v.vintage for v in imported_vintages(session, organisation_id) if v.source == source]
        raise StatisticsImportError(
            f"aucun chiffre {label} du millésime {vintage} n'est enregistré"
            + (f" (millésimes présents : {', '.join(str(v) for v in known)})" if known else "")
        )
    ids = [r.id for r in rows]
    for evidence in session.scalars(select(NeedEvidence).where(NeedEvidence.statistic_id.in_(ids))):
        session.delete(evidence)
    session.flush()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)
