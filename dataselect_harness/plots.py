"""The figures of a bench: ``pareto.png``, ``curves.png`` and, on envs that know their corrupted
samples, ``corrupted.png`` and ``class_kept.png``, drawn from the rows and the summary of :mod:`.report`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

import agents

from .results import is_frontier, kwargs_key, setting_of

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
KEEP_MARKERS = {0.3: "o", 0.5: "s", 0.7: "^"}  # other keeps: "D"; agents without a keep: "P"


# Kelly's colours of maximum contrast (Kelly 1965, as listed by Green-Armytage 2010), white and black left
# out; the gray (the legend's keep markers are gray) and the palest moved to the end.
KELLY = ("#875692", "#F38400", "#0067A5", "#BE0032", "#008856", "#E68FAC", "#882D17", "#8DB600", "#604E97",
         "#F6A600", "#B3446C", "#2B3D26", "#E25822", "#C2B280", "#654522", "#F99379", "#848482", "#DCD300",
         "#A1CAF1", "#F3C300")


def _palette(plt: Any) -> list[Any]:
    """Kelly's 20 colours, then tab10 for runs with more agents than that."""
    return list(KELLY) + [plt.cm.tab10(i) for i in range(10)]


def agent_colors(names: list[str], plt: Any) -> dict[str, Any]:
    """One distinct colour per agent of a run, the same in all its figures: registered agents keep the
    colour of their place in the registry (so ``random`` looks the same in every run), the others (learned
    models, ``sb3:...``) take the next free colours in name order; the full-data runs are black."""
    palette = _palette(plt)
    registered = [n for n in agents.REGISTRY if n not in ("full", "sb3")]
    others = sorted({n for n in names if n not in registered and not is_frontier({"agent": n})})
    colors = {n: palette[i % len(palette)] for i, n in enumerate(registered)}
    colors.update({n: palette[(len(registered) + i) % len(palette)] for i, n in enumerate(others)})
    return {n: "black" if is_frontier({"agent": n}) else colors[n] for n in names}


def display_name(entry: str) -> str:
    """An entry as a figure labels it: a learned model by its model's name, not its path
    (``sb3:benchmarks/models/ars-rules-s2 k=0.5`` -> ``ars-rules-s2 k=0.5``)."""
    return re.sub(r"\bsb3:(?:\S*/)?([^/\s]+?)(?:\.zip)?(?=\s|$)", r"\1", entry)


def keep_marker(keep: float | None) -> str:
    """The marker of a keep fraction in ``pareto.png`` (the legend says which)."""
    return "P" if keep is None else KEEP_MARKERS.get(round(keep, 6), "D")


def title_of(setting: str, width: int = 90) -> str:
    """A setting in words, wrapped: ``CIFAR10Noisy40Proxy-v0, 20 epochs, fp32, val_size 1000``."""
    import json
    import textwrap
    head, _, kwargs = setting.partition(" {")
    env, epochs, *rest = head.split(" ")
    words = [env.split("/")[-1], f"{epochs.removeprefix('E=')} epochs", *rest]
    if kwargs:
        words += [f"{k} {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in json.loads("{" + kwargs).items()]
    return "\n".join(textwrap.wrap(", ".join(words), width))


def mean_frontier(summary: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The frontier drawn in ``pareto.png``: per full-data run length, the mean over seeds of
    ``(compute, test accuracy %)``, sorted by compute."""
    pts = sorted((s["compute_mean"], s["test_acc_mean"]) for s in summary if is_frontier(s))
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def ax_width(summary: list[dict[str, Any]]) -> float:
    """The span of the compute axis of ``pareto.png`` (frontier and entries), for :func:`dodge`."""
    xs = [s["compute_mean"] for s in summary if not math.isnan(s["compute_mean"])]
    return max(xs) - min(xs) if len(xs) > 1 else 1.0


def dodge(xs: list[float], width: float, step: float = 0.012) -> list[float]:
    """Sideways offsets that draw entries at (nearly) the same compute next to each other instead of on top
    of each other, as ggplot's ``position_dodge`` does: the i-th of m points within 1% of the axis of one
    another moves by ``(i - (m - 1) / 2) * step * width``. The numbers in the tables stay exact."""
    offsets = [0.0] * len(xs)
    groups: dict[int, list[int]] = {}
    for i, x in enumerate(xs):
        groups.setdefault(round(x / (0.01 * width)) if width > 0 else 0, []).append(i)
    for members in groups.values():
        for j, i in enumerate(members):
            offsets[i] = (j - (len(members) - 1) / 2) * step * width
    return offsets


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
    color = agent_colors(list(dict.fromkeys(s["agent"] for s in summary)), plt)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x, y = mean_frontier(summary)
    if len(x):
        ax.plot(x, y, "-x", color="black", lw=1.8, ms=7, zorder=1, label="full-data frontier (mean over seeds)")
    points = [s for s in summary if not is_frontier(s)]
    for s, dx in zip(points, dodge([s["compute_mean"] for s in points], ax_width(summary))):
        hollow = agents.is_privileged(s["agent"])
        ax.errorbar(s["compute_mean"] + dx, s["test_acc_mean"], xerr=np.nan_to_num(s["compute_std"]),
                    yerr=np.nan_to_num(s["test_acc_std"]), fmt=keep_marker(s["keep"]), color=color[s["agent"]],
                    mfc="none" if hollow else None, ms=7, capsize=3, ls="none")
    from matplotlib.lines import Line2D
    agents_shown = list(dict.fromkeys(s["agent"] for s in summary if not is_frontier(s)))
    handles = [Line2D([], [], color="black", marker="x", lw=1.8, label="full-data frontier (mean over seeds)")]
    handles += [Line2D([], [], color=color[a], marker="o", ls="none", mfc="none" if agents.is_privileged(a) else None,
                       label=display_name(a) + (" (privileged oracle)" if agents.is_privileged(a) else ""))
                for a in agents_shown]
    keeps = sorted({s["keep"] for s in summary if not is_frontier(s) and s["keep"] is not None})
    handles += [Line2D([], [], color="gray", marker=keep_marker(k), ls="none", label=f"keep {k:g}") for k in keeps]
    if any(s["keep"] is None for s in summary if not is_frontier(s)):
        handles.append(Line2D([], [], color="gray", marker=keep_marker(None), ls="none", label="no keep (its own)"))
    ax.set(xlabel="compute (full-epoch units, every pass counted)\nentries at equal compute drawn side by side",
           ylabel="test accuracy (%)")
    ax.set_title(title_of(setting), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(directory / "pareto.png", dpi=120)
    plt.close(fig)

    lines = list(dict.fromkeys("full@f" if s["agent"].startswith("full@") else s["agent"] for s in summary))
    colors = {a: "gray" if a == "full@f" else color[a] for a in lines}  # here full and full@f apart
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
            ax.plot(x, y, marker=markers[line], ms=3, color=colors[line], label=display_name(s["agent"]))
        ax.set(xlabel="cumulative compute (full-epoch units)", title="all keeps" if k is None else f"keep {k:g}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("val accuracy (%)")
    fig.suptitle(title_of(setting, 140) + ": mean over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(directory / "curves.png", dpi=120)
    plt.close(fig)
    plot_corrupted(summary, rows, directory, plt, color)
    plot_class_kept(summary, rows, directory, plt, color)
    return True


def plot_corrupted(summary: list[dict[str, Any]], rows: list[dict[str, Any]], directory: Path, plt: Any,
                   color: dict[str, Any]) -> bool:
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
        name = display_name(s["agent"]) + ("" if s["keep"] is None or is_frontier(s) else f" k={s['keep']:g}")
        lines.append((name, s["agent"], 100 * np.asarray(y, dtype=float)))
    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, agent, y) in enumerate(lines):
        ax.plot(np.arange(1, len(y) + 1), y, marker="osD^v<>pXh*"[i % 11], ms=3, color=color[agent],
                label=name)
    base = np.nanmean([s["corrupted_fraction"] for s in summary])
    ax.axhline(base, color="gray", ls="--", lw=1, label=f"training set ({base:.1f}%)")
    ax.set(xlabel="epoch", ylabel="corrupted share of the kept samples (%)")
    ax.set_title(title_of(summary[0]["setting"], 80), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(directory / "corrupted.png", dpi=120)
    plt.close(fig)
    return True


def plot_class_kept(summary: list[dict[str, Any]], rows: list[dict[str, Any]], directory: Path, plt: Any,
                    color: dict[str, Any]) -> bool:
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
            ax.plot(range(len(y)), y, marker="osD^v<>pXh*"[i % 11], ms=4, color=color[s["agent"]],
                    label=display_name(s["agent"]))
        classes = len(y)
        ax.set_xticks(range(classes))
        if "CIFAR10" in summary[0]["setting"] and classes == len(CIFAR10_CLASSES):
            ax.set_xticklabels(CIFAR10_CLASSES, rotation=45, ha="right", fontsize=7)
        if k is not None:
            ax.axhline(100 * k, color="gray", ls="--", lw=1, label="keep")
        ax.set(xlabel="class (training label)", title="all keeps" if k is None else f"keep {k:g}")
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes[0]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    axes[0][0].set_ylabel("share of the class's samples kept (%)")
    fig.suptitle(title_of(summary[0]["setting"], 140) + ": mean over epochs and seeds", fontsize=9)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 4), fontsize=7)
    fig.tight_layout(rect=(0, 0.06 * math.ceil(len(handles) / 4), 1, 1))
    fig.savefig(directory / "class_kept.png", dpi=120)
    plt.close(fig)
    return True


def _seed_range(ns: list[int]) -> str:
    """``"3"`` when every entry of a panel has 3 seeds, ``"1-3"`` when they differ, ``""`` for none."""
    if not ns:
        return ""
    return f"{min(ns)}" if min(ns) == max(ns) else f"{min(ns)}-{max(ns)}"


def panel_limits(points: list[tuple[float, float, float]], spread: float = 3.0) -> tuple[float, float]:
    """The x-range of one leaderboard panel: it fits every entry whose mean lies within ``spread``
    interquartile ranges (at least 1 point) of the middle half of the means, intervals included, and 0;
    the entries beyond are drawn at its edge (:func:`leaderboard_figure`)."""
    means = np.array([m for m, _, _ in points])
    q1, q3 = np.percentile(means, [25, 75])
    reach = spread * max(q3 - q1, 1.0)
    near = [(m, lo, hi) for m, lo, hi in points if q1 - reach <= m <= q3 + reach]
    lows = [lo if not math.isnan(lo) else m for m, lo, _ in near] + [0.0]
    highs = [hi if not math.isnan(hi) else m for m, _, hi in near] + [0.0]
    pad = 0.06 * max(max(highs) - min(lows), 1.0)
    return min(lows) - pad, max(highs) + pad


def leaderboard_figure(path: Path, per_scen: list[Any], agg: list[Any]) -> bool:
    """``leaderboard.png``: dot-and-whisker panels, one per scenario (mean Δ and 95% CI of each entry,
    :class:`~.leaderboard.ScenarioStats`) plus the aggregate IQM (:class:`~.leaderboard.AggregateStats`),
    a dashed line at Δ = 0 (the full-data frontier). Each panel's x-axis fits the entries near the middle of
    that panel (:func:`panel_limits`); an entry beyond it is drawn as a red arrow at the edge with its mean
    written beside it. Learned entries are labelled by their model's name. False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    agents = [a.agent for a in agg][::-1]  # best IQM at the top
    panels = [(s, {r.agent: (r.mean, r.ci) for r in per_scen if r.scenario == s})
              for s in sorted({r.scenario for r in per_scen})]
    panels.append(("aggregate IQM", {a.agent: (a.iqm, a.iqm_ci) for a in agg}))
    n_of = {s: _seed_range([r.n for r in per_scen if r.scenario == s]) for s, _ in panels}
    fig = Figure(figsize=(3.2 * len(panels), 0.3 * len(agents) + 1.8), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (title, data) in zip(axes, panels):
        if not data:
            continue
        left, right = panel_limits([(m, lo, hi) for m, (lo, hi) in data.values()])
        for y, agent in enumerate(agents):
            if agent not in data:
                continue
            m, (lo, hi) = data[agent]
            if not left <= m <= right:  # far out: an arrow at the edge, its mean beside it
                edge, arrow, ha = (left, "<", "left") if m < left else (right, ">", "right")
                ax.plot([edge], [y], arrow, color="tab:red", ms=6, clip_on=False)
                ax.annotate(f"{m:+.1f}", (edge, y), xytext=(6 if ha == "left" else -6, 0),
                            textcoords="offset points", ha=ha, va="center", fontsize=7, color="tab:red")
                continue
            if not math.isnan(lo):
                ax.plot([max(lo, left), min(hi, right)], [y, y], color="tab:blue", lw=2)
            ax.plot([m], [y], "o", color="black", ms=4)
        ax.set_xlim(left, right)
        ax.axvline(0.0, color="tab:red", ls="--", lw=1, label="Δ = 0: the full-data frontier")
        ax.set_title(title + (f" (n = {n_of[title]} seeds)" if n_of[title] else f" ({len(panels) - 1} scenarios)"),
                     fontsize=9)
        ax.set_xlabel("Δ vs full-data frontier (pp)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(agents)), [display_name(a) for a in agents], fontsize=8)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=8)
    fig.suptitle("mean Δ vs the full-data frontier with 95% CIs (dot: mean; aggregate: IQM; "
                 "red arrow: beyond the panel's axis, its mean beside it)", fontsize=9)
    fig.savefig(path, dpi=120)
    return True
