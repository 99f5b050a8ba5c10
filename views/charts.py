"""Charts drawn on the server as SVG: they print, need no script, and obey the CSP (no inline
styles: presentation attributes only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None
    target: float | None
    band_low: float | None = None
    band_high: float | None = None


def history_svg(
    points: Sequence[Point], *, title: str, unit: str, width: int = 760, height: int = 260
) -> Markup:
    """A line of values against the line of targets (and the band, if any), oldest first."""
    left, right, top, bottom = 64, 16, 16, 44
    numbers = [v for p in points for v in (p.value, p.target, p.band_low, p.band_high) if v is not None]
    if not numbers:
        return Markup('<p class="meta">Aucune valeur à tracer.</p>')
    low, high = min(numbers), max(numbers)
    if high == low:
        high, low = high + 1, low - 1
    span = high - low
    low, high = low - span * 0.08, high + span * 0.08
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(points) - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    def path(values: list[float | None]) -> str:
        parts, pen = [], "M"
        for i, v in enumerate(values):
            if v is None:
                pen = "M"
                continue
            parts.append(f"{pen}{x(i):.1f},{y(v):.1f}")
            pen = "L"
        return " ".join(parts)

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>'
    ]
    for k in range(5):
        value = low + (high - low) * k / 4
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#d5dae3"/>'
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" fill="#4a5468">'
            f"{escape(_short(value))}</text>"
        )
    lows = [p.band_low for p in points]
    highs = [p.band_high for p in points]
    if any(v is not None for v in lows) and any(v is not None for v in highs):
        upper = [(x(i), y(v)) for i, v in enumerate(highs) if v is not None]
        lower = [(x(i), y(v)) for i, v in enumerate(lows) if v is not None][::-1]
        polygon = " ".join(f"{a:.1f},{b:.1f}" for a, b in upper + lower)
        out.append(f'<polygon points="{polygon}" fill="#e6f2ea"/>')
    out.append(
        f'<path d="{path([p.target for p in points])}" fill="none" stroke="#6b7385" stroke-width="2" '
        'stroke-dasharray="6 4"/>'
    )
    out.append(
        f'<path d="{path([p.value for p in points])}" fill="none" stroke="#1f4e8c" stroke-width="2.5"/>'
    )
    for i, p in enumerate(points):
        if p.value is not None:
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="3" fill="#1f4e8c"/>')
    every = max(1, len(points) // 12)
    last = len(points) - 1
    for i, p in enumerate(points):
        if i % every == 0 or (i == last and last % every >= max(1, every // 2)):
            out.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="middle" font-size="11" '
                f'fill="#4a5468">{escape(p.label)}</text>'
            )
    out.append(
        f'<text x="{left}" y="{height - 6}" font-size="11" fill="#1d2330">— valeur ({escape(unit)})</text>'
        f'<text x="{left + 180}" y="{height - 6}" font-size="11" fill="#1d2330">- - cible</text>'
    )
    out.append("</svg>")
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704


def _short(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f} k".replace(",", "\u202f")
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", "\u202f")
    return f"{value:.1f}".replace(".", ",")
