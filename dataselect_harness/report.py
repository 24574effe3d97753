"""The statistics and tables of a bench, made from ``DIR/results.jsonl``: ``summary.csv`` and
``summary.md``, and the figures of :mod:`.plots` (``python train_agent.py report DIR``).

Every row is compared with the full-data frontier of its setting and seed (:mod:`.frontier`):
the ``full`` and ``full@f`` episodes, all data for round(f E) epochs. Δ vs frontier is the
accuracy gained at equal compute, the effective speed-up the compute saved at equal accuracy.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataselect_env.frontier import Frontier, delta_vs_frontier, effective_speedup

from .plots import plot
from .results import RESULTS, is_frontier, kwargs_key, planned, read_results, setting_of

SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan")


def seed_frontiers(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Frontier]:
    """The full-data frontier of each (setting, seed): ``(compute, test accuracy in %)`` of its
    ``full`` and ``full@f`` episodes (see :mod:`.frontier`)."""
    points: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in rows:
        if is_frontier(r):
            points.setdefault((setting_of(r), r["seed"]), []).append((r["compute"], 100 * r["test_accuracy"]))
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
    :param speedup_bound: for ``"below"``, the bound the speed-up stays under: the cheapest
        frontier point's compute / the episode's; None otherwise.
    """

    delta: float | None
    delta_status: str
    speedup: float | None
    speedup_status: str
    speedup_bound: float | None = None


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
    bound = float(frontier.compute[0] / comp) if status == "below" else None
    return Versus(delta, "outside" if delta is None else "ok", speedup, status, bound)


def versus_rows(rows: list[dict[str, Any]]) -> dict[str, Versus]:
    """:func:`versus_frontier` of every row that is not itself a frontier point, by row id."""
    frontiers = seed_frontiers(rows)
    return {r["id"]: versus_frontier(r, frontiers.get((setting_of(r), r["seed"])))
            for r in rows if not is_frontier(r)}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary dict per (setting, agent, agent kwargs, keep): mean/std over seeds and the comparisons.

    ``delta_*``: test accuracy minus the full-data frontier of the same seed at the episode's
    compute, in percentage points (:func:`versus_frontier`); ``speedup_eff_*``: the effective
    speed-up, the compute full-data training needs to reach the episode's accuracy over the
    episode's compute. Both are mean/std over the seeds where they are defined (``*_n``), with
    the others counted: ``delta_outside`` (compute outside the frontier's grid),
    ``speedup_eff_above`` / ``speedup_eff_below`` (accuracy above the frontier's best / below its
    cheapest point; ``speedup_eff_below_bound``: the largest of the latter's bounds, the cheapest
    point's compute / the episode's) and ``no_frontier`` (no full-data episode of that seed). Frontier rows
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
        key = (setting_of(r), r["agent"], kwargs_key(r), r["keep"])
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
               "speedup_eff_above": 0, "speedup_eff_below": 0, "speedup_eff_below_bound": nan, "no_frontier": 0,
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
        bounds = [v.speedup_bound for v in vs if v.speedup_bound is not None]
        if bounds:
            row["speedup_eff_below_bound"] = max(bounds)
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
            return f"below the grid (< {s['speedup_eff_below_bound']:.2f}x)"
        return ", ".join(other) or "—"
    cell = f"{s['speedup_eff_mean']:.2f}x" + ("" if math.isnan(s["speedup_eff_std"]) else f" ± {s['speedup_eff_std']:.2f}")
    return cell + (f" (n={s['speedup_eff_n']}; {', '.join(other)})" if other else "")


def format_table(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """The summary as markdown: per setting, a header (machine, n, commit, frontier grid) and the table."""
    lines = []
    for setting in dict.fromkeys(s["setting"] for s in summary):
        rs = [r for r in rows if setting_of(r) == setting]
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
                  f"the last finished {max(r['finished'] for r in rs)[:10]}.",
                  "Mean ± std over seeds (n runs). Compute in full-epoch units, every forward and backward pass "
                  "counted (validation after every epoch and at reset, static scoring, reference models"
                  + ("; for rows written before the env counted validation, its passes added from the row's "
                     "N, validation size and epochs" if any(r.get("val_compute_reconstructed") for r in rs) else "")
                  + "), speed-ups against `full`. "
                  "The full-data frontier of a seed is its `full` and `full@f` runs, validated like every row "
                  f"(all data for E' = {', '.join(str(e) for e in grid) or '—'} epochs, the schedule compressed "
                  "to E'). Δ vs frontier = test accuracy minus the frontier's accuracy at the row's compute "
                  "(linear interpolation, same seed), in percentage points; `outside` when the compute lies "
                  "outside the grid's computes (no extrapolation). Effective speed-up = compute full-data "
                  "training needs to reach the row's accuracy (inverse interpolation of the same seed's "
                  "frontier, its running maximum) / the row's compute; `above` = better than every "
                  "full-data run, `below` = worse than the cheapest one (so under the cheapest one's compute / "
                  "the row's, the bound shown). Δ compares with the full-data run of the row's own compute, the "
                  "speed-up with every shorter one too: where longer full-data training loses accuracy "
                  "(memorised label noise), a row can beat its equal-compute run (Δ > 0) and still be below the "
                  "grid.", ""]
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
    expected = planned(directory)
    if expected and expected - {r["id"] for r in rows}:
        done = len(expected & {r["id"] for r in rows})
        table = (f"**Partial:** {done} of the {len(expected)} planned episodes have finished; every number below "
                 f"will change as the rest land (re-run the bench command to go on).\n\n") + table
    (directory / SUMMARY_MD).write_text(table)
    if not plot(summary, rows, directory):
        print("matplotlib is not installed: no pareto.png / curves.png (pip install 'dataselect[plot]'); "
              "wrote results.jsonl, summary.csv and summary.md")
    return table
