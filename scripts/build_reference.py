"""Build the national reference files shipped with Pilotis (``services/data/reference/``).

    .venv/bin/python scripts/build_reference.py [--source ../shared/data/territoire]

Reads the producers' public files (INSEE Filosofi 2019 by commune, IRIS, département and région;
CNAF allocataires 2020 by IRIS; INSEE's commune -> EPCI -> département -> région table) and writes
gzipped CSV files that Pilotis reads when it creates an organisation. Pilotis never reads the
source directory at run time: run this script again when a new vintage comes out, and commit
its output.

What the script fixes and what it keeps:
- codes stay text: the table's commune codes lost their leading zero (``1001``), département and
  région codes too (``1``): they are padded back (``01001``, ``01``); Corsican codes (``2A004``)
  and overseas ones (``97411``) are kept as they are;
- Paris, Marseille and Lyon are published by municipal arrondissement (``75101``…) in Filosofi
  and the CAF file, but the table knows only the commune (``75056``): the arrondissements are
  added under their commune, with Filosofi's names;
- IRIS are the union of the Filosofi and CAF IRIS files, named by Filosofi's ``LIBIRIS`` where
  it is published (blank otherwise);
- statistics files keep the producers' layout and column names (decimal commas, blank secret
  cells, ``NOTE`` / ``DISP_NOTE19`` columns), so that Pilotis reads them with the parser of its
  statistics import (``services.statistics_import.parse_statistics``); rows of communes the
  table does not know (a few communes merged since 2019) are dropped and counted;
- names of the three overseas départements and régions that no Filosofi file names (971, 973,
  976) come from the Code officiel géographique.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "territoire"
TARGET = ROOT / "services" / "data" / "reference"

#: Municipal arrondissements: (first code, last code, commune).
ARRONDISSEMENTS = [("13201", "13216", "13055"), ("69381", "69389", "69123"), ("75101", "75120", "75056")]
#: Code officiel géographique names of the départements and régions no Filosofi file names.
MISSING_DEPARTEMENTS = {"971": "Guadeloupe", "973": "Guyane", "976": "Mayotte"}
MISSING_REGIONS = {"01": "Guadeloupe", "03": "Guyane", "06": "Mayotte"}
NO_EPCI = "ZZZZZZZZZ"


def _read(path: Path) -> pd.DataFrame:
    """A producer's file as text cells (BOM, ``;``, CRLF handled; blank stays blank)."""
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def _write(frame: pd.DataFrame, name: str) -> Path:
    """Gzipped ``;`` CSV, UTF-8, with a fixed gzip time stamp so that a rebuild is byte-identical."""
    path = TARGET / name
    text = frame.to_csv(sep=";", index=False, lineterminator="\n")
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as out:
        out.write(text.encode("utf-8"))
    return path


def _arrondissement_parent(code: str) -> str:
    for first, last, commune in ARRONDISSEMENTS:
        if first <= code <= last and len(code) == len(first):
            return commune
    return ""


def build(source: Path) -> list[str]:
    filo_dir, caf_dir = source / "insee_filosofi_2019", source / "caf_2020"
    mapping = _read(filo_dir / "EPCI_communes_mapping.csv")
    mapping["COM"] = mapping["COM"].str.zfill(5)
    mapping["DEP"] = mapping["DEP"].str.zfill(2)
    mapping["REG"] = mapping["REG"].str.zfill(2)
    filo_com = _read(filo_dir / "FILO2019_DISP_COM.csv")
    filo_dep = _read(filo_dir / "FILO2019_DISP_DEP.csv")
    filo_reg = _read(filo_dir / "FILO2019_DISP_REG.csv")
    filo_iris = _read(filo_dir / "BASE_TD_FILO_DISP_IRIS_2019.csv")
    caf_iris = _read(caf_dir / "data_CAF_2020_IRIS.csv")
    notes: list[str] = []

    # -- communes (and the arrondissements of Paris, Marseille, Lyon) -----------------------
    communes = pd.DataFrame(
        {
            "code": mapping["COM"],
            "name": mapping["LIBGEO"],
            "epci": mapping["EPCI"].where(mapping["EPCI"] != NO_EPCI, ""),
            "dep": mapping["DEP"],
            "reg": mapping["REG"],
            "commune": "",
        }
    )
    by_code = communes.set_index("code")
    arm = filo_com[filo_com["CODGEO"].map(_arrondissement_parent) != ""]
    parents = arm["CODGEO"].map(_arrondissement_parent)
    arrondissements = pd.DataFrame(
        {
            "code": arm["CODGEO"].to_numpy(),
            "name": arm["LIBGEO"].to_numpy(),
            "epci": by_code.loc[parents, "epci"].to_numpy(),
            "dep": by_code.loc[parents, "dep"].to_numpy(),
            "reg": by_code.loc[parents, "reg"].to_numpy(),
            "commune": parents.to_numpy(),
        }
    )
    communes = pd.concat([communes, arrondissements], ignore_index=True).sort_values("code")
    if communes["code"].duplicated().any():
        raise SystemExit("codes de communes en double dans la table d'appartenance")
    known = set(communes["code"])

    # -- EPCI, départements, régions ---------------------------------------------------------
    epci = (
        mapping.loc[mapping["EPCI"] != NO_EPCI, ["EPCI", "LIBEPCI"]]
        .drop_duplicates("EPCI")
        .rename(columns={"EPCI": "code", "LIBEPCI": "name"})
    )
    epci.insert(0, "kind", "epci")
    dep_names = dict(zip(filo_dep["CODGEO"], filo_dep["LIBGEO"], strict=True)) | MISSING_DEPARTEMENTS
    reg_names = dict(zip(filo_reg["CODGEO"], filo_reg["LIBGEO"], strict=True)) | MISSING_REGIONS
    deps = mapping[["DEP", "REG"]].drop_duplicates("DEP").sort_values("DEP")
    regs = sorted(set(mapping["REG"]))
    missing = sorted(set(deps["DEP"]) - set(dep_names)) + sorted(set(regs) - set(reg_names))
    if missing:
        raise SystemExit(f"départements ou régions sans nom : {', '.join(missing)}")
    supra = pd.concat(
        [
            pd.DataFrame({"kind": "france", "code": ["FR"], "name": ["France"], "parent": [""]}),
            pd.DataFrame(
                {"kind": "region", "code": regs, "name": [reg_names[r] for r in regs], "parent": "FR"}
            ),
            pd.DataFrame(
                {
                    "kind": "departement",
                    "code": deps["DEP"],
                    "name": deps["DEP"].map(dep_names),
                    "parent": deps["REG"],
                }
            ),
            epci.assign(parent="").sort_values("code"),
        ],
        ignore_index=True,
    )  # EPCI hang from the département of most of their communes: chosen at creation

    # -- IRIS ------------------------------------------------------------------------------------
    names = dict(zip(filo_iris["IRIS"], filo_iris["LIBIRIS"], strict=True))
    iris_codes = sorted(set(filo_iris["IRIS"]) | set(caf_iris["CODGEO"]))
    iris = pd.DataFrame({"code": iris_codes})
    iris["name"] = iris["code"].map(names).fillna("")
    iris["commune"] = iris["code"].str.slice(0, 5)
    outside = ~iris["commune"].isin(known)
    if outside.any():
        notes.append(f"{int(outside.sum())} IRIS d'une commune inconnue de la table ignorés")
    iris = iris[~outside]

    # -- statistics, in the producers' layout ----------------------------------------------------
    def keep(frame: pd.DataFrame, column: str, label: str) -> pd.DataFrame:
        inside = frame[column].str.slice(0, 5).isin(known)
        if (~inside).any():
            dropped = ", ".join(sorted(frame.loc[~inside, column])[:10])
            notes.append(
                f"{label} : {int((~inside).sum())} ligne(s) d'une commune inconnue ignorée(s) ({dropped})"
            )
        return frame[inside]

    written = [
        _write(communes[["code", "name", "epci", "dep", "reg", "commune"]], "communes.csv.gz"),
        _write(supra, "territoires.csv.gz"),
        _write(iris, "iris.csv.gz"),
        _write(keep(filo_com, "CODGEO", "Filosofi communes"), "filosofi2019_communes.csv.gz"),
        _write(filo_dep, "filosofi2019_departements.csv.gz"),
        _write(filo_reg, "filosofi2019_regions.csv.gz"),
        _write(keep(filo_iris, "IRIS", "Filosofi IRIS"), "filosofi2019_iris.csv.gz"),
        _write(keep(caf_iris, "CODGEO", "CAF IRIS"), "caf2020_iris.csv.gz"),
    ]
    sources = [
        filo_dir / "EPCI_communes_mapping.csv",
        filo_dir / "FILO2019_DISP_COM.csv",
        filo_dir / "FILO2019_DISP_DEP.csv",
        filo_dir / "FILO2019_DISP_REG.csv",
        filo_dir / "BASE_TD_FILO_DISP_IRIS_2019.csv",
        caf_dir / "data_CAF_2020_IRIS.csv",
    ]
    _write_sources(written, sources, communes, iris, notes)
    return notes


def _write_sources(
    written: list[Path], sources: list[Path], communes: pd.DataFrame, iris: pd.DataFrame, notes: list[str]
) -> None:
    lines = io.StringIO()
    lines.write(
        "# Fichiers de référence nationaux (créés par `scripts/build_reference.py`)\n\n"
        "Statistiques publiques en open data (Licence Ouverte / Etalab 2.0), à citer partout où elles sont\n"
        "montrées : « Source : INSEE, Filosofi 2019 » ; « Source : CNAF, allocataires au 31/12/2020 ».\n"
        "Pilotis les lit à la création d'une organisation (`pilotis org create`, assistant de création) ;\n"
        "ne pas les modifier à la main : relancer le script sur les nouveaux fichiers des producteurs.\n\n"
        f"{len(communes)} communes et arrondissements municipaux, {len(iris)} IRIS "
        f"({int((iris['name'] != '').sum())} nommés par Filosofi).\n\n"
        "| fichier | octets | contenu |\n|---|---|---|\n"
    )
    what = {
        "communes.csv.gz": "commune (ou arrondissement) -> EPCI (SIREN, vide si aucun), département, région, commune parente",
        "territoires.csv.gz": "France, régions, départements (région parente) et EPCI, avec leurs noms",
        "iris.csv.gz": "IRIS -> commune, nom LIBIRIS où Filosofi le publie",
        "filosofi2019_communes.csv.gz": "INSEE Filosofi 2019, revenus disponibles par commune (mise en forme du producteur)",
        "filosofi2019_departements.csv.gz": "INSEE Filosofi 2019 par département",
        "filosofi2019_regions.csv.gz": "INSEE Filosofi 2019 par région",
        "filosofi2019_iris.csv.gz": "INSEE Filosofi 2019 par IRIS (DISP_NOTE19 ≠ 0 : IRIS secret)",
        "caf2020_iris.csv.gz": "CNAF, allocataires au 31/12/2020 par IRIS (NOTE ≠ 0 : IRIS secret)",
    }
    for path in written:
        lines.write(f"| `{path.name}` | {path.stat().st_size} | {what[path.name]} |\n")
    lines.write("\nFichiers sources (SHA-256) :\n\n")
    for path in sources:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.write(f"- `{path.parent.name}/{path.name}` : `{digest[:16]}…`\n")
    if notes:
        lines.write("\nÉcarts constatés à la construction :\n\n")
        lines.writelines(f"- {note}\n" for note in notes)
    (TARGET / "SOURCES.md").write_text(lines.getvalue(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)
    TARGET.mkdir(parents=True, exist_ok=True)
    notes = build(args.source)
    total = sum(p.stat().st_size for p in TARGET.iterdir())
    for note in notes:
        print(f"note : {note}")
    print(f"{TARGET.relative_to(ROOT)} : {total / 2**20:.1f} Mo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
