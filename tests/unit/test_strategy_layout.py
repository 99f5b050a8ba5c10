"""The strategy map's geometry: bands, rows by cascade depth, edges between facing sides."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.strategy_layout import (
    BOX_H,
    BOX_W,
    GAP_X,
    GAP_Y,
    MARGIN,
    MapObjective,
    MapPerspective,
    layout_strategy_map,
    score_trend,
    wrap,
)

FOUR = [
    MapPerspective("users", "Usagers et citoyens"),
    MapPerspective("finance", "Finances"),
    MapPerspective("processes", "Processus internes"),
    MapPerspective("learning", "Apprentissage et organisation"),
]


def objective(id_: int, perspective: str, parent: int | None = None, code: str | None = None) -> MapObjective:
    return MapObjective(
        id=id_, code=code or f"O{id_}", title=f"Objectif {id_}", perspective=perspective, parent_id=parent
    )


def numbers(d: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", d)]


def test_trend_of_a_score_against_the_previous_period():
    assert score_trend(0.8, 0.7) == "improving"
    assert score_trend(0.5, 0.75) == "worsening"
    assert score_trend(0.802, 0.8) == "stable"  # within half a point
    assert score_trend(0.806, 0.8) == "improving"
    assert score_trend(None, 0.8) is None
    assert score_trend(0.8, None) is None
    assert score_trend(float("nan"), 0.8) is None


def test_wrap_keeps_words_and_marks_what_is_cut():
    assert wrap("Étendre le portage de repas", 12) == ("Étendre le", "portage de", "repas")
    assert wrap("Étendre le portage de repas", 12, 2) == ("Étendre le", "portage de…")
    assert wrap("anticonstitutionnellement", 10) == ("anticonst-", "itutionne-", "llement")
    assert wrap("", 10) == ()


def test_bands_in_order_rows_by_depth_and_the_cascade_across_bands():
    objectives = [
        objective(1, "users", code="OS1"),
        objective(2, "users", 1, code="OO1.2"),
        objective(3, "users", 1, code="OO1.1"),
        objective(4, "finance", 1, code="OO3.1"),  # a child of a users objective, in the finance band
        objective(5, "learning", code="OS5"),
    ]
    layout = layout_strategy_map(FOUR, objectives, [(5, 3)], mission="Une mission", width=1180)
    assert [b.perspective.key for b in layout.bands] == ["users", "finance", "processes", "learning"]
    users, finance, processes, learning = layout.bands
    assert users.y == MARGIN + layout.mission_height + 12
    assert finance.y == users.y + users.height + 10
    assert [b.objective.code for b in users.boxes] == ["OS1", "OO1.1", "OO1.2"]  # children by code
    boxes = layout.boxes
    # depth 1 sits one row below the root; both rows centred on the drawing
    assert boxes[3].y == boxes[1].y + BOX_H + GAP_Y == boxes[2].y
    assert boxes[1].x == (1180 - BOX_W) / 2
    assert boxes[3].x == (1180 - (2 * BOX_W + GAP_X)) / 2 and boxes[2].x == boxes[3].x + BOX_W + GAP_X
    # a parent in another band does not push its child down: it is the root of its own band
    assert boxes[4].y == finance.y + 30 + 16
    assert processes.boxes == () and processes.height == 60
    assert users.height == 30 + 2 * 16 + 2 * BOX_H + GAP_Y
    edges = {(e.kind, e.source_id, e.target_id): e for e in layout.edges}
    assert set(edges) == {("cascade", 1, 2), ("cascade", 1, 3), ("cascade", 1, 4), ("contribution", 5, 3)}
    # the root's bottom side carries three edges, spread by where their other end is
    starts = {t: numbers(edges[("cascade", 1, t)].d)[:2] for t in (2, 3, 4)}
    bottom = boxes[1].y + BOX_H
    assert all(y == bottom for _, y in starts.values())
    xs = sorted(x for x, _ in starts.values())
    assert xs == [round(boxes[1].x + BOX_W * k / 4, 1) for k in (1, 2, 3)]
    # the contribution goes up: from the top of OS5 to the bottom of OO1.1
    x0, y0, *_, x1, y1 = numbers(edges[("contribution", 5, 3)].d)
    assert y0 == boxes[5].y and y1 == boxes[3].y + BOX_H
    assert boxes[5].x < x0 < boxes[5].x + BOX_W and boxes[3].x < x1 < boxes[3].x + BOX_W
    assert layout.height == learning.y + learning.height + MARGIN


def test_a_full_row_wraps_and_the_drawing_width_sets_the_columns():
    objectives = [objective(i, "users", code=f"OS{i}") for i in range(1, 6)]
    layout = layout_strategy_map(FOUR[:1], objectives, width=2 * BOX_W + GAP_X + 2 * MARGIN)
    rows = sorted({box.y for box in layout.boxes.values()})
    assert len(rows) == 3  # 2 + 2 + 1
    assert [layout.boxes[i].y for i in range(1, 6)] == [rows[0], rows[0], rows[1], rows[1], rows[2]]
    narrow = layout_strategy_map(FOUR[:1], objectives, width=100)
    assert len({box.y for box in narrow.boxes.values()}) == 5  # never fewer than one box per row


def test_unknown_perspectives_and_links_are_left_out_and_a_link_is_drawn_once():
    objectives = [objective(1, "users"), objective(2, "finance"), objective(3, "elsewhere")]
    layout = layout_strategy_map(FOUR, objectives, [(2, 1), (2, 1), (3, 1), (2, 99), (1, 1)], mission=None)
    assert set(layout.boxes) == {1, 2}
    assert [(e.kind, e.source_id, e.target_id) for e in layout.edges] == [("contribution", 2, 1)]
    assert layout.mission_lines == ("Mission non renseignée.",)


def test_side_by_side_boxes_are_joined_side_to_side():
    objectives = [objective(1, "users"), objective(2, "users")]
    layout = layout_strategy_map(FOUR[:1], objectives, [(2, 1)])
    (edge,) = layout.edges
    x0, y0, *_, x1, y1 = numbers(edge.d)
    left, right = layout.boxes[1], layout.boxes[2]
    assert (x0, y0) == (right.x, right.y + BOX_H / 2)
    assert (x1, y1) == (left.x + BOX_W, left.y + BOX_H / 2)


trees = st.lists(
    st.tuples(st.sampled_from(["users", "finance", "processes", "learning"]), st.integers(0, 40)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(trees, st.integers(300, 1600))
def test_boxes_never_overlap_and_stay_in_their_band(spec, width):
    objectives = [
        objective(i + 1, perspective, parent if 0 < parent <= i else None)
        for i, (perspective, parent) in enumerate(spec)
    ]
    layout = layout_strategy_map(FOUR, objectives, [(1, len(objectives))], width=width)
    boxes = list(layout.boxes.values())
    assert len(boxes) == len(objectives)
    for band in layout.bands:
        for box in band.boxes:
            assert box.objective.perspective == band.perspective.key
            assert band.y < box.y and box.y + box.height < band.y + band.height
            assert box.x >= MARGIN and box.x + box.width <= width - MARGIN
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert (
                a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y
            )
    for edge in layout.edges:
        x0, y0, *_, x1, y1 = numbers(edge.d)
        for (x, y), box in (
            ((x0, y0), layout.boxes[edge.source_id]),
            ((x1, y1), layout.boxes[edge.target_id]),
        ):
            on_x = box.x - 0.1 <= x <= box.x + box.width + 0.1
            on_y = box.y - 0.1 <= y <= box.y + box.height + 0.1
            assert on_x and on_y
            assert (
                min(abs(x - box.x), abs(x - box.x - box.width), abs(y - box.y), abs(y - box.y - box.height))
                < 0.1
            )
