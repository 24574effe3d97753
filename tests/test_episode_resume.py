"""An interrupted episode resumes at its last finished epoch and ends as if it had never stopped:
``play_episode`` from a saved state, a bench killed mid-episode and run again, and SIGTERM, which stops
a bench as Ctrl-C does and leaves no worker behind."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import agents
import dataselect_env  # noqa: F401  (registers the ids)
from dataselect_harness import results
from dataselect_harness.bench import bench
from dataselect_harness.inflight import INFLIGHT, inflight_path
from dataselect_harness.plan import BenchArgs, plan

REPO = Path(__file__).resolve().parents[1]
ENV = "DataSelect/Synthetic-v1"
WALL_CLOCK = ("wall_time", "finished")  # the only row fields a resumed episode may write differently


def round_trip(state: dict) -> dict:
    """``state`` through ``torch.save`` and ``torch.load``, as the harness keeps it on disk."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


AGENTS = {"ucb": {"keep": 0.5}, "el2n": {"keep": 0.5}, "infobatch": {}, "rho_loss": {"keep": 0.5, "ref_epochs": 1},
          "auto": {"keep": 0.5}}


def play(spec: str, resume: dict | None = None, **kwargs) -> tuple[list, list[dict]]:
    """(per-step (info, reward) after the reset, the states ``on_save`` was given) of one 3-epoch episode
    of ``agents.load(spec, **kwargs)``, played with ``deterministic=False``."""
    agent = agents.load(spec, **kwargs)
    env = gym.make(ENV, epochs=3, action_mode=agent.action_mode)
    steps, states = [], []
    agents.play_episode(agent, env, seed=5, deterministic=False, resume=resume,
                        on_step=lambda info, reward, _: steps.append((info, reward)),
                        on_save=lambda state: states.append(round_trip(state)))
    return steps, states


def resumes_exactly(spec: str, **kwargs) -> None:
    """Each state kept after a step of an episode of ``spec``, resumed by a new env and agent, plays the
    rest of the episode with the same ``info`` and rewards as the uninterrupted run."""
    steps, states = play(spec, **kwargs)
    assert len(states) == 2  # after epochs 1 and 2 (not after the last one)
    for k, state in enumerate(states, 1):
        resumed, _ = play(spec, resume=state, **kwargs)
        assert resumed == steps[k + 1:], f"resumed after epoch {k}"


@pytest.mark.parametrize("spec", AGENTS)
def test_an_episode_resumed_after_any_epoch_ends_as_the_uninterrupted_one(spec, one_torch_thread):
    """Bit for bit: the trainer (weights, momentum, generator), the statistics, the ledger and the agent's
    memory (a static agent's subset, InfoBatch's step count, RHO-LOSS's irreducible losses) all come back."""
    resumes_exactly(spec, **AGENTS[spec])


def test_a_stochastic_sb3_policy_resumes_with_its_draws(tmp_path, one_torch_thread):
    """A policy sampled with ``deterministic=False`` draws from torch's global generator: the agent keeps it."""
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 is not installed (pip install 'dataselect[sb3]')")
    from dataselect_harness.train import TrainArgs, train
    model = train(TrainArgs(algo="ppo", env=ENV, interface="bins", keep=0.5, timesteps=8, env_kwargs={"epochs": 2},
                            out=tmp_path / "ppo", progress_bar=False))
    resumes_exactly(f"sb3:{model}", deterministic=False)


def cli(*args: str) -> subprocess.Popen:
    """``python train_agent.py ARGS`` in the repository, one torch thread."""
    return subprocess.Popen([sys.executable, str(REPO / "train_agent.py"), *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})


def wait_for(condition, seconds: float = 120.0) -> None:
    """Poll ``condition()`` every 20 ms until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def without_wall_clock(row: dict) -> dict:
    """``row`` less its wall-clock fields (and the curve's)."""
    curve = {k: v for k, v in row["curve"].items() if k != "wall_time"}
    return {**{k: v for k, v in row.items() if k not in WALL_CLOCK}, "curve": curve}


MATRIX = dict(env=ENV, agents=("ucb",), keep=(0.5,), seeds=(0,), frontier=(), epochs=6, threads=1, quiet=True)
FLAGS = ("bench", "--env", ENV, "--agents", "ucb", "--keep", "0.5", "--seeds", "0", "--frontier", "", "--epochs", "6",
         "--threads", "1", "--quiet")


def test_a_bench_killed_mid_episode_resumes_it_and_writes_the_uninterrupted_row(tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    ucb = next(ep for ep in plan(BenchArgs(**MATRIX)) if ep.agent == "ucb")  # runs last, after full and full@0.5
    proc = cli(*FLAGS, "--out", str(killed))
    wait_for(lambda: inflight_path(killed, ucb.id).exists() or proc.poll() is not None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ucb.id not in {r["id"] for r in results.read_results(killed)}, "the kill should land mid-episode"
    epoch = torch.load(inflight_path(killed, ucb.id), weights_only=False)["epoch"]
    assert 1 <= epoch < 6

    again = cli(*FLAGS, "--out", str(killed))
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"in flight resuming at their last finished epoch (ucb k=0.5 s=0: epoch {epoch} of 6)" in out
    assert not list((killed / INFLIGHT).iterdir())  # removed once the row is written

    assert bench(BenchArgs(**MATRIX, out=str(reference))) == 0  # uninterrupted
    rows, expected = ({r["id"]: without_wall_clock(r) for r in results.read_results(d)} for d in (killed, reference))
    assert json.dumps(rows[ucb.id], sort_keys=True) == json.dumps(expected[ucb.id], sort_keys=True)
    assert rows == expected


def descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (children, their children, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


LONG = ("bench", "--env", ENV, "--agents", "random", "--keep", "0.03", "--seeds", "0", "--frontier", "", "--epochs", "100",
        "--threads", "1", "--quiet", "--workers", "2")  # full@0.03 (3 epochs) ends first; full (100) is still running


def two_worker_bench(out: Path) -> tuple[subprocess.Popen, set[int]]:
    """A two-worker bench into ``out`` that has written a row and keeps episodes in flight; its processes."""
    proc = cli(*LONG, "--out", str(out))
    def in_flight() -> bool:  # a row written, and an episode without a row has finished an epoch
        written = {r["id"] for r in results.read_results(out)}
        return bool(written) and any(p.stem not in written for p in (out / INFLIGHT).glob("[!t]*.pt"))
    wait_for(lambda: in_flight() or proc.poll() is not None)
    assert proc.poll() is None, "the bench ended before the signal"
    workers = descendants(proc.pid)
    assert len(workers) >= 2
    return proc, workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_sigterm_stops_a_two_worker_bench_keeps_what_finished_and_leaves_no_process(tmp_path):
    proc, workers = two_worker_bench(tmp_path)
    written = len(results.read_results(tmp_path))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    wait_for(lambda: not any(running(pid) for pid in workers), seconds=10)  # and multiprocessing's resource tracker
    assert len(results.read_results(tmp_path)) >= written >= 1  # the finished rows are kept
    names = {ep.name: ep.id for ep in plan(BenchArgs(env=ENV, agents=("random",), keep=(0.03,), seeds=(0,),
                                                     frontier=(), epochs=100))}
    said = re.search(r"(\d+) episode\(s\) in flight kept in \S+ at their last finished epoch \((.*?)\)", err)
    assert said, err
    kept = dict(re.findall(r"([^,]+?): epoch (\d+) of \d+", said.group(2)))
    assert len(kept) == int(said.group(1)) >= 1, err
    for name, epoch in kept.items():  # what the message says is what is on disk: no worker trained on after it
        assert torch.load(inflight_path(tmp_path, names[name.strip()]), weights_only=False)["epoch"] == int(epoch)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_the_workers_of_a_killed_bench_end_with_it(tmp_path):
    proc, workers = two_worker_bench(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not any(running(pid) for pid in workers), seconds=10)  # not orphans training for an hour
