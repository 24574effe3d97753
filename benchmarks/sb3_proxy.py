"""PPO trained on ``DataSelect/CIFAR10Proxy-v0``, evaluated on the proxy against the bandits.

Two project commands, both resumable (a finished training run or episode is not redone):

1. ``python train_agent.py train --algo ppo --env DataSelect/CIFAR10Proxy-v0 --interface bins
   --keep K --timesteps T ...`` (one episode per PPO update);
2. ``python train_agent.py bench --env DataSelect/CIFAR10Proxy-v0 --agents sb3:MODEL,random,ucb,full
   --keep K --seeds ...`` (``full`` brings the compute-matched ``full@K``).

The validation split is 1,000 images (``val_size=1000``) in training and evaluation alike: on a
2-core CPU the default 5,000-image validation pass every epoch costs more than the training
epoch at keep 0.3. Writes ``benchmarks/results/sb3_proxy.md``: the bench table plus the training
cost (env steps, episodes, wall time).

Usage::

    python benchmarks/sb3_proxy.py --data-root shared/data/cifar10-jpeg.tar.gz   # ~25 min, 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "DataSelect/CIFAR10Proxy-v0"


def main(argv: list[str] | None = None) -> str:
    """Train (unless done), bench (resuming), write the markdown report; return it."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=os.environ.get("DATASELECT_DATA", str(ROOT.parent / "shared" / "data" /
                                                                               "cifar10-jpeg.tar.gz")))
    p.add_argument("--keep", type=float, default=0.3)
    p.add_argument("--timesteps", type=int, default=200, help="PPO env steps (10 per episode)")
    p.add_argument("--train-seed", type=int, default=0)
    p.add_argument("--seeds", default="100,101,102", help="evaluation episode seeds")
    p.add_argument("--val-size", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=None,
                   help="inner-training batch size (default: the env's, 256); at keep 0.3 the proxy's 5,000 "
                        "samples give only 6 SGD steps an epoch at 256")
    p.add_argument("--threads", type=int, default=1, help="torch threads (per bench worker)")
    p.add_argument("--train-threads", type=int, default=None, help="torch threads for training (default: --threads)")
    p.add_argument("--workers", type=int, default=1, help="bench worker processes")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "sb3_proxy")
    p.add_argument("--out", type=Path, default=None, help="markdown report (default: "
                   "benchmarks/results/sb3_proxy[-bB].md)")
    args = p.parse_args(argv)
    env_kwargs = [f"data_root={args.data_root}", f"val_size={args.val_size}"]
    tag = ""
    if args.batch_size:
        env_kwargs.append(f"batch_size={args.batch_size}")
        tag = f"-b{args.batch_size}"
    args.out = args.out or ROOT / "benchmarks" / "results" / f"sb3_proxy{tag}.md"
    model = args.runs / f"ppo-bins-k{args.keep:g}-T{args.timesteps}-s{args.train_seed}{tag}"
    train_cmd = ["train_agent.py", "train", "--algo", "ppo", "--env", ENV_ID, "--interface", "bins",
                 "--keep", f"{args.keep:g}", "--timesteps", str(args.timesteps), "--seed", str(args.train_seed),
                 "--episodes-per-update", "1", "--threads", str(args.train_threads or args.threads),
                 "--out", str(model), "--env-kwargs", *env_kwargs]
    bench_dir = args.runs / f"bench{tag}"
    bench_cmd = ["train_agent.py", "bench", "--env", ENV_ID, "--agents", f"sb3:{model},random,ucb,full",
                 "--keep", f"{args.keep:g}", "--seeds", args.seeds, "--threads", str(args.threads),
                 "--workers", str(args.workers), "--out", str(bench_dir), "--quiet", "--env-kwargs", *env_kwargs]
    start = time.perf_counter()
    if not (model / "interface.json").is_file():
        subprocess.run([sys.executable, *train_cmd], cwd=ROOT, check=True)
    subprocess.run([sys.executable, *bench_cmd], cwd=ROOT, check=True)
    meta = json.loads((model / "interface.json").read_text())
    summary = (bench_dir / "summary.md").read_text().strip()
    report = "\n".join([
        f"### PPO (`bins`, keep {args.keep:g}) trained on `{ENV_ID}` vs random, ucb, full",
        "",
        f"2-core AMD EPYC CPU, no GPU, {args.train_threads or args.threads} torch thread(s) in training, "
        f"{args.workers} bench worker(s) of {args.threads} thread(s); {date.today().isoformat()}; "
        f"val_size={args.val_size}, batch_size={args.batch_size or 'default (256)'}.",
        f"Training: {meta['env_steps']} env steps = {meta['episodes']} episodes of {meta['epochs']} epochs on "
        f"N = {meta['n_train']}, PPO with one episode per update, {meta['train_wall_time_s'] / 60:.1f} min "
        f"wall. This script: {(time.perf_counter() - start) / 60:.1f} min (a resumed run counts only "
        "what it ran)." + (f" {meta['note']}" if meta.get("note") else ""),
        "",
        summary,
        "",
        "Commands:",
        "",
        "```",
        "python " + " ".join(train_cmd),
        "python " + " ".join(bench_cmd),
        "```",
    ])
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    return report


if __name__ == "__main__":
    main()
