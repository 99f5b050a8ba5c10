"""Deterministic, plausible series for the demo's measurements (pure: no clock, no database).

Each value is seeded by the indicator's code and the period's key alone, so a value never
depends on which other periods are generated, and refreshing the demo later only adds periods.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np

#: The origin of trends: growth is compounded from January 2023.
ORIGIN = date(2023, 1, 1)


@dataclass(frozen=True)
class SeriesShape:
    """``level`` at the origin, yearly ``growth`` (0.04 = +4 %/year), seasonal amplitude
    ``season`` peaking in month ``peak_month``, relative ``noise`` (standard deviation),
    and bounds for rates."""

    level: float
    growth: float = 0.0
    season: float = 0.0
    peak_month: int = 1
    noise: float = 0.03
    low: float | None = 0.0
    high: float | None = None


def months_since_origin(day: date) -> float:
    return (day.year - ORIGIN.year) * 12 + (day.month - ORIGIN.month) + (day.day - 1) / 31


def seed_for(*parts: str) -> int:
    """A stable 32-bit seed (CRC-32), unlike ``hash()`` which changes between runs."""
    return zlib.crc32("|".join(parts).encode("utf-8"))


def series_value(shape: SeriesShape, code: str, period_key: str, middle: date, decimals: int) -> float:
    """The demo value of indicator ``code`` for the period whose middle day is ``middle``.

    value = level x (1 + growth)^(t / 12) x (1 + season x cos(2 pi (month - peak) / 12))
            x (1 + noise x N(0, 1)), clipped to [low, high] and rounded to ``decimals``.
    """
    rng = np.random.default_rng(seed_for(code, period_key))
    t = months_since_origin(middle)
    value = shape.level * (1.0 + shape.growth) ** (t / 12.0)
    value *= 1.0 + shape.season * math.cos(2.0 * math.pi * (middle.month - shape.peak_month) / 12.0)
    value *= 1.0 + shape.noise * float(rng.standard_normal())
    if shape.low is not None:
        value = max(shape.low, value)
    if shape.high is not None:
        value = min(shape.high, value)
    return float(round(value, decimals))


def jitter(code: str, key: str, spread: float) -> float:
    """A stable factor in [1 - spread, 1 + spread] (budget execution, small variations)."""
    rng = np.random.default_rng(seed_for("jitter", code, key))
    return 1.0 + spread * (2.0 * float(rng.random()) - 1.0)
