"""Charts drawn on the server as SVG: they print, need no script, and obey the CSP (no inline
styles: presentation attributes only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from services.numbers import format_euros, format_number, format_percent


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
        return f"{format_number(value / 1000, 0)}\u00a0k"
    return format_number(value, 0 if abs(value) >= 100 else 1)


@dataclass(frozen=True)
class Flow:
    source: str
    target: str
    amount: float
    #: Column of the source and of the target (0: resources, 1: supports, 2: services, 3: activities).
    source_column: int
    target_column: int


SANKEY_COLOURS = ("#1f4e8c", "#8c5a1f", "#2e7d32", "#6a1b9a")


def sankey_svg(flows: Sequence[Flow], *, title: str, headings: Sequence[str], width: int = 960) -> Markup:
    """A Sankey diagram: nodes stacked in columns, bands as wide as the amounts they carry.

    Flows between nodes of one column (supports serving each other) are left to the data table.
    """
    drawn = [f for f in flows if f.amount > 0 and f.source_column < f.target_column]
    if not drawn:
        return Markup('<p class="meta">Aucun flux à tracer.</p>')
    columns = len(headings)
    size: dict[tuple[int, str], float] = {}
    for f in drawn:
        size[(f.source_column, f.source)] = size.get((f.source_column, f.source), 0.0) + 0.0
        size[(f.target_column, f.target)] = size.get((f.target_column, f.target), 0.0) + 0.0
    out_sum: dict[tuple[int, str], float] = {}
    in_sum: dict[tuple[int, str], float] = {}
    for f in drawn:
        out_sum[(f.source_column, f.source)] = out_sum.get((f.source_column, f.source), 0.0) + f.amount
        in_sum[(f.target_column, f.target)] = in_sum.get((f.target_column, f.target), 0.0) + f.amount
    for key in size:
        size[key] = max(out_sum.get(key, 0.0), in_sum.get(key, 0.0))
    by_column: dict[int, list[tuple[str, float]]] = {c: [] for c in range(columns)}
    for (column, name), value in size.items():
        by_column[column].append((name, value))
    for column in by_column:
        by_column[column].sort(key=lambda item: -item[1])
    gap, top, node_w = 6.0, 34.0, 12.0
    count = max(len(nodes) for nodes in by_column.values())
    height = max(320.0, 14.0 * count + 40)
    largest = max(sum(v for _, v in nodes) for nodes in by_column.values() if nodes)
    usable = height - top - 10 - gap * count
    scale = usable / largest if largest else 1.0
    label_w = 190.0
    x_step = (width - label_w - node_w) / max(1, columns - 1)
    position: dict[tuple[int, str], tuple[float, float, float]] = {}  # x, y, h
    for column, nodes in by_column.items():
        y = top
        for name, value in nodes:
            h = max(1.0, value * scale)
            position[(column, name)] = (column * x_step, y, h)
            y += h + gap
    out: list[str] = [
        f'<svg class="chart sankey" viewBox="0 0 {width} {height:.0f}" role="img" aria-labelledby="sankey-title">',
        f'<title id="sankey-title">{escape(title)}</title>',
    ]
    for column, heading in enumerate(headings):
        anchor = "end" if column == columns - 1 and column else "start"
        x = column * x_step + (node_w if anchor == "end" else 0)
        out.append(
            f'<text x="{x:.1f}" y="16" font-size="13" font-weight="bold" text-anchor="{anchor}">{escape(heading)}</text>'
        )
    out_offset: dict[tuple[int, str], float] = {}
    in_offset: dict[tuple[int, str], float] = {}
    for f in sorted(drawn, key=lambda f: (f.source_column, -f.amount)):
        s_key, t_key = (f.source_column, f.source), (f.target_column, f.target)
        sx, sy, _ = position[s_key]
        tx, ty, _ = position[t_key]
        w = f.amount * scale
        y0 = sy + out_offset.get(s_key, 0.0)
        y1 = ty + in_offset.get(t_key, 0.0)
        out_offset[s_key] = out_offset.get(s_key, 0.0) + w
        in_offset[t_key] = in_offset.get(t_key, 0.0) + w
        x0, x1 = sx + node_w, tx
        mid = (x0 + x1) / 2
        colour = SANKEY_COLOURS[f.source_column % len(SANKEY_COLOURS)]
        out.append(
            f'<path d="M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f} '
            f'L{x1:.1f},{y1 + w:.1f} C{mid:.1f},{y1 + w:.1f} {mid:.1f},{y0 + w:.1f} {x0:.1f},{y0 + w:.1f} Z" '
            f'fill="{colour}" fill-opacity="0.28"><title>{escape(f.source)} → {escape(f.target)} : '
            f"{_money(f.amount)}</title></path>"
        )
    for (column, name), (x, y, h) in position.items():
        colour = SANKEY_COLOURS[column % len(SANKEY_COLOURS)]
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node_w}" height="{h:.1f}" fill="{colour}"/>')
        label = name if len(name) <= 34 else name[:33] + "…"
        out.append(
            f'<text x="{x + node_w + 4:.1f}" y="{y + h / 2 + 4:.1f}" font-size="11">'
            f"{escape(label)} ({escape(_short(size[(column, name)]))}\u00a0€)</text>"
        )
    out.append("</svg>")
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704


def _money(value: float) -> str:
    return format_euros(value, 0)


BAR_COLOURS = ("#9e9e9e", "#1f4e8c", "#2e7d32", "#8c5a1f", "#6a1b9a")


def coverage_bars_svg(
    rows: Sequence[tuple[str, Sequence[float | None]]], series: Sequence[str], *, title: str, width: int = 900
) -> Markup:
    """Horizontal bars of coverage rates (0-1) by need, one bar per series (before, scenarios…)."""
    if not rows:
        return Markup('<p class="meta">Aucun besoin à tracer.</p>')
    label_w, right, bar_h, gap = 300.0, 60.0, 9.0, 8.0
    group_h = bar_h * len(series) + gap
    legend_h = 22.0
    height = legend_h + group_h * len(rows) + 24
    plot_w = width - label_w - right
    out = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height:.0f}" role="img" aria-labelledby="bars-title">',
        f'<title id="bars-title">{escape(title)}</title>',
    ]
    for i, name in enumerate(series):
        x = label_w + i * 180
        out.append(
            f'<rect x="{x:.0f}" y="4" width="12" height="12" fill="{BAR_COLOURS[i % len(BAR_COLOURS)]}"/>'
        )
        out.append(f'<text x="{x + 16:.0f}" y="14" font-size="12">{escape(name)}</text>')
    for tick in (0, 0.5, 1.0):
        x = label_w + tick * plot_w
        out.append(
            f'<line x1="{x:.1f}" y1="{legend_h}" x2="{x:.1f}" y2="{height - 20:.1f}" stroke="#ccc"/>'
            f'<text x="{x:.1f}" y="{height - 6:.1f}" font-size="11" text-anchor="middle">{format_percent(tick, 0)}</text>'
        )
    for r, (label, values) in enumerate(rows):
        y0 = legend_h + r * group_h
        short = label if len(label) <= 46 else label[:45] + "…"
        out.append(
            f'<text x="{label_w - 6:.0f}" y="{y0 + group_h / 2:.1f}" font-size="11" text-anchor="end">{escape(short)}</text>'
        )
        for i, value in enumerate(values):
            if value is None:
                continue
            w = max(0.0, min(1.0, value)) * plot_w
            y = y0 + i * bar_h
            out.append(
                f'<rect x="{label_w:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h - 1:.1f}" '
                f'fill="{BAR_COLOURS[i % len(BAR_COLOURS)]}"><title>{escape(label)} — {escape(series[i])} : '
                f"{format_percent(value, 1, trim=False)}</title></rect>"
            )
    out.append("</svg>")
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704
