"""Tables and plots of a bench, made from ``DIR/results.jsonl``: ``summary.csv``, ``summary.md``,
``pareto.png`` and ``curves.png`` (``python train_agent.py report DIR``)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .results import NOT_IN_ID, RESULTS, read_results

SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"


def _setting(row: dict[str, Any]) -> str:
    kw = {k: v for k, v in row["env_kwargs"].items() if k not in ("epochs", "action_mode", *NOT_IN_ID)}
    return f"{row['env']} E={row['bench_epochs']}" + (f" {json.dumps(kw, sort_keys=True)}" if kw else "")


def _kwargs(row: dict[str, Any]) -> str:
    """The row's agent kwargs without ``keep`` (its own column), as sorted JSON."""
    return json.dumps({k: v for k, v in row["agent_kwargs"].items() if k != "keep"}, sort_keys=True)


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan")


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary dict per (setting, agent, agent kwargs, keep): mean/std over seeds and the comparisons.

    ``delta_*`` is the paired (same seed) test-accuracy difference, in percentage points, to the
    ``full@k`` (or ``full``) whose compute is nearest the row's mean compute; ties go to the row's
    keep. For dynamic agents that is ``full@keep``; static agents, whose scoring epochs add compute,
    and keep-less agents are compared with the baseline nearest what they spent.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (_setting(r), r["agent"], _kwargs(r), r["keep"])
        groups.setdefault(key, []).append(r)
    out = []
    for (setting, agent, kw, keep), g in groups.items():
        acc, comp = _mean_std([100 * r["test_accuracy"] for r in g]), _mean_std([r["compute"] for r in g])
        flops, wall = _mean_std([r["flops"] for r in g]), _mean_std([r["wall_time"] for r in g])
        row = {"setting": setting, "agent": agent, "agent_kwargs": kw, "keep": keep, "n": len(g),
               "seeds": " ".join(str(s) for s in sorted(r["seed"] for r in g)),
               "test_acc_mean": acc[0], "test_acc_std": acc[1], "compute_mean": comp[0], "compute_std": comp[1],
               "flops_mean": flops[0], "flops_std": flops[1], "wall_mean": wall[0], "wall_std": wall[1],
               "speedup_compute": float("nan"), "speedup_wall": float("nan"),
               "delta_vs": "", "delta_mean": float("nan"), "delta_std": float("nan"), "delta_n": 0}
        full = groups.get((setting, "full", "{}", None))
        if full:
            row["speedup_compute"] = np.mean([r["compute"] for r in full]) / max(comp[0], 1e-12)
            row["speedup_wall"] = np.mean([r["wall_time"] for r in full]) / max(wall[0], 1e-12)
        baselines = {k: v for (s, a, _, k), v in groups.items() if s == setting and a.startswith("full@")}
        if full:
            baselines[1.0] = full  # full@1 is full
        if agent != "full" and not agent.startswith("full@") and baselines:
            spent = {b: np.mean([r["compute"] for r in v]) for b, v in baselines.items()}
            k = min(baselines, key=lambda b: (abs(spent[b] - comp[0]), b != keep))
            base = {r["seed"]: r["test_accuracy"] for r in baselines[k]}
            diffs = [100 * (r["test_accuracy"] - base[r["seed"]]) for r in g if r["seed"] in base]
            if diffs:
                d = _mean_std(diffs)
                row.update(delta_vs="full" if k == 1.0 else f"full@{k:g}", delta_mean=d[0], delta_std=d[1], delta_n=len(diffs))
        out.append(row)
    order = {a: i for i, a in enumerate(dict.fromkeys(r["agent"] for r in rows))}
    return sorted(out, key=lambda r: (r["setting"], -1 if r["keep"] is None else r["keep"],
                                      not r["agent"].startswith("full"), order[r["agent"]]))


def _pm(mean: float, std: float, fmt: str) -> str:
    return f"{mean:{fmt}}" + ("" if math.isnan(std) else f" ± {std:{fmt.lstrip('+')}}")


def format_table(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The summary as markdown: per setting, a header (machine, n, commit) and the table."""
    lines = []
    for setting in dict.fromkeys(s["setting"] for s in summary):
        rs = [r for r in rows if _setting(r) == setting]
        devices = sorted({r["device"] for r in rs})
        commits = sorted({str(r.get("git_commit")) for r in rs})
        lines += [f"### {setting}", "",
                  f"Device: {', '.join(devices)}; net `{rs[0]['model']}`, {rs[0]['precision']}; "
                  f"N = {rs[0]['n_train']} training samples; dataselect {rs[0]['version']}, commit {', '.join(commits)}; "
                  f"{len(rs)} episodes, {sum(r['wall_time'] for r in rs) / 60:.1f} min of episode wall time, "
                  f"finished {max(r['finished'] for r in rs)[:10]}.",
                  "Mean ± std over seeds (n runs). Compute in full-epoch units (static scoring included), "
                  "speed-ups against `full`, Δ = paired (same seed) test-accuracy difference in percentage "
                  "points to the compute-matched `full@k`: the one whose compute is nearest the row's, named "
                  "when it is not `full@keep` (static scoring adds compute).", "",
                  "| agent | keep | n | test acc (%) | compute (epochs) | FLOPs | wall (s) | speed-up compute | "
                  "speed-up wall | Δ vs full@k (pp) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in (s for s in summary if s["setting"] == setting):
            name = s["agent"] + (f" {s['agent_kwargs']}" if s["agent_kwargs"] != "{}" else "")
            delta = "—" if not s["delta_vs"] else \
                _pm(s["delta_mean"], s["delta_std"], "+.2f") + \
                ("" if s["keep"] is not None and s["delta_vs"] == f"full@{s['keep']:g}" else f" ({s['delta_vs']})")
            keep = "—" if s["keep"] is None else f"{s['keep']:g}"
            lines.append(f"| {name} | {keep} | {s['n']} | "
                         f"{_pm(s['test_acc_mean'], s['test_acc_std'], '.2f')} | "
                         f"{_pm(s['compute_mean'], s['compute_std'], '.2f')} | {s['flops_mean']:.3g} | "
                         f"{_pm(s['wall_mean'], s['wall_std'], '.1f')} | {s['speedup_compute']:.2f}x | "
                         f"{s['speedup_wall']:.2f}x | {delta} |")
        lines.append("")
    return "\n".join(lines)


def _family(agent: str) -> str:
    return "full@k" if agent.startswith("full@") else agent


def plot(summary: list[dict[str, Any]], rows: list[dict[str, Any]], directory: Path) -> bool:
    """Write ``pareto.png`` and ``curves.png`` (first setting); False when matplotlib is missing."""
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
    front, best = [], -np.inf
    for s in sorted(summary, key=lambda s: (s["compute_mean"], -s["test_acc_mean"])):
        if s["test_acc_mean"] > best:
            front.append(s)
            best = s["test_acc_mean"]
    ax.step([s["compute_mean"] for s in front], [s["test_acc_mean"] for s in front], where="post",
            color="gray", ls="--", lw=1, label="Pareto front")
    ax.set(xlabel="compute (full-epoch units)", ylabel="test accuracy (%)", title=setting)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(directory / "pareto.png", dpi=120)
    plt.close(fig)

    keeps = sorted({r["keep"] for r in rows if r["keep"] is not None}) or [None]
    fig, axes = plt.subplots(1, len(keeps), figsize=(5 * len(keeps), 4), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], keeps):
        for s in summary:
            if s["keep"] not in (k, None):
                continue
            g = [r for r in rows if r["agent"] == s["agent"] and r["keep"] == s["keep"]
                 and _kwargs(r) == s["agent_kwargs"]]
            length = min(len(r["curve"]["compute"]) for r in g)
            x = np.mean([r["curve"]["compute"][:length] for r in g], axis=0)
            y = 100 * np.mean([r["curve"]["val_accuracy"][:length] for r in g], axis=0)
            ax.plot(x, y, marker=markers[_family(s["agent"])], ms=3, color=colors[_family(s["agent"])],
                    label=s["agent"])
        ax.set(xlabel="cumulative compute (full-epoch units)", title="all keeps" if k is None else f"keep {k:g}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("val accuracy (%)")
    fig.suptitle(f"{setting}: mean over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(directory / "curves.png", dpi=120)
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
