"""Benchmarking between organisations (pure): position, quartiles, size strata, anonymity.

Glossary of columns
-------------------
contributions (one row per organisation contributing a value to one indicator):
    ``contributor`` (a hashable key, unique), ``value`` (float, NaN when unknown), ``stratum``
    (a key of :data:`STRATA` or None), ``year`` (int or None), ``label`` (what the page shows).

Rules
-----
- Position: ``rank`` counts in increasing order of value, ties sharing the best place
  (competition ranking): ``rank = 1 + #{values < own}``, so ``1 <= rank <= n``. The order says
  nothing of "better": a lower spending per inhabitant is not a better one.
- Quartiles: linear interpolation between order statistics (Hyndman & Fan type 7, the default of
  numpy and pandas, and of Excel's ``QUARTILE.INC``): with sorted values x_1..x_n, the p-quantile
  is x_h interpolated at ``h = 1 + (n - 1) p``. A single value is its own three quartiles.
- k-anonymity: no value of another organisation is shown, nor any statistic computed from them,
  when fewer than :data:`MIN_CONTRIBUTORS` organisations (the viewer included) contribute a
  value; the same rule applies within a size stratum.
- Size strata: by inhabitants, lower bound included, upper bound excluded (see :data:`STRATA`).
- Anonymity: the others are "Organisation A", "B"… in a stable order of their keys (letters go
  on with "AA", "AB"… after "Z").
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

#: The fewest organisations (the viewer included) whose values may be compared.
MIN_CONTRIBUTORS = 3
K_ANONYMITY_RULE = (
    "Règle d'anonymat : aucune donnée d'une autre organisation n'est montrée, ni aucune statistique "
    "calculée à partir d'elles, quand moins de {k} organisations (la vôtre comprise) fournissent une "
    "valeur pour un indicateur ; la même règle vaut à l'intérieur d'une strate de taille."
)
NOT_COMPARABLE = "comparaison impossible : moins de {k} organisations"


@dataclass(frozen=True)
class Stratum:
    key: str
    label: str
    #: Inhabitants, lower bound included.
    low: int
    #: Inhabitants, upper bound excluded (None: no upper bound).
    high: int | None


STRATA: tuple[Stratum, ...] = (
    Stratum("0-5k", "moins de 5 000 habitants", 0, 5_000),
    Stratum("5-20k", "de 5 000 à 19 999 habitants", 5_000, 20_000),
    Stratum("20-50k", "de 20 000 à 49 999 habitants", 20_000, 50_000),
    Stratum("50-100k", "de 50 000 à 99 999 habitants", 50_000, 100_000),
    Stratum("100k+", "100 000 habitants et plus", 100_000, None),
)
STRATUM_KEYS = tuple(s.key for s in STRATA)
STRATUM_LABELS = {s.key: s.label for s in STRATA}


class Quartiles(NamedTuple):
    q1: float
    median: float
    q3: float


class Position(NamedTuple):
    rank: int
    n: int
    quartiles: Quartiles


def quartiles(values: pd.Series) -> Quartiles:
    """First quartile, median and third quartile of the known values (type 7 interpolation).

    Raises ``ValueError`` when no value is known.
    """
    known = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if known.empty:
        raise ValueError("aucune valeur")
    q1, median, q3 = np.quantile(known.to_numpy(), [0.25, 0.5, 0.75])
    return Quartiles(float(q1), float(median), float(q3))


def position(values: pd.Series, own: float) -> Position:
    """Where ``own`` stands among ``values`` (which include it): rank of n and the quartiles.

    ``rank = 1 + number of values strictly below own`` (ties share the lower rank), ``n`` = number
    of known values (NaN are left out). Raises ``ValueError`` when ``own`` is unknown or is not
    one of the values.
    """
    known = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if own is None or np.isnan(own):
        raise ValueError("valeur de l'organisation inconnue")
    if not (known == float(own)).any():
        raise ValueError("la valeur de l'organisation n'est pas parmi les valeurs comparées")
    rank = 1 + int((known < float(own)).sum())
    return Position(rank, len(known), quartiles(known))


def size_stratum(population: int | None) -> str | None:
    """The key of the size stratum of an organisation of ``population`` inhabitants.

    None when the population is unknown; ``ValueError`` when it is negative.
    """
    if population is None:
        return None
    if population < 0:
        raise ValueError("population négative")
    for stratum in STRATA:
        if population >= stratum.low and (stratum.high is None or population < stratum.high):
            return stratum.key
    raise AssertionError("unreachable: the strata cover every non-negative population")  # pragma: no cover


def letter(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA", 27 -> "AB"… (spreadsheet column letters)."""
    if index < 0:
        raise ValueError("index négatif")
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


def anonymous_labels(keys: Iterable[Hashable]) -> dict[Hashable, str]:
    """ "Organisation A", "B"… for ``keys`` in the order given (duplicates keep their first letter).

    The caller passes the keys in a stable order (database ids, then reference codes) so that a
    letter designates the same organisation from one page to the next.
    """
    labels: dict[Hashable, str] = {}
    for key in keys:
        if key not in labels:
            labels[key] = f"Organisation {letter(len(labels))}"
    return labels


@dataclass(frozen=True)
class Comparison:
    """One indicator compared: the viewer's position overall and within its size stratum.

    When ``comparable`` is False the statistics are None and ``rows`` holds the viewer's own
    row only (never another organisation's value).
    """

    n: int
    comparable: bool
    own_value: float | None
    rank: int | None
    quartiles: Quartiles | None
    stratum: str | None
    stratum_n: int
    stratum_comparable: bool
    stratum_rank: int | None
    stratum_quartiles: Quartiles | None
    #: contributor, label, stratum, value, year, own (bool), same_stratum (bool); by value.
    rows: pd.DataFrame


ROW_COLUMNS = ["contributor", "label", "stratum", "value", "year", "own", "same_stratum"]


def compare(
    contributions: pd.DataFrame,
    own: Hashable,
    *,
    own_stratum: str | None = None,
    min_contributors: int = MIN_CONTRIBUTORS,
) -> Comparison:
    """Compare ``own``'s value of one indicator with the other contributions.

    ``contributions`` follows the glossary; rows of unknown value are left out. ``own_stratum`` is
    the viewer's stratum (taken from its row when it contributes). Returns the position overall and
    within the stratum, each only when at least ``min_contributors`` organisations contribute.
    """
    frame = contributions.copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame = frame[frame["value"].notna()].copy()
    frame["own"] = frame["contributor"] == own
    mine = frame[frame["own"]]
    own_value = float(mine["value"].iloc[0]) if len(mine) else None
    if len(mine) and mine["stratum"].iloc[0] is not None:
        own_stratum = str(mine["stratum"].iloc[0])
    frame["same_stratum"] = (frame["stratum"] == own_stratum) if own_stratum is not None else False
    n = len(frame)
    comparable = n >= min_contributors
    rank = stats = None
    if comparable:
        if own_value is not None:
            rank, _, stats = position(frame["value"], own_value)
        else:
            stats = quartiles(frame["value"])
    peers = frame[frame["same_stratum"]]
    stratum_n = len(peers) if own_stratum is not None else 0
    stratum_comparable = comparable and stratum_n >= min_contributors
    stratum_rank = stratum_stats = None
    if stratum_comparable:
        if own_value is not None:
            stratum_rank, _, stratum_stats = position(peers["value"], own_value)
        else:
            stratum_stats = quartiles(peers["value"])
    shown = frame if comparable else frame[frame["own"]]
    rows = (
        shown.sort_values(["value", "own"], ascending=[True, False], kind="stable")
        .reindex(columns=ROW_COLUMNS)
        .reset_index(drop=True)
    )
    return Comparison(
        n=n,
        comparable=comparable,
        own_value=own_value,
        rank=rank,
        quartiles=stats,
        stratum=own_stratum,
        stratum_n=stratum_n,
        stratum_comparable=stratum_comparable,
        stratum_rank=stratum_rank,
        stratum_quartiles=stratum_stats,
        rows=rows,
    )
