"""What a trained rule-space policy does, in plain numbers: its rule parameters per regime and
stage of training, and its paired gain over ``random``, on held-out Synthetic tasks.

    python benchmarks/explain_rule_policy.py benchmarks/models/ars-rules-s0 benchmarks/models/ars-rules-s1 \\
        --out benchmarks/results/rule_policy

A rule-space policy (``--interface rules``, e.g. ARS's linear map) turns progress and the regime
summaries into the 13 parameters of ``agents.rule_space`` at every epoch, so reading its
weight matrix says little: this script plays it instead. Each regime fixes the ``Tasks-v1`` ranges
(clean and balanced; a long tail at imbalance 100; 40% symmetric label noise) at E = 10 and 30
epochs and keep 0.3 and 0.5 (``--epochs``, ``--keeps``; ``--ranges`` sets other task fields, such
as a suite-sized ``train_subset``), on held-out datasets (``data_seed_start=1000``); every task is played
by the policy and by ``random`` on the same reset seed (same data, initial weights and validation
split). It writes ``params.csv`` (the clipped parameters at every epoch), ``gains.csv`` (paired
test and validation gains per task) and ``explain.md`` (parameters averaged per regime and third of
the schedule, the share of each epoch's mask the rule asked for beyond keep, and the gains).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import agents  # noqa: E402
import dataselect_env  # noqa: E402, F401
from agents.rule_space import RULE_PARAMS  # noqa: E402
from dataselect_harness.plan import parse_kv  # noqa: E402
from dataselect_harness.run import SelectionDiagnostics  # noqa: E402
from dataselect_harness.suites import SUITES, select  # noqa: E402

REGIMES = {"clean": {"label_noise": 0.0, "imbalance": 1.0},
           "long tail x100": {"label_noise": 0.0, "imbalance": 100.0},
           "noise 0.4": {"label_noise": 0.4, "noise_types": ["symmetric"], "imbalance": 1.0}}
NONNEG = ("noise", "eps", "balance", "ramp")  # clipped to [0, 1] by the rule; the score weights to [-1, 1]


def clipped(action: np.ndarray) -> dict[str, float]:
    """The rule parameters as ``rule_mask`` applies them."""
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
    return {name: float(max(v, 0.0) if name in NONNEG else v) for name, v in zip(RULE_PARAMS, a)}


def recording(path: str, **kwargs) -> tuple[agents.Agent, list[np.ndarray]]:
    """The policy saved in ``path`` (``kwargs`` to its constructor), and the list every action it
    takes is appended to (the policy's output, before the rule applies it)."""
    policy = agents.load(f"sb3:{path}", **kwargs)
    actions: list[np.ndarray] = []
    predict = policy.model.predict
    policy.model.predict = lambda x, **kw: (lambda out: (actions.append(out[0]), out)[1])(predict(x, **kw))
    return policy, actions


def play(path: str, regime: str, epochs: int, keep: float, seed: int, ranges: dict) -> tuple[list[dict], dict]:
    """The policy and ``random`` on one held-out task: per-epoch parameters, paired gains.

    :param ranges: further ``TaskRanges`` fields (e.g. ``train_subset``), over the regime's.
    """
    env = gym.make("DataSelect/Tasks-v1", data_seed_start=1000, epochs=epochs, keep=keep,
                   **{**REGIMES[regime], **ranges})
    policy, actions = recording(path)
    info = agents.play_episode(policy, env, seed)
    base = agents.play_episode(agents.make("random", keep=keep), env, seed)
    tag = {"model": Path(path).name, "regime": regime, "epochs": epochs, "keep": keep, "seed": seed,
           "n": int(env.unwrapped.n)}
    params = [{**tag, "epoch": t, "stage": min(3 * t // epochs, 2), **clipped(a)} for t, a in enumerate(actions)]
    gain = {**tag, "test_gain": 100 * (info["test_accuracy"] - base["test_accuracy"]),
            "val_gain": 100 * (info["val_accuracy"] - base["val_accuracy"]),
            "compute_ratio": info["compute"] / base["compute"]}
    env.close()
    return params, gain


def play_scenario(path: str, scenario: str, keep: float, seed: int, env_kwargs: dict) -> list[dict]:
    """The policy on one seed of a ``cpu`` suite scenario (its env at observation v1): per-epoch
    parameters, the share of the rarest class's samples kept and the corrupted share of the kept ones
    (the suite's rows give the gains).

    :param env_kwargs: added to the scenario's (e.g. ``data_root``).
    """
    (sc,) = select(SUITES["cpu"], [scenario])
    env = gym.make(sc.env, **{**sc.env_kwargs, **env_kwargs}, epochs=sc.epochs, obs_version=1)
    policy, actions = recording(path, keep=keep)
    diag, curve = SelectionDiagnostics.of(env.unwrapped), {}
    info = agents.play_episode(policy, env, seed, on_step=lambda info, r, a: diag.record(a, curve))
    env.close()
    rarest = int(np.argmin(diag.class_sizes))
    tag = {"model": Path(path).name, "regime": scenario, "epochs": sc.epochs, "keep": keep, "seed": seed,
           "test_accuracy": float(info["test_accuracy"])}
    return [{**tag, "epoch": t, "stage": min(3 * t // sc.epochs, 2), **clipped(a),
             "rarest_class_kept": curve["class_kept"][t + 1][rarest], "corrupted_kept": curve["corrupted_kept"][t + 1]}
            for t, a in enumerate(actions)]


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as a CSV with the first row's columns."""
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def report(params: list[dict], gains: list[dict]) -> str:
    """Markdown: mean parameters per regime and stage (over models, tasks, epochs), then the gains."""
    diagnostics = tuple(k for k in ("rarest_class_kept", "corrupted_kept") if k in params[0])
    shown = diagnostics + ("balance", "eps", "noise", "ramp", "log_last_loss", "log_ema_loss", "loss_rank", "class_loss_rank",
             "log_class_share", "epochs_since_selected", "log1p_forgetting", "margin", "loss_std")
    lines = ["| regime | stage | " + " | ".join(shown) + " |", "|---|---|" + "---:|" * len(shown)]
    for regime in dict.fromkeys(p["regime"] for p in params):
        for stage, label in enumerate(("first third", "middle", "last third")):
            rows = [p for p in params if p["regime"] == regime and p["stage"] == stage]
            if rows:
                lines.append(f"| {regime} | {label} | " + " | ".join(f"{np.mean([p[k] for p in rows]):+.2f}"
                                                                  for k in shown) + " |")
    if not gains:
        return "\n".join(lines)
    lines += ["", "| model | regime | tasks | test gain over random (points) | validation gain | compute / random's |",
              "|---|---|---:|---:|---:|---:|"]
    for model in dict.fromkeys(g["model"] for g in gains):
        for regime in REGIMES:
            rows = [g for g in gains if g["model"] == model and g["regime"] == regime]
            t, v = (np.array([g[k] for g in rows]) for k in ("test_gain", "val_gain"))
            se = t.std(ddof=1) / np.sqrt(len(t)) if len(t) > 1 else float("nan")
            lines.append(f"| {model} | {regime} | {len(rows)} | {t.mean():+.1f} ± {se:.1f} | {v.mean():+.1f} | "
                         f"{np.mean([g['compute_ratio'] for g in rows]):.2f} |")
    return "\n".join(lines)


def main() -> None:
    """Parse the flags, play every model on every regime's tasks, write the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model directories written by train_agent.py train --interface rules")
    p.add_argument("--tasks", type=int, default=2, help="tasks per regime, schedule length and keep")
    p.add_argument("--epochs", default="10,30", help="comma-separated schedule lengths")
    p.add_argument("--keeps", default="0.3,0.5", help="comma-separated keep fractions")
    p.add_argument("--ranges", nargs="*", default=[], help="TaskRanges overrides, k=v (JSON values), e.g. "
                   "train_subset=20000 for suite-sized tasks")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/rule_policy"))
    p.add_argument("--scenario", help="play this cpu suite scenario instead of the Synthetic regimes (seeds 0 .. "
                   "--tasks - 1, at --keeps); the suite's rows give its gains")
    p.add_argument("--env-kwargs", nargs="*", default=[], help="with --scenario: added to its env kwargs, "
                   "e.g. data_root=PATH")
    a = p.parse_args()
    ranges = parse_kv(a.ranges, "--ranges")
    if a.scenario:
        params = [row for path in a.models for keep in (float(k) for k in a.keeps.split(","))
                  for seed in range(a.tasks)
                  for row in play_scenario(path, a.scenario, keep, seed, parse_kv(a.env_kwargs, "--env-kwargs"))]
        a.out.mkdir(parents=True, exist_ok=True)
        write_csv(a.out / "params.csv", params)
        text = report(params, [])
        (a.out / "explain.md").write_text(f"`python benchmarks/explain_rule_policy.py {' '.join(a.models)} "
                                          f"--scenario {a.scenario} --tasks {a.tasks} --keeps {a.keeps}`\n\n{text}\n")
        print(text)
        return
    params, gains = [], []
    for path in a.models:
        for regime in REGIMES:
            for epochs in (int(e) for e in a.epochs.split(",")):
                for keep in (float(k) for k in a.keeps.split(",")):
                    for seed in range(a.tasks):
                        pr, g = play(path, regime, epochs, keep, seed, ranges)
                        params += pr
                        gains.append(g)
                        print(f"{g['model']} {regime} N={g['n']} E={epochs} keep={keep} seed {seed}: test {g['test_gain']:+.1f}, "
                              f"val {g['val_gain']:+.1f}, balance {np.mean([x['balance'] for x in pr]):.2f}, "
                              f"ramp {np.mean([x['ramp'] for x in pr]):.2f}", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "params.csv", params)
    write_csv(a.out / "gains.csv", gains)
    text = report(params, gains)
    flags = f"--tasks {a.tasks} --epochs {a.epochs} --keeps {a.keeps}" + \
        (f" --ranges {' '.join(a.ranges)}" if a.ranges else "")
    (a.out / "explain.md").write_text(f"`python benchmarks/explain_rule_policy.py {' '.join(a.models)} {flags} "
                                      f"--out {a.out}`\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
