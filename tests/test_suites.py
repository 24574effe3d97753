"""Suites (`train_agent.py suite NAME`): the `smoke` suite run as a user runs it, killed and resumed,
and its leaderboard checked against the per-scenario summaries it is built from."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import train_agent  # noqa: E402
from dataselect_env.config import EnvConfig  # noqa: E402
from dataselect_harness import ranking, report, results, suites  # noqa: E402
from dataselect_harness.plan import BenchArgs, plan  # noqa: E402

SMOKE = suites.SUITES["smoke"]
SCENARIO_FILES = ("results.jsonl", "summary.csv", "summary.md", "pareto.png", "curves.png")


def smoke_plan(seeds: tuple[int, ...], scenarios: int = len(SMOKE.scenarios)) -> dict[str, set[str]]:
    """Episode ids of the first ``scenarios`` smoke scenarios for ``seeds``, as the suite plans them."""
    return {sc.name: {ep.id for ep in plan(BenchArgs(env=sc.env, agents=SMOKE.agents, keep=sc.keep, seeds=seeds,
                                                     epochs=sc.epochs, env_kwargs=dict(sc.env_kwargs)))}
            for sc in SMOKE.scenarios[:scenarios]}


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory) -> Path:
    """A finished run of the smoke suite with its default agents and seeds."""
    out = tmp_path_factory.mktemp("smoke")
    assert train_agent.main(["suite", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


def test_smoke_suite_writes_every_file(suite_dir):
    plots = importlib.util.find_spec("matplotlib") is not None
    for sc in SMOKE.scenarios:
        for name in SCENARIO_FILES if plots else SCENARIO_FILES[:3]:
            assert (suite_dir / sc.name / name).stat().st_size > 0, (sc.name, name)
    for name in ("leaderboard.md", "leaderboard.csv", "suite.json"):
        assert (suite_dir / name).stat().st_size > 0, name
    if importlib.util.find_spec("matplotlib") is not None:
        assert (suite_dir / "leaderboard.png").stat().st_size > 0
    md = (suite_dir / "leaderboard.md").read_text()
    for sc in SMOKE.scenarios:
        assert f"## {sc.name}" in md
    assert "| random k=0.5 |" in md and "| ucb k=0.5 |" in md and "| infobatch |" in md
    assert "P(improvement over baseline)" in md and "effective speed-up" in md
    manifest = json.loads((suite_dir / "suite.json").read_text())
    assert manifest["suite"] == "smoke" and [s["name"] for s in manifest["scenarios"]] == \
        [sc.name for sc in SMOKE.scenarios]
    ids = {sc.name: {r["id"] for r in results.read_results(suite_dir / sc.name)} for sc in SMOKE.scenarios}
    assert ids == smoke_plan(SMOKE.seeds)


def test_leaderboard_inputs_are_the_summaries_delta_and_speedup(suite_dir):
    with open(suite_dir / "leaderboard.csv") as f:
        board = {(r["agent"], r["scenario"]): r for r in csv.DictReader(f) if r["kind"] == "scenario"}
    inputs = ranking.leaderboard_inputs({sc.name: results.read_results(suite_dir / sc.name) for sc in SMOKE.scenarios})
    assert inputs.baselines == {"ucb k=0.5": "random k=0.5", "infobatch": "random k=0.5",
                                "random k=0.5": "random k=0.5"}
    checked = 0
    for sc in SMOKE.scenarios:
        rows = results.read_results(suite_dir / sc.name)
        for s in report.summarize(rows):
            if results.is_frontier(s):
                continue
            name = s["agent"] + ("" if s["keep"] is None else f" k={s['keep']:g}")
            if not s["delta_n"]:
                assert (name, sc.name) not in board
                continue
            assert int(board[name, sc.name]["n"]) == s["delta_n"]
            assert float(board[name, sc.name]["mean"]) == pytest.approx(s["delta_mean"])
            assert int(board[name, sc.name]["speedup_above"]) == s["speedup_eff_above"]
            assert int(board[name, sc.name]["speedup_below"]) == s["speedup_eff_below"]
            checked += 1
    assert checked >= 3


def test_a_scenario_with_only_full_data_runs_is_noted_not_ranked(suite_dir):
    rows = results.read_results(suite_dir / SMOKE.scenarios[0].name)
    frontier = [r for r in rows if r["agent"].startswith("full")]
    inputs = ranking.leaderboard_inputs({"ranked": rows, "started": frontier})
    assert all("started" not in per for per in inputs.scores.values())
    assert f"started: {len(frontier)} episode(s), none ranked yet (only full-data runs so far" in inputs.notes[0]
    assert not any(n.startswith("ranked:") for n in inputs.notes)
    precision, device = rows[0]["precision"], rows[0]["device"]  # where the numbers come from
    assert f"started ran {len(frontier)} episode(s) in {precision} on {device}" in inputs.notes


def test_report_re_renders_a_suite_directory(suite_dir, capsys):
    before = {p: (suite_dir / p).read_text() for p in ("leaderboard.md", "synthetic-clean/summary.md")}
    for p in before:
        (suite_dir / p).unlink()
    assert train_agent.main(["report", str(suite_dir)]) == 0
    assert {p: (suite_dir / p).read_text() for p in before} == before
    assert "# Leaderboard" in capsys.readouterr().out


def test_kill_mid_suite_then_rerun_runs_each_episode_exactly_once(tmp_path, capsys):
    first_two = ",".join(sc.name for sc in SMOKE.scenarios[:2])
    args = ["suite", "smoke", "--seeds", "0", "--scenarios", first_two, "--out", str(tmp_path), "--quiet"]
    proc = subprocess.Popen([sys.executable, str(REPO / "train_agent.py"), *args], cwd=REPO, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / SMOKE.scenarios[0].name / "results.jsonl"
    deadline = time.time() + 120
    while not (first.exists() and first.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    expected = smoke_plan((0,), scenarios=2)
    written = {name: len(results.read_results(tmp_path / name)) for name in expected}
    assert 2 <= sum(written.values()) < sum(len(ids) for ids in expected.values()), "the kill should land mid-suite"
    assert not (tmp_path / "leaderboard.md").exists()
    assert train_agent.main(args) == 0  # the same command again
    out = capsys.readouterr().out
    for name, n in written.items():
        assert f"{len(expected[name])} episodes in the matrix, {n} already in {tmp_path / name}" in out
    for name, ids in expected.items():
        lines = (tmp_path / name / "results.jsonl").read_text().splitlines()
        got = [json.loads(line)["id"] for line in lines]
        assert len(got) == len(set(got)) == len(ids) and set(got) == ids, name
    assert (tmp_path / "leaderboard.md").exists()


def test_time_limit_stops_the_suite_between_episodes_and_still_writes_the_leaderboard(tmp_path, capsys,
                                                                                       time_up_after):
    sc = SMOKE.scenarios[0]
    frontier = sum(ep.agent.startswith("full") for ep in plan(BenchArgs(
        env=sc.env, agents=SMOKE.agents, keep=sc.keep, seeds=(0,), epochs=sc.epochs, env_kwargs=dict(sc.env_kwargs))))
    time_up_after(frontier + 1)  # the frontier runs and one entry start, then the time is up
    first_two = ",".join(sc.name for sc in SMOKE.scenarios[:2])
    args = ["suite", "smoke", "--seeds", "0", "--scenarios", first_two, "--out", str(tmp_path), "--quiet",
            "--time-limit", "60"]
    assert train_agent.main(args) == train_agent.TIME_LIMIT_EXIT
    assert len(results.read_results(tmp_path / sc.name)) == frontier + 1
    assert not (tmp_path / SMOKE.scenarios[1].name).exists()  # no scenario starts once the time is up
    assert "| random k=0.5 |" in (tmp_path / "leaderboard.md").read_text()
    out = capsys.readouterr()
    assert f"time limit reached in scenario {SMOKE.scenarios[0].name}" in out.out
    assert "run the same command to go on" in out.err


@pytest.mark.parametrize("argv, message", [
    (["suite", "nope"], "unknown suite 'nope'; built-in suites: smoke, quick, cpu, gpu"),
    (["suite", "smoke", "--scenarios", "nope"], "has no scenario 'nope'"),
    (["suite", "smoke", "--agents", "random,nope"], "registered agents: full, random"),
    (["suite", "smoke", "--keep", "1.5"], "(0, 1]"),
])
def test_bad_suite_arguments_fail_before_training(argv, message, tmp_path, capsys):
    assert train_agent.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["cpu", "gpu"])
def test_cpu_and_gpu_suites_plan_without_data(name):
    import agents
    suite = suites.get(name)
    for a in suite.agents:  # every agent of the suite is registered and importable (a misspelt one fails here)
        agents.load_class(a)
    for sc in suite.scenarios:
        episodes = plan(BenchArgs(env=sc.env, agents=suite.agents, keep=sc.keep, seeds=suite.seeds,
                                  epochs=sc.epochs, env_kwargs=dict(sc.env_kwargs)))
        full_epochs = sorted(e.env_kwargs["epochs"] for e in episodes if e.agent.startswith("full") and e.seed == 0)
        assert full_epochs[-1] == sc.epochs and len(full_epochs) >= 4  # full and the frontier grid
        EnvConfig.from_kwargs(**{**gym.spec(sc.env).kwargs, **sc.env_kwargs, "epochs": sc.epochs})  # valid kwargs


def test_a_share_of_the_headroom_needs_a_headroom_known_to_be_positive():
    scores = {"random k=0.5": {"clean": [0.0, 0.1, -0.1], "noisy": [0.0, 0.5, -0.5]},
              "rule k=0.5": {"clean": [1.0, 1.1, 0.9], "noisy": [5.0, 5.5, 4.5]}}
    baselines = {"random k=0.5": "random k=0.5", "rule k=0.5": "random k=0.5", "oracle k=0.5": "random k=0.5"}
    headroom = {"oracle k=0.5": {"clean": [0.2, -0.3, 0.25], "noisy": [9.0, 10.0, 11.0]}}  # clean: 0 within its CI
    shares = ranking.headroom_shares(scores, baselines, headroom)
    assert math.isnan(shares["rule k=0.5"].get("clean", math.nan)) and shares["rule k=0.5"]["noisy"] == pytest.approx(0.5)
