"""What a bench says while it runs and when it stops: per-epoch lines without a terminal, the Ctrl-C
summary, and wall times that do not charge one episode with the process's warm-up."""

from __future__ import annotations

import re

import torch
from test_train_agent import ENV, MATRIX, N_EPISODES

import dataselect_env  # noqa: F401  (registers the ids)
from dataselect_harness import inflight as inflight_mod
from dataselect_harness import plan as harness_plan
from dataselect_harness import run as harness_run
from dataselect_harness.bench import bench
from dataselect_harness.plan import BenchArgs, Episode


def test_ctrl_c_says_what_finished_and_what_was_kept(tmp_path, monkeypatch, capsys):
    finished = []

    def first_then_ctrl_c(ep, threads=None, quiet=False, inflight=None):
        if finished:  # the second episode finished its first epoch of 3 when Ctrl-C came
            inflight_mod.save(inflight_mod.inflight_path(inflight, ep.id), {"id": ep.id, "epoch": 1, "epochs": 3})
            finished.append(ep)
            raise KeyboardInterrupt
        finished.append(ep)
        return {"id": ep.id, "agent": ep.agent, "keep": ep.keep, "seed": ep.seed, "test_accuracy": 0.5,
                "compute": 1.0, "wall_time": 1.0}
    monkeypatch.setattr(harness_run, "run_episode", first_then_ctrl_c)
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path))) == 130
    err = capsys.readouterr().err
    assert "1 episode(s) finished in this run" in err and f"(1 of {N_EPISODES} in all)" in err
    assert (f"1 episode(s) in flight kept in {tmp_path / 'inflight'} at their last finished epoch "
            f"({finished[1].name}: epoch 1 of 3)") in err
    assert "an episode in flight that had not finished an epoch starts over" in err
    assert "Run the same command to resume" in err


def test_an_episode_prints_one_line_per_epoch_when_the_output_is_not_a_terminal(capsys):
    ep = Episode(ENV, {"epochs": 2, "action_mode": "mask"}, "random", "random", {"keep": 0.5}, 0.5, 0, 2)
    harness_run.run_episode(ep, quiet=False)  # pytest's captured stdout is not a terminal
    harness_run.cached_env.cache_clear()
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert [line.split(":")[1].split(",")[0].strip() for line in lines] == ["epoch 1/2", "epoch 2/2"]
    harness_run.run_episode(ep, quiet=True)
    harness_run.cached_env.cache_clear()
    assert "epoch" not in capsys.readouterr().out


def test_the_first_episode_of_an_env_warms_up_outside_its_wall_time(monkeypatch):
    """Wall-clock speed-ups compare episodes' wall times: the first episode of an env in a process
    would also pay for building the net's kernels and the allocator's pages. It gets one reset before
    its clock starts (same seed: the episode itself is unchanged); later episodes do not."""
    import dataselect_env.env as env_module
    resets = []
    real_reset = env_module.DataSelectEnv.reset

    def counted_reset(self, *, seed=None, options=None):
        resets.append(seed)
        return real_reset(self, seed=seed, options=options)
    monkeypatch.setattr(env_module.DataSelectEnv, "reset", counted_reset)
    monkeypatch.setattr(harness_run, "WARMED", set())
    ep = Episode(ENV, {"epochs": 1, "action_mode": "mask"}, "random", "random", {"keep": 0.5}, 0.5, 0, 1)
    first = harness_run.run_episode(ep, quiet=True)
    second = harness_run.run_episode(ep, quiet=True)
    harness_run.cached_env.cache_clear()
    assert len(resets) == 3  # warm-up + the first episode's own reset, then only the second's
    assert first["test_accuracy"] == second["test_accuracy"] and first["curve"]["val_accuracy"] == \
        second["curve"]["val_accuracy"]  # the warm-up changes nothing the episode computes


def test_the_time_left_weighs_episodes_by_their_expected_cost(capsys):
    """After a 1-epoch episode in 60 s, a 3-epoch one is about 3 minutes away, not 1."""
    import time
    from types import SimpleNamespace

    from dataselect_harness.bench import progress_writer
    bar = SimpleNamespace(update=lambda: None, write=print)
    on_result = progress_writer(lambda row: None, None, bar, 2, 0, time.perf_counter() - 60, {"a": 1.0, "b": 3.0})
    on_result({"id": "a", "agent": "full@0.2", "keep": 0.2, "seed": 0, "test_accuracy": 0.5, "compute": 1.0,
               "wall_time": 60.0})
    assert "about 3.0 min left" in capsys.readouterr().out
    ep = Episode(ENV, {"epochs": 10}, "ucb", "ucb", {"keep": 0.3}, 0.3, 0, 10)
    full = Episode(ENV, {"epochs": 5}, "full@0.5", "full", {}, 0.5, 0, 10)
    assert (harness_plan.episode_cost(ep), harness_plan.episode_cost(full)) == (3.0, 5.0)


def test_the_bench_says_its_precision_before_training(tmp_path, capsys):
    assert bench(BenchArgs(**{**MATRIX, "seeds": (0,), "agents": ("full",), "keep": (0.5,)}, out=str(tmp_path))) == 0
    from dataselect_env.hardware import resolve_precision
    precision = resolve_precision("auto", torch.device("cpu"))  # Synthetic-v0 trains on the CPU
    assert re.search(rf"\(1 worker\(s\), {precision} on cpu\); expected about \d+ min here", capsys.readouterr().out)


def test_a_partial_report_says_it_is_partial(tmp_path, time_up_after):
    time_up_after(2)  # --time-limit reached after two episodes
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path))) == 75
    table = (tmp_path / "summary.md").read_text()
    assert table.startswith(f"**Partial:** 2 of the {N_EPISODES} planned episodes have finished")
    time_up_after(10**9)  # the same command goes on to the end
    assert bench(BenchArgs(**MATRIX, out=str(tmp_path))) == 0
    assert "Partial" not in (tmp_path / "summary.md").read_text()
