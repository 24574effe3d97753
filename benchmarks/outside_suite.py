"""Controllers on CIFAR-10 settings that no suite holds, as a new user would try them.

Other noise types and rates, other tails, noise and a tail at once: each setting is played by each
agent at each keep and seed, and by full-data training for ``round(f E)`` epochs at each fraction ``f``
of ``--frontier`` (the full-data frontier, as the suites run it). Every agent's test accuracy is
compared with the frontier of its seed at the compute it spent (Δ vs frontier, the suites' measure:
``small_loss`` and ``auto`` ramp their kept share down from all data and spend more than ``random``
at the same keep), and with ``random`` at the same keep and seed (a paired difference).

    python benchmarks/outside_suite.py --out benchmarks/results/outside_suite --workers 8

writes ``results.jsonl`` (one row per episode, appended as they finish: a re-run skips finished
ones) and ``outside_suite.md`` (per setting and keep: n, mean test accuracy, mean Δ vs the frontier
and the mean paired difference to ``random``, each with its Student-t 95% CI over seeds).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np

SMALL = {"model": "small", "val_size": 1000, "label_smoothing": 0.0, "weight_decay": 5e-5}
SETTINGS: dict[str, tuple[str, dict[str, Any], int]] = {  # name -> (env id, kwargs, epochs)
    "clean-5k-e20": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 5000}, 20),
    "sym20-5k-e40": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 5000, "label_noise": 0.2}, 40),
    "sym60-5k-e40": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 5000, "label_noise": 0.6}, 40),
    "asym40-5k-e40": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 5000, "label_noise": 0.4,
                                                "noise_type": "asymmetric"}, 40),
    "lt10-20k-e20": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 20000, "imbalance": 10.0}, 20),
    "lt50-20k-e20": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 20000, "imbalance": 50.0}, 20),
    "lt100-sym20-20k-e30": ("DataSelect/CIFAR10-v1", {**SMALL, "train_subset": 20000, "imbalance": 100.0,
                                                      "label_noise": 0.2}, 30),
}
AGENTS = ("random", "class_balanced", "small_loss", "auto")
FRONTIER = (0.2, 0.3, 0.5, 0.75, 1.0)  # full-data training for round(f E) epochs, as the suites' frontier


def play(task: tuple[str, str, float, int, dict[str, Any]]) -> dict[str, Any]:
    """One episode: ``(setting, agent, keep, seed, extra env kwargs)`` -> its row."""
    import gymnasium as gym
    import torch

    import agents
    import dataselect_env  # noqa: F401
    setting, name, keep, seed, extra = task
    env_id, kwargs, epochs = SETTINGS[setting]
    torch.set_num_threads(1)
    if name.startswith("full@"):  # a frontier point: all data, the schedule compressed to round(f E) epochs
        agent, epochs = agents.make("full"), max(1, round(float(name[5:]) * epochs))
    else:
        agent = agents.make(name, keep=keep)
    env = gym.make(env_id, epochs=epochs, obs_version=1, **{**kwargs, **extra})
    start = time.perf_counter()
    info = agents.play_episode(agent, env, seed=seed)
    row = {"setting": setting, "agent": name, "keep": keep, "seed": seed, "test_accuracy": info["test_accuracy"],
           "compute": info["compute"], "n_train": env.unwrapped.n, "wall_time": time.perf_counter() - start,
           "device": str(env.unwrapped.device), "precision": env.unwrapped.precision}
    env.close()
    return row


def mean_ci(values: list[float]) -> str:
    """``mean [low, high]``: Student-t 95% CI over seeds (the leaderboard's ``mean_t_interval``); ``—`` for none."""
    from dataselect_harness.bootstrap import mean_t_interval
    if len(values) < 2:
        return "—" if not values else f"{values[0]:+.2f} (n = 1)"
    low, high = mean_t_interval(values)
    return f"{np.mean(values):+.2f} [{low:+.2f}, {high:+.2f}]"


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per setting, keep and agent with rows: its seeds, mean accuracy and compute, the per-seed Δ vs its
    seed's full-data frontier (seeds whose compute lies outside the frontier's grid left out) and the
    per-seed paired difference to ``random`` at the same keep (percentage points)."""
    from dataselect_env.frontier import Frontier, delta_vs_frontier
    acc = {(r["setting"], r["agent"], r["keep"], r["seed"]): 100 * r["test_accuracy"] for r in rows}
    comp = {(r["setting"], r["agent"], r["keep"], r["seed"]): r["compute"] for r in rows}
    fronts = {}
    for setting, seed in {(r["setting"], r["seed"]) for r in rows}:
        points = [(comp[key], acc[key]) for key in acc if key[0] == setting and key[3] == seed
                  and key[1].startswith("full@")]
        fronts[setting, seed] = Frontier.from_pairs(points) if points else None
    out = []
    for setting in SETTINGS:
        for keep in sorted({r["keep"] for r in rows if not r["agent"].startswith("full@")}):
            for name in AGENTS:
                seeds = sorted(s for (st, a, k, s) in acc if (st, a, k) == (setting, name, keep))
                if not seeds:
                    continue
                deltas = [delta_vs_frontier(fronts[setting, s], comp[setting, name, keep, s], acc[setting, name, keep, s])
                          for s in seeds if fronts[setting, s] is not None]
                diffs = [acc[setting, name, keep, s] - acc[setting, "random", keep, s] for s in seeds
                         if name != "random" and (setting, "random", keep, s) in acc]
                out.append({"setting": setting, "keep": keep, "agent": name, "n": len(seeds),
                            "accuracy": float(np.mean([acc[setting, name, keep, s] for s in seeds])),
                            "compute": float(np.mean([comp[setting, name, keep, s] for s in seeds])),
                            "deltas": [d for d in deltas if d is not None], "diffs": diffs})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per setting and keep, each agent's n, mean accuracy, Δ vs its seed's full-data frontier
    (where its compute lies on the frontier's grid) and paired difference to random."""
    lines = ["| setting | keep | agent | n | test accuracy (%) | compute | Δ vs frontier [95% CI] | "
             "− random, paired [95% CI] |", "|---|---:|---|---:|---:|---:|---|---|"]
    for e in summary(rows):
        lines.append(f"| {e['setting']} | {e['keep']:g} | {e['agent']} | {e['n']} | {e['accuracy']:.2f} | "
                     f"{e['compute']:.2f} | {mean_ci(e['deltas'])} | "
                     f"{'—' if e['agent'] == 'random' else mean_ci(e['diffs'])} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per keep, stacked: each agent's Δ vs frontier per setting, every seed a dot, the mean with its
    Student-t 95% CI as a bar (none at n < 2)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dataselect_harness.bootstrap import mean_t_interval
    from dataselect_harness.plots import agent_colors
    colors = agent_colors(list(AGENTS), plt)
    entries = [e for e in summary(rows) if e["deltas"]]
    keeps = sorted({e["keep"] for e in entries})
    settings = [s for s in SETTINGS if any(e["setting"] == s for e in entries)]
    if not keeps:
        return
    fig, axes = plt.subplots(len(keeps), 1, figsize=(1.4 * len(settings) + 2, 3.5 * len(keeps) + 1), squeeze=False,
                             sharex=True)
    width = 0.8 / len(AGENTS)
    for ax, keep in zip(axes[:, 0], keeps):
        for j, name in enumerate(AGENTS):
            for e in (e for e in entries if e["keep"] == keep and e["agent"] == name):
                x = settings.index(e["setting"]) + (j - (len(AGENTS) - 1) / 2) * width
                mean = float(np.mean(e["deltas"]))
                err = None
                if len(e["deltas"]) >= 2:
                    low, high = mean_t_interval(e["deltas"])
                    err = [[mean - low], [high - mean]]
                ax.errorbar(x, mean, yerr=err, fmt="o", color=colors[name], capsize=3, label=name)
                ax.scatter([x] * len(e["deltas"]), e["deltas"], s=8, color=colors[name], alpha=0.4)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(settings)), settings, rotation=30, ha="right")
        ax.set_title(f"keep {keep:g}")
        ax.set_ylabel("Δ vs full-data frontier (points)")
    fig.suptitle("Outside the suites: test accuracy minus full-data training at the same compute, same seed")
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes[0][0].legend(unique.values(), unique.keys(), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """Run the missing episodes (in parallel worker processes), then write the table."""
    from dataselect_harness.bench import git_commit  # here, not at the top: every spawned worker imports this file
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/outside_suite"))
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma list of: " + ", ".join(SETTINGS))
    p.add_argument("--agents", default=",".join(AGENTS))
    p.add_argument("--keep", default="0.3,0.5")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--frontier", default=",".join(f"{f:g}" for f in FRONTIER),
                   help="fractions f of E at which full-data training runs round(f E) epochs ('' for none)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--env-kwargs", default="{}", help="JSON added to every env's kwargs, e.g. '{\"device\": \"cuda\"}'")
    args = p.parse_args(argv)
    unknown = set(args.settings.split(",")) - set(SETTINGS)
    if unknown:
        raise SystemExit(f"--settings: unknown {sorted(unknown)}; known: {', '.join(SETTINGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(r["setting"], r["agent"], r["keep"], r["seed"]) for r in rows}
    extra = json.loads(args.env_kwargs)
    fractions = [float(f) for f in args.frontier.split(",") if f]
    tasks = [(s, a, float(k), int(seed), extra) for s in args.settings.split(",") for seed in args.seeds.split(",")
             for k in args.keep.split(",") for a in args.agents.split(",") if (s, a, float(k), int(seed)) not in done]
    tasks += [(s, f"full@{f:g}", f, int(seed), extra) for s in args.settings.split(",")
              for seed in args.seeds.split(",") for f in fractions if (s, f"full@{f:g}", f, int(seed)) not in done]
    commit = git_commit()  # "+dirty" also when only results.jsonl (being appended to) is uncommitted
    print(f"{len(tasks)} episodes to run ({len(done)} already in {path}), {args.workers} worker(s)", flush=True)
    with open(path, "a") as f, mp.get_context("spawn").Pool(args.workers) as pool:
        for row in pool.imap_unordered(play, tasks):
            row["git_commit"] = commit
            f.write(json.dumps(row) + "\n")
            f.flush()
            rows.append(row)
            print(f"{row['setting']} {row['agent']} k={row['keep']:g} s{row['seed']}: "
                  f"{100 * row['test_accuracy']:.2f}% ({row['wall_time']:.0f}s)", flush=True)
    text = table(rows)
    (args.out / "outside_suite.md").write_text(f"# Controllers outside the suites\n\n`python benchmarks/outside_suite.py "
                                               f"--out {args.out}`; {len(rows)} episodes on "
                                               f"{sorted({r['device'] + ' ' + r['precision'] for r in rows})}.\n\n"
                                               + text + "\n")
    plot(rows, args.out / "outside_suite.png")
    print(text)


if __name__ == "__main__":
    main()
