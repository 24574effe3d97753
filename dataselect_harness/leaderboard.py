"""Leaderboard of data-selection controllers: Δ vs the full-data frontier, with honest intervals.

Statistics follow Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (NeurIPS): per-scenario means, and across scenarios the mean, the
interquartile mean (IQM) and the average probability of improvement over a baseline. Their 95% CIs
are those of :mod:`.bootstrap`: Student-t over a scenario's seeds; for the aggregate IQM and an
IQM difference, a *stratified* bootstrap's standard error (seeds resampled within a scenario, the
set of scenarios kept fixed; a difference paired by seed) with a Welch-Satterthwaite t quantile;
the header of ``leaderboard.md`` states each method's coverage as measured by
``benchmarks/interval_coverage.py`` (:func:`coverage_lines`).

Input everywhere is a plain mapping ``scores[agent][scenario] -> 1-D array of per-seed values``
(Δ vs the full-data frontier in percentage points, see :mod:`dataselect_env.frontier`).
Seed counts may differ between scenarios and an agent may lack some scenarios.

The statistics are :mod:`.bootstrap`'s (why they are not rliable's calls is said there); this
module writes them as markdown, CSV and a figure.

``leaderboard.csv`` (long format, written by :func:`write_leaderboard`) has the columns
:data:`CSV_COLUMNS`:

* ``kind``: ``scenario`` (one row per agent and scenario) or ``aggregate`` (one per agent);
* ``agent``; ``scenario`` (``*`` on aggregate rows);
* ``n``: seeds (scenario rows) or runs summed over the agent's scenarios (aggregate rows);
* ``n_scenarios``: 1 on scenario rows; scenarios the agent has on aggregate rows;
* ``mean``, ``mean_ci_low``, ``mean_ci_high``: mean Δ (aggregate: mean over scenarios of the
  per-scenario means) and its 95% CI;
* ``iqm``, ``iqm_ci_low``, ``iqm_ci_high``: aggregate rows only (empty on scenario rows);
* ``poi``, ``poi_ci_low``, ``poi_ci_high``, ``poi_scenarios``, ``poi_baseline``: aggregate rows
  only: probability of improvement over the agent's baseline, the number of shared scenarios it
  averages over and the baseline's name (empty for the baseline itself or when there are no
  shared scenarios);
* ``speedup_median``, ``speedup_outside``, ``speedup_above``, ``speedup_below``: scenario rows
  only, when effective speed-ups are given: their median over seeds (empty when that median seed
  is outside the frontier, ``speedup_outside`` then saying ``above`` or ``below``) and how many
  seeds were above the frontier's best accuracy or below its cheapest point.

``baseline`` is one agent name for all, or a mapping ``agent -> its baseline`` (e.g. ``random``
nearest in compute, as ``train_agent.py suite`` passes).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from .bootstrap import (  # noqa: F401  (re-exported: the leaderboard's statistics)
    AggregateStats,
    ScenarioStats,
    Scores,
    aggregate_table,
    iqm_difference,
    prob_improvement,
    scenario_table,
    speedup_stats,
    weighted_iqm,
)
from .plots import leaderboard_figure

#: The committed coverage simulation the header quotes (``benchmarks/interval_coverage.py``).
COVERAGE_CSV = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "interval_coverage" / "coverage.csv"
#: Interval kind in ``coverage.csv`` -> how the leaderboard computes it.
INTERVALS = {
    "scenario_mean": "a scenario's mean Δ: Student-t over its seeds",
    "aggregate_iqm": ("the aggregate IQM: IQM ± t(0.975, ν) SE, SE from a stratified bootstrap (seeds resampled "
                      "within one scenario at a time, variance x n/(n-1)), ν by Welch-Satterthwaite"),
    "iqm_difference": ("an IQM difference: the same, X's and Y's runs of a seed resampled together (paired: "
                       "every entry shares a seed's data, initial weights and split)"),
}

CSV_COLUMNS = ("kind", "agent", "scenario", "n", "n_scenarios", "mean", "mean_ci_low",
               "mean_ci_high", "iqm", "iqm_ci_low", "iqm_ci_high", "poi", "poi_ci_low",
               "poi_ci_high", "poi_scenarios", "poi_baseline", "speedup_median", "speedup_outside",
               "speedup_above", "speedup_below")


def _fmt(x: float, signed: bool = True) -> str:
    """Number for the tables: 2 decimals, sign when ``signed``, an em dash for nan."""
    return "—" if math.isnan(x) else (f"{x:+.2f}" if signed else f"{x:.2f}")


def _fmt_ci(ci: tuple[float, float], signed: bool = True) -> str:
    """``[lo, hi]`` or an em dash when undefined."""
    return "—" if math.isnan(ci[0]) else f"[{_fmt(ci[0], signed)}, {_fmt(ci[1], signed)}]"


def _fmt_point_ci(x: float, ci: tuple[float, float], signed: bool = True) -> str:
    """``x [lo, hi]``, or a single em dash when ``x`` is undefined."""
    return "—" if math.isnan(x) else f"{_fmt(x, signed)} {_fmt_ci(ci, signed)}"


def _fmt_speedup(stats: tuple[float, int, int] | None) -> str:
    """``1.52x``, ``above`` / ``below`` (the median seed is outside), plus the counts outside."""
    if stats is None or math.isnan(stats[0]):
        return "—"
    m, above, below = stats
    cell = "above" if m == math.inf else "below" if m == -math.inf else f"{m:.2f}x"
    other = [f"{above} above"] * bool(above) + [f"{below} below"] * bool(below)
    return cell + (f" ({', '.join(other)})" if other else "")


def coverage_lines(path: Path = COVERAGE_CSV) -> list[str]:
    """The header's account of the intervals: each kind's method (:data:`INTERVALS`) and the coverage
    ``benchmarks/interval_coverage.py`` measured for it, per n the lowest over the seed distributions and
    shapes simulated for a claim (and over its stress cases, said apart), read from its committed
    ``coverage.csv`` (or said to be missing).

    :param path: the simulation's CSV.
    :return: markdown lines (a paragraph and a list, blank lines around them).
    """
    rows = []
    if path.exists():
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if r["method"] == "t"]

    def lowest(kind: str, role: str) -> str:
        cov: dict[int, float] = {}
        for r in rows:
            if r["kind"] == kind and r["role"] == role:
                cov[int(r["n"])] = min(cov.get(int(r["n"]), 1.0), float(r["coverage"]))
        return ", ".join(f"{c:.2f} at n = {n}" for n, c in sorted(cov.items()))

    lines = ["", ("95% CIs, each with the coverage a nominal 95% interval of its kind reached in simulation "
                  "(n seeds a scenario, 4 scenarios for an aggregate; per n the lowest over the seed distributions "
                  "and suite shapes simulated; `benchmarks/results/interval_coverage/coverage.md`):")]
    for kind, method in INTERVALS.items():
        claim, stress = lowest(kind, "claim"), lowest(kind, "stress")
        lines.append(f"- {method}; coverage {claim or 'not measured in this checkout (run `benchmarks/interval_coverage.py`)'}"
                     + (f" (stress case, seeds as skewed as a lognormal with sigma 1: {stress})" if stress else "") + ".")
    lines += ["- the aggregate mean: Welch-Satterthwaite t; P(improvement): percentile stratified bootstrap "
              "(coverage of these two not simulated: no claim here rests on them).", ""]
    return lines


def _markdown(per_scen: list[ScenarioStats], agg: list[AggregateStats], baseline: str | Mapping[str, str],
              speedups: dict[tuple[str, str], tuple[float, int, int]] | None = None,
              notes: Sequence[str] = ()) -> str:
    """The leaderboard as markdown: one table per scenario, then the aggregate table."""
    lines = ["# Leaderboard: Δ vs the full-data compute frontier", "",
             ("Δ = test accuracy of the run minus the accuracy full-data training reaches at "
              "the same compute (linear interpolation of the full-data frontier), in "
              "percentage points; Δ > 0 beats full-data training at equal compute."),
             ("IQM = interquartile mean; P(improvement) = P(X > Y) averaged over shared scenarios "
              "(Agarwal et al. 2021, \"Deep RL at the Edge of the Statistical Precipice\")."),
             *coverage_lines(),
             ("Every table lists the agents in one order: the aggregate IQM of Δ, descending (so a "
              "scenario table is not sorted by its own means)."),
             ""]
    if speedups is not None:
        lines[-1:-1] = [("Effective speed-up = compute full-data training needs to reach the run's "
                         "accuracy / the run's compute, median over seeds; `above` / `below`: seeds "
                         "better than every full-data run / worse than the cheapest one.")]
    if notes:
        lines += [*(f"- {n}" for n in notes), ""]
    for scen in sorted({r.scenario for r in per_scen}):
        head = "| agent | n | mean Δ | 95% CI |" + (" effective speed-up |" if speedups is not None else "")
        lines += [f"## {scen}", "", head, "|---|---:|---:|---|" + ("---|" if speedups is not None else "")]
        lines += [f"| {r.agent} | {r.n} | {_fmt(r.mean)} | {_fmt_ci(r.ci)} |"
                  + (f" {_fmt_speedup(speedups.get((r.agent, scen)))} |" if speedups is not None else "")
                  for r in per_scen if r.scenario == scen]
        lines.append("")
    per_agent = not isinstance(baseline, str)
    lines += ["## Aggregate over scenarios", "", verdict(agg), ""]
    few = sorted({r.scenario for r in per_scen if 1 < r.n < 3})
    if few:
        lines[-1:-1] = [f"Caveat: {', '.join(few)} {'has' if len(few) == 1 else 'have'} fewer than 3 seeds; a 95% "
                        "Student-t interval from 2 seeds rests on one degree of freedom (t = 12.7) and on the seeds "
                        "being near normal, which 2 seeds cannot show; the coverage simulation starts at 3.", ""]
    lines += [
              ("| agent | scenarios | mean Δ [95% CI] | IQM Δ [95% CI] | "
               + ("P(improvement over baseline) [95% CI] | baseline |" if per_agent
                  else f"P(improvement over {baseline}) [95% CI] |")),
              "|---|---:|---|---|---|" + ("---|" if per_agent else "")]
    lines += [(f"| {r.agent} | {r.n_scenarios} | {_fmt_point_ci(r.mean, r.mean_ci)} | "
               f"{_fmt_point_ci(r.iqm, r.iqm_ci)} | "
               f"{_fmt_point_ci(r.poi, r.poi_ci, signed=False)} |"
               + (f" {r.baseline or '—'} |" if per_agent else "")) for r in agg]
    return "\n".join(lines) + "\n"


def verdict(agg: Sequence[AggregateStats]) -> str:
    """One plain sentence: which entries beat full-data training at equal compute with confidence
    (the 95% CI of their aggregate IQM of Δ above 0), or that none does."""
    above = [a for a in agg if not math.isnan(a.iqm_ci[0]) and a.iqm_ci[0] > 0]
    below = [a for a in agg if not math.isnan(a.iqm_ci[1]) and a.iqm_ci[1] < 0]
    if above:
        names = ", ".join(f"`{a.agent}` ({_fmt_point_ci(a.iqm, a.iqm_ci)})" for a in above)
        return (f"**Verdict:** {names} beat{'s' if len(above) == 1 else ''} full-data training at equal compute "
                "with confidence (95% CI of the aggregate IQM of Δ above 0).")
    return (f"**Verdict:** no entry beats full-data training at equal compute with confidence (no 95% CI of an "
            f"aggregate IQM of Δ lies above 0); {len(below)} of {len(agg)} are below it with confidence.")


def _write_csv(path: Path, per_scen: list[ScenarioStats], agg: list[AggregateStats],
               speedups: dict[tuple[str, str], tuple[float, int, int]] | None = None) -> None:
    """Long-format CSV with the columns :data:`CSV_COLUMNS` (nan written as empty)."""
    def cell(x: float | str) -> float | str:
        return "" if isinstance(x, float) and math.isnan(x) else x

    nan = math.nan
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in per_scen:
            sp = (speedups or {}).get((r.agent, r.scenario))
            m, above, below = (nan, nan, nan) if sp is None or math.isnan(sp[0]) else sp
            outside = "above" if m == math.inf else "below" if m == -math.inf else ""
            w.writerow([cell(v) for v in ("scenario", r.agent, r.scenario, r.n, 1, r.mean, *r.ci,
                                          nan, nan, nan, nan, nan, nan, nan, "",
                                          nan if outside else m, outside, above, below)])
        for a in agg:
            poi_k = a.poi_scenarios if a.poi_scenarios else nan
            w.writerow([cell(v) for v in ("aggregate", a.agent, "*", a.n_runs, a.n_scenarios,
                                          a.mean, *a.mean_ci, a.iqm, *a.iqm_ci, a.poi, *a.poi_ci,
                                          poi_k, a.baseline, nan, "", nan, nan)])


def write_leaderboard(directory: str | Path, scores: Scores, baseline: str | Mapping[str, str] = "random", *,
                      reps: int = 2000, seed: int = 0, speedups: Scores | None = None,
                      notes: Sequence[str] = (), headroom: Scores | None = None,
                      shares: Mapping[str, Mapping[str, float]] | None = None, learned: Sequence[str] = (),
                      seeds: Mapping[str, Mapping[str, Sequence[int]]] | None = None) -> str:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.png`` into ``directory``.

    The markdown has one table per scenario (agent, n, mean Δ, 95% CI) and the aggregate table
    (agent, scenarios, mean [CI], IQM [CI], P(improvement over ``baseline``) [CI]), agents
    sorted by IQM descending. The CSV columns are :data:`CSV_COLUMNS` (see the module
    docstring). The figure has one dot-and-whisker panel per scenario (mean and 95% CI per
    agent, dashed line at 0 = the full-data frontier) and one for the aggregate IQM; it is
    skipped when matplotlib is not installed, which the returned text then says.

    :param directory: output directory (created if missing).
    :param scores: ``scores[agent][scenario] -> per-seed Δ`` in percentage points.
    :param baseline: agent for the probability of improvement, or ``agent -> its baseline``.
    :param reps: bootstrap resamples.
    :param seed: seed of the bootstrap.
    :param speedups: optional ``speedups[agent][scenario] -> per-seed effective speed-ups``
        (``inf`` above the frontier, ``-inf`` below it, see :func:`speedup_stats`): adds their
        median to the scenario tables and the CSV.
    :param notes: lines listed under the header (e.g. seeds left out as outside the frontier).
    :param headroom: ``headroom[oracle][scenario] -> per-seed Δ of a privileged oracle minus its
        baseline's Δ on the same seed``: a section of its own, never ranked with the controllers.
    :param shares: ``shares[entry][scenario]``: the share of that headroom an entry captures, listed
        in the same section.
    :param learned: entries that are learned controllers: a section gives each one's IQM minus the
        best hand-written entry's, with the CI of the difference (:func:`learned_markdown`).
    :param seeds: ``seeds[agent][scenario]``: the seed of each value in ``scores``, to pair that
        difference by seed.
    :return: the markdown written to ``leaderboard.md``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    per_scen = scenario_table(scores, reps=reps, seed=seed)
    agg = aggregate_table(scores, baseline=baseline, reps=reps, seed=seed)
    rank = {a.agent: i for i, a in enumerate(agg)}
    per_scen.sort(key=lambda r: (r.scenario, rank[r.agent]))
    sp = None if speedups is None else {(str(a), str(sc)): speedup_stats(v) for a, per in speedups.items()
                                        for sc, v in per.items()}
    md = _markdown(per_scen, agg, baseline, sp, notes)
    md += best_markdown(scores, agg, learned, reps=reps, seed=seed, seeds=seeds)
    md += learned_markdown(scores, agg, learned, reps=reps, seed=seed, seeds=seeds)
    if headroom:
        md += headroom_markdown(headroom, baseline, reps=reps, seed=seed, shares=shares or {})
    if not leaderboard_figure(out / "leaderboard.png", per_scen, agg):
        md += "\n(Figure skipped: matplotlib is not installed.)\n"
    (out / "leaderboard.md").write_text(md)
    _write_csv(out / "leaderboard.csv", per_scen, agg, sp)
    return md


def agent_of(entry: str) -> str:
    """The agent of a leaderboard entry: ``"auto k=0.5"`` -> ``"auto"``; an entry without a keep is its agent."""
    return entry.split(" k=")[0]


def best_markdown(scores: Scores, agg: Sequence[AggregateStats], learned: Sequence[str] = (), reps: int = 2000,
                  seed: int = 0, seeds: Mapping[str, Mapping[str, Sequence[int]]] | None = None) -> str:
    """The section that judges the best hand-written agent: each of its entries (one per keep) minus every
    hand-written entry of another agent, aggregate IQM of Δ with the 95% CI of the difference paired by
    seed (:func:`iqm_difference`), and per entry whether every difference's CI lies above 0.

    The best agent is that of the hand-written entry (not in ``learned``) with the highest aggregate IQM.

    :param scores: ``scores[agent][scenario] -> per-seed Δ`` (the ranked entries).
    :param agg: their aggregate rows (:func:`aggregate_table`).
    :param learned: the entries that are learned controllers (left out of both sides).
    :param seeds: ``seeds[agent][scenario]``: the seed of each value in ``scores``, to pair by seed.
    """
    wanted = set(learned)
    hand = [a for a in agg if a.agent not in wanted]
    if len(hand) < 2:
        return ""
    best = agent_of(max(hand, key=lambda a: (a.iqm, a.agent)).agent)
    mine = [a.agent for a in hand if agent_of(a.agent) == best]
    others = [a.agent for a in hand if agent_of(a.agent) != best]
    if not others:
        return ""
    lines = ["", f"## `{best}` against every other hand-written entry", "",
             f"`{best}` is the agent of the hand-written entry with the highest aggregate IQM. Each of its entries' "
             "aggregate IQM of Δ minus that of every hand-written entry of another agent, over the scenarios "
             "both have, with the 95% CI of the difference paired by seed (see the header).", ""]
    table = ["| entry | minus | difference [95% CI] | scenarios |", "|---|---|---|---:|"]
    for name in mine:
        results = []
        for other in others:
            diff, ci, k, _ = iqm_difference(scores[name], scores[other], reps=reps, seed=seed, names=(name, other),
                                            x_seeds=(seeds or {}).get(name), y_seeds=(seeds or {}).get(other))
            results.append((ci[0], other, diff, ci, k))
            table.append(f"| {name} | {other} | {_fmt_point_ci(diff, ci)} | {k} |")
        if any(math.isnan(r[0]) for r in results):
            lines.append(f"- `{name}`: no interval yet (a scenario with a single seed).")
            continue
        low, other, diff, ci, _ = min(results, key=lambda r: (r[0], r[1]))
        above = "above" if low > 0 else "**not** above"
        lines.append(f"- `{name}`: {above} every other hand-written entry with confidence (lowest CI: "
                     f"minus `{other}` {_fmt_point_ci(diff, ci)}).")
    return "\n".join(lines + [""] + table) + "\n"


def learned_markdown(scores: Scores, agg: Sequence[AggregateStats], learned: Sequence[str], reps: int = 2000,
                     seed: int = 0, seeds: Mapping[str, Mapping[str, Sequence[int]]] | None = None) -> str:
    """The section that judges learned controllers: each one's aggregate IQM minus that of the best
    hand-written entry (the highest IQM among the entries not in ``learned``), with the 95% CI of that
    difference over the scenarios both have, paired by seed (:func:`iqm_difference`).

    :param scores: ``scores[agent][scenario] -> per-seed Δ`` (the ranked entries).
    :param agg: their aggregate rows (:func:`aggregate_table`), for the best hand-written entry.
    :param learned: the entries that are learned controllers (pooled training seeds included).
    :param seeds: ``seeds[agent][scenario]``: the seed of each value in ``scores``; without it, values
        pair by position where both entries have as many.
    """
    wanted = set(learned)
    learned = [a.agent for a in agg if a.agent in wanted]
    others = [a for a in agg if a.agent not in wanted]
    if not learned or not others:
        return ""
    best = max(others, key=lambda a: (a.iqm, a.agent))
    lines = ["", "## Learned controllers against the best hand-written entry", "",
             f"IQM of Δ minus that of `{best.agent}` (the hand-written entry with the highest aggregate IQM, "
             f"{_fmt(best.iqm)}), over the scenarios both have; 95% CI of the difference paired by seed (the "
             "runs of both entries on one evaluation seed resampled together, within each scenario; see the "
             "header). A pooled entry (`-s*`) holds every training seed's runs (n = training seeds x evaluation "
             "seeds).", "",
             "| learned entry | runs | IQM Δ | best hand-written's IQM on the same scenarios | "
             "difference [95% CI] | scenarios |", "|---|---:|---:|---:|---|---:|"]
    by_name = {a.agent: a for a in agg}
    for name in learned:
        diff, ci, k, there = iqm_difference(scores[name], scores[best.agent], reps=reps, seed=seed,
                                            names=(name, best.agent), x_seeds=(seeds or {}).get(name),
                                            y_seeds=(seeds or {}).get(best.agent))
        lines.append(f"| {name} | {by_name[name].n_runs} | {_fmt(by_name[name].iqm)} | {_fmt(there)} | "
                     f"{_fmt_point_ci(diff, ci)} | {k} |")
    return "\n".join(lines) + "\n"


def headroom_markdown(headroom: Scores, baseline: str | Mapping[str, str], reps: int = 2000, seed: int = 0,
                      shares: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """The headroom section: per scenario, each privileged oracle's Δ minus its baseline's, paired
    by seed, mean and 95% Student-t CI over seeds. Oracles read what no controller may (which labels
    are corrupted, the clean labels): they bound what selection could gain, they do not compete.

    :param headroom: ``headroom[oracle][scenario] -> per-seed differences`` (points).
    :param baseline: each oracle's baseline (a name, or ``oracle -> name``), for the header.
    :param shares: ``shares[entry][scenario]``: the share of the headroom each controller captures.
    """
    lines = ["", "## Headroom: privileged oracles minus random (not ranked)", "",
             "An oracle reads the ground truth (`env.corrupted`, `env.clean_labels`), which no controller may; "
             "its Δ minus that of its baseline on the same seed is the scenario's headroom for selection. "
             "A controller's share of it = (its Δ - the baseline's) / the headroom.", "",
             "| scenario | oracle | baseline | n | headroom [95% CI] |", "|---|---|---|---:|---|"]
    for r in scenario_table(headroom, reps=reps, seed=seed):
        base = baseline if isinstance(baseline, str) else baseline.get(r.agent, "—")
        lines.append(f"| {r.scenario} | {r.agent} | {base} | {r.n} | {_fmt_point_ci(r.mean, r.ci)} |")
    if shares:
        scens = sorted({sc for per in shares.values() for sc in per})
        lines += ["", "Share of the headroom each controller captures ((its mean Δ - its baseline's) / the largest "
                  "mean headroom of an oracle with that baseline, among those whose 95% CI lies above 0; 1 = all "
                  "of it, < 0 = below the baseline; — where no headroom is known to be positive):", "",
                  "| agent | " + " | ".join(scens) + " |", "|---|" + "---:|" * len(scens)]
        lines += [f"| {a} | " + " | ".join("—" if sc not in per or math.isnan(per[sc]) else f"{per[sc]:+.2f}"
                                           for sc in scens) + " |" for a, per in sorted(shares.items())]
    return "\n".join(lines) + "\n"
