"""Controllers for the dataselect env: a registry of named agents and a loader for users' own.

``agents.make("ucb", keep=0.3)`` builds a registered agent; ``agents.load(spec)`` builds any agent
spec: a registered name, a user's ``"pkg.module:Class"`` or ``"path/to/file.py:Class"`` (without
touching the package) or a trained policy ``"sb3:models/NAME"``; ``agents.available()`` lists the
registered names. Entry points are strings, so
importing ``agents`` imports no agent module (nor Stable-Baselines3) until one is used.
Registered classes are also reachable as attributes, e.g. ``agents.UCB`` or ``agents.SB3Agent``.

The learned controllers' interfaces live here too: :mod:`agents.wrappers` (the N-independent
Gymnasium wrappers SB3 trains on), :mod:`agents.transforms` (their pure observation and action
maps), :mod:`agents.rule_space` (the rule-space action) and :mod:`agents.features` (feature
squashing and standardisation). An agent reaches its env only through :class:`agents.base.EnvLink`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from dataselect_env.selection import keep_count, random_mask, top_k_mask

from .base import Agent, play_episode

REGISTRY: dict[str, str] = {
    "full": "agents.baselines:Full",
    "random": "agents.baselines:Random",
    "epsilon_greedy": "agents.bandits:EpsilonGreedy",
    "ucb": "agents.bandits:UCB",
    "loss_proportional": "agents.bandits:LossProportional",
    "infobatch": "agents.infobatch:InfoBatch",
    "el2n": "agents.static:EL2N",
    "grand": "agents.static:GraNd",
    "forgetting": "agents.static:Forgetting",
    "rho_loss": "agents.rho_loss:RhoLoss",
    "class_balanced": "agents.rules:ClassBalanced",
    "small_loss": "agents.rules:SmallLoss",
    "auto": "agents.auto:Auto",
    "oracle_clean": "agents.oracles:OracleClean",
    "oracle_balanced": "agents.oracles:OracleBalanced",
    "linear_rule": "agents.rule_policy:LinearRule",
    "sb3": "agents.sb3_agent:SB3Agent",
}
# Modules a registered agent needs beyond the core install (the `sb3` extra).
REQUIRES: dict[str, tuple[str, ...]] = {"sb3": ("stable_baselines3",)}


def available() -> list[str]:
    """Registered agent names whose module and optional dependencies are installed."""
    return [name for name, spec in REGISTRY.items()
            if all(_installed(m) for m in (spec.partition(":")[0], *REQUIRES.get(name, ())))]


def make(name: str, **kwargs: Any) -> Agent:
    """Build the registered agent ``name`` with constructor ``kwargs``.

    :raises ValueError: for an unknown name, listing the valid ones.
    """
    return load_class(name)(**kwargs)


def load(spec: str, **kwargs: Any) -> Agent:
    """Build any agent spec with ``kwargs`` (see :func:`load_class`); ``"sb3:PATH"`` loads a trained policy."""
    if spec.startswith("sb3:"):
        return load_class("sb3")(path=spec[4:], **kwargs)
    return load_class(spec)(**kwargs)


def load_class(spec: str) -> type:
    """The class of an agent spec: a registered name, ``"sb3:PATH"``, ``"pkg.module:Class"`` or ``"path/to/file.py:Class"``.

    :raises ValueError: for an unknown name (listing the registered ones), a malformed spec, a
        missing file, or a class without ``predict``.
    :raises ImportError: for a registered agent whose optional dependency is missing.
    """
    name = "sb3" if spec.startswith("sb3:") else spec
    if name in REGISTRY:
        missing = [m for m in REQUIRES.get(name, ()) if not _installed(m)]
        if missing:
            raise ImportError(f"agent {spec!r} needs {', '.join(missing)}: pip install 'dataselect[sb3]'")
        spec = REGISTRY[name]
    module_name, sep, class_name = spec.rpartition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"unknown agent {spec!r}; registered agents: {', '.join(REGISTRY)}; or a user's agent as "
                         f"'pkg.module:Class' or 'path/to/file.py:Class', or a trained SB3 policy as 'sb3:models/NAME'")
    module = _import_file(Path(module_name)) if module_name.endswith(".py") else importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"{module_name} has no attribute {class_name!r}")
    if not callable(getattr(cls, "predict", None)):
        raise ValueError(f"{spec} is not an agent: it needs a predict(obs, state, episode_start, "
                         f"deterministic) method (subclass agents.Agent)")
    return cls


def is_privileged(spec: str) -> bool:
    """Whether the agent of ``spec`` reads the env's ground truth (``env.corrupted``, ``env.clean_labels``):
    its class sets ``privileged = True``, as the oracles do (:class:`Agent` sets False). Such an agent is
    a bound on what selection can gain, never ranked with the controllers.

    :param spec: an agent spec, as :func:`load_class` takes it. One that does not load (an agent since
        renamed or removed, a label such as ``full@0.2``) is not privileged.
    """
    try:
        return bool(getattr(load_class(spec), "privileged", False))
    except (ValueError, ImportError):
        return False


def __getattr__(name: str) -> type:
    """Lazy access to registered classes by class name (``agents.UCB``, ``agents.SB3Agent``)."""
    for spec in REGISTRY.values():
        if spec.rpartition(":")[2] == name:
            return load_class(spec)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


def _import_file(path: Path) -> Any:
    """Import a Python file as a uniquely named module (registered in ``sys.modules``)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"agent file not found: {path}")
    name = f"_dataselect_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


__all__ = ["Agent", "play_episode", "REGISTRY", "available", "make", "load", "load_class", "is_privileged", "keep_count",
           "random_mask", "top_k_mask"]
