"""Headroom of a task family, measured before any training: what the oracles and the hand-written
rules gain over ``random`` at each task's keep, paired on the same task and seed.

    python benchmarks/task_headroom.py --tasks 48 --ranges epochs=[4,40] imbalance=[1,100] \\
        --out benchmarks/results/task_headroom/synthetic.jsonl

Task ``s`` is ``DataSelect/Tasks-v1``'s draw for ``reset(seed=s)`` with the given ranges (held-out
datasets by default: ``data_seed_start=1000``, disjoint from the training family's 0-9). Every agent
plays task ``s`` on seed ``s`` (same data, initial weights and validation split as ``random``), so
the paired difference of test accuracy is the agent's gain on that task. One JSON line per task
(resumable: tasks already in ``--out`` are skipped); at the end a markdown table by regime.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import agents  # noqa: E402
import dataselect_env  # noqa: E402, F401
from dataselect_harness.plan import parse_kv  # noqa: E402

AGENTS = ("random", "class_balanced", "small_loss", "epsilon_greedy", "loss_proportional", "oracle_clean",
          "oracle_balanced")
REGIMES = {  # name -> predicate on the task
    "label noise >= 0.2": lambda t: t["label_noise"] >= 0.2,
    "long tail (imbalance >= 10)": lambda t: t["imbalance"] >= 10,
    "clean and near balanced": lambda t: t["label_noise"] < 0.1 and t["imbalance"] < 3,
    "all tasks": lambda t: True,
}


def play_task(env: gym.Env, seed: int, names: tuple[str, ...]) -> dict:
    """Every agent on task ``seed`` at the task's keep: test and validation accuracy, wall time."""
    env.reset(seed=seed)
    task = dict(env.unwrapped.task.__dict__)
    row = {"seed": seed, "task": task, "n": int(env.unwrapped.n), "test": {}, "val": {}, "wall": {}}
    for name in names:
        start = time.perf_counter()
        info = agents.play_episode(agents.load(name, keep=task["keep"]), env, seed)
        row["test"][name], row["val"][name] = float(info["test_accuracy"]), float(info["val_accuracy"])
        row["wall"][name] = round(time.perf_counter() - start, 3)
    return row


def ci95(x: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% CI of the mean."""
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(len(x), size=(reps, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def table(rows: list[dict], names: tuple[str, ...]) -> str:
    """Markdown: per regime and agent, the mean paired gain over random (test accuracy, points) [95% CI];
    the best hand-written rule (by its mean) and the best rule of each task (the gain of a controller
    that picks it), when rules were played (oracles and ``sb3:`` models are not rules)."""
    others = [a for a in names if a != "random"]
    short = [a.rsplit("/", 1)[-1] if a.startswith("sb3:") else a for a in others]  # a model by its directory
    rules = [a for a in others if not a.startswith(("oracle", "sb3:"))]
    lines = ["| regime | tasks | " + " | ".join(short) + (" | best rule | best rule per task |" if rules else " |"),
             "|---|---:|" + "---|" * (len(others) + 2 * bool(rules))]
    for regime, keep in REGIMES.items():
        rs = [r for r in rows if keep(r["task"])]
        if not rs:
            continue
        gain = {b: 100 * np.array([r["test"][b] - r["test"]["random"] for r in rs]) for b in others}
        cells = [f"{gain[b].mean():+.1f} [{ci95(gain[b])[0]:+.1f}, {ci95(gain[b])[1]:+.1f}]" for b in others]
        if rules:
            best = max(rules, key=lambda b: gain[b].mean())
            cells.append(f"{best} {gain[best].mean():+.1f}")
            per_task = np.max([gain[b] for b in rules], axis=0)  # a controller that picks each task's best rule
            cells.append(f"{per_task.mean():+.1f} [{ci95(per_task)[0]:+.1f}, {ci95(per_task)[1]:+.1f}]")
        lines.append(f"| {regime} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse the flags, play the tasks not yet in ``--out``, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=48, help="tasks (reset seeds 0 .. K-1)")
    p.add_argument("--family", default="DataSelect/Tasks-v1", help="task env id")
    p.add_argument("--ranges", nargs="*", default=[], help="TaskRanges overrides, k=v (JSON values)")
    p.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agent specs (sb3:DIR too); "
                   "random is always played")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/task_headroom/synthetic.jsonl"))
    a = p.parse_args()
    names = tuple(dict.fromkeys(["random", *a.agents.split(",")]))
    ranges = {"data_seed_start": 1000, **parse_kv(a.ranges, "--ranges")}
    env = gym.make(a.family, **ranges)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["seed"] for line in a.out.read_text().splitlines()} if a.out.exists() else set()
    start = time.perf_counter()
    for s in range(a.tasks):
        if s in done:
            continue
        row = {**play_task(env, s, names), "ranges": ranges}
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        t = row["task"]
        print(f"task {s + 1}/{a.tasks}: N={row['n']} E={t['epochs']} noise={t['label_noise']:.2f} "
              f"imbalance={t['imbalance']:.1f} keep={t['keep']:.2f}  "
              + " ".join(f"{k} {100 * (v - row['test']['random']):+.1f}" for k, v in row["test"].items() if k != "random")
              + f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    rows = [json.loads(line) for line in a.out.read_text().splitlines()]
    episodes = sum(len(r["wall"]) for r in rows)
    per_hour = 3600 * episodes / sum(sum(r["wall"].values()) for r in rows)
    print(f"\n{len(rows)} tasks, {episodes} episodes, {per_hour:.0f} episodes/h of episode time\n")
    print(table(rows, names))


if __name__ == "__main__":
    main()
