"""The benchmark harness (`train_agent.py`): a small bench on DataSelect/Synthetic-v0, as a user runs it.

3 agents (full, random, ucb), keeps 0.3 and 0.5, seeds 0 and 1, 3 epochs: 14 episodes with the
full-data frontier (`full@0.3` and `full@0.5`: 1 and 2 epochs; the default grid's 0.2 and 0.75 give
the same lengths). The bench runs once per session (fixture) and the other tests compare against it.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import train_agent  # noqa: E402
from dataselect_harness import report, results  # noqa: E402
from dataselect_harness import run as harness_run  # noqa: E402
from dataselect_harness.plan import BenchArgs, Episode, parse_agent_kwargs, parse_kv, plan  # noqa: E402
from train_agent import bench  # noqa: E402

ENV = "DataSelect/Synthetic-v0"
MATRIX = dict(env=ENV, agents=("full", "random", "ucb"), keep=(0.3, 0.5), seeds=(0, 1), epochs=3, quiet=True)
N_EPISODES = 2 + 2 * 2 + 2 * 2 * 2  # full, full@0.3 and full@0.5 (the frontier), random and ucb at each keep; 2 seeds
FILES = ("results.jsonl", "summary.csv", "summary.md", "pareto.png", "curves.png")


def accuracies(directory: Path) -> dict[str, float]:
    """Test accuracy of each episode id in DIR/results.jsonl."""
    return {r["id"]: r["test_accuracy"] for r in results.read_results(directory)}


def cli(*args: str, **kwargs) -> subprocess.Popen:
    """Start ``python train_agent.py ARGS`` in the repository."""
    return subprocess.Popen([sys.executable, str(REPO / "train_agent.py"), *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    """A finished in-process bench of the 14-episode matrix."""
    out = tmp_path_factory.mktemp("bench")
    assert bench(BenchArgs(**MATRIX, out=str(out))) == 0
    return out


def test_bench_writes_every_file_with_the_full_data_frontier(bench_dir):
    for name in FILES:
        assert (bench_dir / name).stat().st_size > 0, name
    rows = results.read_results(bench_dir)
    assert len(rows) == N_EPISODES == len({r["id"] for r in rows})
    if rows[0].get("corrupted_kept") is not None:  # the env knows its corrupted samples (20% label noise)
        assert (bench_dir / "corrupted.png").stat().st_size > 0 and (bench_dir / "class_kept.png").stat().st_size > 0
    labels = {(r["agent"], r["keep"]) for r in rows}
    assert labels == {("full", None), ("full@0.3", 0.3), ("full@0.5", 0.5), ("random", 0.3), ("random", 0.5),
                      ("ucb", 0.3), ("ucb", 0.5)}
    for r in rows:
        assert {"env", "env_kwargs", "agent_kwargs", "seed", "test_accuracy", "compute", "flops", "wall_time",
                "version", "git_commit", "device"} <= set(r)
        assert set(r["curve"]) >= {"val_accuracy", "compute", "keep_fraction", "wall_time"}
        assert len(r["curve"]["val_accuracy"]) == r["epochs"] + 1
        if r["agent"].startswith("full@"):  # all data for round(k*E) epochs: same sample-passes as keep k
            assert r["epochs"] == r["env_kwargs"]["epochs"] == round(r["keep"] * 3) == r["compute"] - r["val_compute"]
    table = (bench_dir / "summary.md").read_text()
    assert "Δ vs frontier (pp) | effective speed-up |" in table and "| ucb | 0.3 | 2 |" in table
    assert "| full@0.5 | 0.5 | 2 |" in table and "E' = 1, 2, 3 epochs" in table
    summary = {(s["agent"], s["keep"]): s for s in report.summarize(rows)}
    assert summary[("random", 0.5)]["delta_n"] == 2  # compute 1.5: between the 1- and 2-epoch runs
    # compute 0.9 + 4 validation passes of 500 / (3 x 1,500) = 1.34: above the 1-epoch run's 1 + 2 passes
    assert summary[("random", 0.3)]["delta_n"] == 2
    assert "| random | 0.3 | 2 |" in table  # "outside the grid" is tested on hand-made rows below
    full_compute, half = (summary[k]["compute_mean"] for k in (("full", None), ("random", 0.5)))
    assert full_compute == pytest.approx(3 + 4 * 500 / 4500) and half == pytest.approx(1.5 + 4 * 500 / 4500)
    assert summary[("random", 0.5)]["speedup_compute"] == pytest.approx(full_compute / half)
    full = [r["test_accuracy"] for r in rows if r["agent"] == "full"]
    assert summary[("full", None)]["test_acc_mean"] == pytest.approx(100 * sum(full) / 2)


def test_rerun_runs_nothing_new(bench_dir, monkeypatch, capsys):
    before = (bench_dir / "results.jsonl").read_bytes()
    monkeypatch.setattr(harness_run, "run_episode", lambda *a, **k: pytest.fail("ran an episode again"))
    assert bench(BenchArgs(**MATRIX, out=str(bench_dir))) == 0
    assert "14 already in" in capsys.readouterr().out
    assert (bench_dir / "results.jsonl").read_bytes() == before


def test_kill_mid_run_then_rerun_has_every_episode_exactly_once(tmp_path, bench_dir, capsys):
    args = ["bench", "--env", ENV, "--agents", "full,random,ucb", "--keep", "0.3,0.5", "--seeds", "0,1",
            "--epochs", "3", "--out", str(tmp_path), "--quiet"]
    proc, jsonl = cli(*args), tmp_path / "results.jsonl"
    deadline = time.time() + 60
    while not (jsonl.exists() and jsonl.read_text().count("\n") >= 1) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = jsonl.read_text().count("\n")
    assert 1 <= written < N_EPISODES, "the kill should land mid-run"
    with open(jsonl, "a") as f:  # as if killed while writing a row
        f.write('{"id": "0123456789abcdef", "test_acc')
    assert len(results.read_results(tmp_path)) == written  # the partial line is ignored
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path))) == 0  # the same command again
    assert f"{written} already in" in capsys.readouterr().out
    ids = [json.loads(line)["id"] for line in jsonl.read_text().splitlines()]
    assert len(ids) == N_EPISODES and set(ids) == {ep.id for ep in plan(BenchArgs(**MATRIX))}
    assert accuracies(tmp_path) == accuracies(bench_dir)


def hand_made_row(agent, keep, seed, acc, compute):
    """A results row with what the report reads (E = 10)."""
    return {"id": f"{agent}-{keep}-{seed}", "env": ENV, "env_kwargs": {}, "agent": agent, "agent_kwargs": {},
            "keep": keep, "seed": seed, "bench_epochs": 10, "epochs": 10, "test_accuracy": acc, "compute": compute,
            "flops": 1.0, "wall_time": 1.0, "device": "cpu", "model": "tiny", "precision": "fp32", "n_train": 100,
            "version": "0", "finished": "2026-01-01"}


def test_delta_vs_frontier_on_a_hand_made_results_set():
    row = hand_made_row
    # The frontier of seed 0: (3, 70%), (5, 80%), (10, 90%); seed 1's 5-epoch run reached 84%.
    rows = [row("full", None, s, 0.9, 10.0) for s in (0, 1)] + [row("full@0.3", 0.3, s, 0.70, 3.0) for s in (0, 1)]
    rows += [row("full@0.5", 0.5, 0, 0.80, 5.0), row("full@0.5", 0.5, 1, 0.84, 5.0)]
    rows += [row("random", 0.3, s, 0.70, 3.0) for s in (0, 1)]  # exactly on the frontier point
    rows += [row("ucb", 0.4, 0, 0.77, 4.0), row("ucb", 0.4, 1, 0.77, 4.0)]  # between 3 and 5 epochs
    rows += [row("el2n", 0.2, s, 0.65, 2.0) for s in (0, 1)]  # less compute than the grid's least
    rows += [row("forgetting", 0.4, 0, 0.95, 6.0), row("forgetting", 0.4, 1, 0.60, 12.0)]  # above; outside
    summary = {s["agent"]: s for s in report.summarize(rows)}
    assert summary["random"]["delta_mean"] == pytest.approx(0.0) and summary["random"]["delta_n"] == 2
    assert summary["random"]["speedup_eff_mean"] == pytest.approx(1.0)
    # seed 0: 77 - 75 = +2, needs 3 + 0.7 * 2 = 4.4 epochs; seed 1: 77 - 77 = 0, needs 3 + 7/14 * 2 = 4
    assert summary["ucb"]["delta_mean"] == pytest.approx(1.0) and summary["ucb"]["delta_n"] == 2
    assert summary["ucb"]["speedup_eff_mean"] == pytest.approx((4.4 / 4 + 4 / 4) / 2)
    assert summary["el2n"]["delta_n"] == 0 and summary["el2n"]["delta_outside"] == 2
    assert summary["el2n"]["speedup_eff_below"] == 2
    assert summary["forgetting"]["delta_mean"] == pytest.approx(95 - 82) and summary["forgetting"]["delta_outside"] == 1
    assert summary["forgetting"]["speedup_eff_above"] == 1 and summary["forgetting"]["speedup_eff_below"] == 1
    assert math.isnan(summary["full@0.5"]["delta_mean"])  # the frontier itself is the reference
    table = report.format_table(report.summarize(rows), rows)
    assert "| random | 0.3 | 2 | 70.00 ± 0.00 | 3.00 ± 0.00 |" in table and "| +0.00 ± 0.00 | 1.00x ± 0.00 |" in table
    assert "| +1.00 ± 1.41 | 1.05x ± 0.07 |" in table  # ucb
    assert "| outside the grid | below the grid (< 1.50x) |" in table  # el2n: the cheapest run spent 3, it 2
    assert "| +13.00 (n=1; 1 outside) | 1 above, 1 below |" in table  # forgetting
    assert "| frontier | frontier |" in table


def test_a_row_can_beat_its_equal_compute_run_and_still_be_below_the_grid_where_longer_training_loses():
    row = hand_made_row  # memorised noise: the longer the full-data run, the worse it ends
    rows = [row("full", None, 0, 0.60, 10.0), row("full@0.3", 0.3, 0, 0.80, 3.0), row("full@0.5", 0.5, 0, 0.70, 5.0),
            row("small_loss", 0.5, 0, 0.75, 5.0)]
    s = {s["agent"]: s for s in report.summarize(rows)}["small_loss"]
    assert s["delta_mean"] == pytest.approx(5.0) and s["speedup_eff_below"] == 1
    assert s["speedup_eff_below_bound"] == pytest.approx(3 / 5)
    assert "| +5.00 | below the grid (< 0.60x) |" in report.format_table(report.summarize(rows), rows)


def test_rows_name_the_cpu_model_and_precision(bench_dir):
    from dataselect_env.hardware import cpu_model
    for r in results.read_results(bench_dir):  # timings compare only within one CPU model
        assert r["device"] == f"cpu ({cpu_model()}, {os.cpu_count()} cores)"
        assert r["precision"] in ("fp32", "bf16")


def test_rows_of_two_precisions_are_never_compared():
    row = hand_made_row
    rows = [row("full", None, 0, 0.90, 10.0), row("full@0.3", 0.3, 0, 0.70, 3.0)]  # fp32 frontier
    rows += [{**row("ucb", 0.4, 0, 0.80, 4.0), "precision": "bf16"}]
    assert report.versus_rows(rows)["ucb-0.4-0"].delta_status == "no frontier"  # not against fp32's
    rows += [{**row(a, k, 0, acc, c), "id": f"{a}-bf16", "precision": "bf16"}
             for a, k, acc, c in [("full", None, 0.88, 10.0), ("full@0.3", 0.3, 0.68, 3.0)]]
    assert report.versus_rows(rows)["ucb-0.4-0"].delta == pytest.approx(80 - (68 + 1 / 7 * 20))
    assert len({s["setting"] for s in report.summarize(rows)}) == 2  # one table per precision


def test_a_bench_goes_on_only_in_the_precision_of_its_rows(tmp_path, bench_dir, capsys):
    rows = (bench_dir / "results.jsonl").read_text().splitlines()
    (tmp_path / "results.jsonl").write_text("\n".join(rows[:-1]) + "\n")  # one episode left to run
    have = json.loads(rows[0])["precision"]
    other = "bf16" if have == "fp32" else "fp32"
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path), env_kwargs={"precision": other})) == 2
    err = capsys.readouterr().err
    assert f"trained in {have}, but this run would train in {other}" in err and f"precision={have}" in err
    assert len(results.read_results(tmp_path)) == N_EPISODES - 1  # nothing ran
    # The matching precision, named explicitly, is the same episodes (not part of the id): one more runs.
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path), env_kwargs={"precision": have})) == 0
    assert accuracies(tmp_path) == accuracies(bench_dir)


def test_plan_runs_the_frontier_grid_and_keeps_old_ids():
    args = BenchArgs(env=ENV, agents=("random",), keep=(0.3,), seeds=(0,), epochs=10)
    epochs = {e.agent: e.env_kwargs["epochs"] for e in plan(args)}
    assert epochs == {"full": 10, "full@0.2": 2, "full@0.3": 3, "full@0.5": 5, "full@0.75": 8, "random": 10}
    keeps_only = plan(BenchArgs(**{**args.__dict__, "frontier": ()}))  # what a bench without the grid ran
    assert {e.agent for e in keeps_only} == {"full", "full@0.3", "random"}
    assert {e.id for e in keeps_only} <= {e.id for e in plan(args)}  # old results directories resume
    # E = 4: 0.2 and 0.3 both give 1 epoch (the keep's label wins), 1 gives full itself, 1.5 six epochs
    short = plan(BenchArgs(**{**args.__dict__, "epochs": 4, "frontier": (0.2, 0.5, 0.75, 1.0, 1.5)}))
    assert {e.agent: e.env_kwargs["epochs"] for e in short if e.agent.startswith("full")} == \
        {"full": 4, "full@0.3": 1, "full@0.5": 2, "full@0.75": 3, "full@1.5": 6}
    with pytest.raises(ValueError, match="--frontier values"):
        plan(BenchArgs(**{**args.__dict__, "frontier": (0.0,)}))


def test_selection_diagnostics_record_the_corrupted_share_of_the_kept_samples():
    if harness_run.SelectionDiagnostics.of(types.SimpleNamespace()) is not None:
        pytest.fail("an env without corrupted/labels must give no diagnostics")
    env_kwargs = {"epochs": 2, "action_mode": "mask", "synthetic": {"label_noise": 0.4}}
    base = harness_run.cached_env(ENV, json.dumps(env_kwargs, sort_keys=True)).unwrapped
    rows = {spec: harness_run.run_episode(Episode(ENV, env_kwargs, spec, spec, kw, kw.get("keep"), 0, 2), quiet=True)
            for spec, kw in (("full", {}), ("random", {"keep": 0.5}))}
    harness_run.cached_env.cache_clear()
    share = float(np.mean(base.corrupted))
    for row in rows.values():
        assert row["corrupted_fraction"] == pytest.approx(share) and 0.3 < share < 0.5
        assert row["curve"]["corrupted_kept"][0] is None and len(row["curve"]["corrupted_kept"]) == 3
        assert len(row["curve"]["class_kept"][1]) == int(base.labels.max()) + 1
    assert rows["full"]["corrupted_kept"] == pytest.approx(share)
    assert rows["full"]["curve"]["class_kept"][1] == [1.0] * len(rows["full"]["curve"]["class_kept"][1])
    assert all(0.4 < x < 0.6 for x in rows["random"]["curve"]["class_kept"][2])
    summary = {s["agent"]: s for s in report.summarize(list(rows.values()))}
    assert summary["random"]["corrupted_kept_mean"] == pytest.approx(100 * rows["random"]["corrupted_kept"])
    random_classes = 100 * np.mean(rows["random"]["curve"]["class_kept"][1:], axis=0)
    assert [float(x) for x in summary["random"]["class_kept"].split()] == pytest.approx(random_classes, abs=0.05)
    assert summary["random"]["class_kept_min"] == pytest.approx(random_classes.min())
    assert summary["full"]["class_kept_min"] == summary["full"]["class_kept_max"] == 100.0
    table = report.format_table(report.summarize(list(rows.values())), list(rows.values()))
    assert "corrupted kept (%)" in table and "kept per class (%), least / most" in table


def test_rows_land_in_a_results_file_replaced_mid_run(tmp_path):
    path = tmp_path / "results.jsonl"
    with results.results_writer(tmp_path) as write:
        write({"id": "a", "schema": results.ROW_SCHEMA})
        saved = path.read_bytes()
        path.unlink()  # what git stash / git checkout do to a committed results file: a new file
        path.write_bytes(saved)
        write({"id": "b", "schema": results.ROW_SCHEMA})
    assert [r["id"] for r in results.read_results(tmp_path)] == ["a", "b"]


def test_two_benches_cannot_write_one_dir(tmp_path):
    with results.results_writer(tmp_path):
        with pytest.raises(SystemExit, match="another bench is writing"):
            with results.results_writer(tmp_path):
                pass


def test_workers_2_give_the_same_results_as_workers_1_also_across_a_time_limit(tmp_path, bench_dir, monkeypatch,
                                                                               time_up_after):
    time_up_after(3)  # the pool submits 2, then 1 more as one ends
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path), workers=2, deadline=0.0)) == train_agent.TIME_LIMIT_EXIT
    assert len(results.read_results(tmp_path)) == 3
    monkeypatch.undo()
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path), workers=2)) == 0
    assert accuracies(tmp_path) == accuracies(bench_dir)
    assert {r["torch_threads"] for r in results.read_results(tmp_path)} == {1}


def test_time_limit_starts_no_episode_after_it_then_the_same_command_goes_on(tmp_path, bench_dir, monkeypatch,
                                                                              capsys, time_up_after):
    time_up_after(3)  # 3 episodes start, then the time is up
    args = BenchArgs(**MATRIX, out=str(tmp_path), deadline=0.0)
    assert bench(args) == train_agent.TIME_LIMIT_EXIT
    assert len(results.read_results(tmp_path)) == 3  # the running ones finished and were written
    assert f"time limit reached: {N_EPISODES - 3} episode(s) not started" in capsys.readouterr().err
    assert (tmp_path / "summary.md").exists()  # the partial run is reported
    monkeypatch.undo()
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path))) == 0
    assert "3 already in" in capsys.readouterr().out
    ids = [r["id"] for r in results.read_results(tmp_path)]
    assert len(ids) == len(set(ids)) == N_EPISODES
    assert accuracies(tmp_path) == accuracies(bench_dir)


@pytest.mark.parametrize("argv, message", [
    (["--time-limit", "0"], "--time-limit must be a positive number of minutes, got 0.0"),
    (["--time-limit", "nan"], "--time-limit must be a positive number of minutes, got nan"),
    (["--time-limit", "5", "--ray"], "--time-limit works with local execution (--workers), not with --ray"),
])
def test_bad_time_limit_fails_before_training(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(harness_run, "run_episode", lambda *a, **k: pytest.fail("training started"))
    for command in (["bench", "--env", ENV], ["suite", "smoke"]):
        assert train_agent.main([*command, *argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_ray_local_cluster_writes_the_same_results(tmp_path, bench_dir):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'dataselect[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # no extra frontier points: full, full@0.5 and random, the cells the reference run also has
        assert bench(BenchArgs(**{**MATRIX, "agents": ("full", "random"), "keep": (0.5,), "frontier": ()},
                               out=str(tmp_path), ray="")) == 0
    finally:
        ray.shutdown()
    for name in FILES:
        assert (tmp_path / name).exists(), name
    got, ref = accuracies(tmp_path), accuracies(bench_dir)
    assert len(got) == 6 and got == {i: ref[i] for i in got}


@pytest.mark.parametrize("change, message", [
    (dict(agents=("full", "nope")), "registered agents: full, random"),
    (dict(keep=(0.0, 0.5)), "(0, 1]"),
    (dict(keep=(1.5,)), "(0, 1]"),
    (dict(env_kwargs={"lrate": 0.1}), "unknown env argument 'lrate'; valid: action_mode, augment, batch_size"),
    (dict(env_kwargs={"action_mode": "weights"}), "set per agent"),
    (dict(env="DataSelect/Nope-v0"), "DataSelect/Synthetic-v0"),
    (dict(agent_kwargs={"ucb": {"c": -1.0}}), "c (exploration weight) must be >= 0"),
    (dict(agent_kwargs={"ucb": {"cc": 1.0}}), "unexpected keyword argument 'cc'"),
    (dict(agent_kwargs={"el2n": {"score_epochs": 1}}), "not in --agents"),
    (dict(agent_kwargs={"ucb": {"keep": 0.3}}), "with --keep"),
])
def test_bad_arguments_fail_before_training_with_the_choices(change, message, tmp_path, monkeypatch, capsys):
    args = BenchArgs(**{**MATRIX, **change}, out=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=re.escape(message)):
        plan(args)
    monkeypatch.setattr(harness_run, "run_episode", lambda *a, **k: pytest.fail("training started"))
    assert bench(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_reports_a_bad_keep_and_writes_nothing(tmp_path):
    proc = cli("bench", "--env", ENV, "--agents", "full,ucb", "--keep", "0.5,2", "--out", str(tmp_path / "o"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--keep values must be in (0, 1], got 2.0" in err
    assert not (tmp_path / "o").exists()


def test_kwargs_parsing():
    assert parse_kv(["epochs=3", "lr=0.05", "augment=false", "compute_budget=None", "device=cpu",
                                 'synthetic={"label_noise": 0.4}'], "--env-kwargs") == \
        {"epochs": 3, "lr": 0.05, "augment": False, "compute_budget": None, "device": "cpu",
         "synthetic": {"label_noise": 0.4}}
    assert parse_agent_kwargs(["ucb.c=0.5", "my_agents.py:Mine.eps=0.1", "ucb.seed=3"]) == \
        {"ucb": {"c": 0.5, "seed": 3}, "my_agents.py:Mine": {"eps": 0.1}}
    with pytest.raises(ValueError, match="agent.key=value"):
        parse_agent_kwargs(["c=0.5"])


def test_user_agent_file_and_keepless_agents(tmp_path):
    agent_file = tmp_path / "my_agent.py"
    agent_file.write_text(
        "import numpy as np\nfrom agents import Agent\nfrom dataselect_env import EMA_LOSS\n\n"
        "class FirstHalf(Agent):\n    '''Always the first half of the samples (no keep parameter).'''\n\n"
        "    def act(self, samples, progress):\n"
        "        return (np.arange(self.n) < self.n // 2).astype(np.int8)\n")
    spec = f"{agent_file}:FirstHalf"
    out = tmp_path / "out"
    assert bench(BenchArgs(env=ENV, agents=(spec, "infobatch"), keep=(0.5,), seeds=(0,), epochs=2,
                           out=str(out), quiet=True)) == 0
    rows = {r["agent"]: r for r in results.read_results(out)}
    assert rows[spec]["keep"] is None and rows[spec]["compute"] - rows[spec]["val_compute"] == pytest.approx(1.0)
    assert rows["infobatch"]["env_kwargs"]["action_mode"] == "weights"  # built from the agent's action_mode
    summary = {s["agent"]: s for s in report.summarize(list(rows.values()))}
    assert summary[spec]["delta_n"] == 1  # keep-less: compared with the frontier at its compute (1 epoch)


def test_report_without_matplotlib_writes_the_rest(tmp_path, bench_dir, monkeypatch, capsys):
    (tmp_path / "results.jsonl").write_bytes((bench_dir / "results.jsonl").read_bytes())
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert train_agent.main(["report", str(tmp_path)]) == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert (tmp_path / "summary.md").read_text() == (bench_dir / "summary.md").read_text()
    assert (tmp_path / "summary.csv").exists() and not (tmp_path / "pareto.png").exists()


def test_main_job_defaults_pick_the_net_for_the_machine(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = train_agent.defaults_for_machine(BenchArgs())
    assert args.env == "DataSelect/CIFAR10-v1" and args.env_kwargs["model"] == "small"
    episodes = plan(args)  # validates without loading any data
    assert {e.agent for e in episodes} >= {"full", "full@0.2", "full@0.3", "full@0.5", "full@0.75", "random",
                                           "epsilon_greedy", "ucb", "infobatch", "el2n", "forgetting", "auto"}
    assert len(episodes) == 3 * (1 + 4 + 6 * 2 + 1)  # the frontier: 2, 3, 5, 8 epochs; infobatch once per seed
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "a GPU")
    assert train_agent.defaults_for_machine(BenchArgs()).env_kwargs["model"] == "fast"


def test_train_subcommand_delegates_or_says_what_is_missing(monkeypatch, capsys, tmp_path):
    import dataclasses

    import dataselect_harness as harness
    from dataselect_harness.options import add_options, option

    @dataclasses.dataclass
    class FakeArgs:
        timesteps: int | None = option(None, "env steps", type=int)

    fake = types.ModuleType("dataselect_harness.train")
    fake.TrainArgs = FakeArgs
    fake.add_train_arguments = lambda parser: add_options(parser, FakeArgs)
    fake.train = lambda cfg: tmp_path / f"model-{cfg.timesteps}"
    monkeypatch.setitem(sys.modules, "dataselect_harness.train", fake)
    monkeypatch.setattr(harness, "train", fake, raising=False)
    assert train_agent.main(["train", "--timesteps", "7"]) == 0
    assert f"sb3:{tmp_path / 'model-7'}" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "dataselect_harness.train", None)
    monkeypatch.delattr(harness, "train")
    assert train_agent.main(["train"]) == 2
    assert "dataselect_harness/train.py" in capsys.readouterr().err


def test_sb3_policy_trained_by_train_is_benchmarked_like_any_agent(tmp_path):
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 is not installed (pip install 'dataselect[sb3]')")
    model = tmp_path / "ppo"
    assert train_agent.main(["train", "--algo", "ppo", "--interface", "bins", "--keep", "0.5", "--timesteps", "8",
                             "--env-kwargs", "epochs=2", "--out", str(model), "--no-progress-bar"]) == 0
    spec, out = f"sb3:{model}", tmp_path / "bench"
    assert bench(BenchArgs(env=ENV, agents=("random", spec), keep=(0.5,), seeds=(0,), epochs=2, out=str(out),
                           quiet=True)) == 0
    rows = {r["agent"]: r for r in results.read_results(out)}
    assert rows[spec]["keep"] == 0.5 and rows[spec]["curve"]["keep_fraction"][1:] == [0.5, 0.5]
    own = plan(BenchArgs(env=ENV, agents=(spec,), keep=(0.3, 0.5), seeds=(0,), epochs=2,
                         agent_kwargs={spec: {"keep": None}}))  # the policy chooses its fraction: one run
    assert [e.keep for e in own if e.agent == spec] == [None]


@pytest.mark.cifar
def test_main_job_smoke_on_cifar(cifar_archive, tmp_path):
    out = tmp_path / "cifar"
    assert bench(BenchArgs(agents=("random",), keep=(0.5,), seeds=(0,), epochs=2, out=str(out), quiet=True,
                           env_kwargs={"data_root": str(cifar_archive), "train_subset": 500,
                                       "val_size": 500})) == 0
    rows = results.read_results(out)
    assert {r["agent"] for r in rows} == {"full", "full@0.5", "random"} and rows[0]["model"] in ("small", "fast")


def test_diverged_episodes_are_recorded_and_counted(tmp_path):
    args = BenchArgs(env=ENV, agents=("full", "random"), keep=(0.5,), seeds=(0,), epochs=4, frontier=(),
                     env_kwargs={"lr": 50.0}, out=str(tmp_path), quiet=True)
    with pytest.warns(RuntimeWarning, match="training diverged"):  # each episode says so as it diverges
        assert bench(args) == 0
    rows = results.read_results(tmp_path)
    assert rows and all(r["diverged"] for r in rows)
    assert all(math.isfinite(r["test_accuracy"]) for r in rows)
    md = (tmp_path / "summary.md").read_text()
    assert "| diverged |" in md and "Diverged = " in md
