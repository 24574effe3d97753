"""The figures of a bench: ``pareto.png``, ``curves.png`` and, on envs that know their corrupted
samples, ``corrupted.png`` and ``class_kept.png``, drawn from the rows and the summary of :mod:`.report`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .results import is_frontier, kwargs_key, setting_of


def _family(agent: str) -> str:
    return "full data" if agent == "full" or agent.startswith("full@") else agent


def mean_frontier(summary: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The frontier drawn in ``pareto.png``: per full-data run length, the mean over seeds of
    ``(compute, test accuracy %)``, sorted by compute."""
    pts = sorted((s["compute_mean"], s["test_acc_mean"]) for s in summary if is_frontier(s))
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def plot(summary: list[dict[str, Any]], rows: list[dict[str, Any]], directory: Path) -> bool:
    """Write ``pareto.png``, ``curves.png`` and, when the env knows its corrupted samples,
    ``corrupted.png`` and ``class_kept.png`` (first setting); False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    setting = summary[0]["setting"]
    summary = [s for s in summary if s["setting"] == setting]
    rows = [r for r in rows if setting_of(r) == setting]
    families = list(dict.fromkeys(_family(s["agent"]) for s in summary))
    colors = {f: plt.cm.tab10(i % 10) for i, f in enumerate(families)}
    markers = {f: "osD^v<>pXh*"[i % 11] for i, f in enumerate(families)}

    fig, ax = plt.subplots(figsize=(7, 5))
    x, y = mean_frontier(summary)
    if len(x):
        ax.plot(x, y, "-", color="gray", lw=1.5, zorder=1, label="full-data frontier (mean over seeds)")
    for f in families:
        pts = [s for s in summary if _family(s["agent"]) == f]
        ax.errorbar([s["compute_mean"] for s in pts], [s["test_acc_mean"] for s in pts],
                    xerr=[np.nan_to_num(s["compute_std"]) for s in pts],
                    yerr=[np.nan_to_num(s["test_acc_std"]) for s in pts],
                    fmt=markers[f], color=colors[f], label=f, capsize=3)
        for s in pts:
            if s["keep"] is not None:
                ax.annotate(f"{s['keep']:g}", (s["compute_mean"], s["test_acc_mean"]), fontsize=7,
                            textcoords="offset points", xytext=(4, 4))
    ax.set(xlabel="compute (full-epoch units)", ylabel="test accuracy (%)", title=setting)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(directory / "pareto.png", dpi=120)
    plt.close(fig)

    lines = list(dict.fromkeys("full@f" if s["agent"].startswith("full@") else s["agent"] for s in summary))
    colors = {a: plt.cm.tab10(i % 10) for i, a in enumerate(lines)}  # here full and full@f apart
    markers = {a: "osD^v<>pXh*"[i % 11] for i, a in enumerate(lines)}
    keeps = sorted({r["keep"] for r in rows if r["keep"] is not None and not is_frontier(r)}) or [None]
    fig, axes = plt.subplots(1, len(keeps), figsize=(5 * len(keeps), 4), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], keeps):
        for s in summary:
            if s["keep"] is not None and (s["keep"] != k if k is not None else is_frontier(s)):
                continue  # a panel: its keep, full, full@keep, and the agents without keep
            g = [r for r in rows if r["agent"] == s["agent"] and r["keep"] == s["keep"]
                 and kwargs_key(r) == s["agent_kwargs"]]
            length = min(len(r["curve"]["compute"]) for r in g)
            x = np.mean([r["curve"]["compute"][:length] for r in g], axis=0)
            y = 100 * np.mean([r["curve"]["val_accuracy"][:length] for r in g], axis=0)
            line = "full@f" if s["agent"].startswith("full@") else s["agent"]
            ax.plot(x, y, marker=markers[line], ms=3, color=colors[line], label=s["agent"])
        ax.set(xlabel="cumulative compute (full-epoch units)", title="all keeps" if k is None else f"keep {k:g}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("val accuracy (%)")
    fig.suptitle(f"{setting}: mean over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(directory / "curves.png", dpi=120)
    plt.close(fig)
    plot_corrupted(summary, rows, directory, plt)
    plot_class_kept(summary, rows, directory, plt)
    return True


def plot_corrupted(summary: list[dict[str, Any]], rows: list[dict[str, Any]], directory: Path, plt: Any) -> bool:
    """``corrupted.png``: the share of kept samples that are corrupted, per epoch, one line per agent
    (and keep), mean over seeds; a dashed line at the training set's share. False without the data
    or when nothing in the training set is corrupted."""
    lines = []
    for s in summary:
        if math.isnan(s["corrupted_kept_mean"]) or not s["corrupted_fraction"] > 0 or \
                (is_frontier(s) and s["agent"] != "full"):
            continue
        g = [r["curve"]["corrupted_kept"] for r in rows if r["agent"] == s["agent"] and r["keep"] == s["keep"]
             and kwargs_key(r) == s["agent_kwargs"] and "corrupted_kept" in r["curve"]]
        length = min(len(c) for c in g)
        y = [np.mean([c[t] for c in g if c[t] is not None]) if any(c[t] is not None for c in g) else np.nan
             for t in range(1, length)]  # epoch 0 is the reset: nothing kept yet
        name = s["agent"] + ("" if s["keep"] is None or is_frontier(s) else f" k={s['keep']:g}")
        lines.append((name, s["agent"], 100 * np.asarray(y, dtype=float)))
    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, _, y) in enumerate(lines):
        ax.plot(np.arange(1, len(y) + 1), y, marker="osD^v<>pXh*"[i % 11], ms=3, color=plt.cm.tab10(i % 10),
                label=name)
    base = np.nanmean([s["corrupted_fraction"] for s in summary])
    ax.axhline(base, color="gray", ls="--", lw=1, label=f"training set ({base:.1f}%)")
    ax.set(xlabel="epoch", ylabel="corrupted share of the kept samples (%)", title=summary[0]["setting"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(directory / "corrupted.png", dpi=120)
    plt.close(fig)
    return True


def plot_class_kept(summary: list[dict[str, Any]], rows: list[dict[str, Any]], directory: Path, plt: Any) -> bool:
    """``class_kept.png``: per class, the share of its samples kept (mean over epochs and seeds), one
    line per agent, one panel per keep (agents without a keep in every panel; the full-data runs,
    which keep everything, left out). False without the data."""
    agents = [s for s in summary if not is_frontier(s) and not math.isnan(s["class_kept_min"])]
    if not agents:
        return False
    names = list(dict.fromkeys(s["agent"] for s in agents))
    keeps = sorted({s["keep"] for s in agents if s["keep"] is not None}) or [None]
    fig, axes = plt.subplots(1, len(keeps), figsize=(5 * len(keeps), 4), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], keeps):
        for s in agents:
            if s["keep"] is not None and s["keep"] != k:
                continue
            y = [float(x) for x in s["class_kept"].split()]
            i = names.index(s["agent"])
            ax.plot(range(len(y)), y, marker="osD^v<>pXh*"[i % 11], ms=4, color=plt.cm.tab10(i % 10), label=s["agent"])
        if k is not None:
            ax.axhline(100 * k, color="gray", ls="--", lw=1, label="keep")
        ax.set(xlabel="class", title="all keeps" if k is None else f"keep {k:g}")
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes[0]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    axes[0][0].set_ylabel("share of the class's samples kept (%)")
    fig.suptitle(f"{summary[0]['setting']}: mean over epochs and seeds", fontsize=9)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 4), fontsize=7)
    fig.tight_layout(rect=(0, 0.06 * math.ceil(len(handles) / 4), 1, 1))
    fig.savefig(directory / "class_kept.png", dpi=120)
    plt.close(fig)
    return True
