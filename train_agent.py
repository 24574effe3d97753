"""Benchmark data-selection controllers on a DataSelect env: the project's main job.

    python train_agent.py                     # the main job: `suite quick` on a CPU, the default bench on CUDA
    python train_agent.py bench --env DataSelect/Synthetic-v0 --agents full,random,ucb \\
        --keep 0.3,0.5 --seeds 0,1,2 --epochs 10 --out runs/synthetic
    python train_agent.py report runs/synthetic   # re-render the tables and plots (also of a partial run)
    python train_agent.py suite smoke --out runs/smoke   # a named list of scenarios, then a leaderboard
    python train_agent.py train --help            # train an SB3 policy

Honest comparison is built in: ``full`` (all data, E epochs) and the full-data frontier run too,
``full@f``: all data for round(f*E) epochs, the schedule compressed to that length, for f in
``--frontier`` (default 0.2,0.3,0.5,0.75,1) and every keep. Each row is compared with the frontier
of its seed: Δ vs frontier (accuracy gained at equal compute) and the effective speed-up (compute
saved at equal accuracy).

Output in DIR: ``results.jsonl`` (one line per finished episode, appended and flushed),
``summary.csv``, ``summary.md``, ``pareto.png``, ``curves.png`` and, where the env knows its
corrupted samples, ``corrupted.png``. Re-running the same command skips the episodes already in
``results.jsonl`` and resumes the ones stopped in flight (Ctrl-C, SIGTERM, a kill) at their last
finished epoch (kept in ``DIR/inflight/``); ``--time-limit MINUTES`` starts no episode after that time (the running ones
finish and are written) and exits with 75, so a time-boxed job (a SLURM slot, a session) can resume.

Data: CIFAR is read from ``--env-kwargs data_root=PATH``, else ``$DATASELECT_DATA``, else
``~/.cache/dataselect`` (torchvision downloads it there when missing).

The ``bench``, ``suite`` and ``train`` verbs first apply the process-wide tuning
``dataselect_env.hardware.tune_process()`` (glibc keeps freed memory for reuse, a CPU step's
allocations stop page-faulting; a process forked from this one gets one torch thread instead of
deadlocking in OpenMP), and pass it on to their worker processes; importing the package sets neither.

This file is the command line only, generated from the argument dataclasses
(``dataselect_harness.plan.BenchArgs``, ``dataselect_harness.train.TrainArgs``); the verbs live in
the ``dataselect_harness`` package (``bench``, ``suites``, ``report``, ``train``), on top of
``agents`` and ``dataselect_env``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dataselect_env.hardware import tune_process
from dataselect_harness.bench import (  # noqa: F401  (re-exported: the harness's entry points)
    TIME_LIMIT_EXIT,
    bench,
    defaults_for_machine,
    report_dir,
    suite,
)
from dataselect_harness.options import add_options, csv_of, from_namespace
from dataselect_harness.plan import BenchArgs

RUN_FLAGS = ("env_kwargs", "agent_kwargs", "workers", "threads", "ray", "gpus_per_task", "quiet", "deadline")
SUITE_OVERRIDES = ("agents", "keep", "seeds", "frontier")  # default: the suite's own


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``bench`` (default), ``report DIR``, ``suite NAME``, ``train`` (SB3 policies)."""
    p = argparse.ArgumentParser(prog="train_agent.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    b = sub.add_parser("bench", help="run the benchmark matrix (the default command)",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(b, BenchArgs)
    r = sub.add_parser("report", help="re-render summary.csv, summary.md and plots from DIR/results.jsonl; "
                                      "of a suite directory: each scenario's and the leaderboard")
    r.add_argument("dir")
    add_suite_parser(sub)
    sub.add_parser("train", help="train an SB3 policy; see train --help", add_help=False)
    return p


def add_suite_parser(sub: Any) -> None:
    """The ``suite NAME`` subcommand: its flags (those of bench, the suite's own as defaults), the suites in its help."""
    from dataselect_harness.suites import SUITES
    listing = "\n".join(f"  {s.name}: {s.about}; agents {','.join(s.agents)}; seeds {','.join(map(str, s.seeds))}\n"
                        + "\n".join(f"    {sc.name}: {sc.env} {json.dumps(dict(sc.env_kwargs))} E={sc.epochs} "
                                    f"keep {','.join(f'{k:g}' for k in sc.keep)}" for sc in s.scenarios)
                        for s in SUITES.values())
    s = sub.add_parser("suite", help="run a named list of scenarios (a bench each) and write the leaderboard",
                       description="Run every scenario of a suite as a bench into DIR/<scenario>/ (a re-run "
                                   "skips finished episodes), then write DIR/leaderboard.{md,csv,png}.",
                       epilog="built-in suites:\n" + listing, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("name", metavar="NAME", help=f"the suite: {', '.join(SUITES)}")
    add_options(s, BenchArgs, only=SUITE_OVERRIDES, overridable=SUITE_OVERRIDES,
                help_override={k: f"override the suite's {k} (default: the suite's)" for k in SUITE_OVERRIDES})
    s.add_argument("--scenarios", type=csv_of(str, "--scenarios"), default=None, help="run only these scenarios")
    s.add_argument("--out", default=None, help="suite directory (default runs/suite-NAME)")
    add_options(s, BenchArgs, only=RUN_FLAGS,
                help_override={"env_kwargs": "added to every scenario's env kwargs, e.g. data_root=PATH device=cuda"})


def train(argv: list[str]) -> int:
    """``train``: delegate to ``dataselect_harness.train`` (imported only here: it needs Stable-Baselines3)."""
    try:
        from dataselect_harness import train as training
    except ModuleNotFoundError as err:
        missing = "stable-baselines3 (pip install 'dataselect[sb3]')" if err.name == "stable_baselines3" \
            else f"{err.name} (dataselect_harness/train.py, the SB3 training module)"
        print(f"train_agent.py train needs {missing}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="train_agent.py train", description="Train an SB3 policy on a DataSelect env.")
    training.add_train_arguments(parser)
    try:
        path = training.train(from_namespace(training.TrainArgs, parser.parse_args(argv)))
    except ValueError as err:
        print(f"train_agent.py train: error: {err}", file=sys.stderr)
        return 2
    print(f"saved {path}; benchmark it: python train_agent.py bench --agents random,ucb,sb3:{path} ...")
    return 0


FULL_BENCHMARK = "python train_agent.py suite cpu --out runs/suite-cpu --workers 2"


def main_job() -> int:
    """No arguments: on a machine without CUDA, the ``quick`` suite (small CIFAR-10 scenarios, about ten
    minutes on 2 CPU cores), its leaderboard and what it found, then the full benchmark's command; on
    CUDA, ``bench`` with the defaults (the full benchmark)."""
    import os

    import torch
    if torch.cuda.is_available():
        return bench(from_namespace(BenchArgs, build_parser().parse_args(["bench"])))
    out = "runs/suite-quick"
    print("no CUDA: the quick benchmark (the `quick` suite, one seed); on a GPU this command runs the full one")
    code = suite("quick", BenchArgs(workers=max(1, min(os.cpu_count() or 1, 8))), out=out)
    if code in (0, TIME_LIMIT_EXIT):
        from dataselect_harness.ranking import findings
        print(f"\nWhat the quick benchmark found ({out}/leaderboard.md; one seed, so no interval yet):\n"
              f"{findings(out)}\n\nThe full benchmark (4 scenarios x 3 seeds, 2 keeps; hours on a CPU):\n  "
              f"{FULL_BENCHMARK}")
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point; no arguments = the main job (:func:`main_job`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        tune_process()
        return main_job()
    if argv[:1] == ["train"]:
        tune_process()
        return train(argv[1:])
    if not argv or argv[0] not in ("bench", "report", "suite", "train", "-h", "--help"):
        argv = ["bench", *argv]
    ns = build_parser().parse_args(argv)
    if ns.command == "report":
        return report_dir(ns.dir)
    tune_process()
    try:  # the flags of bench; of suite, those that are not the suite's (RUN_FLAGS), one deadline for all scenarios
        args = from_namespace(BenchArgs, argparse.Namespace(**{f: getattr(ns, f) for f in RUN_FLAGS})
                              if ns.command == "suite" else ns)
    except ValueError as err:
        print(f"train_agent.py {ns.command}: error: {err}", file=sys.stderr)
        return 2
    if ns.command == "suite":
        return suite(ns.name, args, scenarios=ns.scenarios, out=ns.out, **{k: getattr(ns, k) for k in SUITE_OVERRIDES})
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
