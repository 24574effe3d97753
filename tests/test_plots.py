"""The figures' helpers: each agent of a run its own colour, learned entries by their model's name,
a leaderboard panel's axis that fits the entries near its middle, and side-by-side points at equal compute."""

from __future__ import annotations

import pytest

from dataselect_harness.plots import agent_colors, display_name, dodge, panel_limits

plt = pytest.importorskip("matplotlib.pyplot", reason="the figures need matplotlib")


def test_every_agent_of_a_run_gets_its_own_colour_and_the_frontier_is_black():
    names = ["full", "full@0.5", "random", "auto", "rho_loss", "sb3:benchmarks/models/ars-rules-s2",
             "sb3:benchmarks/models/ars-rules-s1", "sb3:benchmarks/models/ppo-proxy-bins-k0.3"]
    colors = agent_colors(names, plt)
    assert colors["full"] == colors["full@0.5"] == "black"
    learned = [colors[n] for n in names if n.startswith("sb3:")] + [colors["rho_loss"], colors["random"]]
    assert len(set(learned)) == len(learned)
    assert agent_colors(["random"], plt)["random"] == colors["random"]  # the same in every run


def test_a_learned_entry_is_labelled_by_its_models_name():
    assert display_name("sb3:benchmarks/models/ars-rules-s2 k=0.5") == "ars-rules-s2 k=0.5"
    assert display_name("sb3:runs/ppo/model.zip") == "model"
    assert display_name("class_balanced k=0.3") == "class_balanced k=0.3"


def test_a_panel_fits_the_entries_near_its_middle_and_leaves_the_far_one_out():
    points = [(m, m - 1.0, m + 1.0) for m in (-2.0, -1.0, 0.0, 0.5, 1.0)] + [(-30.0, -35.0, -25.0)]
    left, right = panel_limits(points)
    assert left > -30.0 and left < -3.0 and right > 2.0  # every near interval inside, el2n-like -30 beyond
    assert panel_limits([(5.0, 4.0, 6.0)])[0] < 0.0  # 0, the frontier, is always on the axis


def test_points_at_equal_compute_are_drawn_side_by_side_and_alone_stay_put():
    offsets = dodge([3.0, 3.0, 3.0, 7.0], width=10.0)
    assert offsets[3] == 0.0 and offsets[1] == 0.0 and offsets[0] == -offsets[2] != 0.0
