"""Build the départements' projections of older persons shipped with Pilotis
(``services/data/projections/personnes_agees_departements.csv``).

    .venv/bin/python scripts/build_projections.py [--source ../shared/data/territoire]

Reads ``projections/PERSAGEES_projections_60_75_dep.csv`` (ISO-8859-1, ``;``: projected persons
aged 60-75 and 75 or more by département, by sex and Carsat, one column per year 2018-2050) and
writes one row per département and age group, both sexes and every Carsat added up, the
département code padded to two characters (``1`` -> ``01``; ``2A``, ``2B`` kept). Pilotis never
reads the source directory at run time: run this script again on a new file, and commit its
output.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "territoire"
SOURCE_FILE = Path("projections") / "PERSAGEES_projections_60_75_dep.csv"
TARGET = ROOT / "services" / "data" / "projections" / "personnes_agees_departements.csv"
GROUPS = {"Group 1: 60-75": "pop_60_74", "Group 2: 75+": "pop_75p"}


def build(source: Path) -> pd.DataFrame:
    raw = pd.read_csv(source / SOURCE_FILE, sep=";", encoding="latin-1", dtype={"DEPNUM": str})
    years = [c for c in raw.columns if c.isdigit()]
    raw["departement"] = raw["DEPNUM"].str.strip().str.zfill(2)
    raw["variable"] = raw["FormulaCol2"].map(GROUPS)
    unknown = raw[raw["variable"].isna()]["FormulaCol2"].unique()
    if len(unknown):
        raise SystemExit(f"tranche inconnue : {', '.join(map(str, unknown))}")
    table = raw.groupby(["departement", "variable"], sort=True)[years].sum().reset_index()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    table = build(args.source)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(TARGET, sep=";", index=False)
    digest = hashlib.sha256((args.source / SOURCE_FILE).read_bytes()).hexdigest()[:16]
    print(f"{TARGET.relative_to(ROOT)} : {len(table)} lignes ({SOURCE_FILE} : {digest}…)")


if __name__ == "__main__":
    main()
