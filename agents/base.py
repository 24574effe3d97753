"""The controller interface: every agent, hand-written or learned, is called like an SB3 model.

An agent maps the env's observation to an action with ``predict(obs) -> (action, state)``
(``stable_baselines3.common.type_aliases.PolicyPredictor``), so
``stable_baselines3.common.evaluation.evaluate_policy(agent, env)`` runs it, and the benchmark
treats a bandit and a trained policy alike. A new agent subclasses :class:`Agent` and writes
one method, :meth:`Agent.act`, on unbatched arrays.

What an agent needs beyond the observation it asks its env for by name, through :class:`EnvLink`:
the same calls on a gymnasium env in this process and on a Stable-Baselines3 ``VecEnv`` whose env
runs in another (``SubprocVecEnv``'s ``get_attr`` / ``env_method``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from dataselect_env.padding import pad_action, real_rows
from dataselect_env.stats import EPOCH_FRAC

_MISSING = object()


class EnvLink:
    """An agent's line to its env: documented attributes read and methods called by name.

    On a gymnasium env (wrapped or not) a name resolves through ``env.get_wrapper_attr``; on a
    Stable-Baselines3 ``VecEnv`` of one env (``DummyVecEnv``, or ``SubprocVecEnv`` with the env in
    another process) through ``get_attr`` / ``env_method`` on env 0, which resolve it the same way
    in the env's own process; on any other object (a test's stand-in) as its attribute. Never
    ``unwrapped``, never a private attribute. The env interface the registered agents use
    (``DataSelectEnv`` documents each; ``TaskEnv`` all but the two methods):

    | name                | kind      | agents                                          |
    |---------------------|-----------|-------------------------------------------------|
    | `n`, `epochs`, `action_mode`, `np_random` | attributes | every agent (:meth:`Agent.reset`) |
    | `action_space`      | attribute | `infobatch` (its ``w_max``)                     |
    | `labels`            | attribute | `class_balanced`                                |
    | `corrupted`, `clean_labels` | attributes | the privileged oracles only            |
    | `task_keep`         | attribute | `sb3` (a task env's keep fraction; optional)    |
    | `score_samples()`   | method    | `el2n`, `grand` (charged 1/3 epoch)             |
    | `irreducible_loss(model, epochs)` | method | `rho_loss` (charged its reference runs) |

    :param env: a gymnasium env or a one-env ``VecEnv``.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.vec = callable(getattr(env, "env_method", None)) and callable(getattr(env, "get_attr", None))
        self._resolve = getattr(env, "get_wrapper_attr", None) or (lambda name: getattr(env, name))

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The env's attribute ``name``; ``default`` when it has none (without one: ``AttributeError``)."""
        if self.vec:
            if default is not _MISSING and not self.env.has_attr(name):
                return default
            return self.env.get_attr(name, indices=[0])[0]
        try:
            return self._resolve(name)
        except AttributeError:
            if default is _MISSING:
                raise
            return default

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The result of the env's method ``name`` called with ``args`` and ``kwargs``."""
        if self.vec:
            return self.env.env_method(name, *args, indices=[0], **kwargs)[0]
        return self._resolve(name)(*args, **kwargs)


class Agent:
    """Base class of the controllers.

    Call ``reset(env)`` after ``env.reset()`` at the start of an episode, ``predict(obs)`` before
    each step, and ``observe(...)`` after it. ``reset`` reads, through :class:`EnvLink` (so the env
    may be a ``VecEnv`` in another process), only the documented attributes ``n``, ``epochs``,
    ``action_mode`` and ``np_random`` (the agent's generator is a jumped copy of ``np_random``:
    seeded by the env, without advancing it). A padded observation (a task env's, with ``valid``)
    is cut to its real rows before :meth:`act` and the action padded back
    (:mod:`dataselect_env.padding`).

    When ``reset`` is never called (SB3's ``evaluate_policy`` does not call it) the agent
    initialises itself from the first observation: N from its shape, a generator from ``seed``.
    A new episode is recognised from the observation itself (``progress[EPOCH_FRAC] == 0``), so
    ``predict`` must be called once per env step.

    Subclasses set the class attribute ``action_mode`` (``"mask"`` or ``"weights"``: the harness
    builds the env in that mode), implement :meth:`act`, and clear per-episode state in
    :meth:`start_episode`. After ``reset`` or the first ``predict``: ``self.n`` (samples),
    ``self.rng`` (a numpy Generator), ``self.env`` (an :class:`EnvLink`, or None without ``reset``)
    and ``self.epochs`` (schedule length, or None without ``reset``); :meth:`env_attr` and
    :meth:`env_method` read and call the env's documented interface.

    :param seed: seed of the generator used when ``reset(env)`` is not called.
    """

    action_mode: str = "mask"
    # The observation version the agent reads (0: columns 0-8). The bench runs an agent that needs 1
    # with obs_version=1 on any id, a -v0 suite scenario included (dataselect_env.stats).
    obs_version: int = 0
    # True for an oracle that reads the env's ground truth (``corrupted``, ``clean_labels``), which
    # no controller may: a reference to compare with, not a competitor (agents.oracles).
    privileged: bool = False
    # Attributes that are not the agent's state (:meth:`state_dict`): the env (``reset`` sets it) and what
    # the constructor loads. A subclass that loads more (a trained model) adds their names.
    not_state: tuple[str, ...] = ("env",)

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.env: EnvLink | None = None
        self.n: int | None = None
        self.epochs: int | None = None
        self.rng: np.random.Generator | None = None

    def reset(self, env: Any = None) -> None:
        """Start an episode on ``env`` (a gymnasium env, wrapped or not, or a one-env VecEnv, e.g.
        ``SubprocVecEnv``).

        :raises ValueError: when the agent needs ``action_mode="weights"`` and the env is in mask mode.
        """
        if env is not None:
            link = EnvLink(env)
            mode = link.get("action_mode")
            if self.action_mode == "weights" and mode != "weights":
                raise ValueError(f"{type(self).__name__} sets per-sample loss weights: build the env with "
                                 f"action_mode='weights', e.g. gym.make(env_id, action_mode='weights'); "
                                 f"this env has action_mode={mode!r}")
            self.env, self.n, self.epochs = link, int(link.get("n")), int(link.get("epochs"))
            self.rng = _jumped_copy(link.get("np_random"))
        elif self.rng is None:
            self.rng = np.random.default_rng(self.seed)
        self.start_episode()

    def predict(self, obs: dict[str, np.ndarray], state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Action for observation ``obs``, batched (leading dim 1, as from a VecEnv) or not.

        ``state``, ``episode_start`` and ``deterministic`` are accepted for SB3 compatibility;
        ``state`` is passed through. A padded observation (with ``valid``) is acted on in its real
        rows; the action is padded back to the observation's rows.

        :return: ``(action, state)``, the action batched like ``obs``.
        """
        batched = np.ndim(obs["samples"]) == 3
        if batched:
            if len(obs["samples"]) != 1:
                raise ValueError(f"agents keep per-episode state for one env; got a batch of "
                                 f"{len(obs['samples'])} observations (use a VecEnv with one env)")
            obs = {k: v[0] for k, v in obs.items()}
        rows = len(obs["samples"])
        obs = real_rows(obs)
        samples, progress = np.asarray(obs["samples"]), np.asarray(obs["progress"])
        n = samples.shape[0]
        if self.n is not None and self.n != n and self.env is not None:
            raise ValueError(f"observation has {n} samples but reset() saw an env with {self.n}")
        if self.rng is None:
            self.rng = np.random.default_rng(self.seed)
        if self.n != n or progress[EPOCH_FRAC] == 0:
            self.n = n
            self.start_episode()
        action = pad_action(self.act(samples, progress), rows)
        return (action[None] if batched else action), state

    def state_dict(self) -> dict[str, Any]:
        """A copy of the agent in the middle of an episode: every attribute but those named in
        ``not_state``, so its generator, its per-episode memory (a static agent's subset, a step
        count) and its settings. A subclass needs to override this only for state kept outside its
        attributes (:class:`~agents.sb3_agent.SB3Agent`: torch's global generator)."""
        return copy.deepcopy({k: v for k, v in vars(self).items() if k not in self.not_state})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state_dict` of an agent of this class and arguments; call ``reset(env)`` first."""
        vars(self).update(copy.deepcopy(state))

    def observe(self, obs: dict[str, np.ndarray], reward: float, terminated: bool, truncated: bool,
                info: dict[str, Any]) -> None:
        """Feedback after a step (no-op by default)."""

    def start_episode(self) -> None:
        """Clear per-episode state (no-op by default); ``self.n`` and ``self.rng`` are set."""

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """The action for one unbatched observation.

        :param samples: ``(N, F)`` per-sample features (columns named in ``dataselect_env.stats``).
        :param progress: ``(G,)`` progress features.
        :return: an ``(N,)`` int8 mask, or float32 loss weights when ``action_mode == "weights"``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement act(samples, progress)")

    def env_attr(self, name: str, default: Any = _MISSING) -> Any:
        """The env's documented attribute ``name`` (e.g. ``labels``), through :class:`EnvLink`.

        :param default: returned when the env has no such attribute (without one: ``AttributeError``).
        :raises RuntimeError: when ``reset(env)`` was not called, so there is no env to read.
        """
        return self._link(name).get(name, default)

    def env_method(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The result of the env's documented method ``name`` (e.g. ``score_samples``) called with
        ``args`` and ``kwargs``, through :class:`EnvLink` (SB3's ``VecEnv.env_method`` for one env).

        :raises RuntimeError: when ``reset(env)`` was not called, so there is no env to call.
        """
        return self._link(name).call(name, *args, **kwargs)

    def _link(self, name: str) -> EnvLink:
        if self.env is None:
            raise RuntimeError(f"{type(self).__name__} reads env.{name}: "
                               f"call agent.reset(env) after env.reset() before the episode")
        return self.env if isinstance(self.env, EnvLink) else EnvLink(self.env)  # also a stand-in set by hand


def _jumped_copy(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator derived from ``rng`` without advancing it."""
    bit_generator = rng.bit_generator
    if hasattr(bit_generator, "jumped"):
        return np.random.Generator(bit_generator.jumped())
    return np.random.default_rng(int(rng.integers(2**63)))


def play_episode(agent: Agent, env: Any, seed: int | None = None, deterministic: bool = True,
                 on_step: Callable[[dict[str, Any], float, Any], None] | None = None, *,
                 resume: dict[str, Any] | None = None,
                 on_save: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Play one episode of ``env`` with ``agent``: reset both, then predict, step and observe to the end.

    The one episode loop of the project: the harness, the benchmarks and the tests all run it.

    :param agent: any controller with the :class:`Agent` interface.
    :param env: a gymnasium env built in the agent's ``action_mode``.
    :param seed: passed to ``env.reset(seed=...)``; the agent seeds itself from the env.
    :param deterministic: passed to ``agent.predict`` (a trained policy's mode; bandits ignore it).
    :param on_step: called as ``on_step(info, reward, action)`` after the reset (reward 0, action None)
        and after every step (the action just taken).
    :param resume: an :func:`episode_state` that ``on_save`` was given by this episode (same env
        arguments, agent and seed): the episode goes on from the step it was saved after, exactly as
        it would have (``on_step`` is called for the steps after it only).
    :param on_save: called with :func:`episode_state` after every step that does not end the episode
        (the harness saves it, so that an interrupted episode resumes at its last finished epoch).
    :return: the last step's ``info`` (``test_accuracy``, ``compute``, ...).
    """
    obs, info = env.reset(seed=seed)
    agent.reset(env)
    if resume is not None:
        env.unwrapped.load_state_dict(resume["env"])
        agent.load_state_dict(resume["agent"])
        obs = copy.deepcopy(resume["obs"])
    elif on_step is not None:
        on_step(info, 0.0, None)
    done = False
    while not done:
        action, _ = agent.predict(obs, deterministic=deterministic)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(obs, reward, terminated, truncated, info)
        if on_step is not None:
            on_step(info, float(reward), action)
        done = terminated or truncated
        if on_save is not None and not done:
            on_save(episode_state(agent, env, obs))
    return info


def episode_state(agent: Agent, env: Any, obs: dict[str, np.ndarray]) -> dict[str, Any]:
    """What :func:`play_episode` needs to go on with an episode after a step: the env's and the
    agent's ``state_dict()`` (copies) and ``obs``, the observation the agent acts on next.

    :param env: a gymnasium env whose unwrapped env has ``state_dict`` (:class:`~dataselect_env.env.DataSelectEnv`).
    """
    return {"env": env.unwrapped.state_dict(), "agent": agent.state_dict(), "obs": copy.deepcopy(obs)}
