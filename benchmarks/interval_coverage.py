"""Coverage of the leaderboard's 95% intervals, measured by simulation at the suite's shapes.

    python benchmarks/interval_coverage.py --draws 1000 --out benchmarks/results/interval_coverage

Each draw simulates one leaderboard row from known distributions and asks whether the interval that
:mod:`dataselect_harness.bootstrap` computes for it (through its public functions, the leaderboard's
own calls) contains the true value. Three kinds of interval, the three kinds of claim:

* ``scenario_mean`` (:func:`~dataselect_harness.bootstrap.scenario_table`): the mean Δ of one
  scenario's n seeds. Seeds drawn from a normal, a skewed (lognormal, sigma 0.5) and a seed-failure
  mixture (10% of seeds 5 sd lower); ``lognormal1`` (sigma 1, skewness 6) is a stress case, not a
  claim's shape. Truth: the distribution's mean.
* ``aggregate_iqm`` (:func:`~dataselect_harness.bootstrap.aggregate_table`): the IQM of Δ over 4
  scenarios x n seeds, normal seeds, at two shapes: ``A`` (all near 0, per-seed sd 0.5-1.5) and ``B``
  (two scenarios gain 6-8 points with sd 1.5-2, two sit near 0 with sd 0.3-0.7).
* ``iqm_difference`` (:func:`~dataselect_harness.bootstrap.iqm_difference`): X's IQM minus Y's, X at
  shape A or B, Y the same scenarios with means lower by 0.6, -0.4, 0.8, 0.3 and the same sds, X's
  and Y's runs of one seed correlated with rho = 0.3 (within-scenario correlation of two entries'
  per-seed Δ in ``benchmarks/results/suite-cpu``: median over entry pairs 0.02-0.46 by scenario).

"True IQM": the IQM of 400,000 runs per scenario drawn from the same distributions, pooled across
scenarios with equal weight (as the estimator pools runs x tasks); the estimator is biased for it at
n = 3 (a trimmed mean of few runs), and the coverage includes that bias.

Methods: ``t`` (the default, see :mod:`dataselect_harness.bootstrap`: Student-t for a scenario's
mean; for the IQM and the difference ``point ± t(0.975, ν) SE``, SE from a stratified bootstrap,
Welch-Satterthwaite ν, a difference resampled paired by seed) and ``percentile`` (the former
intervals: percentile bootstrap, rliable's stratified one, a difference resampled independently).
With the default 1,000 draws a coverage near 0.90-0.95 is measured to about ±0.02 (95% Monte Carlo).
Writes ``coverage.csv`` and ``coverage.md`` into ``--out`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import scipy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dataselect_harness.bootstrap import aggregate_table, iqm_difference, scenario_table, weighted_iqm  # noqa: E402

NS = (3, 5)  # seeds per scenario: the suite's 3, and 5
SHAPES = {  # name -> (per-scenario means, per-seed sds), in points of Δ
    "A": ((-0.2, 0.1, 0.0, 0.3), (0.5, 0.8, 1.1, 1.5)),
    "B": ((7.0, 6.0, 0.0, 0.2), (2.0, 1.5, 0.3, 0.7)),
}
Y_OFFSET = np.array([0.6, -0.4, 0.8, 0.3])  # X's mean minus Y's, per scenario
RHO = 0.3  # correlation of X's and Y's runs on one seed
SEED_DISTRIBUTIONS = {  # name -> (draw(rng, shape), true mean, role)
    "normal": (lambda rng, size: rng.normal(0.0, 1.0, size), 0.0, "claim"),
    "lognormal0.5": (lambda rng, size: rng.lognormal(0.0, 0.5, size), float(np.exp(0.125)), "claim"),
    "failure10%": (lambda rng, size: rng.normal(0.0, 1.0, size) - 5.0 * (rng.random(size) < 0.1), -0.5, "claim"),
    "lognormal1": (lambda rng, size: rng.lognormal(0.0, 1.0, size), float(np.exp(0.5)), "stress"),
}
COLUMNS = ("kind", "shape", "n", "method", "role", "draws", "coverage", "mc_se", "miss_low", "miss_high",
           "mean_width")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "interval_coverage"


def true_iqm(means: np.ndarray, sds: np.ndarray, size: int = 400_000, seed: int = 12345) -> float:
    """IQM of ``size`` normal runs per scenario, pooled with equal weight: the value the IQM estimates."""
    rng = np.random.default_rng(seed)
    runs = np.concatenate([rng.normal(m, s, size) for m, s in zip(means, sds)])
    return float(weighted_iqm(runs, np.ones(runs.size)))


def summarise(kind: str, shape: str, n: int, method: str, role: str, cis: np.ndarray, truth: float) -> dict:
    """One CSV row from ``(draws, 2)`` intervals and the true value."""
    low, high = cis[:, 0] > truth, cis[:, 1] < truth
    cover = float(np.mean(~low & ~high))
    return {"kind": kind, "shape": shape, "n": n, "method": method, "role": role, "draws": len(cis),
            "coverage": round(cover, 4), "mc_se": round(float(np.sqrt(cover * (1 - cover) / len(cis))), 4),
            "miss_low": round(float(np.mean(low)), 4), "miss_high": round(float(np.mean(high)), 4),
            "mean_width": round(float(np.mean(cis[:, 1] - cis[:, 0])), 3)}


def scenario_rows(draws: int, reps: int, rng: np.random.Generator) -> list[dict]:
    """Coverage of a scenario's mean interval: ``draws`` scenarios in one :func:`scenario_table` call."""
    rows = []
    for name, (draw, mean, role) in SEED_DISTRIBUTIONS.items():
        for n in NS:
            scores = {"X": {f"d{i}": x for i, x in enumerate(draw(rng, (draws, n)))}}
            for method in ("t", "percentile"):
                cis = np.array([r.ci for r in scenario_table(scores, reps=reps, method=method)])
                rows.append(summarise("scenario_mean", name, n, method, role, cis, mean))
    return rows


def aggregate_rows(draws: int, reps: int, rng: np.random.Generator) -> list[dict]:
    """Coverage of the aggregate IQM's interval: ``draws`` agents in one :func:`aggregate_table` call."""
    rows = []
    for shape, (means, sds) in SHAPES.items():
        truth = true_iqm(np.array(means), np.array(sds))
        for n in NS:
            scores = {f"d{i}": {f"s{k}": rng.normal(m, s, n) for k, (m, s) in enumerate(zip(means, sds))}
                      for i in range(draws)}
            for method in ("t", "percentile"):
                cis = np.array([a.iqm_ci for a in aggregate_table(scores, baseline="", reps=reps, method=method)])
                rows.append(summarise("aggregate_iqm", shape, n, method, "claim", cis, truth))
    return rows


def difference_rows(draws: int, reps: int, rng: np.random.Generator) -> list[dict]:
    """Coverage of the IQM difference's interval, X and Y correlated by seed (:data:`RHO`)."""
    rows = []
    for shape, (means, sds) in SHAPES.items():
        mx, sd = np.array(means), np.array(sds)
        my = mx - Y_OFFSET
        truth = true_iqm(mx, sd) - true_iqm(my, sd)
        for n in NS:
            zx = rng.normal(size=(draws, len(mx), n))
            zy = RHO * zx + np.sqrt(1 - RHO ** 2) * rng.normal(size=zx.shape)
            x, y = mx[:, None] + sd[:, None] * zx, my[:, None] + sd[:, None] * zy
            for method in ("t", "percentile"):
                cis = np.array([iqm_difference({f"s{k}": x[i, k] for k in range(len(mx))},
                                               {f"s{k}": y[i, k] for k in range(len(mx))},
                                               reps=reps, names=(f"x{i}", "y"), method=method)[1]
                                for i in range(draws)])
                rows.append(summarise("iqm_difference", shape, n, method, "claim", cis, truth))
    return rows


def machine() -> str:
    """CPU model and core count, Python and library versions."""
    model = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}")


def markdown(rows: list[dict], command: str, seconds: float, reps: int) -> str:
    """The coverage table, with the command, the machine and the date."""
    lines = ["# Coverage of the leaderboard's 95% intervals", "",
             f"Command: `{command}`  ", f"Machine: {machine()}; {seconds:.0f} s; {date.today().isoformat()}  ",
             f"Draws per row: {rows[0]['draws']}; bootstrap resamples per interval: {reps}. "
             "Method and shapes: see the docstring of `benchmarks/interval_coverage.py`.", "",
             "Coverage = share of draws whose interval contains the true value (nominal 0.95; a claim needs "
             ">= 0.90); ± is one Monte Carlo standard error; miss low / high = the truth below / above the "
             "interval. `t`: the leaderboard's intervals; `percentile`: the former ones. Rows marked *stress* "
             "are not the shape of a claim.", "",
             "| interval | shape | n | method | coverage | miss low | miss high | mean width |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        flag = "" if r["coverage"] >= 0.90 else " (< 0.90)"
        shape = r["shape"] + (" *stress*" if r["role"] == "stress" else "")
        lines.append(f"| {r['kind']} | {shape} | {r['n']} | {r['method']} | {r['coverage']:.3f} ± "
                     f"{r['mc_se']:.3f}{flag} | {r['miss_low']:.3f} | {r['miss_high']:.3f} | {r['mean_width']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="simulated rows per cell (default 1000: ±0.02)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples per interval (the leaderboard's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for coverage.csv and coverage.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    rows = scenario_rows(args.draws, args.reps, rng) + aggregate_rows(args.draws, args.reps, rng)
    rows += difference_rows(args.draws, args.reps, rng)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/interval_coverage.py", *given])
    md = markdown(rows, command, time.perf_counter() - start, args.reps)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "coverage.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "coverage.md").write_text(md)
    print(md)
    return md


if __name__ == "__main__":
    main()
