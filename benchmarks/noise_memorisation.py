"""Where full-data training memorises label noise: a CPU-sized CIFAR-10 scenario with 40% symmetric noise.

Trains the ``small`` net on a noisy CIFAR-10 subset (validation and test stay clean) and records,
per epoch, the validation accuracy, the training-pass accuracy on the (noisy) labels of the clean
and of the corrupted samples, and the wall time. Memorisation shows as the validation accuracy
peaking and then falling while the accuracy on the corrupted samples' wrong labels climbs
(Arpit et al. 2017; Zhang et al. 2017; Han et al. 2018).

Agents: ``full`` (every sample, every epoch), ``clean`` (the oracle: only the samples whose label
was not flipped, read from ``env.unwrapped.corrupted``; analysis only, a controller may not do this)
and ``random@K`` (a fresh random K fraction each epoch).

One JSON line per (config, agent, seed) episode; rows already in ``--out`` are skipped, so the
script resumes. ``--plot`` draws the full-data validation curves of one config (``--plot-config``,
by default the config of this invocation)::

    PYTHONPATH=. python benchmarks/noise_memorisation.py --epochs 30 --label-smoothing 0 --no-augment \\
        --seeds 0 1 2 --agents full --plot
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import agents
import dataselect_env  # noqa: F401  (registers the env ids)
from agents.base import Agent
from dataselect_env.stats import LAST_CORRECT

OUT_DIR = Path(__file__).parent / "results" / "noise_memorisation"
DATA_ROOT = os.environ.get("DATASELECT_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                                      / "cifar10-jpeg.tar.gz")


class CleanOracle(Agent):
    """Trains on exactly the samples whose label is clean (reads the env's ground truth: analysis only)."""

    def start_episode(self) -> None:
        self.mask = (~self.env.corrupted).astype(np.int8)

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        return self.mask


def make_agent(spec: str) -> Agent:
    """``full``, ``clean`` or ``random@K``."""
    if spec == "full":
        return agents.make("full")
    if spec == "clean":
        return CleanOracle()
    if spec.startswith("random@"):
        return agents.make("random", keep=float(spec.partition("@")[2]))
    raise ValueError(f"unknown agent {spec!r}: use full, clean or random@K")


def env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Every env kwarg of the scenario (the data root excluded: it names a file, not the scenario)."""
    return {"dataset": "cifar10", "label_noise": args.label_noise, "noise_type": "symmetric",
            "train_subset": args.train_subset, "val_size": args.val_size, "model": args.model,
            "epochs": args.epochs, "lr": args.lr, "weight_decay": args.weight_decay,
            "label_smoothing": args.label_smoothing, "augment": args.augment, "batch_size": args.batch_size,
            "precision": "fp32", "device": "cpu"}


def config_name(kw: dict[str, Any]) -> str:
    """A short, stable name of a config, e.g. ``n5000-e30-ls0-wd0.0005-lr0.2-noaug-small``."""
    return (f"n{kw['train_subset']}-e{kw['epochs']}-ls{kw['label_smoothing']:g}-wd{kw['weight_decay']:g}"
            f"-lr{kw['lr']:g}-{'aug' if kw['augment'] else 'noaug'}-{kw['model']}")


def load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_episode(env: gym.Env, spec: str, seed: int) -> dict[str, Any]:
    """One episode; per-epoch curves of val accuracy, train accuracy (clean / corrupted) and wall time."""
    agent = make_agent(spec)
    base = env.unwrapped
    start = time.perf_counter()
    obs, info = env.reset(seed=seed)
    agent.reset(env)
    corrupted = base.corrupted
    curve: dict[str, list] = {"val_accuracy": [info["val_accuracy"]], "val_loss": [info["val_loss"]],
                              "train_acc_clean": [None], "train_acc_corrupted": [None],
                              "epoch_time": [time.perf_counter() - start], "lr": [None]}
    done = False
    while not done:
        t0 = time.perf_counter()
        action, _ = agent.predict(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(obs, reward, terminated, truncated, info)
        curve["epoch_time"].append(time.perf_counter() - t0)  # the last one includes the test evaluation
        done = terminated or truncated
        trained = np.asarray(action).astype(bool)
        correct = obs["samples"][:, LAST_CORRECT]  # training-pass accuracy on the labels trained on
        for key, part in (("train_acc_clean", trained & ~corrupted), ("train_acc_corrupted", trained & corrupted)):
            curve[key].append(float(correct[part].mean()) if part.any() else None)
        curve["val_accuracy"].append(info["val_accuracy"])
        curve["val_loss"].append(info["val_loss"])
        curve["lr"].append(info.get("lr"))
        print(f"  epoch {len(curve['val_accuracy']) - 1:3d}  val {info['val_accuracy']:.4f}  "
              f"train clean {curve['train_acc_clean'][-1] or 0:.3f}  corrupted {curve['train_acc_corrupted'][-1] or 0:.3f}"
              f"  {curve['epoch_time'][-1]:.1f}s", flush=True)
    val = np.asarray(curve["val_accuracy"])
    peak = int(val[1:].argmax()) + 1
    return {"agent": spec, "seed": seed, "test_accuracy": info["test_accuracy"], "peak_val": float(val[peak]),
            "peak_epoch": peak, "final_val": float(val[-1]), "drop_pp": 100 * float(val[peak] - val[-1]),
            "wall_time": time.perf_counter() - start, "corrupted_fraction": float(corrupted.mean()), "curve": curve}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu": cpu, "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "commit": commit}


def plot(rows: list[dict[str, Any]], config: str, path: Path) -> None:
    """Full-data val accuracy per epoch, per seed and the mean (peak and final marked), and the train accuracy."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted((r for r in rows if r["config"] == config and r["agent"] == "full"), key=lambda r: r["seed"])
    if not runs:
        raise SystemExit(f"no full-data rows of config {config!r} to plot")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    vals = np.array([r["curve"]["val_accuracy"] for r in runs]) * 100
    epochs = np.arange(vals.shape[1])
    for r, v in zip(runs, vals):
        ax.plot(epochs, v, lw=1, alpha=0.55, label=f"seed {r['seed']}")
    mean = vals.mean(0)
    ax.plot(epochs, mean, lw=2.5, color="black", label=f"mean of {len(runs)} seed{'s' * (len(runs) > 1)}")
    peak = int(mean[1:].argmax()) + 1
    ax.plot(peak, mean[peak], "v", ms=11, color="tab:red", label=f"peak {mean[peak]:.1f}% (epoch {peak})", zorder=5)
    ax.plot(epochs[-1], mean[-1], "o", ms=10, color="tab:blue", zorder=5,
            label=f"final {mean[-1]:.1f}% (drop {mean[peak] - mean[-1]:.1f} points)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%, clean labels)")
    ax.set_title("Validation accuracy of full-data training")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    for key, color, label in (("train_acc_clean", "tab:green", "clean samples"),
                              ("train_acc_corrupted", "tab:purple", "corrupted samples (their wrong label)")):
        acc = np.array([[np.nan if a is None else 100 * a for a in r["curve"][key][1:]] for r in runs])
        ax2.plot(epochs[1:], acc.mean(0), lw=2, color=color, label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("training accuracy on the labels trained on (%)")
    ax2.set_title("Training accuracy: memorising the noisy labels (mean of seeds)")
    ax2.set_ylim(0, 100)
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper left", fontsize=9)
    kw = runs[0]["env_kwargs"]
    fig.suptitle(f"CIFAR-10 (JPEG copy), {kw['label_noise']:.0%} symmetric label noise, {kw['train_subset']:,} "
                 f"training samples, {kw['epochs']} epochs, {kw['model']} net, label smoothing "
                 f"{kw['label_smoothing']:g}, {'with' if kw['augment'] else 'no'} augmentation", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def summary(rows: list[dict[str, Any]]) -> None:
    """A markdown table: one line per (config, agent, seed), then the mean ± std of each (config, agent)."""
    print("| config | agent | seed | peak val % (epoch) | final val % | drop (points) | test % | wall (s) | s / epoch |")
    print("|---|---|---|---|---|---|---|---|---|")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["config"], r["agent"]), []).append(r)
        per_epoch = np.median(r["curve"]["epoch_time"][1:])
        print(f"| {r['config']} | {r['agent']} | {r['seed']} | {100 * r['peak_val']:.1f} ({r['peak_epoch']}) | "
              f"{100 * r['final_val']:.1f} | {r['drop_pp']:.1f} | {100 * r['test_accuracy']:.1f} | "
              f"{r['wall_time']:.0f} | {per_epoch:.1f} |")
    print()
    print("| config | agent | n | peak val % | final val % | drop (points) | drop of the mean curve | test % | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (config, agent), rs in groups.items():
        def ms(values: list[float]) -> str:
            a = np.asarray(values, dtype=float)
            return f"{a.mean():.1f} ± {a.std(ddof=1):.1f}" if len(a) > 1 else f"{a.mean():.1f}"
        mean = np.mean([r["curve"]["val_accuracy"] for r in rs], 0) * 100
        peak = int(mean[1:].argmax()) + 1
        print(f"| {config} | {agent} | {len(rs)} | {ms([100 * r['peak_val'] for r in rs])} | "
              f"{ms([100 * r['final_val'] for r in rs])} | {ms([r['drop_pp'] for r in rs])} | "
              f"{mean[peak] - mean[-1]:.1f} (peak {mean[peak]:.1f} at epoch {peak}) | "
              f"{ms([100 * r['test_accuracy'] for r in rs])} | {ms([r['wall_time'] for r in rs])} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--model", default="small")
    p.add_argument("--label-noise", type=float, default=0.4)
    p.add_argument("--val-size", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--agents", nargs="+", default=["full"], help="full, clean, random@K")
    p.add_argument("--data-root", default=DATA_ROOT)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT_DIR / "results.jsonl")
    p.add_argument("--plot", action="store_true", help="draw the val curves of --plot-config after running")
    p.add_argument("--plot-only", action="store_true", help="only draw the plot")
    p.add_argument("--plot-config", default=None, help="config name to plot (default: this invocation's)")
    p.add_argument("--summary", action="store_true", help="print a markdown table of every config in --out")
    p.add_argument("--plot-path", type=Path, default=OUT_DIR / "val_curves.png")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kw = env_kwargs(args)
    name = config_name(kw)
    if not args.plot_only:
        done = {(r["config"], r["agent"], r["seed"]) for r in load_rows(args.out)}
        todo = [(a, s) for s in args.seeds for a in args.agents if (name, a, s) not in done]
        print(f"config {name}: {len(todo)} episode(s) to run, {len(args.seeds) * len(args.agents) - len(todo)} done")
        env = gym.make("DataSelect/CIFAR10-v0", data_root=args.data_root, **kw) if todo else None
        info = machine()
        for spec, seed in todo:
            print(f"{name} {spec} seed {seed}", flush=True)
            row = {"config": name, "env_kwargs": kw, **run_episode(env, spec, seed), "machine": info,
                   "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"  -> peak {row['peak_val']:.4f} (epoch {row['peak_epoch']}) final {row['final_val']:.4f} "
                  f"drop {row['drop_pp']:.2f} pp, test {row['test_accuracy']:.4f}, {row['wall_time']:.0f}s", flush=True)
    if args.summary:
        summary(load_rows(args.out))
    if args.plot or args.plot_only:
        plot(load_rows(args.out), args.plot_config or name, args.plot_path)


if __name__ == "__main__":
    main()
