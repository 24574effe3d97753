"""Leaderboard statistics (Agarwal et al. 2021) and the files write_leaderboard produces."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from dataselect_harness.leaderboard import (
    CSV_COLUMNS,
    aggregate_table,
    best_markdown,
    prob_improvement,
    scenario_table,
    weighted_iqm,
    write_leaderboard,
)

SCENARIOS = ("cifar10-r18-e30", "cifar10-r18-e60", "cifar100-r18-e30")


def synthetic_scores(seeds: int = 5) -> dict[str, dict[str, np.ndarray]]:
    """A clearly beats random everywhere; B is random's twin; C lacks one scenario."""
    rng = np.random.default_rng(123)
    random = {s: rng.normal(-1.0, 0.3, seeds) for s in SCENARIOS}
    return {
        "random": random,
        "A": {s: rng.normal(+1.5, 0.3, seeds) for s in SCENARIOS},
        "B": {s: v.copy() for s, v in random.items()},
        "C": {s: rng.normal(0.0, 0.3, seeds + 2) for s in SCENARIOS[:2]},
    }


def by_agent(rows):
    return {r.agent: r for r in rows}


def test_clearly_better_agent_has_positive_ci_and_high_probability_of_improvement():
    agg = by_agent(aggregate_table(synthetic_scores(), baseline="random", reps=500))
    a = agg["A"]
    assert a.mean_ci[0] > 0 and a.iqm_ci[0] > 0
    assert a.poi > 0.9 and a.poi_ci[0] > 0.9
    assert a.poi_scenarios == 3
    for s in scenario_table(synthetic_scores(), reps=500):
        if s.agent == "A":
            assert s.ci[0] > 0
    # sorted by IQM, best first
    assert aggregate_table(synthetic_scores(), reps=200)[0].agent == "A"


def test_ties_give_probability_one_half():
    agg = by_agent(aggregate_table(synthetic_scores(), baseline="random", reps=500))
    assert agg["B"].poi == pytest.approx(0.5)
    assert agg["B"].poi_ci[0] < 0.5 < agg["B"].poi_ci[1]
    assert prob_improvement([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5
    assert math.isnan(agg["random"].poi)  # no improvement over itself


def test_probability_of_improvement_only_over_shared_scenarios():
    agg = by_agent(aggregate_table(synthetic_scores(), reps=200))
    assert agg["C"].n_scenarios == 2 and agg["C"].poi_scenarios == 2
    assert agg["C"].n_runs == 14


@pytest.mark.parametrize("n", [3, 5, 10])
def test_scenario_ci_covers_the_true_mean_about_95_percent_of_the_time(n):
    """1000 scenarios of n seeds drawn from N(0.5, 1): the 95% (Student-t) CI of the mean covers 0.5 in
    about 95% of them, at least the 90% a claim needs, while an interval of the seeds' spread instead of
    the mean's (~1.0) or a 50% interval (~0.5) lands far outside; and its width is near its expectation,
    2 t(0.975, n-1) c4(n) / sqrt(n) (c4: E[s] / sigma), about 5.4 / 2.3 / 1.4 at n = 3 / 5 / 10."""
    from scipy import special, stats

    rng = np.random.default_rng(5)
    rows = scenario_table({"A": {f"s{i}": rng.normal(0.5, 1.0, n) for i in range(1000)}})
    covered = np.mean([r.ci[0] <= 0.5 <= r.ci[1] for r in rows])
    width = np.mean([r.ci[1] - r.ci[0] for r in rows])
    c4 = np.sqrt(2 / (n - 1)) * special.gamma(n / 2) / special.gamma((n - 1) / 2)
    assert 0.92 <= covered <= 0.98, covered
    assert width == pytest.approx(2 * stats.t.ppf(0.975, n - 1) * c4 / np.sqrt(n), rel=0.08)


def test_the_percentile_bootstrap_at_three_seeds_fails_the_coverage_bar():
    """The former interval, shown to fail the same check: at n = 3 a percentile bootstrap of the mean is
    about the seeds' [min, max], which holds the mean with probability 1 - 2 (1/2)^3 = 0.75."""
    rng = np.random.default_rng(5)
    rows = scenario_table({"A": {f"s{i}": rng.normal(0.5, 1.0, 3) for i in range(1000)}}, reps=1000,
                          method="percentile")
    covered = np.mean([r.ci[0] <= 0.5 <= r.ci[1] for r in rows])
    assert 0.70 <= covered < 0.85, covered  # below the 0.90 a claim needs


def test_single_seed_has_no_ci():
    [row] = scenario_table({"A": {"s": [0.7]}})
    assert row.n == 1 and row.mean == 0.7
    assert all(math.isnan(x) for x in row.ci)


def test_deterministic_given_seed_and_independent_of_other_agents():
    scores = synthetic_scores()
    assert aggregate_table(scores, reps=300, seed=7) == aggregate_table(scores, reps=300, seed=7)
    assert scenario_table(scores, reps=300, seed=7) == scenario_table(scores, reps=300, seed=7)
    assert aggregate_table(scores, reps=300, seed=7) != aggregate_table(scores, reps=300, seed=8)
    fewer = {k: scores[k] for k in ("random", "A")}
    assert by_agent(aggregate_table(fewer, reps=300, seed=7))["A"] == \
        by_agent(aggregate_table(scores, reps=300, seed=7))["A"]


def test_matches_values_computed_by_rliable():
    """Point estimates equal rliable's; with ``method="percentile"`` (rliable's intervals, no longer the
    leaderboard's: see tests/test_intervals.py) the stratified-bootstrap CIs agree within Monte-Carlo error.

    The reference was computed once by rliable 1.2.0 (``tests/data/rliable_reference.py``, which
    says how to regenerate it; rliable does not import beside pandas >= 3), so this runs in CI.
    At 20,000 resamples each, the CI endpoints of the two bootstraps differ by < 0.01 here; 0.015
    is the tolerance (a 90% interval instead of a 95% one would be ~0.027 off).
    """
    ref = json.loads((Path(__file__).parent / "data" / "rliable_reference.json").read_text())
    scores = {agent: dict(zip(ref["scenarios"], map(np.array, per))) for agent, per in ref["scores"].items()}
    agg = by_agent(aggregate_table(scores, baseline="random", reps=ref["reps"], method="percentile"))
    for agent in scores:
        assert agg[agent].mean == pytest.approx(ref["mean"][agent], abs=1e-12)
        assert agg[agent].iqm == pytest.approx(ref["iqm"][agent], abs=1e-12)
        assert agg[agent].mean_ci == pytest.approx(tuple(ref["mean_ci"][agent]), abs=0.015)
        assert agg[agent].iqm_ci == pytest.approx(tuple(ref["iqm_ci"][agent]), abs=0.015)
    for agent, poi in ref["poi_vs_random"].items():
        assert agg[agent].poi == pytest.approx(poi, abs=1e-12)
    default = by_agent(aggregate_table(scores, baseline="random", reps=200))  # the t intervals: same points
    assert all((default[a].mean, default[a].iqm, default[a].poi) == (agg[a].mean, agg[a].iqm, agg[a].poi) for a in scores)


def test_weighted_iqm_gives_each_scenario_equal_weight():
    # One scenario with 2 runs and one with 6: equal scenario weights, not equal run weights.
    values = np.array([0.0, 0.0, 1, 1, 1, 1, 1, 1])
    weights = np.array([1 / 2] * 2 + [1 / 6] * 6)
    # weight mass: zeros occupy [0, 0.5), ones [0.5, 1): the middle half is half zeros.
    assert weighted_iqm(values, weights) == pytest.approx(0.5)


def test_write_leaderboard_writes_markdown_csv_and_figure(tmp_path):
    md = write_leaderboard(tmp_path / "lb", synthetic_scores(), baseline="random", reps=200)
    out = tmp_path / "lb"
    assert (out / "leaderboard.md").read_text() == md
    assert (out / "leaderboard.png").stat().st_size > 0
    for s in SCENARIOS:
        assert f"## {s}" in md
    assert "P(improvement over random)" in md and "Agarwal et al. 2021" in md
    agg_lines = md.split("## Aggregate over scenarios")[1].split("\n## ")[0].splitlines()
    order = [line.split("|")[1].strip() for line in agg_lines if line.startswith("| ")][1:]
    assert order[0] == "A" and sorted(order) == ["A", "B", "C", "random"]

    with (out / "leaderboard.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    scen_rows = [r for r in rows if r["kind"] == "scenario"]
    agg_rows = {r["agent"]: r for r in rows if r["kind"] == "aggregate"}
    assert len(scen_rows) == 3 * 3 + 2 and set(agg_rows) == {"A", "B", "C", "random"}
    assert float(agg_rows["A"]["poi"]) > 0.9 and agg_rows["random"]["poi"] == ""
    assert int(agg_rows["C"]["n_scenarios"]) == 2


def test_figure_skipped_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    md = write_leaderboard(tmp_path, synthetic_scores(), reps=50)
    assert "matplotlib is not installed" in md
    assert (tmp_path / "leaderboard.md").exists() and (tmp_path / "leaderboard.csv").exists()
    assert not (tmp_path / "leaderboard.png").exists()


def test_non_finite_scores_are_rejected():
    with pytest.raises(ValueError, match="outside the frontier"):
        scenario_table({"A": {"s": [1.0, float("nan")]}})


def test_the_leaderboard_says_its_verdict_in_words_and_warns_about_two_seed_intervals(tmp_path):
    scores = synthetic_scores()  # A beats the frontier everywhere; random, B and C do not
    md = write_leaderboard(tmp_path, scores, reps=300)
    assert "**Verdict:** `A` (+" in md and "beats full-data training at equal compute with confidence" in md
    assert "Caveat" not in md  # 5 and 7 seeds
    two = {"random": {"s": np.array([-1.0, -0.5])}, "A": {"s": np.array([0.1, 0.2])}}
    md = write_leaderboard(tmp_path / "two", two, reps=300)
    assert "Caveat: s has fewer than 3 seeds" in md
    none = {"random": {"s": np.array([-1.0, -0.5, -0.8])}}
    assert "**Verdict:** no entry beats full-data training" in write_leaderboard(tmp_path / "none", none, reps=300)


def test_the_csv_writes_a_speed_up_outside_the_frontier_as_a_word_not_as_infinity(tmp_path):
    scores = synthetic_scores()
    inf = math.inf
    speedups = {"A": {s: [1.5, inf, inf] for s in SCENARIOS}, "B": {s: [-inf, -inf, 0.8] for s in SCENARIOS},
                "random": {s: [0.9, 1.1, 1.0] for s in SCENARIOS}}
    write_leaderboard(tmp_path, scores, reps=50, speedups=speedups)
    text = (tmp_path / "leaderboard.csv").read_text()
    assert "inf" not in text
    rows = {(r["agent"], r["scenario"]): r for r in csv.DictReader(text.splitlines())}
    a, b, r = (rows[name, SCENARIOS[0]] for name in ("A", "B", "random"))
    assert (a["speedup_median"], a["speedup_outside"], a["speedup_above"]) == ("", "above", "2")
    assert (b["speedup_median"], b["speedup_outside"], b["speedup_below"]) == ("", "below", "2")
    assert (float(r["speedup_median"]), r["speedup_outside"]) == (1.0, "")


def test_a_panel_whose_entries_have_different_seed_counts_says_the_range():
    from dataselect_harness.plots import _seed_range

    assert _seed_range([3, 3, 3]) == "3"
    assert _seed_range([3, 1, 2]) == "1-3"  # not "3": the panel's largest n would overstate it
    assert _seed_range([]) == ""


def test_the_best_agent_section_pairs_each_of_its_keeps_with_every_other_hand_written_entry():
    base = {"s1": [1.0, -2.0, 0.5], "s2": [3.0, 0.0, -1.0], "s3": [0.2, 0.4, -0.3]}
    shifted = lambda d: {s: [v + d for v in vals] for s, vals in base.items()}  # noqa: E731
    scores = {"auto k=0.5": shifted(5.0), "auto k=0.3": shifted(1.0), "random k=0.5": shifted(0.0),
              "small_loss k=0.5": shifted(2.0), "sb3:m/pol k=0.5": shifted(9.0)}
    agg = aggregate_table(scores, baseline="random k=0.5", reps=200)
    md = best_markdown(scores, agg, learned=["sb3:m/pol k=0.5"], reps=200)
    assert "## `auto` against every other hand-written entry" in md
    assert "| auto k=0.5 | small_loss k=0.5 | +3.00 [+3.00, +3.00] | 3 |" in md  # a constant paired shift
    assert "| auto k=0.3 | random k=0.5 | +1.00 [+1.00, +1.00] | 3 |" in md
    assert "- `auto k=0.5`: above every other hand-written entry with confidence (lowest CI: minus " \
           "`small_loss k=0.5` +3.00" in md
    assert "- `auto k=0.3`: **not** above every other hand-written entry with confidence (lowest CI: minus " \
           "`small_loss k=0.5` -1.00" in md
    assert "sb3:" not in md and "| auto k=0.5 | auto k=0.3 |" not in md  # learned entries and its own keeps left out
    one_seed = {a: {s: v[:1] for s, v in per.items()} for a, per in scores.items()}
    md = best_markdown(one_seed, aggregate_table(one_seed, baseline="random k=0.5", reps=200),
                       learned=["sb3:m/pol k=0.5"], reps=200)
    assert "- `auto k=0.5`: no interval yet (a scenario with a single seed)." in md
