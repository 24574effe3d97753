"""Benchmark data-selection controllers on a DataSelect env: the project's main job.

    python train_agent.py                     # default controllers on DataSelect/CIFAR10-v0
    python train_agent.py bench --env DataSelect/Synthetic-v0 --agents full,random,ucb \\
        --keep 0.3,0.5 --seeds 0,1,2 --epochs 10 --out runs/synthetic
    python train_agent.py report runs/synthetic   # re-render the tables and plots
    python train_agent.py train --help            # train an SB3 policy (agents/sb3_train.py)

Honest comparison is built in: every keep fraction k also runs the compute-matched baseline
``full@k`` (all data for round(k*E) epochs, the schedule compressed to that length, so it
spends the same sample-passes), and ``full`` (all data, E epochs) for the speed-ups.

Output in DIR: ``results.jsonl`` (one line per finished episode, appended and flushed),
``summary.csv``, ``summary.md``, ``pareto.png`` and ``curves.png``. Re-running the same
command skips the episodes already in ``results.jsonl``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import math
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

from dataselect_bench import NOT_IN_ID, RESULTS, SUMMARY_CSV, SUMMARY_MD, read_results, report, results_writer

DEFAULT_ENV = "DataSelect/CIFAR10-v0"
DEFAULT_AGENTS = ("full", "random", "epsilon_greedy", "ucb", "infobatch", "el2n", "forgetting")
CURVE_KEYS = ("epoch", "val_accuracy", "compute", "keep_fraction", "wall_time", "flops")
RESERVED_ENV_KWARGS = {"action_mode": "it is set per agent from the agent's action_mode attribute"}
REPO = Path(__file__).resolve().parent


@dataclass
class BenchArgs:
    """Arguments of a benchmark (``train_agent.py bench``); the defaults are the main job."""

    env: str = DEFAULT_ENV  # gymnasium id
    agents: tuple[str, ...] = DEFAULT_AGENTS  # registered names, pkg.mod:Class, file.py:Class, sb3:PATH
    keep: tuple[float, ...] = (0.3, 0.5)  # keep fractions in (0, 1]
    seeds: tuple[int, ...] = (0, 1, 2)  # episode seeds: env.reset(seed=s); agents seed from the env
    epochs: int | None = None  # schedule length E (default: the env's, 10)
    out: str | None = None  # results directory (default: runs/<env>-<model>-E<E>)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # extra gym.make kwargs
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)  # per agent spec
    workers: int = 1  # local processes (spawn)
    threads: int | None = None  # torch threads per episode (default: 1 with workers > 1 or Ray)
    ray: str | None = None  # None: no Ray; "": ray.init(); else a cluster address
    gpus_per_task: float | None = None  # Ray: GPUs per episode (default: 1 if the cluster has GPUs)
    quiet: bool = False  # no progress bars


@dataclass
class Episode:
    """One cell of the matrix: what ``run_episode`` needs, all JSON-serialisable."""

    env: str
    env_kwargs: dict[str, Any]  # exactly as passed to gym.make (epochs and action_mode included)
    agent: str  # label: the spec as given, or "full@k" for the compute-matched baseline
    spec: str  # how to build the agent: registered name, pkg.mod:Class, /abs/file.py:Class, sb3:PATH
    agent_kwargs: dict[str, Any]  # constructor kwargs (keep included for agents that take one)
    keep: float | None  # the row's keep fraction (full@k: k; None: full, or an agent without keep)
    seed: int
    bench_epochs: int  # E of the bench (full@k episodes run fewer)

    @property
    def id(self) -> str:
        """Stable identity used to skip finished episodes on a re-run."""
        kw = {k: v for k, v in self.env_kwargs.items() if k not in NOT_IN_ID}
        key = [self.env, kw, self.agent, self.agent_kwargs, self.keep, self.seed, self.bench_epochs]
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        """Short human-readable name, e.g. ``ucb k=0.3 s=1``."""
        return self.agent + (f" k={self.keep:g}" if "keep" in self.agent_kwargs else "") + f" s={self.seed}"


# ---- argument parsing and validation -----------------------------------------------------------

def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None, JSON objects/lists, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        with contextlib.suppress(ValueError):
            return cast(text)
    if text.strip()[:1] in "{[":
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(text)
    return text


def parse_kv(items: Iterable[str], what: str) -> dict[str, Any]:
    """Parse ``k=v`` strings into a dict with :func:`parse_value`."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must be written key=value, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def parse_agent_kwargs(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Parse ``agent.key=value`` strings into ``{agent: {key: value}}`` (split at the last dot of the key)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_kv(items, "--agent-kwargs").items():
        agent, dot, name = key.rpartition(".")
        if not dot or not agent or not name:
            raise ValueError(f"--agent-kwargs must be written agent.key=value (e.g. ucb.c=0.5), got {key!r}")
        out.setdefault(agent, {})[name] = value
    return out


def _csv(cast: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            return tuple(cast(t) for t in text.split(",") if t.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list, got {text!r}") from None
    return parse


def env_signature(env_id: str) -> tuple[dict[str, Any], set[str] | None]:
    """Registered kwargs of ``env_id`` and the constructor's parameter names (None if it takes ``**kwargs``).

    :raises ValueError: for an unknown id, listing the DataSelect ids.
    """
    import gymnasium as gym
    import dataselect_env  # noqa: F401  (registers the ids)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        ids = [i for i in gym.registry if i.startswith("DataSelect/")]
        raise ValueError(f"unknown --env {env_id!r}; registered DataSelect envs: {', '.join(ids)}") from None
    creator = gym.envs.registration.load_env_creator(spec.entry_point) \
        if isinstance(spec.entry_point, str) else spec.entry_point
    params = inspect.signature(creator).parameters
    names = None if any(p.kind is p.VAR_KEYWORD for p in params.values()) else set(params) - {"self"}
    return dict(spec.kwargs), names


def agent_class(spec: str) -> type:
    """The class of an agent spec: registered name, ``pkg.mod:Class``, ``file.py:Class`` or ``sb3:PATH``.

    :raises ValueError: for an unknown name, listing the registered ones.
    """
    import agents
    name = "sb3" if spec.startswith("sb3:") else spec
    if ":" in name:
        return agents.load_class(name)
    if name == "sb3" and "sb3" not in agents.available():
        raise ValueError(f"agent {spec!r} needs stable-baselines3: pip install 'dataselect[sb3]'")
    if name not in agents.available() or spec == "sb3":
        names = ", ".join(a for a in agents.available() if a != "sb3")
        raise ValueError(f"unknown agent {spec!r}; available: {names}, or a user's agent as pkg.module:Class "
                         f"or path/to/file.py:Class, or a trained SB3 policy as sb3:models/NAME")
    return agents.load_class(agents.REGISTRY[name])


def make_agent(spec: str, kwargs: dict[str, Any]) -> Any:
    """Build an agent from its spec (see :func:`agent_class`)."""
    if spec.startswith("sb3:"):
        import agents
        return agents.make("sb3", path=spec[4:], **kwargs)
    return agent_class(spec)(**kwargs)


def plan(args: BenchArgs) -> list[Episode]:
    """Validate ``args`` (before any training) and expand them into the episode matrix.

    Each keep k adds ``full@k``; ``full`` always runs. Agents without a ``keep`` parameter (e.g.
    ``infobatch``, whose kept fraction follows from ``prune_ratio``) run once per seed whatever
    the keeps; the table compares them with the ``full@k`` nearest their measured compute.

    :raises ValueError: naming the bad argument and the valid choices.
    """
    registered, names = env_signature(args.env)
    for key in args.env_kwargs:
        if key in RESERVED_ENV_KWARGS:
            raise ValueError(f"--env-kwargs {key}: not allowed, {RESERVED_ENV_KWARGS[key]}")
        if names is not None and key not in names:
            raise ValueError(f"unknown --env-kwargs {key!r} for {args.env}; valid: {', '.join(sorted(names - set(RESERVED_ENV_KWARGS)))}")
    env_kwargs = dict(args.env_kwargs)
    if args.epochs is not None and env_kwargs.get("epochs", args.epochs) != args.epochs:
        raise ValueError(f"--epochs {args.epochs} contradicts --env-kwargs epochs={env_kwargs['epochs']}")
    epochs = args.epochs or env_kwargs.get("epochs") or registered.get("epochs") or 10
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"--epochs must be a positive integer, got {epochs!r}")
    env_kwargs["epochs"] = epochs
    if not args.keep or not args.seeds or not args.agents:
        raise ValueError("--agents, --keep and --seeds each need at least one value")
    for k in args.keep:
        if not 0 < k <= 1:
            raise ValueError(f"--keep values must be in (0, 1], got {k}")
        if round_half_up(k * epochs) < 1:
            raise ValueError(f"--keep {k} with {epochs} epochs gives full@k zero epochs; raise --epochs or keep")
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise ValueError(f"--workers and --threads must be >= 1, got {args.workers} and {args.threads}")
    specs = list(dict.fromkeys(["full", *args.agents]))
    for name in args.agent_kwargs:
        if name not in specs:
            raise ValueError(f"--agent-kwargs for {name!r}, which is not in --agents ({', '.join(specs)})")
        if args.agent_kwargs[name].get("keep", None) is not None:
            raise ValueError(f"--agent-kwargs {name}.keep: set keep fractions with --keep "
                             f"({name}.keep=none runs the agent once, choosing its own fraction)")
    episodes = []
    keeps = sorted(set(args.keep))
    for spec in specs:
        cls, kwargs = agent_class(spec), dict(args.agent_kwargs.get(spec, {}))
        has_keep = spec != "full" and "keep" in inspect.signature(cls).parameters and "keep" not in kwargs
        build = _absolute_spec(spec)
        try:  # instantiate once to check the kwargs' names and values before any training
            make_agent(build, {**kwargs, **({"keep": keeps[0]} if has_keep else {})})
        except (TypeError, ValueError) as err:
            raise ValueError(f"agent {spec!r} with --agent-kwargs {kwargs}: {err}") from err
        mode = getattr(cls, "action_mode", "mask")
        cells = [(spec, k, {**env_kwargs, "action_mode": mode}) for k in (keeps if has_keep else [None])]
        if spec == "full":  # the compute-matched baselines: all data, round(k*E) epochs
            cells += [(f"full@{k:g}", k, {**env_kwargs, "action_mode": mode, "epochs": round_half_up(k * epochs)})
                      for k in keeps if round_half_up(k * epochs) < epochs]
        episodes += [Episode(args.env, ekw, label, build, {**kwargs, "keep": k} if has_keep else kwargs, k, s, epochs)
                     for label, k, ekw in cells for s in dict.fromkeys(args.seeds)]
    seed_rank = {s: i for i, s in enumerate(dict.fromkeys(args.seeds))}
    return sorted(episodes, key=lambda ep: seed_rank[ep.seed])  # seed by seed: a partial run covers every agent


def _absolute_spec(spec: str) -> str:
    """``file.py:Class`` and ``sb3:PATH`` with absolute paths, so that workers elsewhere find them."""
    if spec.startswith("sb3:"):
        return "sb3:" + str(Path(spec[4:]).expanduser().resolve())
    module, _, cls = spec.rpartition(":")
    return f"{Path(module).expanduser().resolve()}:{cls}" if module.endswith(".py") else spec


def round_half_up(x: float) -> int:
    """round(x) with halves rounded up (Python's round sends 2.5 to 2)."""
    return int(math.floor(x + 0.5 + 1e-9))


# ---- running episodes ------------------------------------------------------------------------

_ENV_CACHE: dict[str, Any] = {}  # one env per process, reused while consecutive episodes share kwargs


def run_episode(ep: Episode, threads: int | None = None, position: int = 1, quiet: bool = False) -> dict[str, Any]:
    """Run one episode; return its results row (see the README's results.jsonl fields)."""
    import gymnasium as gym
    import torch
    import dataselect_env
    if threads:
        torch.set_num_threads(threads)
    key = json.dumps([ep.env, ep.env_kwargs], sort_keys=True)
    if key not in _ENV_CACHE:
        for old in _ENV_CACHE.values():
            old.close()
        _ENV_CACHE.clear()
        _ENV_CACHE[key] = gym.make(ep.env, **ep.env_kwargs)
    env = _ENV_CACHE[key]
    agent = make_agent(ep.spec, ep.agent_kwargs)
    obs, info = env.reset(seed=ep.seed)
    agent.reset(env)
    curve = {k: [info[k]] for k in CURVE_KEYS}
    total_reward, state, done, first = 0.0, None, False, True
    with tqdm(total=env.unwrapped.epochs, desc=ep.name, position=position, leave=False,
              disable=True if quiet else None, unit="epoch") as bar:
        while not done:
            action, state = agent.predict(obs, state=state, episode_start=np.array([first]))
            obs, reward, terminated, truncated, info = env.step(action)
            agent.observe(obs, reward, terminated, truncated, info)
            total_reward, done, first = total_reward + float(reward), terminated or truncated, False
            for k in CURVE_KEYS:
                curve[k].append(info[k])
            bar.set_postfix(val_acc=f"{info['val_accuracy']:.4f}", keep=f"{info['keep_fraction']:.2f}")
            bar.update()
    base = env.unwrapped
    return {"id": ep.id, **asdict(ep), "epochs": base.epochs, "n_train": base.n,
            "test_accuracy": info["test_accuracy"], "test_loss": info["test_loss"],
            "val_accuracy": info["val_accuracy"], "compute": info["compute"], "flops": info["flops"],
            "wall_time": info["wall_time"], "samples_trained": info["samples_trained"], "return": total_reward,
            "curve": curve, "device": _device_name(base.device), "precision": base.precision,
            "model": base.model_name, "torch_threads": torch.get_num_threads(), "host": platform.node(),
            "version": dataselect_env.__version__, "torch": torch.__version__,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _device_name(device: Any) -> str:
    import torch
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


_SLOT = 1


def _init_worker(threads: int | None, slots: Any) -> None:
    """Process-pool initializer: torch threads and a progress-bar row for this worker."""
    global _SLOT
    import torch
    torch.set_num_threads(threads or 1)
    _SLOT = slots.get()


def _pool_episode(ep: Episode, threads: int | None, quiet: bool) -> dict[str, Any]:
    return run_episode(ep, threads or 1, _SLOT, quiet)


def run_matrix(episodes: list[Episode], args: BenchArgs, on_result: Callable[[dict], None]) -> list[str]:
    """Run ``episodes`` in-process, in a spawn pool, or as Ray tasks; call ``on_result`` per row.

    A failing episode is reported and the others go on. :return: the failures' messages.
    """
    failures: list[str] = []

    def fail(ep: Episode, err: BaseException) -> None:
        failures.append(f"{ep.name}: {type(err).__name__}: {err}")
        tqdm.write(f"FAILED {ep.name}:\n" + "".join(traceback.format_exception(err)).rstrip())

    if args.ray is not None:
        return run_ray(episodes, args, on_result, fail) or failures
    if args.workers == 1:
        for ep in episodes:
            try:
                on_result(run_episode(ep, args.threads, 1, args.quiet))
            except Exception as err:  # noqa: BLE001 (one broken episode must not stop the matrix)
                fail(ep, err)
        _ENV_CACHE.clear()
        return failures
    ctx = mp.get_context("spawn")
    slots = ctx.Queue()
    for i in range(args.workers):
        slots.put(i + 1)
    pool, pending = ProcessPoolExecutor(args.workers, ctx, _init_worker, (args.threads, slots)), {}
    try:
        pending = {pool.submit(_pool_episode, ep, args.threads, args.quiet): ep for ep in episodes}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                ep = pending.pop(fut)
                if fut.exception() is not None:
                    fail(ep, fut.exception())
                else:
                    on_result(fut.result())
    finally:  # on Ctrl-C, drop the queued episodes instead of waiting for them
        pool.shutdown(wait=not pending, cancel_futures=True)
    return failures


def run_ray(episodes: list[Episode], args: BenchArgs, on_result: Callable[[dict], None],
            fail: Callable[[Episode, BaseException], None]) -> None:
    """Run ``episodes`` as Ray tasks (one CPU, ``gpus_per_task`` GPUs each); the driver writes the rows."""
    try:
        import ray
    except ImportError:
        raise SystemExit("--ray needs Ray: pip install 'dataselect[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=args.ray or None)
    if __name__ != "__main__":  # ship this module's code with the task (a cluster node may lack it)
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    gpus = args.gpus_per_task
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    task = ray.remote(num_cpus=1, num_gpus=gpus)(run_episode)
    pending = {task.remote(ep, args.threads or 1, 1, True): ep for ep in episodes}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ep = pending.pop(done[0])
            try:
                on_result(ray.get(done[0]))
            except Exception as err:  # noqa: BLE001
                fail(ep, err)
    finally:  # on Ctrl-C, cancel the tasks not yet finished
        for ref in pending:
            ray.cancel(ref)


def git_commit() -> str | None:
    """HEAD of the repository holding this file (``+dirty`` with uncommitted changes), or None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


# ---- commands ----------------------------------------------------------------------------------

def defaults_for_machine(args: BenchArgs) -> BenchArgs:
    """Pick the `fast` net on CUDA, else `small` on CPU, unless the env or the user sets ``model``; say which."""
    import torch
    registered, _ = env_signature(args.env)
    if "model" not in registered and "model" not in args.env_kwargs:
        cuda = torch.cuda.is_available() and args.env_kwargs.get("device", "auto") != "cpu"
        args.env_kwargs["model"] = "fast" if cuda else "small"
        print(f"{'CUDA (' + torch.cuda.get_device_name() + ')' if cuda else 'no CUDA: CPU'} -> "
              f"model={args.env_kwargs['model']} (override with --env-kwargs model=...)")
    if registered.get("dataset", "") != "synthetic" and "data_root" not in args.env_kwargs:
        from dataselect_env.data import data_root
        print(f"data: {data_root()} (set DATASELECT_DATA or --env-kwargs data_root=...)")
    return args


def bench(args: BenchArgs) -> int:
    """Validate, run the missing episodes of the matrix into ``args.out``, then report. :return: exit code."""
    try:
        args = defaults_for_machine(args)
        episodes = plan(args)
    except ValueError as err:
        print(f"train_agent.py bench: error: {err}", file=sys.stderr)
        return 2
    model = args.env_kwargs.get("model") or env_signature(args.env)[0].get("model", "small")
    out = Path(args.out or f"runs/{args.env.split('/')[-1]}-{model}-E{episodes[0].bench_epochs}")
    done = {r["id"] for r in read_results(out)}
    todo = [ep for ep in episodes if ep.id not in done]
    print(f"{len(episodes)} episodes in the matrix, {len(episodes) - len(todo)} already in {out / RESULTS}, "
          f"running {len(todo)} ({'Ray' if args.ray is not None else f'{args.workers} worker(s)'})")
    commit, start = git_commit(), time.perf_counter()
    bar = tqdm(total=len(episodes), initial=len(episodes) - len(todo), desc="bench", position=0,
               disable=True if args.quiet else None, unit="episode")
    with results_writer(out) as write:
        def on_result(row: dict[str, Any]) -> None:
            write({**row, "git_commit": commit})
            bar.update()
            tqdm.write(f"{row['agent']:>16} keep={row['keep']} seed={row['seed']}: test acc "
                       f"{100 * row['test_accuracy']:.2f}%  compute {row['compute']:.2f}  {row['wall_time']:.1f}s")
        try:
            failures = run_matrix(todo, args, on_result) if todo else []
        except KeyboardInterrupt:
            bar.close()
            print(f"\ninterrupted: the finished episodes are in {out / RESULTS}; run the same command to resume",
                  file=sys.stderr)
            return 130
    bar.close()
    if todo:
        print(f"ran {len(todo) - len(failures)} episodes in {time.perf_counter() - start:.1f}s")
    if read_results(out):
        print(report(out))
        print(f"wrote {out}/{{{RESULTS},{SUMMARY_CSV},{SUMMARY_MD}}} and plots")
    if failures:
        print(f"{len(failures)} episode(s) failed (re-run to retry them):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``bench`` (default), ``report DIR``, ``train`` (SB3, see agents/sb3_train.py)."""
    p = argparse.ArgumentParser(prog="train_agent.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    d = BenchArgs()
    b = sub.add_parser("bench", help="run the benchmark matrix (the default command)")
    b.add_argument("--env", default=d.env, help=f"gymnasium id (default {d.env})")
    b.add_argument("--agents", type=_csv(str, "--agents"), default=d.agents,
                   help="comma list: registered names, pkg.mod:Class, file.py:Class, sb3:models/NAME "
                        f"(default {','.join(d.agents)}); full and full@k always run")
    b.add_argument("--keep", type=_csv(float, "--keep"), default=d.keep, help="keep fractions in (0, 1] (default 0.3,0.5)")
    b.add_argument("--seeds", type=_csv(int, "--seeds"), default=d.seeds, help="episode seeds (default 0,1,2)")
    b.add_argument("--epochs", type=int, default=None, help="schedule length E (default: the env's)")
    b.add_argument("--out", default=None, help="results directory (default runs/<env>-<model>-E<E>)")
    b.add_argument("--env-kwargs", nargs="+", action="extend", default=[], metavar="K=V", help="extra env kwargs")
    b.add_argument("--agent-kwargs", nargs="+", action="extend", default=[], metavar="AGENT.K=V",
                   help="agent constructor kwargs, e.g. ucb.c=0.5 infobatch.prune_ratio=0.7")
    b.add_argument("--workers", type=int, default=1, help="local worker processes (spawn)")
    b.add_argument("--threads", type=int, default=None, help="torch threads per episode (default 1 with workers/Ray)")
    b.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run as Ray tasks: ray.init() or ray.init(address=ADDRESS)")
    b.add_argument("--gpus-per-task", type=float, default=None, help="Ray GPUs per episode (default 1 if any)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    r = sub.add_parser("report", help="re-render summary.csv, summary.md and plots from DIR/results.jsonl")
    r.add_argument("dir")
    sub.add_parser("train", help="train an SB3 policy (agents/sb3_train.py); see train --help", add_help=False)
    return p


def bench_args(ns: argparse.Namespace) -> BenchArgs:
    """BenchArgs from parsed ``bench`` arguments (``k=v`` lists parsed)."""
    return BenchArgs(env=ns.env, agents=tuple(ns.agents), keep=tuple(ns.keep), seeds=tuple(ns.seeds),
                     epochs=ns.epochs, out=ns.out, env_kwargs=parse_kv(ns.env_kwargs, "--env-kwargs"),
                     agent_kwargs=parse_agent_kwargs(ns.agent_kwargs), workers=ns.workers, threads=ns.threads,
                     ray=ns.ray, gpus_per_task=ns.gpus_per_task, quiet=ns.quiet)


def train(argv: list[str]) -> int:
    """``train``: delegate to ``agents.sb3_train`` (imported only here)."""
    try:
        from agents import sb3_train
    except ModuleNotFoundError as err:
        missing = "stable-baselines3 (pip install 'dataselect[sb3]')" if err.name == "stable_baselines3" \
            else f"{err.name} (agents/sb3_train.py, the SB3 training module)"
        print(f"train_agent.py train needs {missing}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="train_agent.py train", description="Train an SB3 policy on a DataSelect env.")
    sb3_train.add_train_arguments(parser)
    path = sb3_train.train(parser.parse_args(argv))
    print(f"saved {path}; benchmark it: python train_agent.py bench --agents random,ucb,sb3:{path} ...")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; no arguments = ``bench`` with the defaults (the main job)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return train(argv[1:])
    if not argv or argv[0] not in ("bench", "report", "train", "-h", "--help"):
        argv = ["bench", *argv]
    ns = build_parser().parse_args(argv)
    if ns.command == "report":
        print(report(ns.dir))
        return 0
    try:
        args = bench_args(ns)
    except ValueError as err:
        print(f"train_agent.py bench: error: {err}", file=sys.stderr)
        return 2
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
