"""Full-data frontier: interpolation at equal compute and inverse interpolation at equal accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from dataselect_env.frontier import (
    Frontier,
    accuracy_at,
    compute_for,
    delta_vs_frontier,
    effective_speedup,
)


@pytest.fixture
def frontier() -> Frontier:
    """The worked example: full data reaches 60% at compute 2, 70% at 4, 80% at 10."""
    return Frontier.from_pairs([(2, 60), (4, 70), (10, 80)])


def test_worked_example(frontier):
    # A run at compute 3 reaching 70%: full data reaches 65% at compute 3 and needs 4 for 70%.
    assert accuracy_at(frontier, 3) == pytest.approx(65.0)
    assert delta_vs_frontier(frontier, 3, 70) == pytest.approx(5.0)
    assert compute_for(frontier, 70) == pytest.approx(4.0)
    assert effective_speedup(frontier, 3, 70) == pytest.approx(4 / 3)


def test_row_on_a_frontier_point_has_delta_zero_and_speedup_one(frontier):
    for c, a in [(2, 60), (4, 70), (10, 80)]:
        assert accuracy_at(frontier, c) == a
        assert delta_vs_frontier(frontier, c, a) == 0.0
        assert effective_speedup(frontier, c, a) == pytest.approx(1.0)
    # measured compute equal to a grid point up to float noise still hits the point exactly
    assert accuracy_at(frontier, 4 * (1 + 1e-12)) == 70.0


def test_between_points_is_linear(frontier):
    assert accuracy_at(frontier, 7) == pytest.approx(70 + 3 / 6 * 10)
    assert accuracy_at(frontier, 2.5) == pytest.approx(62.5)
    assert compute_for(frontier, 75) == pytest.approx(7.0)
    assert compute_for(frontier, 65) == pytest.approx(3.0)


def test_outside_the_grid_is_none(frontier):
    assert accuracy_at(frontier, 1.9) is None
    assert accuracy_at(frontier, 10.1) is None
    assert delta_vs_frontier(frontier, 1.0, 90.0) is None
    assert delta_vs_frontier(frontier, 12.0, 50.0) is None


def test_accuracy_above_the_best_or_below_the_first_point_is_none(frontier):
    assert compute_for(frontier, 80.5) is None  # beats full data at every compute of the grid
    assert effective_speedup(frontier, 5, 81) is None
    assert compute_for(frontier, 59) is None  # cheaper than the grid's smallest run
    assert effective_speedup(frontier, 5, 55) is None
    assert compute_for(frontier, 80) == pytest.approx(10.0)
    assert compute_for(frontier, 60) == pytest.approx(2.0)


def test_inverse_interpolation_uses_the_monotone_envelope():
    # Noise: the 5-epoch run did worse than the 4-epoch one.
    f = Frontier.from_pairs([(2, 60), (4, 72), (5, 68), (10, 80)])
    np.testing.assert_array_equal(f.envelope(), [60, 72, 72, 80])
    # 70% is first reached on the rising segment 2 -> 4, never on the dip.
    assert compute_for(f, 70) == pytest.approx(2 + 10 / 12 * 2)
    # 72% is reached at compute 4 already (the plateau does not move it to 5).
    assert compute_for(f, 72) == pytest.approx(4.0)
    # Above the plateau the envelope rises from (5, 72) to (10, 80).
    assert compute_for(f, 76) == pytest.approx(7.5)
    # accuracy_at still reads the measured curve, dip included.
    assert accuracy_at(f, 5) == 68.0


def test_points_are_sorted_and_duplicate_computes_averaged():
    f = Frontier.from_points([10, 2, 4, 2], [80, 58, 70, 62])
    np.testing.assert_array_equal(f.compute, [2, 4, 10])
    np.testing.assert_array_equal(f.accuracy, [60, 70, 80])
    with pytest.raises(ValueError):
        Frontier(np.array([2.0, 2.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        Frontier.from_points([1, 2], [1.0, float("nan")])


def test_single_point_frontier():
    f = Frontier.from_pairs([(5, 70)])
    assert accuracy_at(f, 5) == 70
    assert accuracy_at(f, 4) is None
    assert compute_for(f, 70) == 5
    assert compute_for(f, 71) is None


def test_speedup_needs_positive_compute(frontier):
    with pytest.raises(ValueError):
        effective_speedup(frontier, 0.0, 70)
