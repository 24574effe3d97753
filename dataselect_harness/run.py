"""Running episodes: one episode (``agents.play_episode``) and the executors that run a matrix.

- in-process (``--workers 1``): one env per distinct kwargs, reused by consecutive episodes;
- a spawn process pool (``--workers K``): one torch thread per worker by default, and the process
  tuning of :func:`dataselect_env.hardware.tune_process` when the driver has it (``train_agent.py``);
- Ray tasks (``--ray [ADDRESS]``): one CPU and, if the cluster has GPUs, one GPU per task.

Every executor hands each finished row to ``on_result`` in the driver (which writes it), and
reports a failing episode without stopping the others. Local executors keep each running episode
after every epoch (:mod:`.inflight`), so that a rerun resumes it there; SIGTERM stops them as Ctrl-C
does (:func:`sigterm_as_ctrl_c`), and a worker ends with the process that started it. Local executors start no episode after
``BenchArgs.deadline`` (``--time-limit``); the ones running then finish and are written. On an env
that knows its corrupted samples, a row also records what the controller kept
(:class:`SelectionDiagnostics`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import multiprocessing as mp
import os
import platform
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dataselect_env.hardware import process_tuned, tune_process

from . import inflight as inflight_mod
from .plan import BenchArgs, Episode
from .results import ROW_SCHEMA

CURVE_KEYS = ("epoch", "val_accuracy", "compute", "keep_fraction", "flops")
WARMED: set[str] = set()  # (env, kwargs) whose first episode in this process has warmed up
PARENT: int | None = None  # in a pool worker: the driver's pid (the worker ends when the driver is gone)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@functools.lru_cache(maxsize=1)  # one env per process, reused while consecutive episodes share kwargs
def cached_env(env_id: str, kwargs_json: str) -> Any:
    """The env ``gym.make(env_id, **json.loads(kwargs_json))``, built once per process and kwargs."""
    import gymnasium as gym

    import dataselect_env  # noqa: F401
    return gym.make(env_id, **json.loads(kwargs_json))


def run_episode(ep: Episode, threads: int | None = None, quiet: bool = False, tune: bool = False,
                inflight: str | None = None) -> dict[str, Any]:
    """Run one episode with ``agents.play_episode``; return its results row (see the README's fields).

    :param tune: apply :func:`dataselect_env.hardware.tune_process` in this process first (a worker of
        a driver that has it).
    :param inflight: the bench's directory: keep the episode in ``DIR/inflight/<id>.pt`` after each
        epoch, and resume it from there when that file exists (:mod:`.inflight`). The row is then the
        one an uninterrupted run writes, but for its wall-clock fields (``wall_time``, the curve's
        ``wall_time``: the epochs kept and those run after the resume; ``finished``). None: neither.
    """
    import torch

    import agents
    import dataselect_env
    if tune:
        tune_process()
    if threads:
        torch.set_num_threads(threads)
    key = json.dumps([ep.env, ep.env_kwargs], sort_keys=True)
    env = cached_env(ep.env, json.dumps(ep.env_kwargs, sort_keys=True))
    agent = agents.load(ep.spec, **ep.agent_kwargs)
    if key not in WARMED:  # the env's first episode in this process: warm up outside the clock
        env.reset(seed=ep.seed)  # a reset builds the net and runs a validation pass (kernels, allocator)
        WARMED.add(key)
    path = inflight_mod.inflight_path(inflight, ep.id) if inflight and hasattr(env.unwrapped, "state_dict") else None
    saved = inflight_mod.load(path, ep.id, dataselect_env.__version__) if path else None
    curve: dict[str, list] = saved["curve"] if saved else {k: [] for k in (*CURVE_KEYS, "wall_time")}
    total = [saved["return"] if saved else 0.0]
    # the episode's wall time: env construction and the warm-up reset excluded; a resumed one goes on from its kept epochs
    start = time.perf_counter() - (saved["elapsed"] if saved else 0.0)
    diagnose = SelectionDiagnostics.of(env.unwrapped)
    if saved and not quiet:
        print(f"  {ep.name}: resuming after epoch {saved['epoch']}/{saved['epochs']}", flush=True)

    def keep(state: dict[str, Any]) -> None:  # after an epoch that did not end the episode
        inflight_mod.save(path, {"id": ep.id, "version": dataselect_env.__version__, "epoch": env.unwrapped.epoch,
                                 "epochs": env.unwrapped.epochs, "episode": state, "curve": curve, "return": total[0],
                                 "elapsed": time.perf_counter() - start})
    with tqdm(total=env.unwrapped.epochs, initial=saved["epoch"] if saved else 0, desc=ep.name, leave=False,
              disable=True if quiet else None, unit="epoch") as bar:
        def on_step(info: dict[str, Any], reward: float, action: Any) -> None:
            if PARENT is not None and os.getppid() != PARENT:  # the driver is gone (where prctl is missing)
                raise SystemExit(f"{ep.name}: the bench that started this worker is gone")
            for k in CURVE_KEYS:
                curve[k].append(info[k])
            curve["wall_time"].append(time.perf_counter() - start)
            if diagnose is not None:
                diagnose.record(action, curve)
            total[0] += reward
            if info["epoch"]:
                bar.set_postfix(val_acc=f"{info['val_accuracy']:.4f}", keep=f"{info['keep_fraction']:.2f}")
                bar.update()
                if bar.disable and not quiet:  # no terminal (a pipe, a log file): tqdm is off, say it in lines
                    print(f"  {ep.name}: epoch {info['epoch']}/{env.unwrapped.epochs}, val acc "
                          f"{100 * info['val_accuracy']:.2f}%, kept {info['keep_fraction']:.2f}, compute "
                          f"{info['compute']:.2f}, {curve['wall_time'][-1]:.0f}s", flush=True)
        info = agents.play_episode(agent, env, ep.seed, deterministic=False, on_step=on_step,
                                   resume=saved["episode"] if saved else None,
                                   on_save=keep if path and hasattr(agent, "state_dict") else None)
    base = env.unwrapped
    extra = diagnose.summary(curve) if diagnose is not None else {}
    return {"id": ep.id, "schema": ROW_SCHEMA, **asdict(ep), "epochs": base.epochs, "n_train": base.n, **extra,
            "test_accuracy": info["test_accuracy"], "test_loss": info["test_loss"],
            "val_accuracy": info["val_accuracy"], "compute": info["compute"], "val_compute": info["val_compute"],
            "flops": info["flops"],
            "wall_time": curve["wall_time"][-1], "samples_trained": info["samples_trained"], "return": total[0],
            "diverged": bool(info.get("diverged", False)),
            "curve": curve, "device": device_name(base.device), "precision": base.precision,
            "model": base.model_name, "torch_threads": torch.get_num_threads(), "host": platform.node(),
            "version": dataselect_env.__version__, "torch": torch.__version__,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


class SelectionDiagnostics:
    """What a controller kept, per epoch, on an env that knows its corrupted samples.

    Needs ``env.unwrapped.corrupted`` (bool ``(N,)``, True where a training sample's label was
    flipped or the sample is a duplicate, aligned with the action's rows) and ``labels`` (int
    ``(N,)``). Each step adds to the episode's curves ``corrupted_kept`` (the fraction of the kept
    samples that are corrupted; None when nothing was kept, and at the reset) and ``class_kept``
    (per class, the fraction of its samples kept; None at the reset).
    """

    def __init__(self, corrupted: np.ndarray, labels: np.ndarray):
        self.corrupted = np.asarray(corrupted, dtype=bool).ravel()
        self.labels = np.asarray(labels, dtype=np.int64).ravel()
        self.class_sizes = np.bincount(self.labels)

    @classmethod
    def of(cls, base: Any) -> SelectionDiagnostics | None:
        """Diagnostics for the unwrapped env ``base``; None when it lacks ``corrupted`` or ``labels``."""
        corrupted, labels = getattr(base, "corrupted", None), getattr(base, "labels", None)
        if corrupted is None or labels is None:
            return None
        to_numpy = lambda a: a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)  # noqa: E731
        return cls(to_numpy(corrupted), to_numpy(labels))

    def record(self, action: Any, curve: dict[str, list]) -> None:
        """Append this step's ``corrupted_kept`` and ``class_kept`` to ``curve`` (None for the reset)."""
        curve.setdefault("corrupted_kept", [])
        curve.setdefault("class_kept", [])
        if action is None:
            curve["corrupted_kept"].append(None)
            curve["class_kept"].append(None)
            return
        kept = np.asarray(action).ravel() > 0  # a mask, or loss weights (0 = dropped)
        n_kept = int(kept.sum())
        curve["corrupted_kept"].append(float(self.corrupted[kept].sum() / n_kept) if n_kept else None)
        per_class = np.bincount(self.labels[kept], minlength=len(self.class_sizes)) / np.maximum(self.class_sizes, 1)
        curve["class_kept"].append([float(x) for x in per_class])

    def summary(self, curve: dict[str, list]) -> dict[str, float | None]:
        """``corrupted_kept`` (mean of the per-epoch fractions) and ``corrupted_fraction`` (of the training set)."""
        steps = [x for x in curve.get("corrupted_kept", []) if x is not None]
        return {"corrupted_kept": float(np.mean(steps)) if steps else None,
                "corrupted_fraction": float(self.corrupted.mean())}


def device_name(device: Any) -> str:
    """``cuda:0 (NVIDIA H100 ...)`` or ``cpu (AMD EPYC 7B13, 2 cores)``."""
    import torch

    from dataselect_env.hardware import cpu_model
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({cpu_model()}, {os.cpu_count()} cores)"


def _init_worker(threads: int | None, parent: int) -> None:
    """Process-pool initializer: torch threads of this worker; it ends with the driver ``parent``."""
    import torch
    global PARENT
    torch.set_num_threads(threads or 1)
    PARENT = parent
    die_with_parent(parent)


def die_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM when its parent ``parent`` exits, however it exits
    (Linux ``prctl(PR_SET_PDEATHSIG)``); elsewhere :func:`run_episode` checks the parent every epoch.

    :raises SystemExit: when ``parent`` is already gone.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit("the bench that started this worker is gone")


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Within it, SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does: the bench
    stops its workers, keeps what finished and says so (outside the main thread it changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes and wait for them (an interrupted bench: each running
    episode is kept at its last finished epoch). Python 3.14's ``terminate_workers``, else the pool's
    process table."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def time_up(deadline: float | None) -> bool:
    """True once ``time.monotonic()`` has passed ``deadline`` (never for None)."""
    return deadline is not None and time.monotonic() >= deadline


def run_matrix(episodes: list[Episode], args: BenchArgs, on_result: Callable[[dict], None],
               inflight: str | None = None) -> list[str]:
    """Run ``episodes`` in-process, in a spawn pool, or as Ray tasks; call ``on_result`` per row.

    A failing episode is reported and the others go on. Locally, no episode starts after
    ``args.deadline``; the caller sees the ones left out as episodes with neither a row nor a failure.

    :param inflight: the bench's directory, where local executors keep and resume running episodes
        (:func:`run_episode`); Ray tasks do not (a node's disk need not be the driver's).
    :return: the failures' messages.
    """
    failures: list[str] = []

    def fail(ep: Episode, err: BaseException) -> None:
        failures.append(f"{ep.name}: {type(err).__name__}: {err}")
        tqdm.write(f"FAILED {ep.name}:\n" + "".join(traceback.format_exception(err)).rstrip())

    if args.ray is not None:
        run_ray(episodes, args, on_result, fail)
    elif args.workers == 1:
        for ep in episodes:
            if time_up(args.deadline):
                break
            try:
                on_result(run_episode(ep, args.threads, args.quiet, inflight=inflight))
            except Exception as err:  # noqa: BLE001 (one broken episode must not stop the matrix)
                fail(ep, err)
        cached_env.cache_clear()
    else:
        run_pool(episodes, args, on_result, fail, inflight)
    return failures


def run_pool(episodes: list[Episode], args: BenchArgs, on_result: Callable[[dict], None],
             fail: Callable[[Episode, BaseException], None], inflight: str | None = None) -> None:
    """Run ``episodes`` in ``args.workers`` spawned processes (no per-epoch bars: the driver reports rows).

    Episodes are submitted in order as workers free up, so that none starts after ``args.deadline``.
    Interrupted (Ctrl-C, SIGTERM), it terminates the workers; each also ends when the driver does.
    """
    pool = ProcessPoolExecutor(args.workers, mp.get_context("spawn"), _init_worker, (args.threads, os.getpid()))
    queue, pending = iter(episodes), {}

    def submit_next() -> None:
        ep = None if time_up(args.deadline) else next(queue, None)
        if ep is None:
            return
        try:
            pending[pool.submit(run_episode, ep, args.threads or 1, True, process_tuned(), inflight)] = ep
        except BrokenProcessPool as err:  # a worker died (e.g. killed for memory): the rest cannot run
            for rest in (ep, *queue):
                fail(rest, err)

    try:
        for _ in range(args.workers):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                ep = pending.pop(fut)
                if fut.exception() is not None:
                    fail(ep, fut.exception())
                else:
                    on_result(fut.result())
                submit_next()
    finally:  # on Ctrl-C or SIGTERM, do not wait for the running episodes: each is kept at its last epoch
        if pending:
            stop_workers(pool)
        pool.shutdown(wait=not pending, cancel_futures=True)


def run_ray(episodes: list[Episode], args: BenchArgs, on_result: Callable[[dict], None],
            fail: Callable[[Episode, BaseException], None]) -> None:
    """Run ``episodes`` as Ray tasks (one CPU, ``gpus_per_task`` GPUs each); the driver writes the rows."""
    try:
        import ray
    except ImportError:
        raise SystemExit("--ray needs Ray: pip install 'dataselect[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=args.ray or None)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # a cluster node may lack this code
    gpus = args.gpus_per_task
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    task = ray.remote(num_cpus=1, num_gpus=gpus)(run_episode)
    pending = {task.remote(ep, args.threads or 1, True, process_tuned()): ep for ep in episodes}
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
