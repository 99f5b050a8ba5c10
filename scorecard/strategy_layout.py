"""The strategy map's geometry: the mission on top, one band per perspective, a box per
objective, and the paths of the cascade and of the "contributes to" links.

Pure: objectives come in as :class:`MapObjective` (statuses and scores already computed by the
scorecard), coordinates come out in SVG user units. Nothing is drawn here; the page writes the
SVG from the :class:`Layout`.

Rules
-----
Bands
    One per perspective, in the order given (usagers, finances, processus, apprentissage: the
    public-sector map reads from the learning at the bottom up to the users at the top). A band
    has a header strip and its objectives below it; an empty band keeps a short strip.
Rows
    Inside a band, objectives are placed by depth in the band's own cascade: an objective whose
    parent sits in another band (or that has none) is at depth 0. Each depth starts a new row
    (wrapping after ``columns`` boxes); a row is ordered by the position of the parents in the
    row above, then by code, and centred.
Edges
    Cascade (parent -> child) and contribution (source -> target) edges join the facing sides of
    the two boxes (bottom of the upper one to the top of the lower one; side to side when they
    are on one row) with a cubic curve. The attachment points of a side are spread evenly along
    it, ordered by the horizontal position of the other end, so edges do not share a point.
Trend
    :func:`score_trend` compares an objective's score with the previous period's: a change of
    more than ``STABLE_WITHIN`` (half a point of score) either way, else stable; unknown when
    either score is unknown.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

#: Two scores (0-1) closer than this are "stable".
STABLE_WITHIN = 0.005

MARGIN = 16.0
BOX_W, BOX_H = 210.0, 104.0
GAP_X, GAP_Y = 20.0, 40.0
BAND_HEADER = 30.0
BAND_PAD = 16.0
EMPTY_BAND = 60.0
MISSION_LINE = 19.0
#: Characters per line of a box's title (12 px text in a 210-unit box), and lines kept.
TITLE_CHARS, TITLE_LINES = 28, 2
#: Characters per line of the mission (14 px text).
MISSION_CHARS_PER_UNIT = 1 / 7.4

Trend = Literal["improving", "worsening", "stable"]


@dataclass(frozen=True)
class MapObjective:
    """An objective as the map shows it (status, score and trend come from the scorecard)."""

    id: int
    code: str
    title: str
    perspective: str
    parent_id: int | None = None
    status: str = "missing"
    status_label: str = ""
    score: float | None = None
    trend: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class MapPerspective:
    key: str
    label: str
    status: str = "missing"
    status_label: str = ""
    score: float | None = None


@dataclass(frozen=True)
class Box:
    objective: MapObjective
    x: float
    y: float
    width: float
    height: float
    title_lines: tuple[str, ...]

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Band:
    perspective: MapPerspective
    y: float
    height: float
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Edge:
    kind: Literal["cascade", "contribution"]
    source_id: int
    target_id: int
    #: The SVG path (``M x,y C …``), from the source's side to the target's.
    d: str


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    mission_lines: tuple[str, ...]
    mission_height: float
    bands: tuple[Band, ...]
    edges: tuple[Edge, ...]
    boxes: dict[int, Box] = field(default_factory=dict)


def score_trend(now: float | None, before: float | None, *, within: float = STABLE_WITHIN) -> Trend | None:
    """``improving`` / ``worsening`` / ``stable`` from two scores (0-1); None if either is unknown."""
    if now is None or before is None or math.isnan(now) or math.isnan(before):
        return None
    if now - before > within:
        return "improving"
    if before - now > within:
        return "worsening"
    return "stable"


def wrap(text: str, width: int, lines: int | None = None) -> tuple[str, ...]:
    """Words on lines of at most ``width`` characters (a longer word is cut); with ``lines``,
    the last kept line ends with « … » when text is left over."""
    out: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                out.append(current)
                current = ""
            out.append(word[: width - 1] + "-")
            word = word[width - 1 :]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current = f"{current} {word}"
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    if lines is not None and len(out) > lines:
        last = out[lines - 1]
        out = [*out[: lines - 1], (last if len(last) < width else last[: width - 1].rstrip()) + "…"]
    return tuple(out)


def layout_strategy_map(
    perspectives: Sequence[MapPerspective],
    objectives: Sequence[MapObjective],
    links: Sequence[tuple[int, int]] = (),
    *,
    mission: str | None = None,
    width: float = 1180.0,
) -> Layout:
    """Place the mission, the bands and the boxes, and route the edges.

    ``objectives`` of a perspective not in ``perspectives`` are left out, and so are the edges
    that reach them; ``links`` are (source id, target id) pairs. ``width`` is the drawing's
    width; the number of boxes per row follows from it (at least one).
    """
    columns = max(1, int((width - 2 * MARGIN + GAP_X) // (BOX_W + GAP_X)))
    mission_lines = wrap(
        mission or "Mission non renseignée.", max(20, int((width - 2 * MARGIN - 24) * MISSION_CHARS_PER_UNIT))
    )
    mission_height = 34 + MISSION_LINE * len(mission_lines) + 10
    by_perspective: dict[str, list[MapObjective]] = defaultdict(list)
    keys = {p.key for p in perspectives}
    for objective in objectives:
        if objective.perspective in keys:
            by_perspective[objective.perspective].append(objective)

    y = MARGIN + mission_height + 12
    bands: list[Band] = []
    boxes: dict[int, Box] = {}
    for perspective in perspectives:
        rows = _rows(by_perspective.get(perspective.key, []), columns)
        top = y + BAND_HEADER + BAND_PAD
        band_boxes: list[Box] = []
        for r, row in enumerate(rows):
            row_w = len(row) * BOX_W + (len(row) - 1) * GAP_X
            left = (width - row_w) / 2
            for c, objective in enumerate(row):
                box = Box(
                    objective=objective,
                    x=round(left + c * (BOX_W + GAP_X), 1),
                    y=round(top + r * (BOX_H + GAP_Y), 1),
                    width=BOX_W,
                    height=BOX_H,
                    title_lines=wrap(objective.title, TITLE_CHARS, TITLE_LINES),
                )
                band_boxes.append(box)
                boxes[objective.id] = box
        height = (
            BAND_HEADER + 2 * BAND_PAD + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y if rows else EMPTY_BAND
        )
        bands.append(Band(perspective=perspective, y=y, height=height, boxes=tuple(band_boxes)))
        y += height + 10

    pairs: list[tuple[Literal["cascade", "contribution"], int, int]] = [
        ("cascade", o.parent_id, o.id)
        for o in objectives
        if o.parent_id is not None and o.parent_id in boxes and o.id in boxes
    ]
    seen: set[tuple[int, int]] = set()
    for source, target in links:
        if source in boxes and target in boxes and source != target and (source, target) not in seen:
            seen.add((source, target))
            pairs.append(("contribution", source, target))
    return Layout(
        width=width,
        height=round(y - 10 + MARGIN, 1),
        mission_lines=mission_lines,
        mission_height=mission_height,
        bands=tuple(bands),
        edges=_route(pairs, boxes),
        boxes=boxes,
    )


def _rows(objectives: list[MapObjective], columns: int) -> list[list[MapObjective]]:
    """The band's rows: one or more per depth of the band's own cascade."""
    ids = {o.id for o in objectives}
    parent = {o.id: o.parent_id for o in objectives}

    def depth(objective_id: int) -> int:
        d, seen, current = 0, {objective_id}, parent[objective_id]
        while current in ids and current not in seen:  # a parent in another band starts a root
            seen.add(current)
            d += 1
            current = parent[current]
        return d

    levels: dict[int, list[MapObjective]] = defaultdict(list)
    for objective in objectives:
        levels[depth(objective.id)].append(objective)
    rows: list[list[MapObjective]] = []
    position: dict[int, int] = {}
    for level in sorted(levels):
        ordered = sorted(
            levels[level],
            key=lambda o: (position.get(o.parent_id, -1) if o.parent_id is not None else -1, o.code, o.id),
        )
        for i, objective in enumerate(ordered):
            position[objective.id] = i
        rows.extend(ordered[i : i + columns] for i in range(0, len(ordered), columns))
    return rows


Side = Literal["top", "bottom", "left", "right"]


def _sides(a: Box, b: Box) -> tuple[Side, Side]:
    if b.y >= a.y + a.height:
        return "bottom", "top"
    if a.y >= b.y + b.height:
        return "top", "bottom"
    return ("right", "left") if b.x >= a.x else ("left", "right")


def _route(
    pairs: list[tuple[Literal["cascade", "contribution"], int, int]], boxes: dict[int, Box]
) -> tuple[Edge, ...]:
    # attachments per (box, side): the edges that use it, ordered by where their other end is
    slots: dict[tuple[int, Side], list[tuple[float, int, int]]] = defaultdict(list)
    sides: list[tuple[Side, Side]] = []
    for n, (_, source, target) in enumerate(pairs):
        s_side, t_side = _sides(boxes[source], boxes[target])
        sides.append((s_side, t_side))
        t_box, s_box = boxes[target], boxes[source]
        slots[(source, s_side)].append((_along(t_box, s_side), n, 0))
        slots[(target, t_side)].append((_along(s_box, t_side), n, 1))
    points: dict[tuple[int, int], tuple[float, float]] = {}
    for (box_id, side), items in slots.items():
        box = boxes[box_id]
        items.sort()
        for k, (_, n, end) in enumerate(items):
            share = (k + 1) / (len(items) + 1)
            if side in ("top", "bottom"):
                point = (box.x + box.width * share, box.y if side == "top" else box.y + box.height)
            else:
                point = (box.x if side == "left" else box.x + box.width, box.y + box.height * share)
            points[(n, end)] = point
    edges = []
    for n, (kind, source, target) in enumerate(pairs):
        (x0, y0), (x1, y1) = points[(n, 0)], points[(n, 1)]
        s_side, _ = sides[n]
        if s_side in ("top", "bottom"):
            mid = (y0 + y1) / 2
            d = f"M{x0:.1f},{y0:.1f} C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}"
        else:
            mid = (x0 + x1) / 2
            d = f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        edges.append(Edge(kind=kind, source_id=source, target_id=target, d=d))
    return tuple(edges)


def _along(other: Box, side: Side) -> float:
    """Where the other end lies along a side: its x for top/bottom, its y for left/right."""
    return other.centre_x if side in ("top", "bottom") else other.y + other.height / 2
