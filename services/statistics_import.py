"""Importing territorial statistics as INSEE and the CAF publish them (all or nothing).

Layouts recognised: Filosofi by IRIS (``IRIS``, ``DISP_TP60yy``…), Filosofi by commune
(``CODGEO``, ``NBMENyy``…), CAF allocataires by IRIS (``CODGEO``, ``NOTE``, ``A``…), census
population by single year of age (``CODGEO``, ``Age``, ``Nb_H``, ``Nb_F``). The traps are
handled: ``;`` or ``,`` separators, decimal commas, a byte-order mark, codes kept as text
(leading zeros, Corsican letters), secret cells left blank (stored as secret, never 0), a
``NOTE`` column that makes a whole CAF row secret, vintages in column names.

Rows of communes outside the organisation are skipped and counted; a territory of its
communes that its tree lacks is reported, never invented. Duplicates and a value that
contradicts a stored one for the same vintage are errors. Nothing is written unless the whole
file is valid; importing the same file again changes nothing; another vintage adds a vintage.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Territory, TerritoryKind, TerritoryStatistic
from services.statistics_catalog import (
    CAF_IRIS,
    CAF_SOURCE,
    CENSUS_AGE_GROUPS,
    CENSUS_SOURCE,
    FILOSOFI_COMMUNE,
    FILOSOFI_IRIS,
    FILOSOFI_SOURCE,
    Variable,
)
from services.sync import SyncStats, sync_rows

MAX_BYTES = 50 * 1024 * 1024
LAYOUTS = {"filosofi", "caf", "census"}


class StatisticsImportError(ValueError):
    """The file is refused as a whole (unknown layout, encoding…)."""


@dataclass
class StatisticsReport:
    layout: str = ""
    vintage: int | None = None
    rows_read: int = 0
    rows_outside: int = 0
    errors: list[str] = field(default_factory=list)
    stats: SyncStats = field(default_factory=SyncStats)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_table(content: bytes) -> pd.DataFrame:
    """A CSV as text columns: encoding, byte-order mark and separator detected."""
    if len(content) > MAX_BYTES:
        raise StatisticsImportError(
            f"fichier trop volumineux ({len(content) / 2**20:.0f} Mo ; 50 Mo au plus)"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise StatisticsImportError(
            f"le fichier n'est pas encodé en UTF-8 (caractère illisible ligne {line}) : enregistrez-le en UTF-8"
        ) from None
    header = text.split("\n", 1)[0]
    separator = ";" if header.count(";") >= header.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, csv.Error) as exc:
        raise StatisticsImportError(f"fichier illisible comme tableau CSV : {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def detect_layout(columns: list[str]) -> str:
    cols = set(columns)
    if "IRIS" in cols and any(re.fullmatch(r"DISP_TP60\d\d", c) for c in cols):
        return "filosofi-iris"
    if "CODGEO" in cols and any(re.fullmatch(r"NBMEN\d\d", c) for c in cols):
        return "filosofi-commune"
    if {"CODGEO", "NOTE", "A", "ARSAS"} <= cols:
        return "caf-iris"
    if {"CODGEO", "Age", "Nb_H", "Nb_F"} <= cols:
        return "census-age"
    raise StatisticsImportError(
        "disposition de fichier inconnue : attendu un fichier Filosofi (IRIS ou commune), CAF par IRIS "
        f"ou recensement par âge ; colonnes trouvées : {', '.join(columns[:8])}…"
    )


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
            return 2000 + int(match.group(1))
    return None


def parse_statistics(
    frame: pd.DataFrame, *, layout: str, vintage: int | None
) -> tuple[pd.DataFrame, list[str], int | None]:
    """Long rows ``code, variable, label, unit, value, is_secret, line`` from a published table."""
    columns = list(frame.columns)
    errors: list[str] = []
    lines = pd.Series(np.arange(len(frame)) + 2, index=frame.index)  # line 1 is the header
    parts: list[pd.DataFrame] = []

    def add(codes: pd.Series, var: Variable, column: str, secret_rows: pd.Series | None = None) -> None:
        values, bad = _numbers(frame[column])
        for index in bad[bad].index[:20]:
            errors.append(
                f"ligne {lines[index]}, colonne « {column} » : « {frame.at[index, column]!s} » n'est pas un nombre"
            )
        secret = values.isna()
        if secret_rows is not None:
            secret = secret | secret_rows
        parts.append(pd.DataFrame({
            "code": codes, "variable": var.variable, "label": var.label, "unit": var.unit,
            "value": values.where(~secret), "is_secret": secret, "line": lines,
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
        code_column = "IRIS" if layout == "filosofi-iris" else "CODGEO"
        codes = frame[code_column].astype(str).str.strip()
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
    elif layout == "census-age":
        if vintage is None:
            errors.append("millésime du recensement inconnu : indiquez-le (ex. 2021)")
        ages, bad_age = _numbers(frame["Age"])
        men, bad_men = _numbers(frame["Nb_H"])
        women, bad_women = _numbers(frame["Nb_F"])
        for name, bad in (("Age", bad_age), ("Nb_H", bad_men), ("Nb_F", bad_women)):
            for index in bad[bad].index[:20]:
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
        for variable, label, low, high in CENSUS_AGE_GROUPS:
            mask = people["age"] >= low if high is None else people["age"].between(low, high)
            sums = people[mask].groupby("code")["n"].sum()
            first_line = people.groupby("code")["line"].min()
            parts.append(pd.DataFrame({"code": sums.index, "variable": "population" if variable == "pop_rp2021" else variable,
                                       "label": label, "unit": "personnes", "value": sums.to_numpy(),
                                       "is_secret": False, "line": first_line.reindex(sums.index).to_numpy()}))  # fmt: skip
    rows = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["code", "variable", "label", "unit", "value", "is_secret", "line"])
    )
    return rows, errors, vintage


SOURCE_OF = {"filosofi-iris": FILOSOFI_SOURCE, "filosofi-commune": FILOSOFI_SOURCE, "caf-iris": CAF_SOURCE,
             "census-age": CENSUS_SOURCE}  # fmt: skip


def vintage_from_filename(name: str) -> int | None:
    match = re.search(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)", name)
    return int(match.group(1)) if match else None


def import_statistics(
    session: Session,
    organisation_id: int,
    content: bytes,
    *,
    source: str,
    filename: str = "",
    vintage: int | None = None,
) -> StatisticsReport:
    """Check the whole file, then store its statistics for the organisation's territories."""
    if source not in LAYOUTS:
        raise StatisticsImportError(f"source « {source} » inconnue : filosofi, caf ou census")
    frame = read_table(content)
    layout = detect_layout(list(frame.columns))
    if not layout.startswith(source):
        raise StatisticsImportError(
            f"ce fichier ressemble à un fichier « {layout} », pas à la source « {source} » demandée"
        )
    report = StatisticsReport(layout=layout, rows_read=len(frame))
    rows, errors, vintage = parse_statistics(
        frame, layout=layout, vintage=vintage or vintage_from_filename(filename)
    )
    report.vintage, report.errors = vintage, errors
    if vintage is None or errors:
        return report

    territories = session.scalars(select(Territory).where(Territory.organisation_id == organisation_id)).all()
    communes = {t.code for t in territories if t.kind is TerritoryKind.COMMUNE}
    by_code = {(t.code): t for t in territories if t.kind in (TerritoryKind.COMMUNE, TerritoryKind.IRIS)}
    codes = rows["code"].astype(str)
    malformed = ~codes.str.fullmatch(r"[0-9][0-9AB][0-9]{3}([0-9]{4})?")
    for code, line in (
        rows.loc[malformed, ["code", "line"]].drop_duplicates("code").head(20).itertuples(index=False)
    ):
        report.errors.append(
            f"ligne {line} : code de territoire « {code} » invalide (5 ou 9 caractères attendus)"
        )
    inside = codes.str.slice(0, 5).isin(communes) & ~malformed
    report.rows_outside = int(rows.loc[~inside, "code"].nunique()) if len(rows) else 0
    rows = rows[inside]
    unknown = rows[~rows["code"].isin(by_code)]
    for code, line in unknown[["code", "line"]].drop_duplicates("code").head(20).itertuples(index=False):
        report.errors.append(
            f"ligne {line} : territoire « {code} » absent de l'arborescence de l'organisation (il n'est pas créé : "
            "ajoutez-le d'abord)"
        )
    duplicated = rows.duplicated(["code", "variable"], keep=False)
    for (code, variable), group in rows[duplicated].groupby(["code", "variable"]):
        report.errors.append(
            f"territoire {code}, « {variable} » en double (lignes {', '.join(str(x) for x in group['line'])})"
        )
    if report.errors:
        return report

    source_label = SOURCE_OF[layout]
    stored = {
        (s.territory_id, s.variable): s
        for s in session.scalars(
            select(TerritoryStatistic).where(
                TerritoryStatistic.organisation_id == organisation_id,
                TerritoryStatistic.vintage == vintage,
                TerritoryStatistic.source == source_label,
            )
        )
    }
    records: list[dict[str, Any]] = []
    for row in rows.to_dict("records"):
        code, variable, line = str(row["code"]), str(row["variable"]), int(row["line"])
        raw: Any = row["value"]
        territory = by_code[code]
        value = None if bool(row["is_secret"]) or pd.isna(raw) else float(raw)
        previous = stored.get((territory.id, variable))
        if previous is not None and (
            previous.is_secret != (value is None)
            or (value is not None and abs((previous.value or 0) - value) > 1e-9)
        ):
            shown = "secret" if previous.is_secret else f"{previous.value:g}"
            report.errors.append(
                f"ligne {line} : « {variable} » de {code} vaut {'secret' if value is None else f'{value:g}'} "
                f"mais {shown} est déjà enregistré pour le millésime {vintage} : fichier contradictoire"
            )
            continue
        records.append({
            "organisation_id": organisation_id, "territory_id": territory.id, "variable": variable,
            "label": row["label"], "unit": row["unit"], "vintage": vintage, "source": source_label,
            "value": value, "is_secret": value is None,
        })  # fmt: skip
    if report.errors:
        return report
    result = sync_rows(
        session, TerritoryStatistic, records, ("territory_id", "variable", "vintage", "source"),
        scope=[TerritoryStatistic.organisation_id == organisation_id, TerritoryStatistic.vintage == vintage,
               TerritoryStatistic.source == source_label],
        delete_missing=False,
    )  # fmt: skip
    report.stats = result.stats
    return report
