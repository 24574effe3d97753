"""Named benchmark suites: lists of scenarios, run one bench each, ranked by one leaderboard.

``python train_agent.py suite NAME --out DIR`` runs every scenario of :data:`SUITES` ``[NAME]`` as a
``bench`` into ``DIR/<scenario>/`` (resumable and kill-safe like a bench: a re-run skips finished
episodes), then writes ``DIR/leaderboard.{md,csv,png}`` (:func:`write_suite_leaderboard`) from the
scenarios' rows compared with their full-data frontiers (:mod:`.report`, :mod:`.frontier`).
``python train_agent.py report DIR`` re-renders the scenarios' reports and the leaderboard.

A scenario is data: a name, an env id, env kwargs, the schedule length E and keep fractions. A suite
adds the default agents and seeds; ``--agents``, ``--keep``, ``--seeds`` override them. Built in:

- ``smoke``: ``DataSelect/Synthetic-v0`` (clean labels, 40% label noise, a smaller training set),
  3 epochs; well under 2 minutes on 2 CPU cores with its default agents. The tests run it.
- ``cpu``: the ``small`` net on CIFAR-10 with a 1,000-sample validation split (the controllers'
  signal, evaluated every epoch: a smaller one saves a quarter of a short epoch; test accuracy on
  the 10,000 test images is what is ranked): 45k samples / 10 epochs (the short regime), 10k
  samples / 40 epochs (the long regime), 40% symmetric label noise (``CIFAR10Noisy40Proxy-v0``:
  5,000 samples) and a long tail (imbalance 100 of a 20,000-sample subset: 4,964 samples), 20
  epochs each. Its README entry (the suite table under "Suites and the leaderboard") states the
  measured wall time and the machine; it says "not measured yet" until someone has run it.
- ``gpu``: ResNet-18 on CIFAR-10 and CIFAR-100 for 200 epochs (the setting of Raju et al. 2021 and
  InfoBatch, Qin et al. 2024), and the ``fast`` net on short schedules (clean, noisy, long-tailed
  CIFAR-10). Runnable where a GPU is; ``--workers`` / ``--ray`` spread it.

Leaderboard entries are ``agent k=keep`` (``agent`` for agents without a keep); each entry's
probability of improvement is over the ``random`` entry nearest to it in compute (mean compute
per epoch of the schedule, every pass counted), whatever its keep label.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bootstrap import scenario_table
from .results import RESULTS, atomic_write, read_results

SUITE_FILE = "suite.json"  # DIR/suite.json: what a suite directory holds (written by train_agent.py suite)
LEADERBOARD_BASELINE = "random"


@dataclass(frozen=True)
class Scenario:
    """One setting of a suite, run as one bench into ``DIR/<name>/``."""

    name: str  # directory name and the leaderboard's scenario
    env: str  # gymnasium id
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)  # gym.make kwargs (epochs excluded)
    epochs: int = 10  # schedule length E
    keep: tuple[float, ...] = (0.3, 0.5)  # keep fractions (--keep overrides)
    about: str = ""  # one line for the README and the leaderboard


@dataclass(frozen=True)
class Suite:
    """A named list of scenarios with its default agents and seeds."""

    name: str
    about: str
    scenarios: tuple[Scenario, ...]
    agents: tuple[str, ...]  # default --agents (full and the frontier always run)
    seeds: tuple[int, ...] = (0, 1, 2)  # default --seeds


_CPU_AGENTS = ("full", "random", "epsilon_greedy", "ucb", "loss_proportional", "infobatch", "forgetting", "el2n",
               "rho_loss", "class_balanced", "small_loss", "oracle_clean", "oracle_balanced")
# val only steers controllers; test (10,000 images) is reported. fp32 on every CPU: "auto" would train
# in bf16 on CPUs with native bf16 and in fp32 elsewhere, and one suite directory never mixes the two.
_CPU = {"val_size": 1000, "precision": "fp32"}
_SMALL = {"model": "small", **_CPU}

SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("smoke", "Synthetic-v0 variants, 3 epochs: the harness end to end in well under 2 minutes (tests)", (
        Scenario("synthetic-clean", "DataSelect/Synthetic-v0", {"synthetic": {"label_noise": 0.0}}, 3, (0.5,),
                 "Gaussian clusters, clean labels"),
        Scenario("synthetic-noisy40", "DataSelect/Synthetic-v0", {"synthetic": {"label_noise": 0.4}}, 3, (0.5,),
                 "40% of the training labels flipped"),
        Scenario("synthetic-n500", "DataSelect/Synthetic-v0", {"synthetic": {"n_train": 1000}}, 3, (0.5,),
                 "500 training samples (1,000 before the validation split), 20% label noise"),
    ), agents=("full", "random", "ucb", "infobatch"), seeds=(0, 1)),
    Suite("cpu", "the small net on CIFAR-10: short and long regimes, label noise, long tail (CPU-sized)", (
        Scenario("cifar10-45k-e10", "DataSelect/CIFAR10-v0", {**_SMALL, "train_subset": 45000}, 10, (0.3, 0.5),
                 "45,000 samples, 10 epochs: the short regime"),
        Scenario("cifar10-10k-e40", "DataSelect/CIFAR10-v0", {**_SMALL, "train_subset": 10000}, 40, (0.3, 0.5),
                 "10,000 samples, 40 epochs: the long regime"),
        # Memorises: full-data validation accuracy peaks, then falls 5.0 +- 0.4 points by epoch 40 (3 seeds,
        # benchmarks/results/noise_memorisation). It replaces cifar10-noisy40-5k-e20 (label smoothing 0.2,
        # weight decay 5e-4, 20 epochs), which never fit the wrong labels; its rows stay documented.
        Scenario("cifar10-noisy40-5k-e40", "DataSelect/CIFAR10Noisy40Proxy-v0",
                 {**_CPU, "label_smoothing": 0.0, "weight_decay": 5e-5}, 40, (0.3, 0.5),
                 "5,000 samples, 40% symmetric label noise, 40 epochs, no label smoothing: memorises"),
        Scenario("cifar10-lt100-5k-e20", "DataSelect/CIFAR10LT100-v0", {**_SMALL, "train_subset": 20000}, 20,
                 (0.3, 0.5), "long tail, imbalance 100 of a 20,000 subset (2,000 down to 20 per class, "
                 "4,964 samples), 20 epochs"),
    ), agents=_CPU_AGENTS),
    Suite("gpu", "ResNet-18 for 200 epochs on CIFAR-10/100 (Raju et al. 2021, InfoBatch) and the fast net short", (
        Scenario("cifar10-resnet18-e200", "DataSelect/CIFAR10-v0", {"model": "resnet18"}, 200, (0.3, 0.5, 0.7),
                 "CIFAR-10, ResNet-18, 200 epochs: the papers' setting"),
        Scenario("cifar100-resnet18-e200", "DataSelect/CIFAR100-v0", {"model": "resnet18"}, 200, (0.3, 0.5, 0.7),
                 "CIFAR-100, ResNet-18, 200 epochs: the papers' setting"),
        Scenario("cifar10-fast-e20", "DataSelect/CIFAR10-v0", {"model": "fast"}, 20, (0.3, 0.5, 0.7),
                 "CIFAR-10, fast net, 20 epochs"),
        Scenario("cifar100-fast-e30", "DataSelect/CIFAR100-v0", {"model": "fast"}, 30, (0.3, 0.5, 0.7),
                 "CIFAR-100, fast net, 30 epochs"),
        Scenario("cifar10-noisy40-fast-e30", "DataSelect/CIFAR10-v0",
                 {"model": "fast", "label_noise": 0.4, "noise_type": "symmetric"}, 30, (0.3, 0.5, 0.7),
                 "CIFAR-10, 40% symmetric label noise, fast net, 30 epochs"),
        Scenario("cifar10-lt100-fast-e30", "DataSelect/CIFAR10-v0", {"model": "fast", "imbalance": 100}, 30,
                 (0.3, 0.5, 0.7), "CIFAR-10 long tail (imbalance 100), fast net, 30 epochs"),
    ), agents=_CPU_AGENTS),
)}


def get(name: str) -> Suite:
    """The built-in suite ``name``.

    :raises ValueError: for an unknown name, listing the suites.
    """
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; built-in suites: {', '.join(SUITES)}")
    return SUITES[name]


def select(suite: Suite, names: Iterable[str] | None) -> tuple[Scenario, ...]:
    """The scenarios of ``suite`` named in ``names`` (all when None), in the suite's order.

    :raises ValueError: naming an unknown scenario and listing the suite's.
    """
    if not names:
        return suite.scenarios
    known = {s.name for s in suite.scenarios}
    for name in names:
        if name not in known:
            raise ValueError(f"suite {suite.name!r} has no scenario {name!r}; its scenarios: {', '.join(known)}")
    return tuple(s for s in suite.scenarios if s.name in set(names))


def write_manifest(directory: Path, suite: Suite, scenarios: Iterable[Scenario], **settings: Any) -> None:
    """Write ``DIR/suite.json``: the suite, its scenarios (merged with those already there) and the settings."""
    path = directory / SUITE_FILE
    old = json.loads(path.read_text()) if path.exists() else {}
    merged = {s["name"]: s for s in old.get("scenarios", [])}
    merged.update({s.name: {**asdict(s), "env_kwargs": dict(s.env_kwargs)} for s in scenarios})
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"suite": suite.name, "scenarios": list(merged.values()), **settings}, indent=1) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def is_suite_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds a suite (``suite.json``, or scenario folders and no ``results.jsonl``)."""
    directory = Path(directory)
    return (directory / SUITE_FILE).exists() or \
        (not (directory / RESULTS).exists() and any((d / RESULTS).exists() for d in _subdirs(directory)))


def scenario_dirs(directory: str | Path) -> list[Path]:
    """The scenario folders of a suite directory that hold results, in the suite's order."""
    directory = Path(directory)
    path = directory / SUITE_FILE
    names = [s["name"] for s in json.loads(path.read_text())["scenarios"]] if path.exists() else []
    names += sorted(d.name for d in _subdirs(directory) if d.name not in names)
    return [directory / n for n in names if (directory / n / RESULTS).exists()]


def _subdirs(directory: Path) -> list[Path]:
    return [d for d in directory.iterdir() if d.is_dir()] if directory.is_dir() else []


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
    from .report import versus_rows

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
    privileged = {name for name in scores if is_privileged(spec_of.get(name, name))}
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


def is_privileged(spec: str) -> bool:
    """Whether the agent of ``spec`` reads the env's ground truth (its class sets ``privileged``)."""
    import agents
    try:
        return bool(getattr(agents.load_class(spec), "privileged", False))
    except (ValueError, ImportError):  # an agent that no longer loads: rank it as it was
        return False


def write_suite_leaderboard(directory: str | Path, reps: int = 2000) -> str:
    """Write ``DIR/leaderboard.{md,csv,png}`` from the scenario folders of a suite directory.

    :return: the leaderboard's markdown.
    :raises SystemExit: when no scenario has results.
    """
    from .leaderboard import write_leaderboard

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
