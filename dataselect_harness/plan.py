"""What a bench runs: its arguments, the ``k=v`` parser, and the episode matrix they expand into.

:func:`plan` validates everything it can before any training (names and values of env and agent
kwargs, keep fractions, epochs) and returns the episodes, seed by seed. :func:`check_env` then
builds each distinct env once (data loaded, every argument checked) so that a missing dataset or
a bad value fails the whole bench with one message instead of once per episode.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataselect_env.selection import round_half_up

from .options import csv_of, option
from .results import NOT_IN_ID

DEFAULT_ENV = "DataSelect/CIFAR10-v1"
DEFAULT_AGENTS = ("full", "random", "auto", "epsilon_greedy", "ucb", "infobatch", "el2n", "forgetting")
DEFAULT_FRONTIER = (0.2, 0.3, 0.5, 0.75, 1.0)  # fractions f of E at which `full` also runs (E' = round(f E))
MAX_FRONTIER = 4.0  # largest frontier fraction: up to 4x the bench's epochs
RESERVED_ENV_KWARGS = {"action_mode": "it is set per agent from the agent's action_mode attribute"}


TIME_LIMIT_FLAG = "--time-limit"


def deadline_of(minutes: float | None) -> float | None:
    """The ``time.monotonic()`` deadline of ``--time-limit MINUTES`` from now; None without a limit.

    :raises ValueError: naming the flag when ``minutes`` is not a positive finite number.
    """
    if minutes is None:
        return None
    if not 0 < minutes < float("inf"):
        raise ValueError(f"{TIME_LIMIT_FLAG} must be a positive number of minutes, got {minutes!r}")
    return time.monotonic() + 60 * minutes


@dataclass
class BenchArgs:
    """Arguments of a benchmark (``train_agent.py bench``); the defaults are the main job.

    Each field is one flag of ``bench`` (and, from ``agents`` on, of ``suite``): the help below is
    the command line's (:mod:`.options`).
    """

    env: str = option(DEFAULT_ENV, "gymnasium id")
    agents: tuple[str, ...] = option(DEFAULT_AGENTS, "comma list: registered names, pkg.mod:Class, file.py:Class, "
                                     "sb3:models/NAME; full and the frontier full@f always run",
                                     type=csv_of(str, "--agents"))
    keep: tuple[float, ...] = option((0.3, 0.5), "keep fractions in (0, 1]", type=csv_of(float, "--keep"))
    seeds: tuple[int, ...] = option((0, 1, 2), "episode seeds: env.reset(seed=s); agents seed from the env",
                                    type=csv_of(int, "--seeds"))
    frontier: tuple[float, ...] = option(DEFAULT_FRONTIER, "full-data frontier: full also runs round(f*E) epochs for "
                                         "each f (and each keep); '' for the keeps only",
                                         type=csv_of(float, "--frontier"), metavar="F,F,...")
    epochs: int | None = option(None, "schedule length E (default: the env's)", type=int)
    out: str | None = option(None, "results directory (default runs/<env>-<model>-E<E>)")
    env_kwargs: dict[str, Any] = option(help="extra env kwargs, e.g. train_subset=10000 model=small data_root=PATH",
                                        default_factory=dict, cli_default=[], nargs="+", action="extend", metavar="K=V",
                                        convert=lambda items: parse_kv(items, "--env-kwargs"))
    agent_kwargs: dict[str, dict[str, Any]] = option(
        help="agent constructor kwargs, e.g. ucb.c=0.5 infobatch.prune_ratio=0.7", default_factory=dict, cli_default=[],
        nargs="+", action="extend", metavar="AGENT.K=V", convert=lambda items: parse_agent_kwargs(items))
    workers: int = option(1, "local worker processes (spawn)", type=int)
    threads: int | None = option(None, "torch threads per episode (default 1 with workers/Ray)", type=int)
    ray: str | None = option(None, "run as Ray tasks: ray.init() or ray.init(address=ADDRESS)", nargs="?", const="",
                             metavar="ADDRESS")
    gpus_per_task: float | None = option(None, "Ray GPUs per episode (default 1 if any)", type=float)
    quiet: bool = option(False, "no progress bars", action="store_true")
    deadline: float | None = option(None, "start no episode after MINUTES from now; the running ones finish and are "
                                    "written, then the command exits with 75 (run it again to go on)",
                                    flag=TIME_LIMIT_FLAG, type=float, metavar="MINUTES", convert=deadline_of)


@dataclass
class Episode:
    """One cell of the matrix: what ``harness.run.run_episode`` needs, all JSON-serialisable."""

    env: str
    env_kwargs: dict[str, Any]  # exactly as passed to gym.make (epochs and action_mode included)
    agent: str  # label: the spec as given, or "full@f" for a full-data frontier point (round(f E) epochs)
    spec: str  # how to build the agent (agents.load): registered name, pkg.mod:Class, /abs/file.py:Class, sb3:PATH
    agent_kwargs: dict[str, Any]  # constructor kwargs (keep included for agents that take one)
    keep: float | None  # the row's keep fraction (full@f: f; None: full, or an agent without keep)
    seed: int
    bench_epochs: int  # E of the bench (full@f episodes run round(f E))

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


# ---- the one k=v parser ------------------------------------------------------------------------

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


def parse_kv(items: Iterable[str], what: str = "--env-kwargs") -> dict[str, Any]:
    """Parse ``k=v`` strings into a dict with :func:`parse_value`.

    :param items: ``k=v`` strings, e.g. ``["epochs=5", 'synthetic={"label_noise": 0.4}']``.
    :param what: the flag they came from, for the error message.
    """
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


# ---- the matrix --------------------------------------------------------------------------------

def registered_kwargs(env_id: str) -> dict[str, Any]:
    """The kwargs ``env_id`` was registered with.

    :raises ValueError: for an unknown id, listing the DataSelect ids.
    """
    import gymnasium as gym

    import dataselect_env  # noqa: F401  (registers the ids)
    try:
        return dict(gym.spec(env_id).kwargs)
    except gym.error.Error:
        ids = [i for i in gym.registry if i.startswith("DataSelect/")]
        raise ValueError(f"unknown --env {env_id!r}; registered DataSelect envs: {', '.join(ids)}") from None


def bench_epochs(args: BenchArgs) -> int:
    """The schedule length E of a bench: ``--epochs``, else ``--env-kwargs epochs``, else the env's (10).

    :raises ValueError: naming the flag the user typed when it is not a positive integer.
    """
    from_kwargs = args.env_kwargs.get("epochs")
    if args.epochs is not None and from_kwargs is not None and from_kwargs != args.epochs:
        raise ValueError(f"--epochs {args.epochs} contradicts --env-kwargs epochs={from_kwargs}")
    for flag, value in (("--epochs", args.epochs), ("--env-kwargs epochs", from_kwargs)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{flag} must be a positive integer, got {value!r}")
            return value
    return registered_kwargs(args.env).get("epochs", 10)


def plan(args: BenchArgs) -> list[Episode]:
    """Validate ``args`` (before any training) and expand them into the episode matrix.

    ``full`` always runs, and so does the full-data frontier (:func:`frontier_points`): ``full@f``,
    all data for round(f E) epochs, for every f of ``args.frontier`` and every keep. Agents without
    a ``keep`` parameter (e.g. ``infobatch``, whose kept fraction follows from ``prune_ratio``) run
    once per seed whatever the keeps.

    :raises ValueError: naming the bad argument and the valid choices.
    """
    import agents
    from dataselect_env.config import EnvConfig

    registered = registered_kwargs(args.env)
    for key in args.env_kwargs:
        if key in RESERVED_ENV_KWARGS:
            raise ValueError(f"--env-kwargs {key}: not allowed, {RESERVED_ENV_KWARGS[key]}")
    epochs = bench_epochs(args)
    env_kwargs = {**args.env_kwargs, "epochs": epochs}
    try:  # names and values, without loading any data
        EnvConfig.from_kwargs(**{**registered, **env_kwargs})
    except (TypeError, ValueError) as err:
        raise ValueError(f"--env-kwargs: {err}") from err
    if not args.keep or not args.seeds or not args.agents:
        raise ValueError("--agents, --keep and --seeds each need at least one value")
    for k in args.keep:
        if not 0 < k <= 1:
            raise ValueError(f"--keep values must be in (0, 1], got {k}")
        if round_half_up(k * epochs) < 1:
            raise ValueError(f"--keep {k} with {epochs} epochs gives full@{k:g} zero epochs; raise --epochs or keep")
    for f in args.frontier:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= MAX_FRONTIER:
            raise ValueError(f"--frontier values must be fractions of the epochs in (0, {MAX_FRONTIER:g}], got {f!r}")
    if args.deadline is not None and args.ray is not None:
        raise ValueError("--time-limit works with local execution (--workers), not with --ray")
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
        build, kwargs = absolute_spec(spec), dict(args.agent_kwargs.get(spec, {}))
        try:  # resolve and instantiate once to check the kwargs' names and values before any training
            cls = agents.load_class(build)
            has_keep = spec != "full" and "keep" in inspect.signature(cls).parameters and "keep" not in kwargs
            agent = agents.load(build, **kwargs, **({"keep": keeps[0]} if has_keep else {}))
        except (TypeError, ValueError, ImportError) as err:
            raise ValueError(f"agent {spec!r}" + (f" with --agent-kwargs {kwargs}" if kwargs else "") + f": {err}") from err
        mode = getattr(cls, "action_mode", "mask")
        # an agent that reads the v1 columns gets them on any id (a -v0 suite scenario included)
        needs = {"obs_version": agent.obs_version} if getattr(agent, "obs_version", 0) else {}
        cells = [(spec, k, {**env_kwargs, "action_mode": mode, **needs}) for k in (keeps if has_keep else [None])]
        if spec == "full":  # the full-data frontier: all data, round(f*E) epochs, schedule compressed
            cells += [(f"full@{f:g}", f, {**env_kwargs, "action_mode": mode, "epochs": e})
                      for f, e in frontier_points(keeps, args.frontier, epochs).items() if e != epochs]
        episodes += [Episode(args.env, ekw, label, build, {**kwargs, "keep": k} if has_keep else kwargs, k, s, epochs)
                     for label, k, ekw in cells for s in dict.fromkeys(args.seeds)]
    seed_rank = {s: i for i, s in enumerate(dict.fromkeys(args.seeds))}
    return sorted(episodes, key=lambda ep: seed_rank[ep.seed])  # seed by seed: a partial run covers every agent


def frontier_points(keeps: Iterable[float], grid: Iterable[float], epochs: int) -> dict[float, int]:
    """The full-data frontier's schedule lengths: ``{f: round_half_up(f * epochs)}``, one f per length.

    Fractions giving the same length E' are deduplicated: a keep fraction wins over a grid fraction
    (so ``full@k``, the label earlier benches used, keeps its episode id), then the smallest.
    Lengths under one epoch are dropped. ``E' == epochs`` is ``full`` itself (callers skip it).

    :param keeps: the bench's keep fractions.
    :param grid: the frontier grid (``BenchArgs.frontier``).
    :param epochs: the bench's schedule length E.
    :return: fraction -> epochs, ordered by epochs.
    """
    keeps = set(keeps)
    by_epochs: dict[int, float] = {}
    for f in sorted(keeps | set(grid), key=lambda f: (f not in keeps, f)):
        by_epochs.setdefault(round_half_up(f * epochs), f)
    return {f: e for e, f in sorted(by_epochs.items()) if e >= 1}


def check_env(env_id: str, env_kwargs: dict[str, Any]) -> EnvShape:
    """Build the env once (data loaded, every argument validated), close it, and return its shape.

    :raises ValueError: for any bad argument value or missing/damaged data, with the env's own message
        prefixed by what the user typed.
    """
    import gymnasium as gym

    import dataselect_env  # noqa: F401
    try:
        env = gym.make(env_id, **env_kwargs)
    except (TypeError, ValueError, FileNotFoundError, OSError) as err:
        raise ValueError(f"--env {env_id} with --env-kwargs {_shown(env_kwargs)}: {err}") from err
    base = env.unwrapped
    splits = base.splits
    shape = EnvShape(int(base.n), len(splits.y_val), len(splits.y_test), base.model_name, splits.num_classes,
                     tuple(splits.input_shape), str(base.device))
    env.close()
    return shape


@dataclass(frozen=True)
class EnvShape:
    """What an env's episodes cost depends on: its split sizes, its net and its input."""

    n_train: int
    n_val: int
    n_test: int
    model: str
    num_classes: int
    input_shape: tuple[int, ...]  # one sample's shape as the net takes it (Splits.input_shape)
    device: str


FORWARD_SHARE = 1 / 3  # a forward-only pass costs about a third of a training pass (forward + backward)


def expected_seconds(ep: Episode, shape: EnvShape, seconds_per_sample: float) -> float:
    """What ``ep`` is expected to take: its training passes (:func:`episode_cost` x N) plus a validation
    pass an epoch and one test pass, forward-only passes at :data:`FORWARD_SHARE` of a training one."""
    epochs = ep.env_kwargs.get("epochs", ep.bench_epochs)
    passes = episode_cost(ep) * shape.n_train + FORWARD_SHARE * (epochs * shape.n_val + shape.n_test)
    return passes * seconds_per_sample


def seconds_per_sample(shape: EnvShape, precision: str = "fp32", batch: int = 256, steps: int = 3) -> float:
    """Seconds one training sample takes on this machine: ``steps`` timed SGD steps of the env's net
    on a random batch, after one warm-up step, in the calling process's torch threads."""

    import torch

    from dataselect_env.models import make_model
    device = torch.device(shape.device)
    model = make_model(shape.model, shape.num_classes, shape.input_shape).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, *shape.input_shape, device=device)
    y = torch.randint(0, shape.num_classes, (batch,), device=device)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / (steps * batch)


def check_precision(episodes: Iterable[Episode], rows: list[dict[str, Any]], out: str | Path) -> None:
    """Refuse to add episodes to ``out`` in another precision than the rows already there.

    Precision is not part of an episode's id (:data:`NOT_IN_ID`: it says how an episode runs, not
    which), and ``"auto"`` resolves per machine: bf16 on a CPU with native bf16, fp32 elsewhere. A
    bench resumed on another machine would otherwise mix numerics in one directory, and a bf16 row
    would count as done for an fp32 one.

    :raises ValueError: naming both precisions and the ``--env-kwargs precision=...`` that matches.
    """
    from dataselect_env.hardware import resolve_device, resolve_precision

    have = sorted({r["precision"] for r in rows if r.get("precision")})
    for ep in episodes:
        kw = {**registered_kwargs(ep.env), **ep.env_kwargs}
        asked = kw.get("precision", "auto")
        want = resolve_precision(asked, resolve_device(kw.get("device", "auto")))
        if have and want not in have:
            raise ValueError(f"{out} holds episodes trained in {', '.join(have)}, but this run would train in "
                             f"{want} (precision={asked!r} on this machine); comparing them mixes numerics. "
                             f"Pass --env-kwargs precision={have[0]} to go on with them, or another --out")


def _shown(env_kwargs: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in env_kwargs.items() if k != "action_mode") or "(none)"


def absolute_spec(spec: str) -> str:
    """``file.py:Class`` and ``sb3:PATH`` with absolute paths, so that workers elsewhere find them."""
    if spec.startswith("sb3:"):
        return "sb3:" + str(Path(spec[4:]).expanduser().resolve())
    module, _, cls = spec.rpartition(":")
    return f"{Path(module).expanduser().resolve()}:{cls}" if module.endswith(".py") else spec


def episode_cost(ep: Episode) -> float:
    """What an episode is expected to cost relative to others of the bench, for time estimates:
    its epochs times the share of the data it trains on (``full`` and ``full@f`` all of it, an agent
    with a keep that keep, an agent without one three quarters). Not a measurement: a guide."""
    epochs = ep.env_kwargs.get("epochs", ep.bench_epochs)
    if ep.agent == "full" or ep.agent.startswith("full@"):
        return float(epochs)
    return epochs * (float(ep.agent_kwargs["keep"]) if "keep" in ep.agent_kwargs else 0.75)
