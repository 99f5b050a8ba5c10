"""An indicator's history: values against targets, with statuses, for its page and chart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Indicator, Measurement, Period, Target
from scorecard.engine import FREQUENCY_KIND, status_of_rows
from scorecard.formula import FormulaError, evaluate, parse_formula


@dataclass(frozen=True)
class HistoryRow:
    period_key: str
    value: float | None
    target: float | None
    band_low: float | None
    band_high: float | None
    status: str
    status_label: str
    state: str | None
    comment: str | None


def _opt(value: object) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def indicator_history(session: Session, indicator: Indicator, *, periods: int = 24) -> list[HistoryRow]:
    """The last ``periods`` periods of the indicator's frequency, oldest first."""
    kind = FREQUENCY_KIND[indicator.frequency.value]
    spans = session.execute(
        select(Period.id, Period.key)
        .where(Period.organisation_id == indicator.organisation_id, Period.kind == kind)
        .order_by(Period.start_date.desc())
        .limit(periods)
    ).all()[::-1]
    keys = [key for _, key in spans]
    ids = dict(spans)
    frame = pd.DataFrame({"period_key": keys})
    measured = {
        ids[m.period_id]: m
        for m in session.scalars(
            select(Measurement).where(
                Measurement.indicator_id == indicator.id,
                Measurement.period_id.in_(list(ids)),
                Measurement.territory_id.is_(None),
            )
        )
    }
    if indicator.formula:
        frame["value"] = _computed(session, indicator, ids)
    else:
        frame["value"] = [measured[k].value if k in measured else np.nan for k in keys]
    targets = {
        ids[t.period_id]: t
        for t in session.scalars(
            select(Target).where(Target.indicator_id == indicator.id, Target.period_id.in_(list(ids)))
        )
    }
    columns = {"target": "value", "band_low": "band_low", "band_high": "band_high",
               "amber_tolerance": "amber_tolerance", "red_tolerance": "red_tolerance"}  # fmt: skip
    for column, attribute in columns.items():
        frame[column] = [getattr(targets[k], attribute) if k in targets else np.nan for k in keys]
        frame[column] = frame[column].astype(float)
    frame["threshold_mode"] = [targets[k].threshold_mode.value if k in targets else "relative" for k in keys]
    frame["direction"] = indicator.direction.value
    rows = status_of_rows(frame)
    history = []
    for row in rows.itertuples():
        key = str(row.period_key)
        measurement = measured.get(key)
        history.append(
            HistoryRow(
                period_key=key,
                value=_opt(row.value),
                target=_opt(row.target),
                band_low=_opt(row.band_low),
                band_high=_opt(row.band_high),
                status=str(row.status),
                status_label=str(row.status_label),
                state=measurement.state.value if measurement else None,
                comment=measurement.comment if measurement else None,
            )
        )
    return history


def _computed(session: Session, indicator: Indicator, ids: dict[int, str]) -> list[float]:
    try:
        formula = parse_formula(indicator.formula or "")
    except FormulaError:
        return [np.nan] * len(ids)
    operands = session.execute(
        select(Indicator.code, Measurement.period_id, Measurement.value)
        .join(Measurement, Measurement.indicator_id == Indicator.id)
        .where(
            Indicator.organisation_id == indicator.organisation_id,
            Indicator.code.in_(formula.codes),
            Measurement.period_id.in_(list(ids)),
            Measurement.territory_id.is_(None),
        )
    ).all()
    keys = list(ids.values())
    table = pd.DataFrame(operands, columns=["code", "period_id", "value"])
    table["period_key"] = table["period_id"].map(ids)
    wide = table.pivot_table(index="period_key", columns="code", values="value", aggfunc="last").reindex(keys)
    values = {code: wide[code] if code in wide else pd.Series(np.nan, index=keys) for code in formula.codes}
    result = evaluate(formula, values)
    return [float(v) for v in pd.Series(result, index=keys).astype(float)]
