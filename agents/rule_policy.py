"""A controller in the rule space: ``a = clip(bias + W z)``, the rule-space point of each epoch.

``z`` is the env's eight progress features followed by the rule space's regime summaries
(:data:`agents.rule_space.SUMMARIES`): 15 numbers. ``a`` (13 numbers,
:data:`~agents.rule_space.RULE_PARAMS`) picks the epoch's samples through
:func:`~agents.rule_space.rule_mask`. ``W = 0, bias = 0`` is ``random``;
:meth:`LinearRule.like` gives the setting of each hand-written rule the space contains, which
plays exactly as that rule does (same draws, same masks). A policy trained with ARS on the
``rules`` interface is the same map on normalised ``z`` and plays as ``sb3:PATH``.
"""

from __future__ import annotations

import numpy as np

from dataselect_env import stats as st
from dataselect_env.selection import check_keep

from .base import Agent
from .rule_space import BALANCE, EPS, NOISE, RAMP, RULE_PARAMS, SCORE_FEATURES, SUMMARIES, rule_mask, summaries

N_INPUTS = len(st.PROGRESS_FEATURES) + len(SUMMARIES)  # z: progress, then the summaries
RULES = ("random", "loss_proportional", "epsilon_greedy", "small_loss", "class_balanced")


class LinearRule(Agent):
    """The rule-space point ``clip(bias + W z)`` each epoch, on a version-1 observation.

    :param keep: the kept share after the ramp, in (0, 1].
    :param bias: ``(13,)`` (default zeros).
    :param weights: ``(13, 15)`` (default zeros), rows :data:`RULE_PARAMS`, columns ``z``.
    :param seed: seed of the generator when ``reset(env)`` is not called.
    """

    obs_version = 1  # reads CLASS_SHARE, the loss ranks and LABEL: the bench gives it obs_version=1

    def __init__(self, keep: float = 0.5, bias: np.ndarray | list | None = None,
                 weights: np.ndarray | list | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        self.keep = check_keep(keep)
        self.bias = np.zeros(len(RULE_PARAMS)) if bias is None else np.asarray(bias, dtype=np.float64)
        self.weights = np.zeros((len(RULE_PARAMS), N_INPUTS)) if weights is None else np.asarray(weights, np.float64)
        if self.bias.shape != (len(RULE_PARAMS),) or self.weights.shape != (len(RULE_PARAMS), N_INPUTS):
            raise ValueError(f"bias must have shape ({len(RULE_PARAMS)},) and weights ({len(RULE_PARAMS)}, {N_INPUTS}); "
                             f"got {self.bias.shape} and {self.weights.shape}")

    @classmethod
    def like(cls, rule: str, keep: float = 0.5, *, epochs: int | None = None, t_k: int = 10, eps: float = 0.9,
             seed: int = 0) -> LinearRule:
        """The setting that plays exactly as the hand-written ``rule`` (one of :data:`RULES`).

        :param rule: ``random``, ``loss_proportional``, ``epsilon_greedy`` (with ``eps``),
            ``small_loss`` (with ``t_k`` and the schedule length ``epochs``, which its ramp's slope
            needs) or ``class_balanced``.
        """
        bias, weights = np.zeros(len(RULE_PARAMS)), np.zeros((len(RULE_PARAMS), N_INPUTS))
        log_ema, log_last = SCORE_FEATURES.index("log_ema_loss"), SCORE_FEATURES.index("log_last_loss")
        if rule == "loss_proportional":
            bias[log_ema], bias[NOISE] = 1.0, 1.0
        elif rule == "epsilon_greedy":
            bias[log_ema], bias[EPS] = 1.0, eps
        elif rule == "small_loss":
            if epochs is None:
                raise ValueError("small_loss's ramp falls over min(t_k, epochs) epochs: give epochs=E")
            bias[log_last] = -1.0
            ramp = min(t_k, epochs)
            if ramp >= 1:  # R = 1 - tau t / (ramp - 1): ramp entry 1 - t / (ramp - 1), t = EPOCH_FRAC * E
                bias[RAMP] = 1.0
                weights[RAMP, st.EPOCH_FRAC] = -epochs / (ramp - 1) if ramp > 1 else -1e9
        elif rule == "class_balanced":
            bias[BALANCE] = 1.0
        elif rule != "random":
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        return cls(keep, bias, weights, seed)

    def point(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """The rule-space point ``clip(bias + W z, -1, 1)`` for one observation.

        After ``reset(env)`` the epoch fraction is read as ``t / E`` exactly (the observation holds
        it in float32), so that a ramp crosses a half-sample boundary where ``small_loss``'s does.
        """
        z = np.concatenate([progress[: len(st.PROGRESS_FEATURES)],
                            summaries({"samples": samples, "progress": progress})]).astype(np.float64)
        if self.epochs:
            z[st.EPOCH_FRAC] = round(float(progress[st.EPOCH_FRAC]) * self.epochs) / self.epochs
        return np.clip(self.bias + self.weights @ z, -1.0, 1.0)

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """:func:`~agents.rule_space.rule_mask` of this epoch's point."""
        return rule_mask(self.point(samples, progress), samples, self.keep, self.rng)
