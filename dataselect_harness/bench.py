"""The verbs ``bench``, ``suite`` and ``report`` of ``train_agent.py``: validate, run the missing
episodes into a results directory, report; for a suite, one bench per scenario and the leaderboard.

A bench checks everything before any training (:func:`~.plan.plan`, each env built once), skips the
episodes already in ``results.jsonl`` and resumes the ones in flight at their last finished epoch
(:mod:`.inflight`; so the same command goes on after Ctrl-C, SIGTERM, a kill or a crash, and writes
the rows an uninterrupted run writes), writes each finished episode as it lands, prints one flushed
line per episode (also when the output is a file) and renders the report at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import inflight, suites
from .plan import (
    DEFAULT_FRONTIER,
    BenchArgs,
    EnvShape,
    Episode,
    bench_epochs,
    check_env,
    check_precision,
    episode_cost,
    expected_seconds,
    plan,
    registered_kwargs,
    seconds_per_sample,
)
from .ranking import write_suite_leaderboard
from .report import SUMMARY_CSV, SUMMARY_MD, report
from .results import RESULTS, read_results, results_writer, write_plan

REPO = Path(__file__).resolve().parent.parent
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


def precision_of(args: BenchArgs) -> str:
    """``"fp32 on cpu"``: the precision and device the bench's episodes train in, resolved on this machine."""
    from dataselect_env.hardware import resolve_device, resolve_precision
    kwargs = {**registered_kwargs(args.env), **args.env_kwargs}
    device = resolve_device(kwargs.get("device", "auto"))
    return f"{resolve_precision(kwargs.get('precision', 'auto'), device)} on {device.type}"


def check_envs(episodes: list[Episode]) -> dict[str, EnvShape]:
    """Build each distinct env of the matrix once (data loaded, arguments validated) before any episode.

    :return: each episode's env shape, by episode id (for :func:`expected_minutes`).
    """
    shapes: dict[str, EnvShape] = {}
    by_key: dict[str, EnvShape] = {}
    for ep in episodes:
        key = json.dumps([ep.env, {k: v for k, v in ep.env_kwargs.items() if k != "epochs"}], sort_keys=True)
        if key not in by_key:
            by_key[key] = check_env(ep.env, ep.env_kwargs)
        shapes[ep.id] = by_key[key]
    return shapes


def expected_minutes(episodes: list[Episode], shapes: dict[str, EnvShape], args: BenchArgs) -> float:
    """Wall-clock minutes ``episodes`` are expected to take on this machine, before any of them runs:
    their passes (:func:`~.plan.expected_seconds`) at the step rate of each net measured here now
    (:func:`~.plan.seconds_per_sample`, in the torch threads an episode gets), spread over the workers."""
    import torch

    from dataselect_env.hardware import resolve_precision
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or (1 if args.workers > 1 or args.ray is not None else threads))
    try:
        rates: dict[EnvShape, float] = {}
        total = 0.0
        for ep in episodes:
            shape = shapes[ep.id]
            if shape not in rates:
                precision = resolve_precision(ep.env_kwargs.get("precision", "auto"), torch.device(shape.device))
                rates[shape] = seconds_per_sample(shape, precision)
            total += expected_seconds(ep, shape, rates[shape])
    finally:
        torch.set_num_threads(threads)
    parallel = 1 if args.ray is not None else max(1, min(args.workers, len(episodes)))
    return total / parallel / 60


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


def bench(args: BenchArgs, envs_checked: dict[str, EnvShape] | None = None) -> int:
    """Validate, run the missing episodes of the matrix into ``args.out``, then report. :return: exit code.

    :param envs_checked: the caller (``suite``) has already built each env of the matrix once: their
        shapes by episode id (from :func:`check_envs`).
    """
    from tqdm.auto import tqdm

    from .run import run_matrix, sigterm_as_ctrl_c
    try:
        args = defaults_for_machine(args)
        episodes = plan(args)
        out = Path(args.out or default_out(args))
        todo = not_yet_run(episodes, out, args)
        shapes = envs_checked if isinstance(envs_checked, dict) else check_envs(todo)
    except ValueError as err:
        print(f"train_agent.py bench: error: {err}", file=sys.stderr)
        return 2
    expected = f"; expected about {expected_minutes(todo, shapes, args):.0f} min here" if todo else ""
    keeps = args.ray is None  # Ray tasks keep no in-flight episodes (a node's disk need not be the driver's)
    inflight.tidy(out, {ep.id for ep in episodes} - {ep.id for ep in todo})
    resuming = inflight.progress(out, [ep.id for ep in todo]) if keeps else {}
    print(f"{len(episodes)} episodes in the matrix, {len(episodes) - len(todo)} already in {out / RESULTS}, "
          f"running {len(todo)} ({'Ray' if args.ray is not None else f'{args.workers} worker(s)'}, "
          f"{precision_of(args)}){expected}" + in_flight_note(resuming, todo, "resuming"), flush=True)
    write_plan(out, [ep.id for ep in episodes])  # so that a report of a partial run can say so
    commit, start = git_commit(), time.perf_counter()
    bar = tqdm(total=len(episodes), initial=len(episodes) - len(todo), desc="bench", position=0,
               disable=True if args.quiet else None, unit="episode")
    with results_writer(out) as write:
        written: set[str] = set()

        def write_row(row: dict[str, Any]) -> None:  # then its in-flight file goes
            write(row)
            written.add(row["id"])
            inflight.discard(out, row["id"])
        on_result = progress_writer(write_row, commit, bar, len(episodes), len(episodes) - len(todo), start,
                                    {ep.id: episode_cost(ep) for ep in todo})
        try:
            with sigterm_as_ctrl_c():
                failures = run_matrix(todo, args, on_result, str(out) if keeps else None) if todo else []
        except KeyboardInterrupt:
            bar.close()
            ran, minutes = on_result.count - (len(episodes) - len(todo)), (time.perf_counter() - start) / 60
            inflight.tidy(out, written)  # a row written just before the signal, its in-flight file not yet removed
            kept = inflight.progress(out, [ep.id for ep in todo if ep.id not in written]) if keeps else {}
            print(f"\ninterrupted after {minutes:.1f} min: {ran} episode(s) finished in this run and are in "
                  f"{out / RESULTS} ({on_result.count} of {len(episodes)} in all)"
                  + in_flight_note(kept, todo, f"kept in {out / inflight.INFLIGHT}")
                  + "; an episode in flight that had not finished an epoch starts over. Run the same command to "
                    "resume: it starts where this stopped", file=sys.stderr)
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


def suite(name: str, settings: BenchArgs | None = None, *, scenarios: Iterable[str] | None = None,
          out: str | Path | None = None, agents: tuple[str, ...] | None = None, keep: tuple[float, ...] | None = None,
          seeds: tuple[int, ...] | None = None, frontier: tuple[float, ...] | None = None) -> int:
    """``suite NAME``: validate every scenario, run each as a bench into ``DIR/<scenario>/``, then
    write the leaderboard in DIR. :return: exit code (1 when an episode failed, 130 interrupted,
    75 when ``--time-limit`` stopped it before the end).

    :param name: a built-in suite (:data:`~.suites.SUITES`).
    :param settings: how to run every scenario: its ``env_kwargs`` (added to each scenario's), ``agent_kwargs``,
        ``workers``, ``threads``, ``ray``, ``gpus_per_task``, ``quiet`` and ``deadline`` (one for all
        scenarios); the rest (env, agents, keep, seeds, epochs, frontier, out) is the suite's.
    :param scenarios: run only these (default: all of the suite's).
    :param out: the suite directory (default ``runs/suite-NAME``).
    :param agents: instead of the suite's agents; ``keep``, ``seeds``: instead of the scenario's keep
        fractions and the suite's seeds; ``frontier``: instead of :data:`~.plan.DEFAULT_FRONTIER`.
    """
    settings = settings or BenchArgs()
    try:
        chosen = suites.get(name)
        picked = suites.select(chosen, scenarios)
    except ValueError as err:
        print(f"train_agent.py suite: error: {err}", file=sys.stderr)
        return 2
    out = Path(out or f"runs/suite-{chosen.name}")
    runs = [(sc, replace(settings, env=sc.env, agents=tuple(agents or chosen.agents), keep=tuple(keep or sc.keep),
                         seeds=tuple(seeds or chosen.seeds), epochs=sc.epochs, out=str(out / sc.name),
                         frontier=tuple(frontier or chosen.frontier or DEFAULT_FRONTIER),
                         env_kwargs={**sc.env_kwargs, **settings.env_kwargs})) for sc in picked]
    total, minutes, shapes = 0, 0.0, []
    for sc, args in runs:  # every scenario checked (arguments, data) before any training
        try:
            episodes = plan(args)
            todo = not_yet_run(episodes, Path(args.out), args)
            shapes.append(check_envs(todo))
        except ValueError as err:
            print(f"train_agent.py suite: error: scenario {sc.name}: {err}", file=sys.stderr)
            return 2
        total += len(episodes)
        minutes += expected_minutes(todo, shapes[-1], args) if todo else 0.0
    suites.write_manifest(out, chosen, picked, agents=runs[0][1].agents, seeds=runs[0][1].seeds,
                          frontier=runs[0][1].frontier)
    print(f"suite {chosen.name}: {len(runs)} scenario(s), {total} episodes in all, into {out}; expected about "
          f"{minutes:.0f} min on this machine (measured step rate; each scenario's own estimate follows)", flush=True)
    codes = []
    for i, ((sc, args), checked) in enumerate(zip(runs, shapes), 1):
        print(f"\n== scenario {i}/{len(runs)}: {sc.name} ({sc.about}) -> {args.out}", flush=True)
        codes.append(bench(args, envs_checked=checked))
        if codes[-1] in (2, 130):
            return codes[-1]
        if codes[-1] == TIME_LIMIT_EXIT:
            print(f"time limit reached in scenario {sc.name}: the leaderboard covers the episodes so far", flush=True)
            break
    try:
        print(write_suite_leaderboard(out))
        print(f"wrote {out}/{{leaderboard.md,leaderboard.csv,leaderboard.png}} and each scenario's report")
    except SystemExit as err:  # stopped by --time-limit before any entry could be ranked
        if TIME_LIMIT_EXIT not in codes:
            raise
        print(f"no leaderboard yet: {err}")
    return 1 if 1 in codes else TIME_LIMIT_EXIT if TIME_LIMIT_EXIT in codes else 0


def report_dir(directory: str) -> int:
    """``report DIR``: a bench directory's tables and plots, or a suite directory's (each scenario) and its leaderboard."""
    if not suites.is_suite_dir(directory):
        print(report(directory))
        return 0
    for d in suites.scenario_dirs(directory):
        print(report(d))
    print(write_suite_leaderboard(directory))
    return 0


def in_flight_note(found: dict[str, tuple[int, int]], episodes: list[Episode], what: str) -> str:
    """``"; 2 episode(s) in flight resuming at their last finished epoch (ucb k=0.3 s=0: epoch 2 of 3, ...)"``,
    or ``""`` when ``found`` is empty.

    :param found: :func:`.inflight.progress` of ``episodes``.
    :param what: what happens to them (``"resuming"``, ``"kept in DIR/inflight"``).
    """
    if not found:
        return ""
    each = ", ".join(f"{ep.name}: epoch {found[ep.id][0]} of {found[ep.id][1]}" for ep in episodes if ep.id in found)
    return f"; {len(found)} episode(s) in flight {what} at their last finished epoch ({each})"


def default_out(args: BenchArgs) -> str:
    """``runs/<env>-<model>-E<E>``."""
    model = args.env_kwargs.get("model") or registered_kwargs(args.env).get("model", "small")
    return f"runs/{args.env.split('/')[-1]}-{model}-E{bench_epochs(args)}"


def progress_writer(write: Callable[[dict], None], commit: str | None, bar: Any, total: int, done: int,
                    start: float, costs: dict[str, float] | None = None) -> Callable[[dict], None]:
    """``on_result``: write the row, advance the bar, print one flushed line (also when output is a file).
    ``on_result.count`` is the number of finished episodes, those of earlier runs included.

    :param costs: episode id -> its expected relative cost (:func:`~.plan.episode_cost`) for the
        episodes to run: the time left is the elapsed time scaled by the cost still to go over the
        cost done (a 40-epoch full-data run counts for more than a keep-0.3 one); without it, by counts.
    """
    remaining = dict(costs or {})
    spent = [0.0]

    def on_result(row: dict[str, Any]) -> None:
        write({**row, "git_commit": commit})
        bar.update()
        on_result.count += 1
        elapsed = time.perf_counter() - start
        ran = on_result.count - done
        if remaining and row["id"] in remaining:
            spent[0] += remaining.pop(row["id"])
            eta = elapsed / spent[0] * sum(remaining.values()) if spent[0] > 0 else float("nan")
        else:
            eta = elapsed / ran * (total - on_result.count)
        bar.write(f"[{on_result.count}/{total}] {row['agent']:>16} keep={row['keep']} seed={row['seed']}: test acc "
                  f"{100 * row['test_accuracy']:.2f}%  compute {row['compute']:.2f}  {row['wall_time']:.1f}s  "
                  f"(elapsed {elapsed / 60:.1f} min, about {eta / 60:.1f} min left)")
        sys.stdout.flush()
    on_result.count = done
    return on_result


