from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorecard.targets import trajectory


def test_shapes_by_hand():
    assert trajectory(100, 130, 4) == [100, 110, 120, 130]
    assert trajectory(100, 400, 3, "geometric") == pytest.approx([100, 200, 400])
    assert trajectory(100, 130, 3, "constant") == [130, 130, 130]
    assert trajectory(5, 9, 1) == [9]


def test_bad_trajectories_are_refused_in_french():
    with pytest.raises(ValueError, match="au moins une période"):
        trajectory(1, 2, 0)
    with pytest.raises(ValueError, match="positives"):
        trajectory(0, 2, 3, "geometric")


@given(st.floats(1, 1e6), st.floats(1, 1e6), st.integers(2, 60), st.sampled_from(["linear", "geometric"]))
def test_ends_are_exact_and_the_path_is_monotonic(start, end, n, shape):
    values = trajectory(start, end, n, shape)
    assert values[0] == pytest.approx(start) and values[-1] == pytest.approx(end)
    pairs = list(pairwise(values))
    assert all(b >= a - 1e-9 for a, b in pairs) or all(b <= a + 1e-9 for a, b in pairs)
