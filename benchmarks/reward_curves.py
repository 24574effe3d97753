"""Learning curves of policies trained with different rewards, on one figure.

Reads ``DIR/*/learning_curve.csv`` and ``eval_baselines.csv`` (written by ``train_agent.py train
--eval-tasks K --eval-baselines ...``); run directories are grouped by their ``--reward``
(``train_args.json``). Draws the held-out validation Δ vs the full-data frontier against env
steps, one thin line per training seed and a thick line for the mean over seeds at the steps all
seeds reached, with the hand-written agents as dotted lines (their values in the legend; the
axis spans the curves); writes ``DIR/reward_curves.png`` and
prints a markdown table (per reward: mean ± std over seeds at the last common step).

Usage::

    python benchmarks/reward_curves.py benchmarks/models/tasks-reward
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dataselect_harness.checkpoints import ARGS_FILE  # noqa: E402
from dataselect_harness.curves import read_baselines, read_learning_curve  # noqa: E402

KEY = "mean_val_vs_frontier"


def curves_by_reward(directory: Path) -> dict[str, dict[str, dict[int, float]]]:
    """``{reward: {run name: {env steps: mean val Δ}}}`` of the runs under ``directory``."""
    out: dict[str, dict[str, dict[int, float]]] = defaultdict(dict)
    for run in sorted(p for p in directory.iterdir() if (p / ARGS_FILE).exists()):
        reward = json.loads((run / ARGS_FILE).read_text()).get("reward") or "gain_per_compute"
        out[reward][run.name] = {int(r["env_steps"]): r[KEY] for r in read_learning_curve(run)}
    return out


def main() -> None:
    """Draw the figure and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("directory", type=Path, help="a folder of training runs")
    directory = p.parse_args().directory
    groups = curves_by_reward(directory)
    baselines = next((read_baselines(r) for r in sorted(directory.iterdir()) if read_baselines(r)), [])
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = ["| reward | seeds | env steps | held-out val Δ vs frontier (pp), mean ± std over seeds |", "|---|---:|---:|---|"]
    for i, (reward, runs) in enumerate(sorted(groups.items())):
        for curve in runs.values():
            ax.plot(list(curve), list(curve.values()), color=f"C{i}", alpha=0.3, linewidth=1)
        common = sorted(set.intersection(*(set(c) for c in runs.values())))
        means = [statistics.mean(c[s] for c in runs.values()) for s in common]
        ax.plot(common, means, color=f"C{i}", linewidth=2.5, marker="o", label=f"PPO bins, {reward} (n={len(runs)})")
        last = [c[common[-1]] for c in runs.values()]
        spread = statistics.stdev(last) if len(last) > 1 else 0.0
        lines.append(f"| {reward} | {len(runs)} | {common[-1]} | {statistics.mean(last):+.2f} ± {spread:.2f} |")
    for j, row in enumerate(baselines):
        ax.axhline(row[KEY], color=f"C{j + 3}", linestyle=":", linewidth=1.5, label=f"{row['agent']} ({row[KEY]:+.2f})")
        lines.append(f"| (hand-written) {row['agent']} | — | — | {row[KEY]:+.2f} |")
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    values = [v for runs in groups.values() for c in runs.values() for v in c.values()]
    ax.set_ylim(min(values) - 1, max(values) + 1)  # a baseline far below stays in the legend, with its value
    ax.set_xlabel("env steps")
    ax.set_ylabel("held-out val Δ vs full-data frontier (pp)")
    n_tasks = int(baselines[0]["episodes"]) if baselines else 0
    ax.set_title(f"{n_tasks} held-out tasks", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(directory / "reward_curves.png", dpi=120)
    print("\n".join(lines))
    print(f"wrote {directory / 'reward_curves.png'}")


if __name__ == "__main__":
    main()
