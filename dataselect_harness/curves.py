"""The learning curve of a policy's training: held-out episodes at every checkpoint, with the
hand-written baselines on the same episodes (``learning_curve.csv``, ``eval_baselines.csv``,
``learning_curve.png``).
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

import agents

CURVE_FILE, CURVE_PLOT = "learning_curve.csv", "learning_curve.png"
BASELINES_FILE = "eval_baselines.csv"  # hand-written agents on the learning curve's held-out episodes
EVAL_SEED = 1_000_000  # held-out evaluation episodes use seeds EVAL_SEED, EVAL_SEED + 1, ...


class LearningCurve:
    """Play the policy on held-out episodes at every checkpoint; append a row to ``learning_curve.csv``.

    The episodes use the fixed seeds ``EVAL_SEED + i`` (on a task env: fixed held-out tasks, whose
    datasets ``train`` draws from data seeds training never uses, ``make_env(held_out=True)``), the
    policy's mode (``deterministic=True``) and a separate env in this process. A row:
    ``env_steps``, ``mean_return`` (the env's reward, unnormalized), ``mean_val_accuracy`` (final
    validation accuracy; the test split is never looked at here), ``mean_val_vs_frontier`` (final
    validation accuracy minus full-data training's at the same compute, same task and seed, in
    points: the suite's Δ on validation; the reference runs are cached, so each held-out task pays
    for them once), ``mean_compute``, ``episodes``, ``wall_time_s``.

    :param env: the evaluation env (the training interface's wrappers, no Monitor), kept for the
        whole run: on a task env it caches the held-out tasks and their frontier runs.
    :param out: model directory.
    :param episodes: held-out episodes per point.
    :param keep: the training ``--keep`` (baselines on a plain env play at it).
    :param after: on resume, the checkpoint's env steps: rows past it (from the stopped run) are dropped.
    """

    COLUMNS = ("env_steps", "mean_return", "mean_val_accuracy", "mean_val_vs_frontier", "mean_compute", "episodes",
               "wall_time_s")

    def __init__(self, env: gym.Env, out: Path, episodes: int, keep: float | None = None, after: int | None = None):
        self.env = env
        self.seeds = [EVAL_SEED + i for i in range(episodes)]
        self.keep = keep
        self.file = Path(out) / CURVE_FILE
        rows = read_learning_curve(out) if after is not None else []
        with self.file.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.COLUMNS)
            writer.writeheader()
            writer.writerows(r for r in rows if r["env_steps"] <= after)
        self.start = time.perf_counter()

    def __call__(self, model: BaseAlgorithm) -> dict[str, float]:
        """Evaluate ``model`` and append its row.

        :param model: the policy being trained.
        """
        returns, finals = [], []
        vec_normalize = model.get_vec_normalize_env()
        norm = vec_normalize.normalize_obs if vec_normalize is not None and vec_normalize.norm_obs else (lambda o: o)
        for seed in self.seeds:
            obs, info = self.env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(norm(obs), deterministic=True)
                obs, reward, terminated, truncated, info = self.env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            finals.append(self._final(info))
        row = {"env_steps": int(model.num_timesteps), "mean_return": round(float(np.mean(returns)), 4),
               **_means(finals), "episodes": len(self.seeds), "wall_time_s": round(time.perf_counter() - self.start, 1)}
        with self.file.open("a", newline="") as f:
            csv.DictWriter(f, self.COLUMNS).writerow(row)
        return row

    def play_baselines(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        """Play hand-written agents on the held-out episodes; write their rows to ``eval_baselines.csv``.

        Each agent runs on the raw env under the interface (the same tasks, seeds and cached
        frontier runs as the policy), rebuilt per episode with that task's keep fraction (on a
        plain env: ``--keep``, else the agent's default). A row: ``agent``, ``mean_val_accuracy``,
        ``mean_val_vs_frontier``, ``mean_compute``, ``episodes``.

        :param names: agent specs, e.g. ``("random", "ucb")``.
        """
        env, rows = self.env.unwrapped, []
        for name in names:
            takes_keep = "keep" in inspect.signature(agents.load_class(name)).parameters
            finals = []
            for seed in self.seeds:
                env.reset(seed=seed)  # to read the task's keep; play_episode resets to the same task
                keep = getattr(env, "task_keep", None) or self.keep
                agent = agents.load(name, **({"keep": keep} if takes_keep and keep is not None else {}))
                finals.append(self._final(agents.play_episode(agent, env, seed=seed)))
            rows.append({"agent": name, **_means(finals), "episodes": len(self.seeds)})
        with (self.file.parent / BASELINES_FILE).open("w", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return rows

    def _final(self, info: dict[str, Any]) -> dict[str, float]:
        """What a finished held-out episode scores; called before the next reset, while the env
        still holds the episode's task and seed (its frontier)."""
        delta = self.env.unwrapped.frontier_delta(info["compute"], info["val_accuracy"])
        return {"val_accuracy": info["val_accuracy"], "val_vs_frontier": delta, "compute": info["compute"]}

    def close(self) -> None:
        """Close the evaluation env."""
        self.env.close()


def _means(finals: list[dict[str, float]]) -> dict[str, float]:
    """``mean_<key>`` of :meth:`LearningCurve._final` over the held-out episodes, rounded to 4 decimals."""
    return {f"mean_{k}": round(float(np.mean([f[k] for f in finals])), 4) for k in finals[0]}


def read_learning_curve(out: str | Path) -> list[dict[str, float]]:
    """The rows of ``out/learning_curve.csv`` as numbers (an empty list without one).

    :param out: model directory.
    """
    # a column missing from older files reads as nan
    return _read_csv(Path(out) / CURVE_FILE, lambda k, v: int(v) if k in ("env_steps", "episodes") else float(v or "nan"))


def read_baselines(out: str | Path) -> list[dict[str, Any]]:
    """The rows of ``out/eval_baselines.csv`` (agent name, then numbers); an empty list without one.

    :param out: model directory.
    """
    return _read_csv(Path(out) / BASELINES_FILE, lambda k, v: v if k == "agent" else float(v))


def _read_csv(file: Path, convert: Callable[[str, str], Any]) -> list[dict[str, Any]]:
    """The rows of ``file`` with each value ``convert(column, text)``; an empty list without the file."""
    if not file.is_file():
        return []
    with file.open() as f:
        return [{k: convert(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_learning_curve(out: str | Path) -> Path | None:
    """Plot ``learning_curve.csv`` (mean return, mean final val accuracy and mean val Δ vs the
    full-data frontier against env steps, with ``eval_baselines.csv`` as dotted lines) to
    ``learning_curve.png``; None without matplotlib or rows.

    :param out: model directory.
    """
    rows = read_learning_curve(out)
    if not rows or importlib.util.find_spec("matplotlib") is None:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["env_steps"] for r in rows]
    baselines = read_baselines(out)
    panels = (("mean_return", "mean return"), ("mean_val_accuracy", "mean final val accuracy"),
              ("mean_val_vs_frontier", "mean val Δ vs full-data frontier (pp)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.5))
    for ax, (key, label) in zip(axes, panels):
        ax.plot(steps, [r.get(key, float("nan")) for r in rows], marker="o")
        if key in ("mean_val_accuracy", "mean_val_vs_frontier"):
            for i, row in enumerate(baselines):
                ax.axhline(row[key], color=f"C{i + 1}", linestyle=":", linewidth=1.2, label=row["agent"])
        if key == "mean_val_vs_frontier":
            ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
            if baselines:
                ax.legend(fontsize=7)
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"held-out episodes (n={int(rows[-1]['episodes'])} per point)")
    fig.tight_layout()
    path = Path(out) / CURVE_PLOT
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

