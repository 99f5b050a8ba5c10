"""The needs observatory (``/observatoire``): held statistics by theme, trend, comparisons, export."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from models import Organisation, TerritoryStatistic
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.numbers import format_number
from services.observatory import (
    KIND_LABELS,
    IndicatorView,
    Point,
    build_observatory,
    horizons_from,
    observatory_workbook,
)
from services.policy import Action

bp = Blueprint("observatory", __name__, url_prefix="/observatoire")


def _organisation(organisation_id: int) -> Organisation:
    organisation = db_session().get(Organisation, organisation_id)
    if organisation is None:
        abort(404)
    return organisation


@bp.get("")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW, TerritoryStatistic(organisation_id=require(Action.VIEW).organisation_id))
    view = build_observatory(
        db_session(),
        _organisation(who.organisation_id),
        territory_id=request.args.get("territoire", type=int),
        horizons=horizons_from(utcnow().year),
    )
    return render_template(
        "observatory/index.html", view=view, kinds=KIND_LABELS, chart=indicator_svg, shown=shown
    )


@bp.get("/export.xlsx")
def export() -> ResponseReturnValue:
    who = require(Action.EXPORT, TerritoryStatistic(organisation_id=require(Action.VIEW).organisation_id))
    view = build_observatory(
        db_session(),
        _organisation(who.organisation_id),
        territory_id=request.args.get("territoire", type=int),
        horizons=horizons_from(utcnow().year),
    )
    code = view.territory.code if view.territory else "aucun"
    return Response(
        observatory_workbook(view),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="observatoire-{code}.xlsx"'},
    )


def shown(value: float | None, masked: bool, decimals: int) -> str:
    """A figure as the page shows it: French number, « secret » or « non disponible »."""
    if masked:
        return "secret"
    return "non disponible" if value is None else format_number(value, decimals)


def indicator_svg(item: IndicatorView, territory: str, *, width: int = 440) -> Markup:
    """The indicator's latest value against the wider territories (bars), and its trend over the
    held vintages (a line, when there are two or more)."""
    i = item.indicator
    bars: list[tuple[str, float | None, bool]] = []
    if item.latest is not None:
        bars.append((f"{territory} ({item.latest.vintage})", item.latest.value, item.latest.masked))
    for c in item.comparisons:
        p = c.point
        bars.append(
            (
                f"{c.territory} ({p.vintage})" if p else c.territory,
                p.value if p else None,
                bool(p and p.masked),
            )
        )
    known = [v for _, v, m in bars if v is not None and not m]
    top = max([abs(v) for v in known] + [1e-9])
    label_w, right, bar_h, gap = 170.0, 80.0, 16.0, 6.0
    trend = [p for p in item.points if p.value is not None and not p.masked]
    line_h = 110.0 if len(trend) >= 2 else 0.0
    height = len(bars) * (bar_h + gap) + 8 + line_h
    title = f"{i.label} ({i.unit})"
    out = [
        f'<svg class="chart observatory-chart" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    plot_w = width - label_w - right
    for r, (label, value, masked) in enumerate(bars):
        y = 4 + r * (bar_h + gap)
        short = label if len(label) <= 26 else label[:25] + "…"
        out.append(
            f'<text x="{label_w - 6:.0f}" y="{y + bar_h - 4:.1f}" font-size="12" text-anchor="end" '
            f'fill="#1d2330">{escape(short)}</text>'
        )
        text = shown(value, masked, i.decimals)
        if value is not None and not masked:
            w = abs(value) / top * plot_w
            colour = "#1f4e8c" if r == 0 else "#8a94a6"
            out.append(
                f'<rect x="{label_w:.0f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h:.0f}" fill="{colour}"/>'
            )
            x_text = label_w + w + 4
        else:
            x_text = label_w + 4
        out.append(
            f'<text x="{x_text:.1f}" y="{y + bar_h - 4:.1f}" font-size="12" fill="#1d2330">{escape(text)}</text>'
        )
    if line_h:
        out.append(
            _trend_lines(trend, top=height - line_h + 8, width=width, height=line_h - 16, decimals=i.decimals)
        )
    out.append("</svg>")
    # every piece of text above went through escape(); the rest is numbers and fixed markup
    return Markup("".join(out))  # noqa: S704


def _trend_lines(points: Sequence[Point], *, top: float, width: int, height: float, decimals: int) -> str:
    values = [float(p.value or 0) for p in points]
    vintages = [p.vintage for p in points]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    left, right = 60.0, 60.0
    first, last = vintages[0], vintages[-1]

    def x(v: int) -> float:
        return left + (v - first) / max(1, last - first) * (width - left - right)

    def y(v: float) -> float:
        return top + height * (1 - (v - low) / (high - low))

    path = " ".join(
        f"{'M' if k == 0 else 'L'}{x(v):.1f},{y(val):.1f}"
        for k, (v, val) in enumerate(zip(vintages, values, strict=True))
    )
    out = [f'<path d="{path}" fill="none" stroke="#1f4e8c" stroke-width="2"/>']
    for v, val in zip(vintages, values, strict=True):
        out.append(f'<circle cx="{x(v):.1f}" cy="{y(val):.1f}" r="3" fill="#1f4e8c"/>')
        out.append(
            f'<text x="{x(v):.1f}" y="{y(val) - 6:.1f}" font-size="11" text-anchor="middle" fill="#1d2330">'
            f"{escape(format_number(val, decimals))}</text>"
            f'<text x="{x(v):.1f}" y="{top + height + 14:.1f}" font-size="11" text-anchor="middle" '
            f'fill="#4a5468">{v}</text>'
        )
    return "".join(out)
