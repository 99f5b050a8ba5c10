"""Survey statistics: Wilson and Student intervals, distributions, confidential breakdowns,
priority consultation scores and the weights they propose."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.surveys import (
    CONFIDENTIALITY_RULE,
    CONSULTATION_RULE,
    UNKNOWN_GROUP,
    breakdown,
    consultation_scores,
    distribution,
    mean_ci,
    proportion_ci,
    proposed_weights,
    t_quantile,
)

# z(95 %) = 1.959964, z² = 3.841459 throughout the hand computations below.


def approx(values: tuple[float, ...] | list[float], places: int = 4) -> list[float]:
    return [round(v, places) for v in values]


# --- proportion_ci ---------------------------------------------------------------------------


def test_wilson_hand_computed():
    # 8/10: z²/n = 0.384146, denominator 1.384146; centre = (0.8 + 0.192073) / 1.384146 = 0.716740
    # half = 1.959964 / 1.384146 x sqrt(0.016 + 0.009604) = 1.416010 x 0.160011 = 0.226578
    assert approx(proportion_ci(8, 10)) == [0.4902, 0.9433]
    # 5/10: centre 0.5 ; half = 1.416010 x sqrt(0.025 + 0.009604) = 0.263406
    assert approx(proportion_ci(5, 10)) == [0.2366, 0.7634]
    # 2/5: z²/n = 0.768292 ; centre = (0.4 + 0.384146) / 1.768292 = 0.443448
    # half = 1.959964 / 1.768292 x sqrt(0.048 + 0.038415) = 1.108393 x 0.293964 = 0.325828
    assert approx(proportion_ci(2, 5)) == [0.1176, 0.7693]


def test_wilson_at_the_edges():
    # 0/10: low is exactly 0, high = 2 x centre = 0.384146 / 1.384146 = 0.277533
    low, high = proportion_ci(0, 10)
    assert low == 0.0
    assert round(high, 4) == 0.2775
    low, high = proportion_ci(10, 10)
    assert high == 1.0
    assert round(low, 4) == 0.7225
    assert all(math.isnan(v) for v in proportion_ci(0, 0))


def test_wilson_at_99_percent_is_wider():
    # z(99 %) = 2.575829, z² = 6.634897 ; 8/10: denominator 1.663490, centre = 1.131745 / 1.663490
    # = 0.680344 ; half = 2.575829 / 1.663490 x sqrt(0.016 + 0.016587) = 1.548448 x 0.180519 = 0.279524
    assert approx(proportion_ci(8, 10, 0.99)) == [0.4008, 0.9599]


@pytest.mark.parametrize(("successes", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_refuses_inconsistent_counts(successes: int, n: int):
    with pytest.raises(ValueError, match="incohérents"):
        proportion_ci(successes, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_confidence_must_be_inside_zero_one(confidence: float):
    with pytest.raises(ValueError, match="confiance"):
        proportion_ci(1, 2, confidence)
    with pytest.raises(ValueError, match="confiance"):
        t_quantile(3, confidence)


@given(
    st.integers(min_value=1, max_value=100_000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.floats(min_value=0.5, max_value=0.999),
)
def test_wilson_contains_the_estimate_and_stays_in_zero_one(counts: tuple[int, int], confidence: float):
    successes, n = counts
    low, high = proportion_ci(successes, n, confidence)
    assert 0.0 <= low <= successes / n <= high <= 1.0


# --- t_quantile -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "confidence", "expected"),
    [
        (1, 0.95, 12.7062),
        (2, 0.95, 4.3027),
        (10, 0.95, 2.2281),
        (30, 0.95, 2.0423),
        (1000, 0.95, 1.9623),
        (5, 0.99, 4.0321),
        (4, 0.95, 2.7764),
        (3, 0.90, 2.3534),
    ],
)
def test_t_quantile_known_values(df: int, confidence: float, expected: float):
    assert round(t_quantile(df, confidence), 4) == expected


def test_t_quantile_tends_to_the_normal_one():
    # beyond 1e5 degrees of freedom the Cornish-Fisher expansion takes over; both sides agree
    assert t_quantile(99_999) == pytest.approx(t_quantile(100_001), abs=1e-8)
    assert t_quantile(10**9) == pytest.approx(1.959963985, abs=1e-8)


@pytest.mark.parametrize("df", [0, -3])
def test_t_quantile_needs_one_degree_of_freedom(df: int):
    with pytest.raises(ValueError, match="degrés de liberté"):
        t_quantile(df)


@given(st.floats(min_value=0.01, max_value=0.9999))
def test_t_quantile_matches_closed_forms(confidence: float):
    # df = 1 (Cauchy): P(|T| <= t) = 2/pi atan(t) -> t = tan(pi c / 2)
    assert t_quantile(1, confidence) == pytest.approx(math.tan(math.pi * confidence / 2), rel=1e-8)
    # df = 2: P(|T| <= t) = t / sqrt(2 + t²) -> t = c sqrt(2 / (1 - c²))
    assert t_quantile(2, confidence) == pytest.approx(
        confidence * math.sqrt(2 / (1 - confidence**2)), rel=1e-8
    )


@given(st.integers(min_value=1, max_value=5_000))
def test_t_quantile_decreases_towards_z(df: int):
    assert t_quantile(df) > t_quantile(df + 1) > 1.959963984


# --- mean_ci ----------------------------------------------------------------------------------


def test_mean_ci_hand_computed():
    # 1..5: mean 3, s = sqrt(10 / 4) = 1.581139, t_4 = 2.776445 ; half = 2.776445 x 1.581139 / 2.236068
    # = 1.963243
    mean, low, high = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (mean, round(low, 4), round(high, 4)) == (3.0, 1.0368, 4.9632)


def test_mean_ci_ignores_nan_and_handles_small_samples():
    # 2, 4, NaN: mean 3, s = sqrt(2), t_1 = 12.706205 ; half = 12.706205 x 1.414214 / 1.414214
    mean, low, high = mean_ci(pd.Series([2.0, 4.0, np.nan]))
    assert (mean, round(low, 4), round(high, 4)) == (3.0, -9.7062, 15.7062)
    one = mean_ci(np.array([7.5, np.nan]))
    assert one[0] == 7.5
    assert math.isnan(one[1])
    assert math.isnan(one[2])
    assert all(math.isnan(v) for v in mean_ci([]))
    assert all(math.isnan(v) for v in mean_ci([np.nan, np.nan]))
    assert mean_ci([0.25, 0.25, 0.25]) == (0.25, 0.25, 0.25)


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=50))
def test_mean_ci_is_centred_on_the_mean(values: list[float]):
    mean, low, high = mean_ci(values)
    assert low <= mean <= high
    assert mean - low == pytest.approx(high - mean, rel=1e-9, abs=1e-6)


# --- distribution -----------------------------------------------------------------------------


def test_distribution_of_a_multiple_choice_question():
    answers = pd.DataFrame(
        {
            "response": ["r1", "r1", "r2", "r3", "r4", "r4", "r5", None],
            "option": ["A", "B", "A", "C", "B", "B", None, "A"],
        }
    )
    # 5 respondents (r3 chose an option not shown, r5 ticked nothing; the row without a respondent
    # is left out). A: r1, r2 -> 2 ; B: r1, r4 (twice) -> 2 ; D: nobody.
    table = distribution(answers, ["B", "A", "D"])
    assert list(table.index) == ["B", "A", "D"]
    assert table.index.name == "option"
    assert table["count"].tolist() == [2, 2, 0]
    assert table["count"].dtype == np.int64
    assert table["share"].tolist() == [0.4, 0.4, 0.0]
    # Wilson 2/5: (0.1176, 0.7693) ; 0/5: (0, 0.768292 / 1.768292 = 0.4345)
    assert approx(table["low"].tolist()) == [0.1176, 0.1176, 0.0]
    assert approx(table["high"].tolist()) == [0.7693, 0.7693, 0.4345]


def test_distribution_without_answers():
    table = distribution(pd.DataFrame({"response": [], "option": []}), ["A", "B"])
    assert table["count"].tolist() == [0, 0]
    assert table[["share", "low", "high"]].isna().all().all()


def test_distribution_refuses_duplicated_options_and_missing_columns():
    answers = pd.DataFrame({"response": ["r1"], "option": ["A"]})
    with pytest.raises(ValueError, match="en double"):
        distribution(answers, ["A", "A"])
    with pytest.raises(ValueError, match="option"):
        distribution(pd.DataFrame({"response": ["r1"]}), ["A"])


# --- breakdown --------------------------------------------------------------------------------


def _frame(groups: dict[object, tuple[int, int]]) -> pd.DataFrame:
    """Group -> (respondents, positives) as a frame of one row per respondent."""
    rows = []
    for group, (n, yes) in groups.items():
        rows += [(group, i < yes) for i in range(n)]
    return pd.DataFrame(rows, columns=["group", "positive"])


def test_breakdown_masks_small_groups_and_the_next_smallest():
    frame = _frame({"A": (10, 7), "B": (3, 1), "C": (6, 2), None: (6, 4)})
    frame.loc[len(frame)] = [np.nan, False]  # NaN is unknown too: 7 unknown, 4 positive
    table = breakdown(frame, threshold=5)
    assert list(table.index) == ["A", "B", "C", UNKNOWN_GROUP]
    assert table.index.name == "group"
    assert table["n"].tolist() == [10, 3, 6, 7]
    # B (3 < 5) is masked; alone, it would be recovered from the total: C, the smallest other, too
    assert table["masked"].tolist() == [False, True, True, False]
    assert table.loc[["B", "C"], ["positive", "rate", "low", "high"]].isna().all().all()
    assert table.loc["A", "positive"] == 7
    assert table.loc["A", "rate"] == 0.7
    # Wilson 7/10: centre = 0.892073 / 1.384146 = 0.644493 ; half = 1.416010 x sqrt(0.021 + 0.009604)
    # = 0.247716
    assert approx([table.loc["A", "low"], table.loc["A", "high"]]) == [0.3968, 0.8922]
    # Wilson 4/7: z²/n = 0.548780 ; centre = (0.571429 + 0.274390) / 1.548780 = 0.546119 ;
    # half = 1.959964 / 1.548780 x sqrt(0.034985 + 0.019599) = 1.265489 x 0.233632 = 0.295659
    assert table.loc[UNKNOWN_GROUP, "positive"] == 4
    assert approx([table.loc[UNKNOWN_GROUP, "low"], table.loc[UNKNOWN_GROUP, "high"]]) == [0.2505, 0.8418]


def test_secondary_masking_breaks_ties_by_label_and_only_for_a_single_masked_group():
    ties = breakdown(_frame({"C": (6, 1), "B": (2, 1), "A": (6, 3)}), threshold=5)
    assert ties["masked"].tolist() == [True, True, False]  # A and C tie at 6: A comes first
    two = breakdown(_frame({"A": (2, 1), "B": (3, 1), "C": (6, 3)}), threshold=5)
    assert two["masked"].tolist() == [True, True, False]  # two masked groups protect each other
    alone = breakdown(_frame({"A": (2, 1)}), threshold=5)
    assert alone["masked"].tolist() == [True]
    assert alone["n"].tolist() == [2]
    none = breakdown(_frame({"A": (2, 1), "B": (3, 0)}), threshold=1)
    assert none["masked"].tolist() == [False, False]
    assert none["rate"].tolist() == [0.5, 0.0]


def test_breakdown_validates_its_input():
    with pytest.raises(ValueError, match="seuil"):
        breakdown(_frame({"A": (2, 1)}), threshold=0)
    with pytest.raises(ValueError, match="positive"):
        breakdown(pd.DataFrame({"group": ["A"], "positive": [None]}), threshold=5)
    empty = breakdown(pd.DataFrame({"group": [], "positive": []}), threshold=5)
    assert empty.empty
    assert list(empty.columns) == ["n", "positive", "rate", "low", "high", "masked"]


def test_confidentiality_rule_names_the_threshold():
    text = CONFIDENTIALITY_RULE.format(threshold=11)
    assert "11" in text
    assert "répondants" in text


@settings(max_examples=60)
@given(
    st.dictionaries(
        st.sampled_from(["A", "B", "C", "D", "E"]),
        st.integers(min_value=1, max_value=30).flatmap(
            lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=n))
        ),
        min_size=1,
    ),
    st.integers(min_value=1, max_value=15),
)
def test_no_single_group_can_be_recovered(groups: dict[object, tuple[int, int]], threshold: int):
    table = breakdown(_frame(groups), threshold=threshold)
    assert table["n"].sum() == sum(n for n, _ in groups.values())
    shown = table.loc[~table["masked"]]
    assert (shown["n"] >= threshold).all()
    assert table["masked"].sum() != 1 or len(table) == 1
    assert table.loc[table["masked"], "rate"].isna().all()
    assert shown["rate"].notna().all()


# --- consultation_scores ----------------------------------------------------------------------


def _allocations(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["response", "need", "points"])


def test_consultation_one_person_one_voice():
    allocations = _allocations(
        [
            ("r1", "x", 6.0),
            ("r1", "y", 4.0),  # r1 shares: 0.6, 0.4, 0
            ("r2", "x", 1.0),
            ("r2", "z", 1.0),  # r2 used only 2 points and weighs as much: 0.5, 0, 0.5
            ("r3", "x", 0.0),
            ("r3", "y", 0.0),  # r3 gave nothing: left out
            ("r4", "w", 5.0),  # only an unlisted need: left out
            ("r5", "y", 3.0),
            ("r5", "y", 1.0),  # rows of one need add up: 0, 1, 0
        ]
    )
    table = consultation_scores(allocations, ["x", "y", "z"])
    assert list(table.index) == ["x", "y", "z"]
    assert table.index.name == "need"
    assert table["respondents"].tolist() == [3, 3, 3]
    # x: (0.6 + 0.5 + 0) / 3 ; y: (0.4 + 0 + 1) / 3 ; z: 0.5 / 3
    assert approx(table["score"].tolist()) == [0.3667, 0.4667, 0.1667]
    assert table["score"].sum() == pytest.approx(1.0)
    # x: deviations 0.2333, 0.1333, -0.3667 ; s² = 0.206667 / 2 ; s = 0.321455 ;
    # half = t_2 x s / sqrt(3) = 4.302653 x 0.185592 = 0.798538
    assert approx([table.loc["x", "low"], table.loc["x", "high"]]) == [-0.4319, 1.1652]


def test_consultation_without_respondents():
    table = consultation_scores(_allocations([("r1", "x", 0.0)]), ["x", "y"])
    assert table["respondents"].tolist() == [0, 0]
    assert table[["score", "low", "high"]].isna().all().all()
    single = consultation_scores(_allocations([("r1", "x", 3.0), ("r1", "y", 1.0)]), ["x", "y"])
    assert single["score"].tolist() == [0.75, 0.25]
    assert single[["low", "high"]].isna().all().all()


@pytest.mark.parametrize(
    ("points", "problem"),
    [(-1.0, "points négatifs"), (math.nan, "points manquants"), (math.inf, "points infinis")],
)
def test_consultation_refuses_bad_points(points: float, problem: str):
    allocations = _allocations([("r1", "x", 2.0), ("r2", "y", points)])
    with pytest.raises(ValueError, match=problem) as error:
        consultation_scores(allocations, ["x", "y"])
    assert "r2" in str(error.value)


def test_consultation_rule_is_french_prose():
    assert "élus" in CONSULTATION_RULE
    assert "une voix" in CONSULTATION_RULE
    assert 2 <= CONSULTATION_RULE.count(". ") + 1 <= 4


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["r1", "r2", "r3", "r4"]),
            st.sampled_from(["x", "y", "z", "other"]),
            st.floats(min_value=0, max_value=100),
        ),
        max_size=20,
    )
)
def test_consultation_scores_add_up_to_one(rows: list[tuple[str, str, float]]):
    table = consultation_scores(_allocations(rows), ["x", "y", "z"])
    if table["respondents"].iloc[0] > 0:
        assert table["score"].sum() == pytest.approx(1.0)
        assert ((table["score"] >= 0) & (table["score"] <= 1)).all()
    else:
        assert table["score"].isna().all()


# --- proposed_weights -------------------------------------------------------------------------


def test_proposed_weights_keep_the_elected_mean():
    scores = pd.Series({"x": 0.5, "y": 0.3, "z": 0.2, "q": 0.0, "extra": 0.9})
    elected = pd.Series({"x": 2.0, "y": 4.0, "z": 3.0, "q": 1.0, "m": 5.0}, name="weight")
    # over x, y, z, q: mean score 1.0 / 4 = 0.25, mean elected weight 10 / 4 = 2.5
    # x: 0.5 / 0.25 x 2.5 = 5 ; y: 3 ; z: 2 ; q: 0 ; m: not scored -> NaN ; "extra" is ignored
    weights = proposed_weights(scores, elected)
    assert list(weights.index) == ["x", "y", "z", "q", "m"]
    assert weights.name == "weight"
    assert weights.iloc[:4].tolist() == pytest.approx([5.0, 3.0, 2.0, 0.0])
    assert math.isnan(weights["m"])
    assert weights.iloc[:4].mean() == pytest.approx(elected.iloc[:4].mean())


def test_proposed_weights_without_any_positive_score():
    elected = pd.Series({"x": 2.0, "y": 4.0})
    assert proposed_weights(pd.Series({"x": 0.0, "y": np.nan}), elected).isna().all()
    assert proposed_weights(pd.Series(dtype=float), elected).isna().all()


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=1), st.floats(min_value=0.1, max_value=10)),
        min_size=1,
        max_size=12,
    )
)
def test_proposed_weights_have_the_elected_mean(pairs: list[tuple[float, float]]):
    index = [f"n{i}" for i in range(len(pairs))]
    scores = pd.Series([s for s, _ in pairs], index=index)
    elected = pd.Series([w for _, w in pairs], index=index)
    weights = proposed_weights(scores, elected)
    if scores.sum() > 0:
        assert weights.mean() == pytest.approx(elected.mean())
        assert (weights[scores == 0] == 0).all()
    else:
        assert weights.isna().all()


def test_masked_groups_together_hold_at_least_the_threshold():
    """A (1 yes) and B (1 yes) are both under 5; C shows 20: total minus C would reveal that A and
    B both said yes, so C is masked too."""
    frame = pd.DataFrame(
        {"group": ["A", "B"] + ["C"] * 20 + ["D"] * 30, "positive": [True, True] + [False] * 20 + [True] * 30}
    )
    table = breakdown(frame, threshold=5)
    assert table["masked"].to_dict() == {"A": True, "B": True, "C": True, "D": False}


@given(
    st.lists(st.tuples(st.sampled_from("ABCDEFG"), st.booleans()), min_size=1, max_size=80),
    st.integers(1, 12),
)
def test_what_is_masked_can_never_be_recovered_from_the_total(rows, threshold):
    frame = pd.DataFrame(rows, columns=["group", "positive"])
    table = breakdown(frame, threshold=threshold)
    hidden = table[table["masked"]]
    if len(hidden):
        # never a single masked group, and the masked ones hold at least the threshold together,
        # unless every group is masked (then nothing is shown but counts)
        assert len(hidden) >= 2 or len(hidden) == len(table)
        assert hidden["n"].sum() >= threshold or len(hidden) == len(table)
