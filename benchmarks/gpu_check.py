"""GPU readiness check: the env's CUDA path against the net's raw speed, and the smoke suite, on one device.

    python benchmarks/gpu_check.py --data PATH --out DIR              # one CUDA device, under 5 minutes
    python benchmarks/gpu_check.py --data PATH --out DIR --allow-cpu  # the tiny CPU version (the tests)

Three checks, in one process except (b):

(a) Throughput and accuracy: a ``DataSelect/CIFAR10-v1`` episode of the ``fast`` net, 10 epochs on all
    45,000 training images, the ``full`` agent (the env's defaults otherwise: batch 256, bf16 where
    the device has it natively). Its wall time from ``reset`` to the final test pass (the first
    epoch's cuDNN autotuning included), the images trained per second over it and over the median
    epoch (training plus that epoch's 5,000-image validation pass), and its test accuracy. Beside it
    the raw training step rate of the same net on the same device, batch size, precision and memory
    layout: a tight loop of forward, backward and SGD step on normalised batches already on the
    device (no augmentation, per-sample statistics or validation). ``env / raw`` is the share of the
    hardware's training speed the env delivers.
(b) ``python train_agent.py suite smoke --out DIR/smoke --env-kwargs device=cuda``: the harness end to
    end on the device (``Synthetic-v0``, whose registered ``device="cpu"`` the override replaces). The
    smoke suite's agents (full, random, ucb, infobatch) need no Stable-Baselines3, and neither does
    anything this script imports.
(c) Same-seed repeatability, what the full-data frontier comparison rests on: two 2-epoch runs of
    the ``fast`` net on 5,000 images with one seed, in the default mode (cuDNN autotuning) and with
    ``torch.use_deterministic_algorithms(True)``; whether their validation accuracies, test accuracy
    and training losses are bit-identical, and the largest difference when not.

Writes ``DIR/gpu_check.json`` and ``DIR/gpu_check.md`` and prints the table. With no CUDA device it
stops at once, unless ``--allow-cpu``: then it runs a tiny version (1 epoch on a 2,000-image subset,
a short raw loop, one smoke scenario with one seed, 1-epoch repeats on 500 images; the ``tiny`` conv
net instead of ``fast``) that finishes in well under a minute on 2 cores, so that the tests can run
the script.

Needs torch, torchvision, numpy and gymnasium (and the project's pillow and tqdm), with the repository
on ``PYTHONPATH``. Sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless set) before any CUDA work, as (c)'s
deterministic mode requires.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import agents
import dataselect_env  # noqa: F401  (registers the ids)
from dataselect_env import LAST_LOSS
from dataselect_env.hardware import configure_cuda_training, cpu_model, resolve_precision, tune_process
from dataselect_env.models import make_model

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "DataSelect/CIFAR10-v1"
FULL = {"model": "fast", "epochs": 10, "train_subset": None, "raw_steps": 300, "smoke": [],
        "repeat": {"epochs": 2, "train_subset": 5000}}
# --allow-cpu: the same code paths at a size a 2-core CPU runs in seconds (the tiny conv net: every
# episode ends with a pass over the 10,000 test images)
TINY = {"model": "tiny", "epochs": 1, "train_subset": 2000, "val_size": 500, "raw_steps": 5,
        "smoke": ["--scenarios", "synthetic-clean", "--seeds", "0", "--agents", "random"],
        "repeat": {"epochs": 1, "train_subset": 500, "val_size": 100}}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def episode(data: str, device: torch.device, size: dict[str, Any]) -> dict[str, Any]:
    """(a): one ``full`` episode of the ``fast`` net; wall time, images/s, accuracies."""
    kwargs = {"model": size["model"], "epochs": size["epochs"], "data_root": data, "device": str(device),
              "download": False}
    kwargs |= {k: size[k] for k in ("train_subset", "val_size") if size.get(k) is not None}
    env = gym.make(ENV_ID, **kwargs)
    stamps: list[float] = []
    sync(device)
    start = time.perf_counter()
    info = agents.play_episode(agents.make("full"), env, seed=0, on_step=lambda *_: stamps.append(time.perf_counter()))
    sync(device)
    wall = time.perf_counter() - start
    inner = env.unwrapped
    epoch_times = [b - a for a, b in zip(stamps, stamps[1:])]  # training + that epoch's validation pass
    out = {"env": ENV_ID, "env_kwargs": kwargs, "agent": "full", "seed": 0, "precision": inner.precision,
           "n_train": inner.n, "n_val": len(inner.splits.y_val), "batch_size": inner.config.train.batch_size,
           "wall_s": wall, "epoch_s": epoch_times, "samples_trained": info["samples_trained"],
           "images_per_s": info["samples_trained"] / wall,
           "images_per_s_median_epoch": inner.n / statistics.median(epoch_times),
           "test_accuracy": info["test_accuracy"], "val_accuracy": info["val_accuracy"]}
    env.close()
    return out


def raw_rate(model_name: str, device: torch.device, precision: str, batch_size: int, steps: int) -> dict[str, Any]:
    """(a)'s reference: forward + backward + SGD step of the net in a tight loop, batches on the device."""
    torch.manual_seed(0)
    model = make_model(model_name, 10, (3, 32, 32)).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.2)
    batches = [(torch.randn(batch_size, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last),
                torch.randint(0, 10, (batch_size,), device=device)) for _ in range(8)]
    if device.type == "cuda":  # the backend flags the env's trainer sets
        configure_cuda_training()

    def step(i: int) -> None:
        x, y = batches[i % len(batches)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(max(steps // 10, 2)):  # warm-up: cuDNN autotuning, allocator
        step(i)
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    wall = time.perf_counter() - start
    return {"steps": steps, "batch_size": batch_size, "precision": precision, "wall_s": wall,
            "images_per_s": steps * batch_size / wall}


def repeatability(data: str, device: torch.device, model: str, size: dict[str, Any]) -> dict[str, Any]:
    """(c): the same seed twice, in the default mode and with deterministic algorithms."""
    kwargs = {"model": model, "data_root": data, "device": str(device), "download": False, **size}
    env = gym.make(ENV_ID, **kwargs)
    out: dict[str, Any] = {"env_kwargs": kwargs}
    try:
        for mode, deterministic in (("default", False), ("deterministic", True)):
            torch.use_deterministic_algorithms(deterministic)
            runs = []
            for _ in range(2):
                val: list[float] = []
                info = agents.play_episode(agents.make("full"), env, seed=7,
                                           on_step=lambda info, *_, seen=val: seen.append(info["val_accuracy"]))
                losses = env.unwrapped.stats.table[:, LAST_LOSS].cpu()  # every sample's last training loss
                runs.append((val, info["test_accuracy"], losses))
            (va, ta, la), (vb, tb, lb) = runs
            out[mode] = {"identical": va == vb and ta == tb and bool((la == lb).all()),
                         "val_accuracy": [va, vb], "test_accuracy": [ta, tb],
                         "max_abs_loss_diff": float((la - lb).abs().max())}
    except RuntimeError as err:  # an op without a deterministic implementation says so here
        out["error"] = str(err).splitlines()[0]
    finally:
        torch.use_deterministic_algorithms(False)
        env.close()
    return out


def smoke_suite(out: Path, device: torch.device, extra: list[str]) -> dict[str, Any]:
    """(b): ``train_agent.py suite smoke`` on ``device``, in a subprocess (the CLI as a user runs it)."""
    cmd = [sys.executable, str(ROOT / "train_agent.py"), "suite", "smoke", "--out", str(out),
           "--env-kwargs", f"device={device.type}", "--quiet", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    rows = sum(len(p.read_text().splitlines()) for p in out.glob("*/results.jsonl"))
    return {"command": " ".join(cmd[1:]), "returncode": proc.returncode, "wall_s": time.perf_counter() - start,
            "episodes": rows, "leaderboard": str(out / "leaderboard.md") if (out / "leaderboard.md").exists() else None,
            "stderr_tail": proc.stderr[-2000:] if proc.returncode else ""}


def table(s: dict[str, Any]) -> str:
    a, r, c, b = s["episode"], s["raw"], s["repeatability"], s["smoke"]
    lines = [f"GPU check on {s['device_name']} (torch {s['torch']}, {s['mode']})", "",
             "| check | result |", "|---|---|",
             f"| (a) {a['env']} {a['env_kwargs']['model']}, {a['n_train']:,} images x {a['env_kwargs']['epochs']} epochs, full, "
             f"{a['precision']} | {a['wall_s']:.1f} s, {a['images_per_s']:,.0f} images/s "
             f"(median epoch: {a['images_per_s_median_epoch']:,.0f}), test accuracy {a['test_accuracy']:.4f} |",
             f"| (a) raw training steps, same net, batch {r['batch_size']}, {r['precision']} | "
             f"{r['images_per_s']:,.0f} images/s ({r['steps']} steps) |",
             f"| (a) env / raw | {a['images_per_s'] / r['images_per_s']:.2f} "
             f"(median epoch: {a['images_per_s_median_epoch'] / r['images_per_s']:.2f}) |",
             f"| (b) suite smoke | exit {b['returncode']}, {b['episodes']} episodes, {b['wall_s']:.0f} s |"]
    if "error" in c:
        lines.append(f"| (c) same-seed repeats | error: {c['error']} |")
    else:
        for mode in ("default", "deterministic"):
            m = c[mode]
            lines.append(f"| (c) same-seed repeats, {mode} | {'bit-identical' if m['identical'] else 'differ'}: "
                         f"test {m['test_accuracy'][0]:.4f} / {m['test_accuracy'][1]:.4f}, "
                         f"max loss difference {m['max_abs_loss_diff']:.2e} |")
    lines.append(f"\nwall time {s['wall_s']:.0f} s; Stable-Baselines3 imported: {s['imported_sb3']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory for gpu_check.json, gpu_check.md and the smoke suite")
    p.add_argument("--data", required=True, help="CIFAR-10: a torchvision root, or an image folder / .tar.gz of one")
    p.add_argument("--allow-cpu", action="store_true", help="without a CUDA device, run the tiny CPU version")
    args = p.parse_args(argv)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # (c)'s deterministic mode; read when cuBLAS starts
    if not torch.cuda.is_available() and not args.allow_cpu:
        raise SystemExit(f"gpu_check: no CUDA device (torch {torch.__version__}, built for CUDA "
                         f"{torch.version.cuda or 'none'}: torch.cuda.is_available() is False). Run it on a GPU "
                         f"machine, or pass --allow-cpu for the tiny CPU version.")
    if not Path(args.data).exists():
        raise SystemExit(f"gpu_check: --data {args.data} does not exist (a CIFAR-10 root, image folder or .tar.gz)")
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    size = FULL if cuda else TINY
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tune_process()  # what train_agent.py applies
    start = time.perf_counter()
    s: dict[str, Any] = {"mode": "full" if cuda else "tiny (--allow-cpu, no CUDA device)", "torch": torch.__version__,
                         "python": platform.python_version(),
                         "device_name": torch.cuda.get_device_name(device) if cuda else f"cpu ({cpu_model()})",
                         "capability": list(torch.cuda.get_device_capability(device)) if cuda else None,
                         "auto_precision": resolve_precision("auto", device)}

    def save() -> None:  # after each part: a run stopped early keeps what it measured
        s["imported_sb3"] = "stable_baselines3" in sys.modules
        s["wall_s"] = time.perf_counter() - start
        (out / "gpu_check.json").write_text(json.dumps(s, indent=1) + "\n")

    print(f"(a) {ENV_ID} {size['model']} net, {size['epochs']} epoch(s) on {device} ...", flush=True)
    s["episode"] = episode(args.data, device, size)
    s["raw"] = raw_rate(size["model"], device, s["episode"]["precision"], s["episode"]["batch_size"], size["raw_steps"])
    save()
    print("(c) same-seed repeats ...", flush=True)
    s["repeatability"] = repeatability(args.data, device, size["model"], size["repeat"])
    save()
    print("(b) suite smoke ...", flush=True)
    s["smoke"] = smoke_suite(out / "smoke", device, size["smoke"])
    save()
    text = table(s)
    (out / "gpu_check.md").write_text(text + "\n")
    print(text)
    if s["smoke"]["returncode"]:
        print(f"suite smoke failed:\n{s['smoke']['stderr_tail']}", file=sys.stderr)
    return 1 if s["smoke"]["returncode"] or "error" in s["repeatability"] else 0


if __name__ == "__main__":
    sys.exit(main())
