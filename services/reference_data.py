"""Readers of the national reference files shipped with Pilotis (``services/data/reference``).

The files are built by ``scripts/build_reference.py`` from the producers' public files (see
``SOURCES.md`` next to them): the territory tree (IRIS -> commune -> EPCI -> département ->
région -> France) and the statistics loaded when an organisation is created. Codes are text
(``01001``, ``2A004``, ``97411``); statistics files keep the producers' layout, blank secret
cells included, so that the statistics import's parser reads them.

Frames are read once per process and shared: callers must not modify them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent / "data" / "reference"

#: Statistics files: (file, layout of the statistics import, level of its codes, vintage).
STATISTICS_FILES: list[tuple[str, str, str, int]] = [
    ("filosofi2019_regions.csv.gz", "filosofi-commune", "region", 2019),
    ("filosofi2019_departements.csv.gz", "filosofi-commune", "departement", 2019),
    ("filosofi2019_communes.csv.gz", "filosofi-commune", "commune", 2019),
    ("filosofi2019_iris.csv.gz", "filosofi-iris", "iris", 2019),
    ("caf2020_iris.csv.gz", "caf-iris", "iris", 2020),
]
#: The column holding each statistics file's territory code.
CODE_COLUMN = {"filosofi-commune": "CODGEO", "filosofi-iris": "IRIS", "caf-iris": "CODGEO"}


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(
        REFERENCE_DIR / name, sep=";", dtype=str, keep_default_na=False, na_values=[], encoding="utf-8"
    )


@cache
def communes() -> pd.DataFrame:
    """Communes and municipal arrondissements: ``code, name, epci, dep, reg, commune`` by code.

    ``epci`` is blank for the few communes of no EPCI (islands); ``commune`` is the commune of a
    municipal arrondissement (``75101`` -> ``75056``), blank for a commune.
    """
    return _read("communes.csv.gz").set_index("code", drop=False)


@cache
def wider_territories() -> pd.DataFrame:
    """France, régions, départements and EPCI: ``kind, code, name, parent`` (a département's région)."""
    return _read("territoires.csv.gz")


@cache
def iris() -> pd.DataFrame:
    """IRIS: ``code, name, commune``; ``name`` is Filosofi's LIBIRIS, blank where not published."""
    return _read("iris.csv.gz")


@cache
def statistics_file(name: str) -> pd.DataFrame:
    """One statistics file in its producer's layout, every cell as text."""
    return _read(name)


def reference_size() -> int:
    """Bytes of the shipped reference files."""
    return sum(path.stat().st_size for path in REFERENCE_DIR.iterdir() if path.is_file())


# -- search (the set-up wizard) ---------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    """A territory an organisation can be created for."""

    kind: str  # "commune", "epci" or "departement"
    code: str
    name: str
    detail: str  # what tells two places of the same name apart


def _folded(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(ascii_text.lower().replace("-", " ").replace("'", " ").split())


@cache
def _search_table() -> pd.DataFrame:
    wider = wider_territories()
    names = dict(zip(wider["kind"] + ":" + wider["code"], wider["name"], strict=True))
    table = communes()
    members = table.loc[table["commune"] == "", "epci"].value_counts()
    table = table[table["commune"] == ""]
    rows = pd.DataFrame(
        {
            "kind": "commune",
            "code": table["code"].to_numpy(),
            "name": table["name"].to_numpy(),
            "detail": ("departement:" + table["dep"]).map(names).fillna("").to_numpy(),
        }
    )
    others = wider[wider["kind"].isin(["epci", "departement"])]
    detail = others["code"].map(members).map(lambda n: f"{n:.0f} communes", na_action="ignore")
    detail = detail.where(others["kind"] == "epci", ("region:" + others["parent"]).map(names))
    rows = pd.concat(
        [
            rows,
            pd.DataFrame(
                {
                    "kind": others["kind"],
                    "code": others["code"],
                    "name": others["name"],
                    "detail": detail.fillna(""),
                }
            ),
        ],
        ignore_index=True,
    )
    rows["folded"] = rows["name"].map(_folded)
    return rows


def search_places(query: str, *, kinds: tuple[str, ...], limit: int = 20) -> list[Place]:
    """Places of ``kinds`` whose code starts with ``query`` or whose name has a word starting with
    each of its words (accents, case and hyphens ignored); exact names first, then by name."""
    words = _folded(query).split()
    if not words:
        return []
    table = _search_table()
    table = table[table["kind"].isin(kinds)]
    by_code = table["code"].str.upper().str.startswith(query.strip().upper())
    by_name = pd.Series(True, index=table.index)
    for word in words:
        by_name &= table["folded"].str.contains(r"(?:^| )" + re.escape(word), regex=True)
    found = table[by_code | by_name].copy()
    folded = " ".join(words)
    found["rank"] = (found["folded"] != folded).astype(int) + (
        ~found["folded"].str.startswith(folded)
    ).astype(int)
    found = found.sort_values(["rank", "folded", "code"]).head(limit)
    return [Place(str(r.kind), str(r.code), str(r.name), str(r.detail)) for r in found.itertuples()]
