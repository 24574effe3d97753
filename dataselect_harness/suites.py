"""Named benchmark suites: lists of scenarios, run one bench each, ranked by one leaderboard.

``python train_agent.py suite NAME --out DIR`` runs every scenario of :data:`SUITES` ``[NAME]`` as a
``bench`` into ``DIR/<scenario>/`` (resumable and kill-safe like a bench: a re-run skips finished
episodes), then writes ``DIR/leaderboard.{md,csv,png}`` (:func:`~.ranking.write_suite_leaderboard`)
from the scenarios' rows compared with their full-data frontiers (:mod:`.report`, :mod:`.frontier`).
``python train_agent.py report DIR`` re-renders the scenarios' reports and the leaderboard. This
module is the suites' data and the layout of a suite directory; :mod:`.ranking` builds the leaderboard.

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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .results import RESULTS, atomic_write

SUITE_FILE = "suite.json"  # DIR/suite.json: what a suite directory holds (written by train_agent.py suite)


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
    frontier: tuple[float, ...] | None = None  # default --frontier (None: plan.DEFAULT_FRONTIER)


_CPU_AGENTS = ("full", "random", "epsilon_greedy", "ucb", "loss_proportional", "infobatch", "forgetting", "el2n",
               "rho_loss", "class_balanced", "small_loss", "auto", "oracle_clean", "oracle_balanced")
# val only steers controllers; test (10,000 images) is reported. fp32 on every CPU: "auto" would train
# in bf16 on CPUs with native bf16 and in fp32 elsewhere, and one suite directory never mixes the two.
_CPU = {"val_size": 1000, "precision": "fp32"}
_SMALL = {"model": "small", **_CPU}
# The quick suite: a smaller val split (a tenth of a short epoch saved) and batches of 64, four times the
# default's steps: with 256, 2,000 samples at keep 0.5 make 4 steps an epoch and every run ends near chance
# (10-19% test accuracy, 2026-12-06), where a controller's Δ is noise; with 64 full-data training reaches 60%.
_QUICK = {"model": "small", "val_size": 500, "precision": "fp32", "batch_size": 64}

SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("smoke", "Synthetic-v0 variants, 3 epochs: the harness end to end in well under 2 minutes (tests)", (
        Scenario("synthetic-clean", "DataSelect/Synthetic-v0", {"synthetic": {"label_noise": 0.0}}, 3, (0.5,),
                 "Gaussian clusters, clean labels"),
        Scenario("synthetic-noisy40", "DataSelect/Synthetic-v0", {"synthetic": {"label_noise": 0.4}}, 3, (0.5,),
                 "40% of the training labels flipped"),
        Scenario("synthetic-n500", "DataSelect/Synthetic-v0", {"synthetic": {"n_train": 1000}}, 3, (0.5,),
                 "500 training samples (1,000 before the validation split), 20% label noise"),
    ), agents=("full", "random", "ucb", "infobatch"), seeds=(0, 1)),
    Suite("quick", "the main job on a CPU: small CIFAR-10 scenarios, clean, noisy and long-tailed, one seed, "
                   "about ten minutes on 2 cores", (
        Scenario("quick-clean-2k-e15", "DataSelect/CIFAR10-v0", {**_QUICK, "train_subset": 2000}, 15, (0.5,),
                 "2,000 clean samples, 15 epochs: nothing to gain, little to lose"),
        Scenario("quick-noisy40-2k-e30", "DataSelect/CIFAR10Noisy40Proxy-v0",
                 {**_QUICK, "train_subset": 2000, "label_smoothing": 0.0, "weight_decay": 5e-5}, 30, (0.5,),
                 "2,000 samples, 40% symmetric label noise, 30 epochs, no label smoothing: memorises"),
        Scenario("quick-lt100-2k-e15", "DataSelect/CIFAR10LT100-v0", {**_QUICK, "train_subset": 8000}, 15, (0.5,),
                 "long tail, imbalance 100 of an 8,000 subset (800 down to 8 per class, 1,986 samples), 15 epochs"),
    ), agents=("full", "random", "class_balanced", "small_loss", "auto"), seeds=(0,), frontier=(0.5, 1.0)),
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
