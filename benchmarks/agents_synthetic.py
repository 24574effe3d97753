"""Every controller on ``DataSelect/Synthetic-v0`` (20% label noise) at keep 0.3 and 0.5.

Each agent runs ``--seeds`` 10-epoch episodes per keep fraction (env and agent seeded by
``env.reset(seed=s)``, one torch thread). ``full@k`` is the compute-matched full-data baseline:
all data for ``round(k * E)`` epochs with the schedule compressed to that length. ``full`` and
``infobatch`` have no keep parameter and run once (InfoBatch's kept fraction is its own).
Prints a markdown table (test accuracy and compute: mean +- std over seeds, ddof=1) and writes
it to ``--out``.

``--sweep`` instead prints the small sweeps behind the defaults of ``ucb`` (``c``) and
``epsilon_greedy`` (``eps``), with and without label noise (the numbers in their docstrings).

Usage::

    python benchmarks/agents_synthetic.py --seeds 0,1,2,3,4
    python benchmarks/agents_synthetic.py --sweep
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import agents
import dataselect_env  # noqa: F401  (registers the env ids)

ENV_ID = "DataSelect/Synthetic-v0"
ENV_KWARGS: dict[str, Any] = {"synthetic": {"label_noise": 0.2}}
KEEP_AGENTS = ("random", "epsilon_greedy", "ucb", "loss_proportional", "el2n", "grand", "forgetting")


def run_episode(agent: agents.Agent, seed: int, **env_kwargs: Any) -> dict[str, float]:
    """One episode of ``agent``; returns its final test accuracy (%) and compute (full epochs)."""
    env = gym.make(ENV_ID, **{**ENV_KWARGS, "action_mode": agent.action_mode, **env_kwargs})
    info = agents.play_episode(agent, env, seed)
    env.close()
    return {"acc": 100 * info["test_accuracy"], "compute": info["compute"]}


def evaluate(name: str, seeds: list[int], agent_kwargs: dict[str, Any] | None = None,
             **env_kwargs: Any) -> dict[str, list[float]]:
    """Test accuracies and computes of agent ``name`` over ``seeds``."""
    runs = [run_episode(agents.make(name, **(agent_kwargs or {})), s, **env_kwargs) for s in seeds]
    return {k: [r[k] for r in runs] for k in ("acc", "compute")}


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one) and its core count."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def fmt(values: list[float], digits: int) -> str:
    """``mean ± std`` (std with ddof=1; 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def sweep(seeds: list[int], keeps: list[float]) -> None:
    """Print mean test accuracy of ``ucb`` over ``c`` and ``epsilon_greedy`` over ``eps``."""
    grid = [("random", {})] + [("ucb", {"c": c}) for c in (0.0, 0.5, 1.0, 2.0, 4.0)] + \
        [("epsilon_greedy", {"eps": e}) for e in (0.1, 0.25, 0.5, 0.75, 0.9)]
    for noise in (0.2, 0.0):
        for name, kwargs in grid:
            runs = [evaluate(name, seeds, {**kwargs, "keep": k}, synthetic={"label_noise": noise}) for k in keeps]
            accs = [statistics.mean(r["acc"]) for r in runs]
            print(f"label_noise {noise}  {name} {kwargs}  keep {keeps}: {' / '.join(f'{a:.1f}' for a in accs)}",
                  flush=True)


def main() -> None:
    """Run the matrix, print the table and write it to ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated env seeds")
    p.add_argument("--keep", default="0.3,0.5", help="comma-separated keep fractions")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "agents_synthetic.md"))
    p.add_argument("--sweep", action="store_true", help="print the ucb / epsilon_greedy default sweeps")
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    keeps = [float(k) for k in args.keep.split(",")]
    if args.sweep:
        return sweep(seeds, keeps)
    t0 = time.perf_counter()
    rows: list[tuple[str, str, dict[str, list[float]]]] = [
        ("full", "1", evaluate("full", seeds)),
        ("infobatch", "(own)", evaluate("infobatch", seeds)),
    ]
    for keep in keeps:
        matched = round(keep * 10)  # full@k: all data for round(k * E) epochs, schedule compressed
        rows.append((f"full@k ({matched} epochs)", f"{keep}", evaluate("full", seeds, epochs=matched)))
        rows += [(name, f"{keep}", evaluate(name, seeds, {"keep": keep})) for name in KEEP_AGENTS]
    wall = time.perf_counter() - t0
    lines = [f"`{ENV_ID}`, label noise 0.2, N=1500, `tiny` MLP, 10 epochs; n={len(seeds)} seeds "
             f"({args.seeds}); mean ± std (ddof=1). Compute in full-epoch units, scoring passes included.",
             "", "| agent | keep | test accuracy (%) | compute |", "|---|---|---|---|"]
    lines += [f"| {name} | {keep} | {fmt(r['acc'], 1)} | {fmt(r['compute'], 2)} |" for name, keep, r in rows]
    lines += ["", f"Machine: {cpu_name()}, {torch.get_num_threads()} torch thread, "
              f"CPU only; {date.today()}; wall time {wall:.0f} s.",
              f"Command: `python benchmarks/agents_synthetic.py --seeds {args.seeds} --keep {args.keep}`"]
    table = "\n".join(lines)
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
