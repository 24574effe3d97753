"""The env's own overhead, and what bf16 buys, on CIFAR-10 with the ``small`` net.

Runs in one process:

1. Timing, interleaved ``--repeats`` times: a bare fp32 training loop written plainly here (same
   model, data, batch size, augmentation, schedule and per-epoch validation), once in the default
   NCHW layout as a user would write it and once in channels_last as the env runs it; then the env
   at fp32 and at its default precision, each stepping an all-ones mask for ``--timing-epochs``.
   Prints the env's own overhead (env fp32 against the channels_last bare loop, like for like) and
   the speed-up of the env's default against the plain bare loop and against the channels_last one.
2. Accuracy: ``--seeds`` full 10-epoch episodes at fp32 and at bf16, test accuracy mean +- std.

Usage::

    python benchmarks/env_overhead.py --data-root ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from datetime import date
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

import dataselect_env
from dataselect_env.data import load
from dataselect_env.hardware import keep_freed_memory
from dataselect_env.models import make_model


def bare_training(splits, epochs: int, seed: int, channels_last: bool, batch_size: int = 256,
                  lr: float = 0.2) -> float:
    """A plain fp32 loop a user would write; returns images per second over all epochs."""
    torch.manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = make_model("small", 10, (3, 32, 32)).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x_train, y_train = splits.x_train, splits.y_train
    mean = x_train.float().mean((0, 2, 3), keepdim=True) / 255
    std = x_train.float().std((0, 2, 3), keepdim=True) / 255
    norm = lambda x: ((x.float() / 255 - mean) / std).contiguous(memory_format=fmt)  # noqa: E731
    n = len(y_train)
    steps = -(-n // batch_size)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n)
        x, y = x_train[perm], y_train[perm]
        flip = torch.rand(n) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
        dy, dx = torch.randint(0, 5, (n, 1)), torch.randint(0, 5, (n, 1))
        rows = (dy + torch.arange(32))[:, None, :, None]
        cols = (dx + torch.arange(32))[:, None, None, :]
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
        for i in range(steps):
            progress = (epoch + i / steps) / 10
            for g in opt.param_groups:
                g["lr"] = lr * (min(progress / 0.2, (1 - progress) / 0.8))
            xb, yb = norm(x[i * batch_size:(i + 1) * batch_size]), y[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(norm(splits.x_val[j:j + 1024])).argmax(1) == splits.y_val[j:j + 1024]).sum()
                          for j in range(0, len(splits.y_val), 1024))
    _ = correct
    return n * epochs / (time.perf_counter() - start)


def env_episode(data_root: str, precision: str, epochs: int, seed: int,
                schedule_epochs: int = 10) -> tuple[float, dict]:
    """Step the env with all-ones masks for ``epochs``; return images/s and the last info."""
    env = gym.make("DataSelect/CIFAR10-v0", data_root=data_root, epochs=schedule_epochs, model="small",
                   precision=precision, device="cpu")
    obs, _ = env.reset(seed=seed)
    n = obs["samples"].shape[0]
    start = time.perf_counter()
    for _ in range(epochs):
        obs, _, terminated, _, info = env.step(np.ones(n, dtype=np.int8))
    rate = n * epochs / (time.perf_counter() - start)
    env.close()
    return rate, info


def main() -> None:
    """Run the timing and accuracy parts; print and save a markdown report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="../shared/data/cifar10-jpeg.tar.gz")
    p.add_argument("--timing-epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seeds", type=int, default=2, help="10-epoch episodes per precision (0: timing only)")
    p.add_argument("--out", default="benchmarks/results/env_overhead.md")
    args = p.parse_args()
    keep_freed_memory()  # the env's CPU allocator setting, made here so that the bare loops share it
    splits = load("cifar10", args.data_root)
    default_precision = gym.make("DataSelect/CIFAR10-v0", data_root=args.data_root, device="cpu").unwrapped.precision
    default = f"env_{default_precision}"
    rates: dict[str, list[float]] = {"bare_fp32": [], "bare_fp32_cl": [], "env_fp32": [], default: []}
    runs = {"bare_fp32": lambda r: bare_training(splits, args.timing_epochs, seed=r, channels_last=False),
            "bare_fp32_cl": lambda r: bare_training(splits, args.timing_epochs, seed=r, channels_last=True),
            "env_fp32": lambda r: env_episode(args.data_root, "fp32", args.timing_epochs, seed=r)[0],
            default: lambda r: env_episode(args.data_root, default_precision, args.timing_epochs, seed=r)[0]}
    for r in range(args.repeats):  # interleaved, order reversed every other repeat: drifts in load hit all alike
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            rates[name].append(runs[name](r))
        print({k: round(v[-1]) for k, v in rates.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    overhead = med["bare_fp32_cl"] / med["env_fp32"]
    speedup = med[default] / med["bare_fp32"]
    speedup_cl = med[default] / med["bare_fp32_cl"]
    acc: dict[str, list[float]] = {}
    acc_rate: dict[str, list[float]] = {}
    for precision in ("fp32", "bf16"):
        for seed in range(args.seeds):
            rate, info = env_episode(args.data_root, precision, 10, seed=100 + seed)
            acc.setdefault(precision, []).append(info["test_accuracy"])
            acc_rate.setdefault(precision, []).append(rate)
            print(precision, seed, info["test_accuracy"], round(rate), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
    lines = [
        f"Measured {date.today()} on {platform.processor() or platform.machine()} "
        f"({torch.get_num_threads()} torch threads), torch {torch.__version__}, commit {commit}, "
        f"CIFAR-10 (JPEG copy), `small` net, batch 256, 45,000 training images.",
        "",
        f"Timing: median of {args.repeats} interleaved repeats of {args.timing_epochs} epoch(s) each, the order "
        "reversed every other repeat (all include the per-epoch validation pass).",
        "",
        "| run | images/s (median) | all repeats |",
        "|---|---|---|",
        *[f"| {k} | {med[k]:.0f} | {', '.join(f'{x:.0f}' for x in v)} |" for k, v in rates.items()],
        "",
        "`bare_fp32` is the plain loop (NCHW, as a user would write it); `bare_fp32_cl` the same loop in "
        "channels_last, the env's layout. All runs share the env's CPU allocator setting (`keep_freed_memory`).",
        "",
        f"- env fp32 time / bare fp32 channels_last time (the env's own overhead, like for like): **{overhead:.3f}**",
        f"- bare fp32 time / env {default_precision} time (the env's default against a plain fp32 loop): "
        f"**{speedup:.2f}**",
        f"- bare fp32 channels_last time / env {default_precision} time (what {default_precision} adds to "
        f"channels_last): **{speedup_cl:.2f}**",
        "",
        f"Accuracy: full 10-epoch episodes, all-ones mask, n = {args.seeds} per precision.",
        "",
        "| precision | test accuracy (mean +- std) | runs | images/s |",
        "|---|---|---|---|",
        *[f"| {k} | {100 * statistics.mean(v):.2f} +- {100 * sd(v):.2f} | "
          f"{', '.join(f'{100 * x:.2f}' for x in v)} | {statistics.mean(acc_rate[k]):.0f} |" for k, v in acc.items()],
    ]
    report = "\n".join(lines)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n")
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"rates": rates, "overhead": overhead, "speedup": speedup, "speedup_vs_channels_last": speedup_cl,
         "accuracy": acc, "accuracy_rates": acc_rate,
         "commit": commit, "date": str(date.today()), "version": dataselect_env.__version__}, indent=1))


if __name__ == "__main__":
    main()
