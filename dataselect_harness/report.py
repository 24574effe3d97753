"""Tables and plots of a bench, made from ``DIR/results.jsonl``: ``summary.csv``, ``summary.md``,
``pareto.png``, ``curves.png``, ``corrupted.png`` and ``class_kept.png`` (``python train_agent.py report DIR``).

Every row is compared with the full-data frontier of its setting and seed (:mod:`.frontier`):
the ``full`` and ``full@f`` episodes, all data for round(f E) epochs. Δ vs frontier is the
accuracy gained at equal compute, the effective speed-up the compute saved at equal accuracy.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataselect_env.frontier import Frontier, delta_vs_frontier, effective_speedup

from .results import NOT_IN_ID, RESULTS, read_results

SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"


def _setting(row: dict[str, Any]) -> str:
    """What a row is compared within: env, E, resolved precision and the env kwargs that change results."""
    kw = {k: v for k, v in row["env_kwargs"].items() if k not in ("epochs", "action_mode", *NOT_IN_ID)}
    return (f"{row['env']} E={row['bench_epochs']} {row.get('precision', '?')}"
            + (f" {json.dumps(kw, sort_keys=True)}" if kw else ""))


def _kwargs(row: dict[str, Any]) -> str:
    """The row's agent kwargs without ``keep`` (its own column), as sorted JSON."""
    return json.dumps({k: v for k, v in row["agent_kwargs"].items() if k != "keep"}, sort_keys=True)


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan")


def is_frontier(row: dict[str, Any]) -> bool:
    """Whether ``row`` is a full-data run (``full`` or ``full@f``), i.e. a point of the frontier."""
    return row["agent"] == "full" or row["agent"].startswith("full@")


def seed_frontiers(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Frontier]:
    """The full-data frontier of each (setting, seed): ``(compute, test accuracy in %)`` of its
    ``full`` and ``full@f`` episodes (see :mod:`.frontier`)."""
    points: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in rows:
        if is_frontier(r):
            points.setdefault((_setting(r), r["seed"]), []).append((r["compute"], 100 * r["test_accuracy"]))
    return {key: Frontier.from_pairs(p) for key, p in points.items()}


@dataclass(frozen=True)
class Versus:
    """One episode against the full-data frontier of its setting and seed.

    :param delta: test accuracy minus the frontier's at the episode's compute (pp); None when
        ``delta_status`` is not ``"ok"``.
    :param delta_status: ``"ok"``, ``"outside"`` (compute outside the grid's computes) or
        ``"no frontier"`` (no full-data episode of that seed yet).
    :param speedup: compute full-data training needs for the episode's accuracy / its compute;
        None when ``speedup_status`` is not ``"ok"``.
    :param speedup_status: ``"ok"``, ``"above"`` (better than every frontier point: full data
        needs more than the grid's largest compute), ``"below"`` (worse than the cheapest point:
        the needed compute lies under the grid), ``"no compute"`` or ``"no frontier"``.
    """

    delta: float | None
    delta_status: str
    speedup: float | None
    speedup_status: str


def versus_frontier(row: dict[str, Any], frontier: Frontier | None) -> Versus:
    """Δ vs the frontier and effective speed-up of one results row (no extrapolation)."""
    if frontier is None:
        return Versus(None, "no frontier", None, "no frontier")
    acc, comp = 100 * row["test_accuracy"], row["compute"]
    delta = delta_vs_frontier(frontier, comp, acc)
    if not comp > 0:
        speedup, status = None, "no compute"
    else:
        speedup = effective_speedup(frontier, comp, acc)
        status = "ok" if speedup is not None else "above" if acc > frontier.envelope()[-1] else "below"
    return Versus(delta, "outside" if delta is None else "ok", speedup, status)


def versus_rows(rows: list[dict[str, Any]]) -> dict[str, Versus]:
    """:func:`versus_frontier` of every row that is not itself a frontier point, by row id."""
    frontiers = seed_frontiers(rows)
    return {r["id"]: versus_frontier(r, frontiers.get((_setting(r), r["seed"])))
            for r in rows if not is_frontier(r)}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary dict per (setting, agent, agent kwargs, keep): mean/std over seeds and the comparisons.

    ``delta_*``: test accuracy minus the full-data frontier of the same seed at the episode's
    compute, in percentage points (:func:`versus_frontier`); ``speedup_eff_*``: the effective
    speed-up, the compute full-data training needs to reach the episode's accuracy over the
    episode's compute. Both are mean/std over the seeds where they are defined (``*_n``), with
    the others counted: ``delta_outside`` (compute outside the frontier's grid),
    ``speedup_eff_above`` / ``speedup_eff_below`` (accuracy above the frontier's best / below its
    cheapest point) and ``no_frontier`` (no full-data episode of that seed). Frontier rows
    (``full``, ``full@f``) are the reference and get none (nan). ``corrupted_kept_*``: the share
    of the kept samples that are corrupted, mean over the episode's epochs (nan when the env does
    not know its corrupted samples), and ``corrupted_fraction``, the training set's share.
    ``class_kept``: per class, the share of its training samples kept (%), mean over the epochs and
    seeds, as space-separated numbers (empty without the data); ``class_kept_min`` / ``_max``: the
    least- and the most-kept class.
    """
    versus = versus_rows(rows)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (_setting(r), r["agent"], _kwargs(r), r["keep"])
        groups.setdefault(key, []).append(r)
    out = []
    nan = float("nan")
    for (setting, agent, kw, keep), g in groups.items():
        acc, comp = _mean_std([100 * r["test_accuracy"] for r in g]), _mean_std([r["compute"] for r in g])
        flops, wall = _mean_std([r["flops"] for r in g]), _mean_std([r["wall_time"] for r in g])
        row = {"setting": setting, "agent": agent, "agent_kwargs": kw, "keep": keep, "n": len(g),
               "seeds": " ".join(str(s) for s in sorted(r["seed"] for r in g)),
               "test_acc_mean": acc[0], "test_acc_std": acc[1], "compute_mean": comp[0], "compute_std": comp[1],
               "flops_mean": flops[0], "flops_std": flops[1], "wall_mean": wall[0], "wall_std": wall[1],
               "speedup_compute": nan, "speedup_wall": nan,
               "delta_mean": nan, "delta_std": nan, "delta_n": 0, "delta_outside": 0,
               "speedup_eff_mean": nan, "speedup_eff_std": nan, "speedup_eff_n": 0,
               "speedup_eff_above": 0, "speedup_eff_below": 0, "no_frontier": 0,
               "corrupted_kept_mean": nan, "corrupted_kept_std": nan, "corrupted_fraction": nan,
               "class_kept": "", "class_kept_min": nan, "class_kept_max": nan,
               "diverged": sum(bool(r.get("diverged", False)) for r in g)}
        full = groups.get((setting, "full", "{}", None))
        if full:
            row["speedup_compute"] = np.mean([r["compute"] for r in full]) / max(comp[0], 1e-12)
            row["speedup_wall"] = np.mean([r["wall_time"] for r in full]) / max(wall[0], 1e-12)
        vs = [versus[r["id"]] for r in g if r["id"] in versus]
        deltas = [v.delta for v in vs if v.delta is not None]
        speedups = [v.speedup for v in vs if v.speedup is not None]
        if deltas:
            row["delta_mean"], row["delta_std"] = _mean_std(deltas)
        if speedups:
            row["speedup_eff_mean"], row["speedup_eff_std"] = _mean_std(speedups)
        row.update(delta_n=len(deltas), delta_outside=sum(v.delta_status == "outside" for v in vs),
                   speedup_eff_n=len(speedups), speedup_eff_above=sum(v.speedup_status == "above" for v in vs),
                   speedup_eff_below=sum(v.speedup_status == "below" for v in vs),
                   no_frontier=sum(v.delta_status == "no frontier" for v in vs))
        kept = [r["corrupted_kept"] for r in g if r.get("corrupted_kept") is not None]
        if kept:
            row["corrupted_kept_mean"], row["corrupted_kept_std"] = _mean_std([100 * x for x in kept])
            row["corrupted_fraction"] = 100 * float(np.mean([r["corrupted_fraction"] for r in g
                                                             if r.get("corrupted_fraction") is not None]))
        per_class = class_kept(g)
        if per_class is not None:
            row.update(class_kept=" ".join(f"{x:.1f}" for x in per_class), class_kept_min=float(per_class.min()),
                       class_kept_max=float(per_class.max()))
        out.append(row)
    order = {a: i for i, a in enumerate(dict.fromkeys(r["agent"] for r in rows))}
    return sorted(out, key=lambda r: (r["setting"], not is_frontier(r),
                                      -1 if r["keep"] is None else r["keep"], order[r["agent"]]))


def class_kept(rows: list[dict[str, Any]]) -> np.ndarray | None:
    """Per class, the share of its training samples that ``rows`` kept (%): the mean over each
    episode's epochs (the reset excluded), then over the episodes; None when none recorded it."""
    episodes = []
    for r in rows:
        steps = [c for c in r.get("curve", {}).get("class_kept", []) if c is not None]
        if steps:
            episodes.append(np.mean(steps, axis=0))
    return 100 * np.mean(episodes, axis=0) if episodes else None


def _pm(mean: float, std: float, fmt: str) -> str:
    return f"{mean:{fmt}}" + ("" if math.isnan(std) else f" ± {std:{fmt.lstrip('+')}}")


def delta_cell(s: dict[str, Any]) -> str:
    """The Δ vs frontier cell of a summary row: mean ± std (pp), and what the other seeds were."""
    if is_frontier(s):
        return "frontier"
    other = [f"{s['delta_outside']} outside"] if s["delta_outside"] else []
    other += [f"{s['no_frontier']} without frontier"] if s["no_frontier"] else []
    if not s["delta_n"]:
        return "outside the grid" if s["delta_outside"] else "no frontier"
    cell = _pm(s["delta_mean"], s["delta_std"], "+.2f")
    return cell + (f" (n={s['delta_n']}; {', '.join(other)})" if other else "")


def speedup_cell(s: dict[str, Any]) -> str:
    """The effective speed-up cell of a summary row: mean ± std, and what the other seeds were."""
    if is_frontier(s):
        return "frontier"
    counts = {"above": s["speedup_eff_above"], "below": s["speedup_eff_below"], "without frontier": s["no_frontier"]}
    other = [f"{v} {k}" for k, v in counts.items() if v]
    if not s["speedup_eff_n"]:
        if counts["above"] == s["n"]:
            return "above the frontier"
        if counts["below"] == s["n"]:
            return "below the grid"
        return ", ".join(other) or "—"
    cell = f"{s['speedup_eff_mean']:.2f}x" + ("" if math.isnan(s["speedup_eff_std"]) else f" ± {s['speedup_eff_std']:.2f}")
    return cell + (f" (n={s['speedup_eff_n']}; {', '.join(other)})" if other else "")


def format_table(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The summary as markdown: per setting, a header (machine, n, commit, frontier grid) and the table."""
    lines = []
    for setting in dict.fromkeys(s["setting"] for s in summary):
        rs = [r for r in rows if _setting(r) == setting]
        ss = [s for s in summary if s["setting"] == setting]
        devices = sorted({r["device"] for r in rs})
        commits = sorted({str(r.get("git_commit")) for r in rs})
        grid = sorted({r["epochs"] for r in rs if is_frontier(r)})
        corrupted = [s for s in ss if not math.isnan(s["corrupted_kept_mean"]) and s["corrupted_fraction"] > 0]
        classes = any(not math.isnan(s["class_kept_min"]) for s in ss)
        lines += [f"### {setting}", "",
                  f"Device: {', '.join(devices)}; net `{rs[0]['model']}`, {rs[0]['precision']}; "
                  f"N = {rs[0]['n_train']} training samples; dataselect {rs[0]['version']}, commit {', '.join(commits)}; "
                  f"{len(rs)} episodes, {sum(r['wall_time'] for r in rs) / 60:.1f} min of episode wall time, "
                  f"finished {max(r['finished'] for r in rs)[:10]}.",
                  "Mean ± std over seeds (n runs). Compute in full-epoch units (static scoring included), "
                  "speed-ups against `full`. The full-data frontier of a seed is its `full` and `full@f` runs "
                  f"(all data for E' = {', '.join(str(e) for e in grid) or '—'} epochs, the schedule compressed "
                  "to E'). Δ vs frontier = test accuracy minus the frontier's accuracy at the row's compute "
                  "(linear interpolation, same seed), in percentage points; `outside` when the compute lies "
                  "outside the grid's computes (no extrapolation). Effective speed-up = compute full-data "
                  "training needs to reach the row's accuracy (inverse interpolation of the same seed's "
                  "frontier, its running maximum) / the row's compute; `above` = better than every "
                  "full-data run, `below` = worse than the cheapest one.", ""]
        if corrupted:
            base = np.nanmean([s["corrupted_fraction"] for s in corrupted])
            lines[-1:-1] = [f"Corrupted kept = share of the kept samples that are corrupted (label flipped or "
                            f"duplicated), mean over the epochs; {base:.1f}% of the training set is corrupted."]
        if classes:
            lines[-1:-1] = ["Kept per class = for each class, the share of its training samples kept, mean over "
                            "the epochs (scoring epochs included) and seeds; the least- and the most-kept class "
                            "(`class_kept.png` draws every class)."]
        head = ("| agent | keep | n | test acc (%) | compute (epochs) | FLOPs | wall (s) | speed-up compute | "
                "speed-up wall | Δ vs frontier (pp) | effective speed-up |")
        diverged = any(s["diverged"] for s in ss)
        if diverged:
            lines[-1:-1] = ["Diverged = episodes whose training loss or weights became non-finite; they ended at "
                            "that epoch and their (low) accuracy is included in the means."]
        lines += [head + (" corrupted kept (%) |" if corrupted else "")
                  + (" kept per class (%), least / most |" if classes else "") + (" diverged |" if diverged else ""),
                  "|---" * (11 + bool(corrupted) + classes + diverged) + "|"]
        for s in ss:
            name = s["agent"] + (f" {s['agent_kwargs']}" if s["agent_kwargs"] != "{}" else "")
            keep = "—" if s["keep"] is None else f"{s['keep']:g}"
            line = (f"| {name} | {keep} | {s['n']} | "
                    f"{_pm(s['test_acc_mean'], s['test_acc_std'], '.2f')} | "
                    f"{_pm(s['compute_mean'], s['compute_std'], '.2f')} | {s['flops_mean']:.3g} | "
                    f"{_pm(s['wall_mean'], s['wall_std'], _seconds_format(s['wall_mean']))} | {s['speedup_compute']:.2f}x | "
                    f"{s['speedup_wall']:.2f}x | {delta_cell(s)} | {speedup_cell(s)} |")
            if corrupted:
                line += " — |" if math.isnan(s["corrupted_kept_mean"]) else \
                    f" {_pm(s['corrupted_kept_mean'], s['corrupted_kept_std'], '.1f')} |"
            if classes:
                line += " — |" if math.isnan(s["class_kept_min"]) else \
                    f" {s['class_kept_min']:.1f} / {s['class_kept_max']:.1f} |"
            if diverged:
                line += f" {s['diverged']} |"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def _seconds_format(mean: float) -> str:
    """Enough decimals that a short episode's wall time does not print as 0.0 (and a long one has none)."""
    return ".0f" if mean >= 100 else ".1f" if mean >= 1 else ".3f"


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
    rows = [r for r in rows if _setting(r) == setting]
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
                 and _kwargs(r) == s["agent_kwargs"]]
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
             and _kwargs(r) == s["agent_kwargs"] and "corrupted_kept" in r["curve"]]
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


def report(directory: str | Path) -> str:
    """Write summary.csv, summary.md and the plots of DIR from its results.jsonl; return the table."""
    directory = Path(directory)
    rows = read_results(directory)
    if not rows:
        raise SystemExit(f"no results in {directory / RESULTS}")
    rows = list({r["id"]: r for r in rows}.values())
    summary = summarize(rows)
    with open(directory / SUMMARY_CSV, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    table = format_table(summary, rows)
    (directory / SUMMARY_MD).write_text(table)
    if not plot(summary, rows, directory):
        print("matplotlib is not installed: no pareto.png / curves.png (pip install 'dataselect[plot]'); "
              "wrote results.jsonl, summary.csv and summary.md")
    return table
