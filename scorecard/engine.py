"""The scorecard of one period: values, targets, statuses, trends and weighted roll-ups.

Pure and vectorised (pandas/numpy): the caller hands DataFrames in, gets DataFrames back.

Glossary of columns
-------------------
indicators (index ``indicator_id``):
    ``code``, ``direction`` (``higher`` | ``lower`` | ``band``), ``frequency`` (``monthly`` |
    ``quarterly`` | ``yearly``), ``formula`` (text or None), ``objective_id`` (or NaN),
    ``perspective``, ``weight`` (> 0), and optionally ``effective_from`` (a date, or None: since
    always).
measurements:
    ``indicator_id``, ``period_key``, ``value`` (float), and optionally ``territory_id`` (NaN for
    organisation-wide values) and ``state`` (``validated`` | ``submitted`` | ``returned`` |
    ``draft``; every row is validated when the column is absent); one row per indicator, period
    and territory.
targets:
    ``indicator_id``, ``period_key``, ``target``, ``band_low``, ``band_high``, ``threshold_mode``
    (``relative`` | ``absolute``), ``amber_tolerance``, ``red_tolerance``.
objectives (index ``objective_id``):
    ``parent_id`` (or NaN), ``perspective``, ``weight`` (> 0), and optionally ``effective_from``.

Rules
-----
Settled values
    Only validated values count: they alone give a status, a score and a trend. A submitted
    value is shown (``shown_value``) with the status ``pending`` ("à valider"), a value the
    direction returned with ``returned``; both count like a missing value (0) until validated.
    A draft is the service's own work in progress: it is neither shown nor counted
    (``missing``). ``provisional_status`` is the status the shown value would have once
    validated. A computed indicator is settled when all its operands are; computed from
    submitted operands it is pending.
Effective dates
    An indicator counts in a scorecard only when its ``effective_from`` is on or before the end
    of the period it is read on; an objective, when its ``effective_from`` is on or before the
    end of the requested period. Indicators and objectives that did not exist yet are left out
    (an indicator whose objective did not exist yet hangs from its perspective).
Reading period
    Each indicator is read on the last period of its own frequency that ends by the end of the
    requested period (a monthly indicator in a quarter's scorecard shows the quarter's last month;
    a yearly one shows the last year ended).
Status
    ``tolerance = amber_tolerance x |reference|`` when relative (reference: the target, or the
    band's violated bound), ``amber_tolerance`` as such when absolute; likewise for red.
    Higher is better: shortfall = target - value; lower is better: excess = value - target;
    within a band: distance outside [band_low, band_high]. Green when the gap <= amber
    tolerance, amber when <= red tolerance, red beyond. No value: ``missing`` ("non renseigné"),
    never green. A value with no target nor band: ``untargeted``. The label of a green status
    says whether the target is met (gap <= 0: "Atteint") or only within the amber tolerance
    (gap > 0: "Dans la tolérance") — a value short of its target is never called "Atteint".
Score and roll-up
    green = 1, amber = 0.5, red = 0, missing, pending and returned = 0 (a value that is missing
    or not validated never improves a score);
    untargeted indicators are left out. An objective's score is the weighted mean of its
    indicators' and child objectives' scores; a perspective's, of its top-level objectives' and
    of its indicators that hang from no objective; the organisation's, of its perspectives'
    (equal weights). Status of an aggregate: green from 0.8 included ("Satisfaisant"), amber
    from 0.5 included ("À surveiller"), red below ("Insuffisant"), ``missing`` when nothing
    beneath it is reported (validated and targeted).
Trend
    Against the previous period and the same period a year earlier: ``improving``,
    ``worsening`` or ``stable`` (change within 0.5 % of the earlier value), given the direction;
    for a band, whether the distance to the band shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from scorecard import periods as P
from scorecard.formula import FormulaError, evaluate, evaluation_order, parse_formula

SCORES = {"green": 1.0, "amber": 0.5, "red": 0.0, "missing": 0.0, "pending": 0.0, "returned": 0.0}
SHOWN_STATES = ("validated", "submitted", "returned")
GREEN_FROM, AMBER_FROM = 0.8, 0.5
STABLE_WITHIN = 0.005
FREQUENCY_KIND: dict[str, P.PeriodKindName] = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}
ROLLUP_RULE = (
    "Seules les valeurs validées par la direction comptent ; une valeur soumise est affichée "
    "« à valider » et une valeur renvoyée au service « renvoyée », comptées comme non renseignées "
    "jusqu'à leur validation ; un brouillon ne compte pas. Score = moyenne pondérée des statuts "
    "(vert = 1, orange = 0,5, rouge = 0, non renseigné = 0 ; indicateurs sans cible exclus) ; "
    "vert à partir de 80 %, orange à partir de 50 %. Chaque indicateur est lu sur sa dernière "
    "période close à la fin de la période demandée ; indicateurs et objectifs comptent à partir "
    "de leur date d'effet."
)


@dataclass(frozen=True)
class Scorecard:
    """The computed scorecard: one row per indicator, objective and perspective, and the whole."""

    period: P.PeriodSpan
    indicators: pd.DataFrame
    objectives: pd.DataFrame
    perspectives: pd.DataFrame
    overall: dict[str, float | str | int]


def reading_period(frequency: str, requested: P.PeriodSpan) -> P.PeriodSpan:
    """The period of ``frequency`` an indicator is read on in the scorecard of ``requested``."""
    kind = FREQUENCY_KIND[frequency]
    span = P.period_containing(kind, requested.end)
    return span if span.end <= requested.end else P.previous_period(span)


def compute_scorecard(
    indicators: pd.DataFrame,
    measurements: pd.DataFrame,
    targets: pd.DataFrame,
    objectives: pd.DataFrame,
    *,
    period: P.PeriodSpan,
    territory: int | None = None,
) -> Scorecard:
    """Compute the scorecard of ``period`` for one territory (None: organisation-wide values)."""
    if "territory_id" in measurements.columns:
        scope = measurements["territory_id"]
        measurements = measurements[scope.isna() if territory is None else scope == territory]
    keys = {f: reading_period(f, period) for f in indicators["frequency"].unique()}
    ind = indicators[_effective(indicators, indicators["frequency"].map({f: s.end for f, s in keys.items()}))]
    ind = ind.copy()
    objectives = objectives[_effective(objectives, pd.Series(period.end, index=objectives.index))]
    ind["period_key"] = ind["frequency"].map({f: s.key for f, s in keys.items()})
    ind["previous_key"] = ind["frequency"].map({f: P.previous_period(s).key for f, s in keys.items()})
    ind["last_year_key"] = ind["frequency"].map({f: P.same_period_last_year(s).key for f, s in keys.items()})
    needed = set(ind["period_key"]) | set(ind["previous_key"]) | set(ind["last_year_key"])

    periods = pd.Index(sorted(needed))
    states = measurements["state"].astype(str) if "state" in measurements else None
    settled = measurements if states is None else measurements[states == "validated"]
    matrix = _value_matrix(ind, settled, periods)
    rows = np.arange(len(ind))
    current = periods.get_indexer(pd.Index(ind["period_key"]))
    for column, key in (
        ("value", "period_key"),
        ("previous_value", "previous_key"),
        ("last_year_value", "last_year_key"),
    ):
        ind[column] = matrix[rows, periods.get_indexer(pd.Index(ind[key]))]
    ind["shown_value"] = ind["value"]
    ind["state"] = ind["value"].notna().map({True: "validated", False: None}).astype(object)
    if states is not None and (states != "validated").any():
        submitted = measurements[states.isin(["validated", "submitted"])]
        pending = _value_matrix(ind, submitted, periods)[rows, current]
        at = measurements[measurements["period_key"].isin(set(ind["period_key"]))]
        state_at = pd.Series(
            at["state"].astype(str).to_numpy(),
            index=pd.MultiIndex.from_arrays([at["indicator_id"], at["period_key"]]),
        )
        state_at = state_at[~state_at.index.duplicated(keep="last")]
        raw_state = state_at.reindex(pd.MultiIndex.from_arrays([ind.index, ind["period_key"]])).to_numpy()
        returned = at[at["state"].astype(str) == "returned"].set_index(["indicator_id", "period_key"])[
            "value"
        ]
        returned = returned[~returned.index.duplicated(keep="last")]
        returned_value = returned.reindex(pd.MultiIndex.from_arrays([ind.index, ind["period_key"]])).to_numpy(
            dtype=float
        )
        unsettled = ind["value"].isna().to_numpy()
        is_pending = unsettled & ~np.isnan(pending)
        is_returned = unsettled & ~is_pending & (raw_state == "returned")
        is_draft = unsettled & ~is_pending & ~is_returned & (raw_state == "draft")
        ind["shown_value"] = np.where(
            is_pending, pending, np.where(is_returned, returned_value, ind["value"])
        )
        state = ind["state"].to_numpy(dtype=object, copy=True)
        state[is_pending], state[is_returned], state[is_draft] = "submitted", "returned", "draft"
        ind["state"] = state

    tgt = targets[targets["period_key"].isin(ind["period_key"].unique())]
    tgt = tgt.set_index(["indicator_id", "period_key"])
    tgt = tgt[~tgt.index.duplicated(keep="last")]
    index = pd.MultiIndex.from_arrays([ind.index, ind["period_key"]])
    for column, default in (
        ("target", np.nan), ("band_low", np.nan), ("band_high", np.nan),
        ("threshold_mode", "relative"), ("amber_tolerance", 0.05), ("red_tolerance", 0.10),
    ):  # fmt: skip
        series = tgt[column].reindex(index) if column in tgt else pd.Series(np.nan, index=index)
        ind[column] = series.to_numpy()
        if not isinstance(default, float) or not np.isnan(default):
            ind[column] = ind[column].where(ind[column].notna(), default)

    ind["status"], ind["gap"] = _statuses(ind)
    provisional, provisional_gap = _statuses(ind.assign(value=ind["shown_value"]))
    ind["provisional_status"] = provisional
    ind["status"] = np.select(
        [ind["state"].to_numpy() == "submitted", ind["state"].to_numpy() == "returned"],
        ["pending", "returned"],
        default=ind["status"].to_numpy(),
    )
    ind["status_label"] = _labels(ind["status"].to_numpy(), ind["gap"].to_numpy(dtype=float))
    ind["provisional_label"] = _labels(provisional, provisional_gap)
    ind["achievement"] = _achievement(ind)
    ind["trend_previous"] = _trend(ind, "previous_value")
    ind["trend_last_year"] = _trend(ind, "last_year_value")
    ind["score"] = ind["status"].map(SCORES)
    ind.loc[ind["status"] == "untargeted", "score"] = np.nan

    obj = _roll_up_objectives(ind, objectives)
    persp = _roll_up_perspectives(ind, obj)
    reported = int((ind["status"].isin(["green", "amber", "red"])).sum())
    counted = int(ind["score"].notna().sum())
    overall_score = float(persp["score"].mean()) if persp["score"].notna().any() else np.nan
    overall: dict[str, float | str | int] = {
        "score": overall_score,
        "status": str(_aggregate_status(pd.Series([overall_score]), pd.Series([reported]))[0]),
        "reported": reported,
        "counted": counted,
        "indicators": len(ind),
    }
    return Scorecard(period=period, indicators=ind, objectives=obj, perspectives=persp, overall=overall)


def _effective(frame: pd.DataFrame, by: pd.Series) -> pd.Series:
    """Rows whose ``effective_from`` (None: since always) is on or before ``by`` (a date per row)."""
    if "effective_from" not in frame.columns or frame.empty:
        return pd.Series(True, index=frame.index)
    start = pd.to_datetime(frame["effective_from"])
    return start.isna() | (start <= pd.to_datetime(by))


def _labels(status: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """French labels of indicator statuses: a green short of its target is "Dans la tolérance"."""
    labels = pd.Series(status).map(STATUS_LABELS).to_numpy(dtype=object)
    within = (status == "green") & (gap > 0)
    labels[within] = WITHIN_TOLERANCE_LABEL
    return labels


def _value_matrix(ind: pd.DataFrame, measurements: pd.DataFrame, periods: pd.Index) -> np.ndarray:
    """Values as a matrix: one row per indicator (in ``ind``'s order), one column per period.

    Measured values are placed by position (vectorised); computed indicators are then
    evaluated row by row in dependency order, each on the whole row of periods at once.
    """
    matrix = np.full((len(ind), len(periods)), np.nan)
    rows = measurements[measurements["period_key"].isin(periods)]
    row_pos = ind.index.get_indexer(pd.Index(rows["indicator_id"]))
    col_pos = periods.get_indexer(pd.Index(rows["period_key"]))
    known = (row_pos >= 0) & (col_pos >= 0)
    matrix[row_pos[known], col_pos[known]] = rows["value"].to_numpy(dtype=float)[known]
    has_formula = ind["formula"].notna() & (ind["formula"].astype(str).str.strip() != "")
    if not has_formula.any():
        return matrix
    position = {code: i for i, code in enumerate(ind["code"].tolist())}
    formulas = {}
    pairs = zip(ind.loc[has_formula, "code"].tolist(), ind.loc[has_formula, "formula"].tolist(), strict=True)
    for code, text in pairs:
        try:
            formulas[code] = parse_formula(str(text))
        except FormulaError as exc:
            raise FormulaError(f"indicateur « {code} » : {exc}") from None
    for code in evaluation_order(formulas, known=position):
        formula = formulas[code]
        result = evaluate(formula, {c: matrix[position[c]] for c in formula.codes})
        matrix[position[code]] = result
    return matrix


def _statuses(ind: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    value = ind["value"].to_numpy(dtype=float)
    target = ind["target"].to_numpy(dtype=float)
    low, high = ind["band_low"].to_numpy(dtype=float), ind["band_high"].to_numpy(dtype=float)
    direction = ind["direction"].to_numpy()
    relative = ind["threshold_mode"].to_numpy() == "relative"
    band = direction == "band"
    below = band & (value < low)
    gap = np.where(
        direction == "higher",
        target - value,
        np.where(direction == "lower", value - target, np.fmax(np.fmax(low - value, value - high), 0.0)),
    )
    reference = np.where(band, np.where(below, low, high), target)
    scale = np.where(relative, np.abs(reference), 1.0)
    amber = ind["amber_tolerance"].to_numpy(dtype=float) * scale
    red = ind["red_tolerance"].to_numpy(dtype=float) * scale
    has_target = np.where(band, ~(np.isnan(low) & np.isnan(high)), ~np.isnan(target))
    if band.any():  # a one-sided band: the missing bound does not constrain
        gap = np.where(band & np.isnan(low), np.fmax(value - high, 0.0), gap)
        gap = np.where(band & np.isnan(high), np.fmax(low - value, 0.0), gap)
    status = np.select(
        [np.isnan(value), ~has_target, gap <= amber, gap <= red],
        ["missing", "untargeted", "green", "amber"],
        default="red",
    )
    return status, np.where(np.isnan(value) | ~has_target, np.nan, gap)


def _achievement(ind: pd.DataFrame) -> np.ndarray:
    value = ind["value"].to_numpy(dtype=float)
    target = ind["target"].to_numpy(dtype=float)
    low, high = ind["band_low"].to_numpy(dtype=float), ind["band_high"].to_numpy(dtype=float)
    direction = ind["direction"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        band = np.where(
            value < low,
            value / low,
            np.where(value > high, high / value, np.where(np.isnan(value), np.nan, 1.0)),
        )
        result = np.where(
            direction == "higher", value / target, np.where(direction == "lower", target / value, band)
        )
    return np.where(np.isfinite(result), result, np.nan)


def _trend(ind: pd.DataFrame, earlier: str) -> np.ndarray:
    now = ind["value"].to_numpy(dtype=float)
    before = ind[earlier].to_numpy(dtype=float)
    direction = ind["direction"].to_numpy()
    low, high = ind["band_low"].to_numpy(dtype=float), ind["band_high"].to_numpy(dtype=float)
    distance_now = np.fmax(np.fmax(low - now, now - high), 0.0)
    distance_before = np.fmax(np.fmax(low - before, before - high), 0.0)
    better = np.where(
        direction == "higher",
        now - before,
        np.where(direction == "lower", before - now, distance_before - distance_now),
    )
    stable = np.abs(now - before) <= STABLE_WITHIN * np.fmax(np.abs(before), 1e-12)
    known = ~(np.isnan(now) | np.isnan(before))
    labels = np.select(
        [stable, better > 0, better < 0], ["stable", "improving", "worsening"], default="stable"
    ).astype(object)
    labels[~known] = None
    return labels


def _aggregate_status(score: pd.Series, reported: pd.Series) -> np.ndarray:
    s = score.to_numpy(dtype=float)
    r = reported.to_numpy(dtype=float)
    return np.select(
        [np.isnan(s) | (r == 0), s >= GREEN_FROM, s >= AMBER_FROM],
        ["missing", "green", "amber"],
        default="red",
    )


def _roll_up_objectives(ind: pd.DataFrame, objectives: pd.DataFrame) -> pd.DataFrame:
    """Bottom-up weighted means over the objectives tree (deepest level first)."""
    obj = objectives.copy()
    if obj.empty:
        return obj.assign(score=pd.Series(dtype=float), status=pd.Series(dtype=object), reported=0, counted=0)
    depth = _depths(obj)
    counted_ind = ind[ind["score"].notna() & ind["objective_id"].notna()]
    weight_ind = counted_ind["weight"].astype(float)
    sums = (counted_ind["score"] * weight_ind).groupby(counted_ind["objective_id"]).sum()
    weights = weight_ind.groupby(counted_ind["objective_id"]).sum()
    reported = (counted_ind["status"] != "missing").groupby(counted_ind["objective_id"]).sum()
    counted = counted_ind.groupby("objective_id").size()
    obj["wsum"] = sums.reindex(obj.index).fillna(0.0)
    obj["wtot"] = weights.reindex(obj.index).fillna(0.0)
    obj["reported"] = reported.reindex(obj.index).fillna(0).astype(int)
    obj["counted"] = counted.reindex(obj.index).fillna(0).astype(int)
    obj["score"] = np.nan
    for level in sorted(depth.unique(), reverse=True):
        at = depth[depth == level].index
        obj.loc[at, "score"] = np.where(
            obj.loc[at, "wtot"] > 0, obj.loc[at, "wsum"] / obj.loc[at, "wtot"], np.nan
        )
        children = obj.loc[at]
        children = children[children["parent_id"].notna() & children["score"].notna()]
        if children.empty:
            continue
        parent = children["parent_id"]
        w = children["weight"].astype(float)
        add_sum = (children["score"] * w).groupby(parent).sum()
        add_w = w.groupby(parent).sum()
        add_rep = children["reported"].groupby(parent).sum()
        add_cnt = children["counted"].groupby(parent).sum()
        targets = add_sum.index.intersection(obj.index)
        obj.loc[targets, "wsum"] += add_sum[targets]
        obj.loc[targets, "wtot"] += add_w[targets]
        obj.loc[targets, "reported"] += add_rep[targets]
        obj.loc[targets, "counted"] += add_cnt[targets]
    obj["status"] = _aggregate_status(obj["score"], obj["reported"])
    return obj.drop(columns=["wsum", "wtot"])


def _depths(obj: pd.DataFrame) -> pd.Series:
    depth = pd.Series(0, index=obj.index)
    parent = obj["parent_id"]
    current = parent.copy()
    for _ in range(len(obj)):
        has = current.notna() & current.isin(obj.index)
        if not has.any():
            break
        depth[has] += 1
        current = current[has].map(parent).reindex(obj.index)
    return depth


def _roll_up_perspectives(ind: pd.DataFrame, obj: pd.DataFrame) -> pd.DataFrame:
    parts = []
    if not obj.empty:
        top = obj[(obj["parent_id"].isna() | ~obj["parent_id"].isin(obj.index)) & obj["score"].notna()]
        parts.append(
            pd.DataFrame(
                {
                    "perspective": top["perspective"],
                    "score": top["score"],
                    "weight": top["weight"].astype(float),
                    "reported": top["reported"],
                    "counted": top["counted"],
                }
            )
        )
    loose = ind[ind["score"].notna() & (ind["objective_id"].isna() | ~ind["objective_id"].isin(obj.index))]
    parts.append(
        pd.DataFrame(
            {
                "perspective": loose["perspective"],
                "score": loose["score"],
                "weight": loose["weight"].astype(float),
                "reported": (loose["status"] != "missing").astype(int),
                "counted": 1,
            }
        )
    )
    rows = pd.concat(parts, ignore_index=True)
    all_perspectives = pd.Index(
        sorted(set(ind["perspective"]) | set(obj["perspective"] if not obj.empty else []))
    )
    grouped = rows.assign(ws=rows["score"] * rows["weight"]).groupby("perspective")
    result = pd.DataFrame(index=all_perspectives)
    result.index.name = "perspective"
    totals = grouped["weight"].sum().reindex(all_perspectives)
    result["score"] = (grouped["ws"].sum().reindex(all_perspectives) / totals).where(totals > 0)
    result["reported"] = grouped["reported"].sum().reindex(all_perspectives).fillna(0).astype(int)
    result["counted"] = grouped["counted"].sum().reindex(all_perspectives).fillna(0).astype(int)
    result["status"] = _aggregate_status(result["score"], result["reported"])
    return result


Status = Literal["green", "amber", "red", "missing", "untargeted", "pending", "returned"]
#: Labels of an indicator's status (a green one short of its target: WITHIN_TOLERANCE_LABEL).
STATUS_LABELS: dict[str, str] = {
    "green": "Atteint",
    "amber": "À surveiller",
    "red": "Non atteint",
    "missing": "Non renseigné",
    "untargeted": "Sans cible",
    "pending": "À valider",
    "returned": "Renvoyée au service",
}
WITHIN_TOLERANCE_LABEL = "Dans la tolérance"
#: Labels of an objective's, a perspective's or the whole's status (a score, not a target met).
AGGREGATE_LABELS: dict[str, str] = {
    "green": "Satisfaisant",
    "amber": "À surveiller",
    "red": "Insuffisant",
    "missing": "Non renseigné",
}
#: What the states of a value are called in the scorecard and the review.
STATE_LABELS: dict[str, str] = {
    "validated": "validée",
    "submitted": "à valider",
    "returned": "renvoyée au service",
    "draft": "brouillon (non compté)",
}
TREND_LABELS: dict[str, str] = {
    "improving": "en amélioration",
    "worsening": "en dégradation",
    "stable": "stable",
}


def status_of_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Statuses and gaps of any rows that carry ``value``, ``direction``, ``target``,
    ``band_low``, ``band_high``, ``threshold_mode``, ``amber_tolerance``, ``red_tolerance``
    (an indicator's history, say), by the same rules as the scorecard."""
    rows = frame.copy()
    for column, default in (
        ("threshold_mode", "relative"),
        ("amber_tolerance", 0.05),
        ("red_tolerance", 0.10),
    ):
        rows[column] = rows[column].where(rows[column].notna(), default) if column in rows else default
    for column in ("target", "band_low", "band_high"):
        if column not in rows:
            rows[column] = np.nan
    rows["status"], rows["gap"] = _statuses(rows)
    rows["status_label"] = _labels(rows["status"].to_numpy(), rows["gap"].to_numpy(dtype=float))
    return rows
