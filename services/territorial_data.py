"""Readers of the public statistics files embedded with Pilotis (``services/data/territoire``).

The files are the producers' own, with their traps (see ``SOURCES.md``): codes stay strings,
decimal commas and byte-order marks are handled, and a secret cell (blank) stays missing: it is
``NaN`` here and never becomes 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data" / "territoire"

CAF_SOURCE = "CNAF"
CAF_VINTAGE = 2020
FILOSOFI_SOURCE = "INSEE Filosofi"
FILOSOFI_VINTAGE = 2019
CENSUS_SOURCE = "INSEE RP"
CENSUS_VINTAGE = 2021


def read_communes() -> pd.DataFrame:
    """The joined table of the 25 communes (census 2021, Filosofi 2019, CAF 2020), by ``codgeo``."""
    frame = pd.read_csv(
        DATA_DIR / "communes_occitanie25_indicateurs.csv",
        dtype={"codgeo": str, "dep": str},
        encoding="utf-8",
    )
    return frame.set_index("codgeo", drop=False)


def read_caf_iris() -> pd.DataFrame:
    """CAF allocataires by IRIS at 31/12/2020. ``NOTE`` != 0 marks a secret IRIS (all blank)."""
    frame = pd.read_csv(
        DATA_DIR / "iris_caf2020_occitanie25.csv",
        sep=";",
        dtype={"CODGEO": str},
        encoding="utf-8-sig",
    )
    frame["COM"] = frame["CODGEO"].str.slice(0, 5)
    return frame


def read_filosofi_iris() -> pd.DataFrame:
    """Filosofi 2019 by IRIS: poverty rate ``DISP_TP6019`` (%), median ``DISP_MED19`` (EUR)…"""
    return pd.read_csv(
        DATA_DIR / "iris_filosofi2019_occitanie25.csv",
        sep=";",
        decimal=",",
        dtype={"IRIS": str, "COM": str, "LIBIRIS": str, "LIBCOM": str},
        encoding="utf-8-sig",
    )


def read_filosofi_communes() -> pd.DataFrame:
    """Filosofi 2019 by commune (the INSEE file: BOM, ``;``, decimal comma), by ``CODGEO``."""
    frame = pd.read_csv(
        DATA_DIR / "filosofi2019_communes_occitanie25.csv",
        sep=";",
        decimal=",",
        dtype={"CODGEO": str, "LIBGEO": str},
        encoding="utf-8-sig",
    )
    return frame.set_index("CODGEO", drop=False)


def read_age_pyramid() -> pd.DataFrame:
    """Census 2021 population by single year of age (``Age``) and sex, per commune."""
    return pd.read_csv(
        DATA_DIR / "pyramide_villes_occitanie_RP2021.csv",
        dtype={"CODGEO": str, "code_dept": str, "code_reg": str},
        encoding="utf-8",
    )


def read_epci_mapping() -> pd.DataFrame:
    """Commune -> EPCI (SIREN), département and région; commune codes padded back to 5 digits."""
    frame = pd.read_csv(
        DATA_DIR / "epci_communes_occitanie25.csv",
        sep=";",
        dtype=str,
        encoding="utf-8-sig",
    )
    frame["COM"] = frame["COM"].str.zfill(5)
    frame["DEP"] = frame["DEP"].str.zfill(2)
    return frame.set_index("COM", drop=False)


def read_m57_functions() -> pd.DataFrame:
    """The M57 function-4 tree (code, libelle, niveau, parent), codes as strings."""
    return pd.read_csv(
        DATA_DIR / "m57_fonctions_sante_action_sociale.csv",
        sep=";",
        dtype=str,
        keep_default_na=False,
        encoding="utf-8",
    )


def population_by_age(pyramid: pd.DataFrame, commune_code: str, low: int, high: int | None) -> int:
    """Persons aged ``low`` to ``high`` inclusive (``high=None``: and over) in a commune."""
    rows = pyramid[pyramid["CODGEO"] == commune_code]
    ages = pd.to_numeric(rows["Age"], errors="coerce")
    mask = ages >= low if high is None else ages.between(low, high)
    return int((rows.loc[mask, "Nb_H"] + rows.loc[mask, "Nb_F"]).sum())
