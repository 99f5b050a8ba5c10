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

The geographic level of each row is read from the layout and the code: IRIS files hold IRIS
(9 characters, the commune's 5 then 4 digits) and communes; the Filosofi ``CODGEO`` layout
holds communes (5 characters), EPCI (their 9-digit SIREN: INSEE's ``FILO…_EPCI`` file),
départements or régions (2 or 3 characters: the file's name must say ``DEP`` or ``REG``, their
codes overlap). A file none of whose rows concerns the organisation writes nothing and says
so in :attr:`StatisticsReport.warnings`.

The vintage is the file's own: from its columns (Filosofi ``DISP_TP6019``) or its name
(``data_CAF_2020_IRIS.csv``). A vintage given that contradicts it is refused unless forced
(the name may lie); a vintage imported by mistake is taken back whole by
:func:`remove_statistics` (audited row by row, like every change), after which the caller
resizes the needs.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import NeedEvidence, Territory, TerritoryKind, TerritoryStatistic
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
    #: Rows (territory and variable) that concern the organisation's territories.
    rows_inside: int = 0
    errors: list[str] = field(default_factory=list)
    #: The file was valid but something deserves attention (it wrote nothing for the organisation).
    warnings: list[str] = field(default_factory=list)
    stats: SyncStats = field(default_factory=SyncStats)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def wrote_nothing(self) -> bool:
        """Valid, but not one figure of the file concerns the organisation."""
        return self.ok and self.rows_inside == 0


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


def _columns_vintage(layout: str, columns: list[str]) -> int | None:
    """The vintage a Filosofi file's column names carry (``DISP_TP6019`` -> 2019), or None."""
    if layout == "filosofi-iris":
        return _vintage_from_columns(columns, r"DISP_TP60(\d\d)")
    if layout == "filosofi-commune":
        return _vintage_from_columns(columns, r"NBMEN(\d\d)")
    return None


COMMUNE_CODE = r"[0-9][0-9AB][0-9]{3}"
IRIS_CODE = COMMUNE_CODE + r"[0-9]{4}"
EPCI_CODE = r"2[0-9]{8}"  # the SIREN of an EPCI
SHORT_CODE = r"[0-9]{2,3}|2[AB]"  # a département (01, 2A, 971) or a région (76)
LEVEL_NAMES = {
    TerritoryKind.IRIS: "IRIS",
    TerritoryKind.COMMUNE: "communes",
    TerritoryKind.EPCI: "EPCI",
    TerritoryKind.DEPARTEMENT: "départements",
    TerritoryKind.REGION: "régions",
}


def _short_codes_kind(filename: str) -> TerritoryKind | None:
    """Départements or régions, as the file's name says (their codes overlap: 11, 76…)."""
    words = set(re.split(r"[^A-Z]+", filename.upper()))
    if words & {"DEP", "DEPT", "DEPARTEMENT", "DEPARTEMENTS"}:
        return TerritoryKind.DEPARTEMENT
    if words & {"REG", "REGION", "REGIONS"}:
        return TerritoryKind.REGION
    return None


def _levels(codes: pd.Series, layout: str, filename: str) -> tuple[pd.Series, str | None]:
    """Each row's territory kind (None: malformed code), and why short codes cannot be placed."""
    kinds = pd.Series([None] * len(codes), index=codes.index, dtype=object)
    commune = codes.str.fullmatch(COMMUNE_CODE)
    kinds[commune] = TerritoryKind.COMMUNE
    if layout == "census-age":
        return kinds, None
    if layout in ("filosofi-iris", "caf-iris"):
        kinds[codes.str.fullmatch(IRIS_CODE)] = TerritoryKind.IRIS
        return kinds, None
    kinds[codes.str.fullmatch(EPCI_CODE)] = TerritoryKind.EPCI
    short = codes.str.fullmatch(SHORT_CODE)
    if not short.any():
        return kinds, None
    kind = _short_codes_kind(filename)
    if kind is None:
        return kinds, (
            "codes de 2 ou 3 caractères (départements ou régions ?) : le nom du fichier doit dire lequel "
            "(…_DEP… ou …_REG…, comme l'INSEE les nomme)"
        )
    kinds[short] = kind
    return kinds, None


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
    """Check the whole file, then store its statistics for the organisation's territories.

    ``vintage`` is for files that do not carry theirs; one that contradicts the file's name is
    refused unless ``force_vintage`` (one that contradicts its columns always is).
    """
    if source not in LAYOUTS:
        raise StatisticsImportError(f"source « {source} » inconnue : filosofi, caf ou census")
    frame = read_table(content)
    layout = detect_layout(list(frame.columns))
    if not layout.startswith(source):
        raise StatisticsImportError(
            f"ce fichier ressemble à un fichier « {layout} », pas à la source « {source} » demandée"
        )
    report = StatisticsReport(layout=layout, rows_read=len(frame))
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
    rows, errors, vintage = parse_statistics(frame, layout=layout, vintage=vintage or named)
    report.vintage, report.errors = vintage, errors
    if vintage is None or errors:
        return report

    territories = session.scalars(select(Territory).where(Territory.organisation_id == organisation_id)).all()
    communes = {t.code for t in territories if t.kind is TerritoryKind.COMMUNE}
    by_key = {(t.kind, t.code): t for t in territories}
    codes = rows["code"].astype(str)
    kinds, short_problem = _levels(codes, layout, filename)
    if short_problem:
        report.errors.append(short_problem)
        return report
    malformed = kinds.isna()
    expected = {
        "census-age": "5 caractères attendus (code commune)",
        "filosofi-commune": "5 caractères (commune), 9 chiffres (EPCI) ou 2 à 3 (département, région) attendus",
    }.get(layout, "5 ou 9 caractères attendus")
    for code, line in (
        rows.loc[malformed, ["code", "line"]].drop_duplicates("code").head(20).itertuples(index=False)
    ):
        report.errors.append(f"ligne {line} : code de territoire « {code} » invalide ({expected})")
    local = kinds.isin([TerritoryKind.COMMUNE, TerritoryKind.IRIS])
    keys = pd.Series(list(zip(kinds, codes, strict=True)), index=rows.index, dtype=object)
    inside = (local & codes.str.slice(0, 5).isin(communes)) | (~local & ~malformed & keys.isin(by_key))
    report.rows_outside = int(rows.loc[~inside & ~malformed, "code"].nunique()) if len(rows) else 0
    rows, keys = rows[inside], keys[inside]
    unknown = rows[~keys.isin(by_key)]
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
    for row, key in zip(rows.to_dict("records"), keys, strict=True):
        code, variable, line = str(row["code"]), str(row["variable"]), int(row["line"])
        raw: Any = row["value"]
        territory = by_key[key]
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
