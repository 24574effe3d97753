"""Benchmark data-selection controllers on a DataSelect env: the project's main job.

    python train_agent.py                     # default controllers on DataSelect/CIFAR10-v0
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
``results.jsonl``; ``--time-limit MINUTES`` starts no episode after that time (the running ones
finish and are written) and exits with 75, so a time-boxed job (a SLURM slot, a session) can resume.

Data: CIFAR is read from ``--env-kwargs data_root=PATH``, else ``$DATASELECT_DATA``, else
``~/.cache/dataselect`` (torchvision downloads it there when missing).

This file is the command line only; the harness lives in ``dataselect_env/harness/``
(plan, run, results, report, frontier, leaderboard, suites, sb3_train).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataselect_env.harness.plan import (
    DEFAULT_FRONTIER,
    BenchArgs,
    Episode,
    bench_epochs,
    check_env,
    check_precision,
    parse_agent_kwargs,
    parse_kv,
    plan,
    registered_kwargs,
)
from dataselect_env.harness.report import SUMMARY_CSV, SUMMARY_MD, report
from dataselect_env.harness.results import RESULTS, read_results, results_writer

REPO = Path(__file__).resolve().parent
TIME_LIMIT_EXIT = 75  # EX_TEMPFAIL: --time-limit stopped the run before the end; the same command resumes it


def git_commit() -> str | None:
    """HEAD of the repository holding this file (``+dirty`` with uncommitted changes), or None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def defaults_for_machine(args: BenchArgs) -> BenchArgs:
    """Pick the `fast` net on CUDA, else `small` on CPU, unless the env or the user sets ``model``; say which."""
    import torch
    registered = registered_kwargs(args.env)
    if "model" not in registered and "model" not in args.env_kwargs:
        cuda = torch.cuda.is_available() and args.env_kwargs.get("device", "auto") != "cpu"
        args.env_kwargs["model"] = "fast" if cuda else "small"
        print(f"{'CUDA (' + torch.cuda.get_device_name() + ')' if cuda else 'no CUDA: CPU'} -> "
              f"model={args.env_kwargs['model']} (override with --env-kwargs model=...)")
    if registered.get("dataset", "") != "synthetic" and "data_root" not in args.env_kwargs:
        from dataselect_env.data import data_root
        print(f"data: {data_root()} (set DATASELECT_DATA or --env-kwargs data_root=...)")
    return args


def check_envs(episodes: list[Episode]) -> None:
    """Build each distinct env of the matrix once (data loaded, arguments validated) before any episode."""
    seen = set()
    for ep in episodes:
        key = json.dumps([ep.env, {k: v for k, v in ep.env_kwargs.items() if k != "epochs"}], sort_keys=True)
        if key not in seen:
            seen.add(key)
            check_env(ep.env, ep.env_kwargs)


def not_yet_run(episodes: list[Episode], out: Path, args: BenchArgs) -> list[Episode]:
    """The episodes not yet in ``out``'s results, checked to train in the precision of those already there.

    :raises ValueError: from :func:`check_precision` (skipped with Ray: each worker resolves ``"auto"``
        on its own machine).
    """
    rows = read_results(out)
    done = {r["id"] for r in rows}
    todo = [ep for ep in episodes if ep.id not in done]
    if args.ray is None:
        check_precision(todo, rows, out)
    return todo


def bench(args: BenchArgs, envs_checked: bool = False) -> int:
    """Validate, run the missing episodes of the matrix into ``args.out``, then report. :return: exit code.

    :param envs_checked: the caller (``suite``) has already built each env of the matrix once.
    """
    from tqdm.auto import tqdm

    from dataselect_env.harness.run import run_matrix
    try:
        args = defaults_for_machine(args)
        episodes = plan(args)
        out = Path(args.out or default_out(args))
        todo = not_yet_run(episodes, out, args)
        if not envs_checked:
            check_envs(todo)
    except ValueError as err:
        print(f"train_agent.py bench: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(episodes)} episodes in the matrix, {len(episodes) - len(todo)} already in {out / RESULTS}, "
          f"running {len(todo)} ({'Ray' if args.ray is not None else f'{args.workers} worker(s)'})", flush=True)
    commit, start = git_commit(), time.perf_counter()
    bar = tqdm(total=len(episodes), initial=len(episodes) - len(todo), desc="bench", position=0,
               disable=True if args.quiet else None, unit="episode")
    with results_writer(out) as write:
        on_result = progress_writer(write, commit, bar, len(episodes), len(episodes) - len(todo), start)
        try:
            failures = run_matrix(todo, args, on_result) if todo else []
        except KeyboardInterrupt:
            bar.close()
            print(f"\ninterrupted: the finished episodes are in {out / RESULTS}; run the same command to resume",
                  file=sys.stderr)
            return 130
    bar.close()
    finished = {r["id"] for r in read_results(out)}
    not_started = sum(ep.id not in finished for ep in todo) - len(failures)
    if todo:
        print(f"ran {len(todo) - len(failures) - not_started} episodes in {time.perf_counter() - start:.1f}s")
    if finished:
        print(report(out))
        print(f"wrote {out}/{{{RESULTS},{SUMMARY_CSV},{SUMMARY_MD}}} and plots")
    if not_started:
        print(f"time limit reached: {not_started} episode(s) not started; run the same command to go on",
              file=sys.stderr)
    if failures:
        print(f"{len(failures)} episode(s) failed (re-run to retry them):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return TIME_LIMIT_EXIT if not_started else 0


def suite(ns: argparse.Namespace) -> int:
    """``suite NAME``: validate every scenario, run each as a bench into ``DIR/<scenario>/``, then
    write the leaderboard in DIR. :return: exit code (1 when an episode failed, 130 interrupted,
    75 when ``--time-limit`` stopped it before the end)."""
    from dataselect_env.harness import suites
    try:
        chosen = suites.get(ns.name)
        scenarios = suites.select(chosen, ns.scenarios)
        out = Path(ns.out or f"runs/suite-{chosen.name}")
        user_kwargs, deadline = parse_kv(ns.env_kwargs, "--env-kwargs"), deadline_of(ns.time_limit)
        runs = [(sc, BenchArgs(
            env=sc.env, agents=tuple(ns.agents or chosen.agents), keep=tuple(ns.keep or sc.keep),
            seeds=tuple(ns.seeds or chosen.seeds), epochs=sc.epochs, out=str(out / sc.name),
            frontier=DEFAULT_FRONTIER if ns.frontier is None else tuple(ns.frontier),
            env_kwargs={**sc.env_kwargs, **user_kwargs}, agent_kwargs=parse_agent_kwargs(ns.agent_kwargs),
            workers=ns.workers, threads=ns.threads, ray=ns.ray, gpus_per_task=ns.gpus_per_task, quiet=ns.quiet,
            deadline=deadline)) for sc in scenarios]
    except ValueError as err:
        print(f"train_agent.py suite: error: {err}", file=sys.stderr)
        return 2
    total = 0
    for sc, args in runs:  # every scenario checked (arguments, data) before any training
        try:
            episodes = plan(args)
            check_envs(not_yet_run(episodes, Path(args.out), args))
        except ValueError as err:
            print(f"train_agent.py suite: error: scenario {sc.name}: {err}", file=sys.stderr)
            return 2
        total += len(episodes)
    suites.write_manifest(out, chosen, scenarios, agents=runs[0][1].agents, seeds=runs[0][1].seeds,
                          frontier=runs[0][1].frontier)
    print(f"suite {chosen.name}: {len(runs)} scenario(s), {total} episodes in all, into {out}", flush=True)
    codes = []
    for i, (sc, args) in enumerate(runs, 1):
        print(f"\n== scenario {i}/{len(runs)}: {sc.name} ({sc.about}) -> {args.out}", flush=True)
        codes.append(bench(args, envs_checked=True))
        if codes[-1] in (2, 130):
            return codes[-1]
        if codes[-1] == TIME_LIMIT_EXIT:
            print(f"time limit reached in scenario {sc.name}: the leaderboard covers the episodes so far", flush=True)
            break
    try:
        print(suites.write_suite_leaderboard(out))
        print(f"wrote {out}/{{leaderboard.md,leaderboard.csv,leaderboard.png}} and each scenario's report")
    except SystemExit as err:  # stopped by --time-limit before any entry could be ranked
        if TIME_LIMIT_EXIT not in codes:
            raise
        print(f"no leaderboard yet: {err}")
    return 1 if 1 in codes else TIME_LIMIT_EXIT if TIME_LIMIT_EXIT in codes else 0


def report_dir(directory: str) -> int:
    """``report DIR``: a bench directory's tables and plots, or a suite directory's (each scenario) and its leaderboard."""
    from dataselect_env.harness import suites
    if not suites.is_suite_dir(directory):
        print(report(directory))
        return 0
    for d in suites.scenario_dirs(directory):
        print(report(d))
    print(suites.write_suite_leaderboard(directory))
    return 0


def default_out(args: BenchArgs) -> str:
    """``runs/<env>-<model>-E<E>``."""
    model = args.env_kwargs.get("model") or registered_kwargs(args.env).get("model", "small")
    return f"runs/{args.env.split('/')[-1]}-{model}-E{bench_epochs(args)}"


def progress_writer(write: Callable[[dict], None], commit: str | None, bar: Any, total: int, done: int,
                    start: float) -> Callable[[dict], None]:
    """``on_result``: write the row, advance the bar, print one flushed line (also when output is a file)."""
    count = [done]

    def on_result(row: dict[str, Any]) -> None:
        write({**row, "git_commit": commit})
        bar.update()
        count[0] += 1
        elapsed = time.perf_counter() - start
        ran = count[0] - done
        eta = elapsed / ran * (total - count[0])
        bar.write(f"[{count[0]}/{total}] {row['agent']:>16} keep={row['keep']} seed={row['seed']}: test acc "
                  f"{100 * row['test_accuracy']:.2f}%  compute {row['compute']:.2f}  {row['wall_time']:.1f}s  "
                  f"(elapsed {elapsed / 60:.1f} min, about {eta / 60:.1f} min left)")
        sys.stdout.flush()
    return on_result


def _csv(cast: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            return tuple(cast(t) for t in text.split(",") if t.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list, got {text!r}") from None
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``bench`` (default), ``report DIR``, ``suite NAME``, ``train`` (SB3 policies)."""
    p = argparse.ArgumentParser(prog="train_agent.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    d = BenchArgs()
    b = sub.add_parser("bench", help="run the benchmark matrix (the default command)",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--env", default=d.env, help=f"gymnasium id (default {d.env})")
    b.add_argument("--agents", type=_csv(str, "--agents"), default=d.agents,
                   help="comma list: registered names, pkg.mod:Class, file.py:Class, sb3:models/NAME "
                        f"(default {','.join(d.agents)}); full and the frontier full@f always run")
    b.add_argument("--keep", type=_csv(float, "--keep"), default=d.keep, help="keep fractions in (0, 1] (default 0.3,0.5)")
    b.add_argument("--seeds", type=_csv(int, "--seeds"), default=d.seeds, help="episode seeds (default 0,1,2)")
    b.add_argument("--frontier", type=_csv(float, "--frontier"), default=d.frontier, metavar="F,F,...",
                   help="full-data frontier: full also runs round(f*E) epochs for each f (and each keep); "
                        f"default {','.join(f'{f:g}' for f in d.frontier)}; '' for the keeps only")
    b.add_argument("--epochs", type=int, default=None, help="schedule length E (default: the env's)")
    b.add_argument("--out", default=None, help="results directory (default runs/<env>-<model>-E<E>)")
    add_run_flags(b, "extra env kwargs, e.g. train_subset=10000 model=small data_root=PATH")
    r = sub.add_parser("report", help="re-render summary.csv, summary.md and plots from DIR/results.jsonl; "
                                      "of a suite directory: each scenario's and the leaderboard")
    r.add_argument("dir")
    add_suite_parser(sub)
    sub.add_parser("train", help="train an SB3 policy; see train --help", add_help=False)
    return p


def add_suite_parser(sub: Any) -> None:
    """The ``suite NAME`` subcommand: its flags, and the built-in suites in its help."""
    from dataselect_env.harness.suites import SUITES
    listing = "\n".join(f"  {s.name}: {s.about}; agents {','.join(s.agents)}; seeds {','.join(map(str, s.seeds))}\n"
                        + "\n".join(f"    {sc.name}: {sc.env} {json.dumps(dict(sc.env_kwargs))} E={sc.epochs} "
                                    f"keep {','.join(f'{k:g}' for k in sc.keep)}" for sc in s.scenarios)
                        for s in SUITES.values())
    s = sub.add_parser("suite", help="run a named list of scenarios (a bench each) and write the leaderboard",
                       description="Run every scenario of a suite as a bench into DIR/<scenario>/ (a re-run "
                                   "skips finished episodes), then write DIR/leaderboard.{md,csv,png}.",
                       epilog="built-in suites:\n" + listing, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("name", metavar="NAME", help=f"the suite: {', '.join(SUITES)}")
    s.add_argument("--agents", type=_csv(str, "--agents"), default=None, help="override the suite's agents")
    s.add_argument("--keep", type=_csv(float, "--keep"), default=None, help="override every scenario's keeps")
    s.add_argument("--seeds", type=_csv(int, "--seeds"), default=None, help="override the suite's seeds")
    s.add_argument("--frontier", type=_csv(float, "--frontier"), default=None, metavar="F,F,...",
                   help="full-data frontier fractions (default as bench)")
    s.add_argument("--scenarios", type=_csv(str, "--scenarios"), default=None, help="run only these scenarios")
    s.add_argument("--out", default=None, help="suite directory (default runs/suite-NAME)")
    add_run_flags(s, "added to every scenario's env kwargs, e.g. data_root=PATH device=cuda")


def add_run_flags(parser: argparse.ArgumentParser, env_kwargs_help: str) -> None:
    """The flags ``bench`` and ``suite`` share: env/agent kwargs and how episodes are executed."""
    parser.add_argument("--env-kwargs", nargs="+", action="extend", default=[], metavar="K=V", help=env_kwargs_help)
    parser.add_argument("--agent-kwargs", nargs="+", action="extend", default=[], metavar="AGENT.K=V",
                        help="agent constructor kwargs, e.g. ucb.c=0.5 infobatch.prune_ratio=0.7")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (spawn)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per episode (default 1 with workers/Ray)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run as Ray tasks: ray.init() or ray.init(address=ADDRESS)")
    parser.add_argument("--gpus-per-task", type=float, default=None, help="Ray GPUs per episode (default 1 if any)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                        help="start no episode after MINUTES from now; the running ones finish and are written, "
                             f"then the command exits with {TIME_LIMIT_EXIT} (run it again to go on)")


def deadline_of(minutes: float | None) -> float | None:
    """The ``time.monotonic()`` deadline of ``--time-limit MINUTES`` from now; None without a limit.

    :raises ValueError: naming the flag when ``minutes`` is not a positive finite number.
    """
    if minutes is None:
        return None
    if not 0 < minutes < float("inf"):
        raise ValueError(f"--time-limit must be a positive number of minutes, got {minutes!r}")
    return time.monotonic() + 60 * minutes


def bench_args(ns: argparse.Namespace) -> BenchArgs:
    """BenchArgs from parsed ``bench`` arguments (``k=v`` lists parsed)."""
    return BenchArgs(env=ns.env, agents=tuple(ns.agents), keep=tuple(ns.keep), seeds=tuple(ns.seeds),
                     frontier=tuple(ns.frontier), epochs=ns.epochs, out=ns.out,
                     env_kwargs=parse_kv(ns.env_kwargs, "--env-kwargs"),
                     agent_kwargs=parse_agent_kwargs(ns.agent_kwargs), workers=ns.workers, threads=ns.threads,
                     ray=ns.ray, gpus_per_task=ns.gpus_per_task, quiet=ns.quiet, deadline=deadline_of(ns.time_limit))


def train(argv: list[str]) -> int:
    """``train``: delegate to ``dataselect_env.harness.sb3_train`` (imported only here)."""
    try:
        from dataselect_env.harness import sb3_train
    except ModuleNotFoundError as err:
        missing = "stable-baselines3 (pip install 'dataselect[sb3]')" if err.name == "stable_baselines3" \
            else f"{err.name} (dataselect_env/harness/sb3_train.py, the SB3 training module)"
        print(f"train_agent.py train needs {missing}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="train_agent.py train", description="Train an SB3 policy on a DataSelect env.")
    sb3_train.add_train_arguments(parser)
    try:
        path = sb3_train.train(parser.parse_args(argv))
    except ValueError as err:
        print(f"train_agent.py train: error: {err}", file=sys.stderr)
        return 2
    print(f"saved {path}; benchmark it: python train_agent.py bench --agents random,ucb,sb3:{path} ...")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; no arguments = ``bench`` with the defaults (the main job)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return train(argv[1:])
    if not argv or argv[0] not in ("bench", "report", "suite", "train", "-h", "--help"):
        argv = ["bench", *argv]
    ns = build_parser().parse_args(argv)
    if ns.command == "report":
        return report_dir(ns.dir)
    if ns.command == "suite":
        return suite(ns)
    try:
        args = bench_args(ns)
    except ValueError as err:
        print(f"train_agent.py bench: error: {err}", file=sys.stderr)
        return 2
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
