"""Do SB3 policies learn? Trained policies against ``random`` at the same keep, on noisy labels.

Each configuration (``algo:interface``) is trained by the project's own command,
``python train_agent.py train ...``, once per training seed, on ``DataSelect/Synthetic-v0`` with
``--noise`` of the training labels flipped; then every trained policy and the baselines
(``random`` and ``ucb`` at the same keep, ``full``) run one episode per evaluation seed
(``env.reset(seed=s)``: the same network initialisation for every agent, so differences are
paired). Reports test accuracy (mean ± std over all runs, ddof=1), the paired difference to
``random`` (mean ± std over training seeds of the per-policy mean over evaluation seeds), how
many trained policies beat ``random``, and the training cost (env steps, wall time).

Usage::

    python benchmarks/sb3_synthetic.py                      # the full comparison (~10 min, 2 cores)
    python benchmarks/sb3_synthetic.py --configs ppo:bins --train-seeds 0 --eval-seeds 100,101
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import agents
import dataselect_env  # noqa: F401  (registers the env ids)
from dataselect_env.hardware import cpu_model

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "DataSelect/Synthetic-v0"
CONFIGS = ("ppo:bins", "ppo:linear", "ppo:set", "a2c:bins", "a2c:linear", "sac:bins", "sac:linear",
           "td3:bins", "td3:linear")


def run_episode(agent: agents.Agent, env: gym.Env, seed: int) -> tuple[float, float]:
    """Test accuracy (%) and mean kept fraction of one episode of ``agent`` on ``env`` seeded with ``seed``."""
    info = agents.play_episode(agent, env, seed)
    return 100.0 * info["test_accuracy"], info["compute"] / env.unwrapped.epochs


def train_policy(algo: str, interface: str, keep: float, noise: float, timesteps: int, seed: int,
                 out: Path) -> dict[str, Any]:
    """Train with ``python train_agent.py train`` (skipped when ``out`` holds a finished run); its metadata."""
    meta_path = out / "interface.json"
    if not meta_path.is_file():
        cmd = [sys.executable, "train_agent.py", "train", "--algo", algo, "--env", ENV_ID, "--interface", interface,
               "--timesteps", str(timesteps), "--seed", str(seed), "--out", str(out), "--threads", "1",
               "--no-progress-bar", "--env-kwargs", "synthetic=" + json.dumps({"label_noise": noise})]
        if interface != "set":
            cmd += ["--keep", str(keep)]
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads(meta_path.read_text())


def fmt(values: list[float], digits: int = 2) -> str:
    """``mean ± std`` (ddof=1; 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def main(argv: list[str] | None = None) -> str:
    """Run the comparison; print and write the markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma list of algo:interface")
    p.add_argument("--keep", type=float, default=0.3)
    p.add_argument("--noise", type=float, default=0.4, help="fraction of flipped training labels")
    p.add_argument("--timesteps", type=int, default=400, help="env steps per training run")
    p.add_argument("--train-seeds", default="0,1,2")
    p.add_argument("--eval-seeds", default=",".join(str(s) for s in range(100, 110)))
    p.add_argument("--models", type=Path, default=ROOT / "runs" / "sb3_synthetic", help="trained models go here")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sb3_synthetic.md")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    train_seeds = [int(s) for s in args.train_seeds.split(",")]
    eval_seeds = [int(s) for s in args.eval_seeds.split(",")]
    env = gym.make(ENV_ID, synthetic={"label_noise": args.noise})
    start = time.perf_counter()
    baselines = {"random": agents.make("random", keep=args.keep), "ucb": agents.make("ucb", keep=args.keep),
                 "full": agents.make("full")}
    runs = {name: np.array([run_episode(agent, env, s) for s in eval_seeds]) for name, agent in baselines.items()}
    random = runs["random"][:, 0]
    rows = [f"| {name} | {r[:, 1].mean():.2f} | — | — | {fmt(list(r[:, 0]))} | — | — |" for name, r in runs.items()]
    for config in args.configs.split(","):
        algo, interface = config.split(":")
        # set: evaluated at the same keep (top round(keep*N) logits), and at the fraction it chooses itself
        for keep in ([args.keep, None] if interface == "set" else [args.keep]):
            accs, kept, gains, steps, walls = [], [], [], [], []
            for seed in train_seeds:
                tag = f"{algo}-{interface}-k{args.keep:g}-noise{args.noise:g}-T{args.timesteps}-s{seed}"
                meta = train_policy(algo, interface, args.keep, args.noise, args.timesteps, seed, args.models / tag)
                r = np.array([run_episode(agents.make("sb3", path=args.models / tag, keep=keep), env, s)
                              for s in eval_seeds])
                accs += list(r[:, 0])
                kept += list(r[:, 1])
                gains.append(float(np.mean(r[:, 0] - random)))
                steps.append(meta["env_steps"])
                walls.append(meta["train_wall_time_s"])
            same = keep is not None
            rows.append(f"| {algo.upper()} `{interface}`{'' if same else ' (own keep)'} | {np.mean(kept):.2f} | "
                        f"{steps[0]} | {fmt(walls, 1)} | {fmt(accs)} | "
                        f"{fmt(gains) if same else 'n/a'} | {sum(g > 0 for g in gains) if same else '—'}"
                        f"{'/' + str(len(gains)) if same else ''} |")
            print(rows[-1], flush=True)
    cpu = _cpu_name()
    table = "\n".join([
        f"### SB3 policies vs random on `{ENV_ID}`, {args.noise:.0%} label noise, keep {args.keep}",
        "",
        f"{cpu}, {torch.get_num_threads()} torch thread, no GPU; {date.today().isoformat()}; "
        f"{len(train_seeds)} training seeds x {len(eval_seeds)} evaluation seeds "
        f"({eval_seeds[0]}..{eval_seeds[-1]}); N = {env.unwrapped.n}, 10 epochs, `tiny` net; "
        f"{(time.perf_counter() - start) / 60:.1f} min in all.",
        "Test accuracy: mean ± std over all runs. Δ vs random: paired by evaluation seed, mean ± std over "
        "training seeds. Wins: trained policies whose mean beats random. Kept fraction: mean over epochs "
        "and runs (`set` chooses its own under the default gain-per-compute reward; at the same keep it "
        "keeps its top round(keep*N) logits). Training wall times were measured niced, sharing the 2 "
        "cores with other jobs: they vary with the load.",
        "",
        "| agent | kept fraction | env steps per training | training wall (s) | test acc (%) | "
        "Δ vs random (pp) | wins |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Command: `python benchmarks/sb3_synthetic.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
    ])
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    return table


def _cpu_name() -> str:
    return f"{cpu_model()} ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
