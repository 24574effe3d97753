"""The benchmark's numbers recomputed by hand from raw rows, independently of the code that makes them.

A two-scenario suite directory is written as ``results.jsonl`` rows (what a bench writes), with a
frontier and a controller whose Δ vs frontier is worked out below on paper; the report, the
leaderboard files and the env's ``vs_frontier`` reward must give exactly those numbers.
"""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import pytest

import agents
import dataselect_env  # noqa: F401  (registers the ids)
from dataselect_harness import ranking, suites
from dataselect_harness.report import summarize

# (scenario, seed) -> full-data frontier points (compute, test accuracy %), and the controller's row.
FRONTIER = {("a", 0): [(5.0, 60.0), (10.0, 70.0)], ("a", 1): [(5.0, 62.0), (10.0, 72.0)],
            ("b", 0): [(4.0, 50.0), (8.0, 54.0)], ("b", 1): [(4.0, 51.0), (8.0, 55.0)]}
UCB = {("a", 0): (7.5, 66.0), ("a", 1): (6.0, 63.0), ("b", 0): (6.0, 55.0), ("b", 1): (5.0, 54.0)}
# Δ by hand: linear interpolation of the seed's frontier at the row's compute, subtracted from its accuracy.
#   a/0: 60 + (7.5 - 5) / 5 * 10 = 65   -> 66 - 65 = +1
#   a/1: 62 + (6 - 5) / 5 * 10 = 64     -> 63 - 64 = -1
#   b/0: 50 + (6 - 4) / 4 * 4 = 52      -> 55 - 52 = +3
#   b/1: 51 + (5 - 4) / 4 * 4 = 52      -> 54 - 52 = +2
DELTA = {("a", 0): 1.0, ("a", 1): -1.0, ("b", 0): 3.0, ("b", 1): 2.0}
# Scenario means: a 0.0, b 2.5; aggregate mean (scenarios weighted equally) 1.25;
# IQM of the four runs {-1, +1, +2, +3}: the middle two, (1 + 2) / 2 = 1.5.
MEAN, IQM = 1.25, 1.5


def row(scenario: str, seed: int, agent: str, compute: float, accuracy: float, keep: float | None) -> dict:
    epochs = 10 if scenario == "a" else 8
    return {"id": f"{scenario}-{agent}-{seed}", "env": "DataSelect/Synthetic-v0", "env_kwargs": {"epochs": epochs},
            "bench_epochs": epochs, "precision": "fp32", "device": "cpu", "agent": agent,
            "agent_kwargs": {} if keep is None else {"keep": keep}, "keep": keep, "seed": seed, "compute": compute,
            "val_compute": 0.0, "test_accuracy": accuracy / 100, "flops": 1.0, "wall_time": 1.0, "curve": {}, "schema": 2}


def write_suite(directory) -> None:
    for scenario in ("a", "b"):
        rows = []
        for seed in (0, 1):
            (c_lo, a_lo), (c_hi, a_hi) = FRONTIER[scenario, seed]
            rows += [row(scenario, seed, "full@0.5", c_lo, a_lo, 0.5), row(scenario, seed, "full", c_hi, a_hi, None),
                     row(scenario, seed, "ucb", *UCB[scenario, seed], 0.5)]
        (directory / scenario).mkdir(parents=True)
        (directory / scenario / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (directory / suites.SUITE_FILE).write_text(json.dumps({"suite": "hand", "scenarios": []}))


def test_delta_vs_frontier_and_aggregate_iqm_match_the_hand_computation(tmp_path):
    write_suite(tmp_path)
    for scenario in ("a", "b"):
        rows = [json.loads(line) for line in (tmp_path / scenario / "results.jsonl").read_text().splitlines()]
        [ucb] = [s for s in summarize(rows) if s["agent"] == "ucb"]
        assert ucb["delta_mean"] == pytest.approx((DELTA[scenario, 0] + DELTA[scenario, 1]) / 2, abs=1e-12)
    ranking.write_suite_leaderboard(tmp_path, reps=200)
    with (tmp_path / "leaderboard.csv").open() as f:
        table = list(csv.DictReader(f))
    per_scenario = {r["scenario"]: float(r["mean"]) for r in table if r["kind"] == "scenario" and r["agent"] == "ucb k=0.5"}
    assert per_scenario == pytest.approx({"a": 0.0, "b": 2.5}, abs=1e-12)
    [agg] = [r for r in table if r["kind"] == "aggregate" and r["agent"] == "ucb k=0.5"]
    assert float(agg["mean"]) == pytest.approx(MEAN, abs=1e-12)
    assert float(agg["iqm"]) == pytest.approx(IQM, abs=1e-12)
    assert int(agg["n"]) == 4 and int(agg["n_scenarios"]) == 2


def test_vs_frontier_reward_is_the_reports_delta_on_one_hand_made_frontier(monkeypatch):
    """The env's ``vs_frontier`` reward and the report read one frontier the same way: a full-data
    run of E' epochs reaches the hand-made accuracy F[E'] on validation, at compute
    x(E') = E' + (E' + 1) v (it validates after every epoch, v = n_val / (3 N)); the episode ends
    at compute C with validation accuracy A; both must give 100 (A - interp(x, F, C))."""
    hand = {0: 0.10, 1: 0.40, 2: 0.55, 3: 0.60}  # E' -> validation accuracy of full-data training
    env = gym.make("DataSelect/Synthetic-v0", epochs=3, reward="vs_frontier")
    monkeypatch.setattr(env.unwrapped, "_full_data_val", lambda epochs: hand[epochs])
    rewards: list[float] = []
    info = agents.play_episode(agents.make("random", keep=0.5), env, seed=0,
                               on_step=lambda info, reward, action: rewards.append(reward))
    compute, accuracy, v = info["compute"], info["val_accuracy"], env.unwrapped.val_cost
    x = {e: e + (e + 1) * v for e in hand}
    assert x[1] < compute < x[2]  # three half epochs and four validations: between the E' = 1 and 2 runs
    by_hand = 100 * (accuracy - (hand[1] + (compute - x[1]) / (x[2] - x[1]) * (hand[2] - hand[1])))
    assert rewards[-1] == pytest.approx(by_hand, abs=1e-9) and rewards[:-1] == [0.0] * 3
    report_rows = [row("c", 0, f"full@{e / 3:g}", x[e], 100 * hand[e], e / 3) for e in (1, 2)]
    report_rows.append(row("c", 0, "random", compute, 100 * accuracy, 0.5))
    [rand] = [s for s in summarize(report_rows) if s["agent"] == "random"]
    assert rand["delta_mean"] == pytest.approx(by_hand, abs=1e-9)


def test_every_validation_pass_is_in_the_compute_ledger_by_hand():
    """Synthetic: N = 1,500 training and 500 validation samples. ``random`` at keep 0.5 for 3 epochs,
    a probe after every epoch: trained 3 x 750 / 1500 = 1.5 epochs; probed 3 x 1/3 = 1.0; validated
    4 times (at reset and after each epoch) x 500 / (3 x 1500) = 0.4444...; in all 2.9444...
    FLOPs: 3 forward passes per trained sample, 1 per probed, validated or tested one."""
    env = gym.make("DataSelect/Synthetic-v0", epochs=3, probe_every=1)
    base = env.unwrapped
    assert (base.n, len(base.splits.y_val), len(base.splits.y_test)) == (1500, 500, 1000)
    info = agents.play_episode(agents.make("random", keep=0.5), env, seed=0)
    assert info["compute"] == pytest.approx(1.5 + 1.0 + 4 * 500 / (3 * 1500), abs=1e-12)
    assert info["val_compute"] == pytest.approx(4 * 500 / (3 * 1500), abs=1e-12)
    passes = 3 * 3 * 750 + 3 * 1500 + 4 * 500 + 1000
    assert info["flops"] == pytest.approx(passes * base.flops_per_forward, rel=1e-12)


def test_a_frontier_run_validates_on_the_rows_schedule():
    """A bench's frontier row of E' = 2 epochs and the env's frontier point of E' = 2 in a 4-epoch
    env are the same run at the same compute: 2 + 3 validation passes. A full run of the env's own
    length scores exactly 0 against its frontier."""
    kwargs = {"reward": "vs_frontier"}
    short = agents.play_episode(agents.make("full"), gym.make("DataSelect/Synthetic-v0", epochs=2, **kwargs), seed=4)
    long_env = gym.make("DataSelect/Synthetic-v0", epochs=4, **kwargs)
    rewards: list[float] = []
    agents.play_episode(agents.make("full"), long_env, seed=4, on_step=lambda info, r, a: rewards.append(r))
    val_cost = long_env.unwrapped.val_cost
    assert short["compute"] == pytest.approx(2 + 3 * val_cost, abs=1e-12)
    assert long_env.unwrapped.frontier_val_accuracy(short["compute"]) == short["val_accuracy"]
    assert rewards[-1] == 0.0


def test_probability_of_improvement_pairs_each_entry_with_random_at_its_own_compute():
    """``forgetting`` at keep 0.3 spends 5.2 epochs of 10 (its scoring epochs), nearer ``random`` at
    0.5 (5.5) than at 0.3 (3.5): it is compared with the former, whatever its keep label."""
    rows = []
    for seed in (0, 1):
        rows += [row("a", seed, "full@0.3", 3.0, 50.0, 0.3), row("a", seed, "full", 10.0, 70.0, None),
                 row("a", seed, "random", 3.5, 52.0, 0.3), row("a", seed, "random", 5.5, 60.0, 0.5),
                 row("a", seed, "forgetting", 5.2, 55.0, 0.3), row("a", seed, "ucb", 3.4, 51.0, 0.3)]
    rows = [{**r, "id": f"{r['id']}-{r['keep']}"} for r in rows]
    baselines = ranking.leaderboard_inputs({"a": rows}).baselines
    assert baselines["forgetting k=0.3"] == "random k=0.5" and baselines["ucb k=0.3"] == "random k=0.3"
    assert baselines["random k=0.3"] == "random k=0.3"  # its own: no probability of improvement over itself


def test_oracles_are_headroom_never_ranked(tmp_path):
    """``oracle_clean`` reads the ground truth: it is left out of every ranked table and shows up as
    headroom, its Δ minus that of ``random`` (nearest in compute) on the same seed: by hand,
    seed 0: (70 - 65) - (62 - 65) = +8; seed 1: (72 - 65) - (61 - 65) = +11; seed 2: (72.5 - 65) - (63 - 65)
    = +9.5; mean +9.5 (three seeds: from two, the headroom's Student-t interval, t = 12.7, would not be
    known to lie above 0). ``ucb`` captures (its mean Δ - random's) / 9.5 of it."""
    rows = []
    for seed, (rand_acc, oracle_acc, ucb_acc) in enumerate([(62.0, 70.0, 64.0), (61.0, 72.0, 66.0), (63.0, 72.5, 66.5)]):
        rows += [row("a", seed, "full@0.5", 5.0, 60.0, 0.5), row("a", seed, "full", 10.0, 70.0, None),
                 row("a", seed, "random", 7.5, rand_acc, 0.5), row("a", seed, "oracle_clean", 7.5, oracle_acc, 0.5),
                 row("a", seed, "ucb", 7.5, ucb_acc, 0.5)]
    rows = [{**r, "id": f"{r['id']}-{r['keep']}", "spec": r["agent"]} for r in rows]
    inputs = ranking.leaderboard_inputs({"a": rows})
    assert set(inputs.scores) == {"random k=0.5", "ucb k=0.5"}
    assert inputs.baselines["oracle_clean k=0.5"] == "random k=0.5"
    assert inputs.headroom == {"oracle_clean k=0.5": {"a": pytest.approx([8.0, 11.0, 9.5])}}
    # ucb gains (64 + 66 + 66.5) / 3 - (62 + 61 + 63) / 3 = 3.5 over random: 3.5 / 9.5 of the headroom
    assert inputs.shares == {"ucb k=0.5": {"a": pytest.approx(3.5 / 9.5)}}
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / suites.SUITE_FILE).write_text(json.dumps({"suite": "hand", "scenarios": []}))
    md = ranking.write_suite_leaderboard(tmp_path, reps=200)
    ranked, headroom = md.split("## Headroom")
    assert "oracle_clean" not in ranked and "| a | oracle_clean k=0.5 | random k=0.5 | 3 | +9.50" in headroom
    assert f"| ucb k=0.5 | {3.5 / 9.5:+.2f} |" in headroom
    with (tmp_path / "leaderboard.csv").open() as f:
        assert all("oracle" not in r["agent"] for r in csv.DictReader(f))


def test_a_policys_training_seeds_pool_into_one_entry_judged_against_the_best_hand_written_one(tmp_path):
    """Frontier 60 at compute 5, 70 at 10: 65 at 7.5, so Δ = accuracy - 65. random: -3, -4; ucb: -1,
    +1 (IQM 0, the best hand-written); the policy's seed 0: +3, +2, seed 1: +5, -1. Pooled, its four
    runs -1, 2, 3, 5 have IQM (2 + 3) / 2 = 2.5, i.e. 2.5 above ucb."""
    from dataselect_harness.bootstrap import iqm_difference

    accuracy = {"random": (62.0, 61.0), "ucb": (64.0, 66.0), "sb3:m/pol-s0": (68.0, 67.0), "sb3:m/pol-s1": (70.0, 64.0)}
    rows = []
    for seed in (0, 1):
        rows += [row("a", seed, "full@0.5", 5.0, 60.0, 0.5), row("a", seed, "full", 10.0, 70.0, None)]
        rows += [row("a", seed, agent, 7.5, acc[seed], 0.5) for agent, acc in accuracy.items()]
    rows = [{**r, "id": f"{r['id']}-{r['keep']}", "spec": r["agent"]} for r in rows]
    inputs = ranking.leaderboard_inputs({"a": rows})
    pool = "sb3:m/pol-s* k=0.5"
    assert ranking.pooled_name("sb3:m/pol-s1 k=0.5") == pool and ranking.pooled_name("ucb k=0.5") is None
    assert sorted(inputs.scores[pool]["a"]) == pytest.approx([-1.0, 2.0, 3.0, 5.0])
    assert set(inputs.learned) == {pool, "sb3:m/pol-s0 k=0.5", "sb3:m/pol-s1 k=0.5"}
    assert inputs.baselines[pool] == "random k=0.5"
    diff, (low, high), k, ucb_iqm = iqm_difference(inputs.scores[pool], inputs.scores["ucb k=0.5"], reps=500)
    assert diff == pytest.approx(2.5) and k == 1 and low <= diff <= high and ucb_iqm == pytest.approx(0.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / suites.SUITE_FILE).write_text(json.dumps({"suite": "hand", "scenarios": []}))
    md = ranking.write_suite_leaderboard(tmp_path, reps=200)
    section = md.split("## Learned controllers against the best hand-written entry")[1].split("## Headroom")[0]
    assert "`ucb k=0.5` (the hand-written entry with the highest aggregate IQM, +0.00)" in section
    assert f"| {pool} | 4 | +2.50 | +0.00 | +2.50 [" in section
    assert "| sb3:m/pol-s0 k=0.5 | 2 | +2.50 | +0.00 | +2.50 [" in section
