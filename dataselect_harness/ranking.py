"""A suite's results as the leaderboard's inputs: its entries, their Δ vs the frontier and effective
speed-ups per scenario and seed, the baseline of each, and the headroom of the privileged oracles;
:func:`write_suite_leaderboard` writes them as ``DIR/leaderboard.{md,csv,png}`` (:mod:`.leaderboard`).

Leaderboard entries are ``agent k=keep`` (``agent`` for agents without a keep); each entry's
probability of improvement is over the ``random`` entry nearest to it in compute (mean compute
per epoch of the schedule, every pass counted), whatever its keep label. Privileged agents
(:func:`agents.is_privileged`) are not ranked: their Δ minus their baseline's is the headroom.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import agents

from .bootstrap import scenario_table
from .leaderboard import write_leaderboard
from .report import versus_rows
from .results import RESULTS, read_results
from .suites import scenario_dirs

LEADERBOARD_BASELINE = "random"


def entry(row: dict[str, Any]) -> str:
    """A row's leaderboard entry: ``agent k=keep`` (``agent`` without a keep), kwargs appended."""
    kw = {k: v for k, v in row["agent_kwargs"].items() if k != "keep"}
    return row["agent"] + ("" if row["keep"] is None else f" k={row['keep']:g}") + \
        (f" {json.dumps(kw, sort_keys=True)}" if kw else "")


_TRAINING_SEED = re.compile(r"^(sb3:\S*-s)\d+(\s.*)?$")


def pooled_name(name: str) -> str | None:
    """The entry that pools a trained policy's training seeds, ``sb3:DIR-s0 k=0.3`` -> ``sb3:DIR-s* k=0.3``
    (None for an entry whose model directory does not end in ``-s<seed>``)."""
    m = _TRAINING_SEED.match(name)
    return None if m is None else f"{m.group(1)}*{m.group(2) or ''}"


def _pool(per_entry: dict[str, dict[str, list[float]]], pools: Mapping[str, list[str]]) -> None:
    """Add each pool's entry to ``per_entry``: its members' runs, scenario by scenario."""
    for pool, members in pools.items():
        for name in members:
            for scen, values in per_entry.get(name, {}).items():
                per_entry.setdefault(pool, {}).setdefault(scen, []).extend(values)


@dataclass
class LeaderboardInputs:
    """What :func:`~.leaderboard.write_leaderboard` takes, built from a suite's results.

    ``scores[entry][scenario]``: per-seed Δ vs the frontier (pp), seeds outside the grid left out;
    ``speedups[entry][scenario]``: per-seed effective speed-up (``inf`` above the frontier, ``-inf``
    below it); ``baselines``: entry -> the ``random`` entry its probability of improvement is over;
    ``notes``: the seeds left out, said; ``headroom[oracle][scenario]``: per seed, a privileged
    oracle's Δ minus its baseline's on the same seed. Privileged entries (an agent class with
    ``privileged = True``, e.g. ``oracle_clean``) are in ``headroom`` only, never in ``scores``;
    ``shares[entry][scenario]``: the share of the scenario's headroom an entry captures, (its mean Δ -
    its baseline's) / the largest mean headroom among the oracles with the same baseline whose 95% CI
    lies above 0 (nan when there is none). ``learned``: the entries that are learned controllers
    (``sb3:`` specs, and the pooled entries :func:`pooled_name` names: a trained policy's training
    seeds ``DIR-s0``, ``DIR-s1``, ... as one entry whose runs are all theirs). ``seeds[entry][scenario]``:
    the seed of each value in ``scores`` (to pair two entries' runs by seed).
    """

    scores: dict[str, dict[str, list[float]]]
    speedups: dict[str, dict[str, list[float]]]
    baselines: dict[str, str]
    notes: list[str]
    headroom: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    learned: list[str] = field(default_factory=list)
    seeds: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def leaderboard_inputs(results: Mapping[str, list[dict[str, Any]]]) -> LeaderboardInputs:
    """Δ vs frontier and effective speed-up per entry, scenario and seed, from each scenario's rows.

    :param results: scenario name -> its results rows (``full`` and ``full@f`` included: they are
        the frontier, not entries).
    """
    scores: dict[str, dict[str, list[float]]] = {}
    run_seeds: dict[str, dict[str, list[int]]] = {}  # the seed of each value in scores
    speedups: dict[str, dict[str, list[float]]] = {}
    compute: dict[str, list[float]] = {}  # entry -> compute / E of its rows, to pair it with a random entry
    keeps: dict[str, float | None] = {}
    outside: dict[tuple[str, str], list[int]] = {}
    seed_of: dict[str, dict[str, dict[int, float]]] = {}  # entry -> scenario -> seed -> Δ
    spec_of: dict[str, str] = {}
    for scen, rows in results.items():
        rows = list({r["id"]: r for r in rows}.values())
        versus = versus_rows(rows)
        for r in sorted((r for r in rows if r["id"] in versus), key=lambda r: r["seed"]):
            v, name = versus[r["id"]], entry(r)
            spec_of[name] = r.get("spec", r["agent"])
            compute.setdefault(name, []).append(r["compute"] / r["bench_epochs"])
            keeps[name] = r["keep"]
            if v.delta is not None:
                scores.setdefault(name, {}).setdefault(scen, []).append(v.delta)
                run_seeds.setdefault(name, {}).setdefault(scen, []).append(r["seed"])
                seed_of.setdefault(name, {}).setdefault(scen, {})[r["seed"]] = v.delta
            else:
                outside.setdefault((name, scen), []).append(r["seed"])
            sp = {"ok": v.speedup, "above": math.inf, "below": -math.inf}.get(v.speedup_status, math.nan)
            speedups.setdefault(name, {}).setdefault(scen, []).append(sp)
    pools: dict[str, list[str]] = {}
    for name in compute:
        if (pool := pooled_name(name)) is not None:
            pools.setdefault(pool, []).append(name)
    pools = {pool: members for pool, members in pools.items() if len(members) > 1}
    for pool, members in pools.items():  # the training seeds of one policy, as one entry
        compute[pool] = [c for m in members for c in compute[m]]
        keeps[pool] = keeps[members[0]]
    _pool(scores, pools)
    _pool(run_seeds, pools)
    _pool(speedups, pools)
    randoms = {e: float(np.mean(compute[e])) for e in compute
               if e == LEADERBOARD_BASELINE or (keeps[e] is not None and e == f"{LEADERBOARD_BASELINE} k={keeps[e]:g}")}
    # every entry against the random entry nearest to it in compute (on the one axis, per epoch of
    # the schedule), not by keep label: a static agent's scoring epochs make it spend more than its keep
    baselines = {name: name if name in randoms else min(randoms, key=lambda e: (abs(randoms[e] - np.mean(c)), e))
                 for name, c in compute.items() if randoms}  # a random entry is its own (no improvement over itself)
    privileged = {name for name in scores if agents.is_privileged(spec_of.get(name, name))}
    headroom = {}
    for name in sorted(privileged):  # out of the ranking, into the headroom
        scores.pop(name)
        speedups.pop(name, None)
        base = baselines.get(name)
        if base is None:
            continue
        for scen, seeds in seed_of.get(name, {}).items():
            base_seeds = seed_of.get(base, {}).get(scen, {})
            diffs = [seeds[s] - base_seeds[s] for s in sorted(seeds) if s in base_seeds]
            if diffs:
                headroom.setdefault(name, {})[scen] = diffs
    notes = [f"{scen}: {len(rows)} episode(s), none ranked yet (only full-data runs so far, or no row within "
             f"the frontier)" for scen, rows in results.items() if rows and not any(scen in s for s in scores.values())]
    notes += [f"{name} in {scen}: seed(s) {', '.join(map(str, seeds))} outside the frontier's grid of computes "
              f"(or without a full-data run), left out of Δ" for (name, scen), seeds in outside.items()]
    notes += [f"{scen} ran {len(rows)} episode(s) in {', '.join(sorted({str(r.get('precision')) for r in rows}))} on "
              f"{'; '.join(sorted({str(r.get('device')) for r in rows}))}" for scen, rows in results.items() if rows]
    learned = [name for name in scores if name in pools or spec_of.get(name, "").startswith("sb3:")]
    return LeaderboardInputs(scores, speedups, baselines, notes, headroom, headroom_shares(scores, baselines, headroom),
                             learned, {name: run_seeds[name] for name in scores})


def headroom_shares(scores: Mapping[str, Mapping[str, list[float]]], baselines: Mapping[str, str],
                    headroom: Mapping[str, Mapping[str, list[float]]]) -> dict[str, dict[str, float]]:
    """``shares[entry][scenario]``: (entry's mean Δ - its baseline's) / the largest mean headroom of
    an oracle with the same baseline there, among the headrooms whose 95% CI (Student-t) lies above 0
    (:func:`~.bootstrap.scenario_table`); nan where there is none (a headroom not known to be
    positive, e.g. on clean data, would make any share meaningless).

    :param scores: ranked entries' per-seed Δ.
    :param baselines: entry -> its ``random`` entry (oracles included).
    :param headroom: oracle -> scenario -> per-seed headroom.
    """
    confident = {(r.agent, r.scenario) for r in scenario_table(headroom) if r.ci[0] > 0}  # nan CI: not known
    shares: dict[str, dict[str, float]] = {}
    for name, per in scores.items():
        base = baselines.get(name)
        if base is None or base == name or base not in scores:
            continue
        for scen, deltas in per.items():
            room = [float(np.mean(h[scen])) for o, h in headroom.items()
                    if baselines.get(o) == base and scen in h and (o, scen) in confident]
            if room and scen in scores[base]:
                best = max(room)
                gain = float(np.mean(deltas) - np.mean(scores[base][scen]))
                shares.setdefault(name, {})[scen] = gain / best if best > 0 else math.nan
    return shares



def write_suite_leaderboard(directory: str | Path, reps: int = 2000) -> str:
    """Write ``DIR/leaderboard.{md,csv,png}`` from the scenario folders of a suite directory.

    :return: the leaderboard's markdown.
    :raises SystemExit: when no scenario has results.
    """
    directory = Path(directory)
    dirs = scenario_dirs(directory)
    if not dirs:
        raise SystemExit(f"no scenario results under {directory} (expected {directory}/<scenario>/{RESULTS})")
    inputs = leaderboard_inputs({d.name: read_results(d) for d in dirs})
    if not inputs.scores:
        raise SystemExit(f"no row of {directory} lies within its full-data frontier: nothing to rank")
    return write_leaderboard(directory, inputs.scores, inputs.baselines, reps=reps, speedups=inputs.speedups,
                             notes=inputs.notes, headroom=inputs.headroom, shares=inputs.shares,
                             learned=inputs.learned, seeds=inputs.seeds)


def findings(directory: str | Path) -> str:
    """A plain sentence per scenario of a suite directory: the entry with the highest mean Δ vs the
    frontier and its gain over ``random`` at the same keep (mean over seeds, in points at equal compute).

    :raises SystemExit: as :func:`write_suite_leaderboard`, when nothing can be ranked.
    """
    dirs = scenario_dirs(Path(directory))
    inputs = leaderboard_inputs({d.name: read_results(d) for d in dirs})
    lines = []
    for scen in sorted({s for per in inputs.scores.values() for s in per}, key=[d.name for d in dirs].index):
        means = {name: float(np.mean(per[scen])) for name, per in inputs.scores.items() if scen in per}
        best = max(means, key=means.get)
        base = inputs.baselines.get(best, best)
        n = len(inputs.scores[best][scen])
        if best == base or base not in means:
            lines.append(f"- {scen}: nothing beat `{best}` (mean Δ {means[best]:+.2f} points vs full-data training "
                         f"at equal compute, n = {n})")
        else:
            lines.append(f"- {scen}: `{best}` led, {means[best] - means[base]:+.2f} points over `{base}` "
                         f"(mean Δ {means[best]:+.2f} vs full-data training at equal compute, n = {n})")
    return "\n".join(lines)
