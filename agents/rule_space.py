"""The rule space: one parametrised selection rule whose settings include the hand-written rules.

A point ``a`` of the rule space (:data:`RULE_PARAMS`, each entry in ``[-1, 1]``, the action of
:class:`RuleSpaceTransform`) selects one epoch's samples from a version-1 observation
(``dataselect_env.stats.SAMPLE_FEATURES_V1``):

1. **Budget.** The epoch trains on ``k = keep_count(R, N)`` samples, ``R = keep + (1 - keep) * ramp``
   with ``ramp = clip(a_ramp, 0, 1)``: 0 trains on ``keep``, 1 on all the data.
2. **Score.** ``s_i = sum_j w_j f_ij`` over the per-sample score features :data:`SCORE_FEATURES`
   (log losses, loss spread, margin, forgetting, staleness, loss ranks, log class share), with
   ``w = a[:9]``; keys ``s_i + sigma * g_i``, ``g_i`` standard Gumbel noise, ``sigma = clip(a_noise, 0, 1)``:
   the keys' top ``m`` is a draw without replacement with probabilities proportional to
   ``exp(s_i / sigma)`` (Gumbel-top-k; Kool et al. 2019), the top ``m`` scores when ``sigma = 0``.
3. **Classes.** ``round(balance * k)`` of the samples (``balance = clip(a_balance, 0, 1)``) are
   taken class by class in :func:`~dataselect_env.selection.class_quotas` (by ``LABEL``), the
   highest keys of each class; the rest of the budget by the highest keys overall.
4. **Exploration.** ``round(eps * k)`` of them (``eps = clip(a_eps, 0, 1)``) are drawn uniformly
   from the samples not yet kept, after the others (epsilon-greedy).

Special cases, each the very draw of the hand-written agent (same generator calls, same mask;
``tests/test_rule_space.py``): all zeros = ``random``; ``w_log_ema = 1, sigma = 1`` =
``loss_proportional`` (Efraimidis & Spirakis's keys ``u ** (1 / loss)`` order as ``log loss + g``);
``w_log_ema = 1, eps = 0.9`` = ``epsilon_greedy``; ``w_log_last = -1`` with ``ramp`` falling from 1 to 0
over the first ``t_k`` epochs = ``small_loss``; ``balance = 1`` = ``class_balanced``. A zero score
(``w = 0``) draws uniformly: without classes as ``random`` does, with them as ``class_balanced`` does.

The transform's observation is the env's progress vector followed by :data:`SUMMARIES`, a few
statistics that tell the regimes apart (label noise: losses that stay high while the validation
loss rises; a long tail: spread class shares). A linear map from it to ``a`` (sb3-contrib's ARS
linear policy, or :class:`agents.rule_policy.LinearRule`) makes the rule depend on progress and regime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from dataselect_env import stats as st
from dataselect_env.selection import balanced_mask, check_keep, class_quotas, keep_count, random_mask, top_k_mask

SCORE_FEATURES = ("log_ema_loss", "log_last_loss", "loss_std", "margin", "log1p_forgetting",
                  "epochs_since_selected", "loss_rank", "class_loss_rank", "log_class_share")
RULE_PARAMS = SCORE_FEATURES + ("noise", "eps", "balance", "ramp")
NOISE, EPS, BALANCE, RAMP = (len(SCORE_FEATURES) + i for i in range(4))
SUMMARIES = ("loss_q10", "loss_q50", "loss_q90", "train_accuracy", "train_val_gap", "class_share_spread",
             "seen_frac")
LOSS_FLOOR = 1e-12  # losses are floored here before their log (loss_proportional's floor)


def _v1(samples: np.ndarray) -> np.ndarray:
    """``samples`` as float64, checked to hold the version-1 columns."""
    x = np.asarray(samples, dtype=np.float64)
    if x.shape[-1] < len(st.SAMPLE_FEATURES_V1):
        raise ValueError(f"the rule space reads observation version 1 ({len(st.SAMPLE_FEATURES_V1)} per-sample "
                         f"columns), got {x.shape[-1]}: use a -v1 id (or obs_version=1)")
    return x


def score_features(samples: np.ndarray) -> np.ndarray:
    """``(N, 9)`` float64 :data:`SCORE_FEATURES` of a version-1 ``obs["samples"]``."""
    x = _v1(samples)
    return np.column_stack([
        np.log(np.maximum(x[:, st.EMA_LOSS], LOSS_FLOOR)), np.log(np.maximum(x[:, st.LAST_LOSS], LOSS_FLOOR)),
        np.sqrt(np.maximum(x[:, st.LOSS_VAR], 0.0)), x[:, st.LAST_MARGIN], np.log1p(x[:, st.FORGETTING]),
        x[:, st.EPOCHS_SINCE_SELECTED], x[:, st.LOSS_RANK], x[:, st.CLASS_LOSS_RANK],
        np.log(np.maximum(x[:, st.CLASS_SHARE], LOSS_FLOOR))])


def summaries(obs: dict[str, np.ndarray]) -> np.ndarray:
    """:data:`SUMMARIES` of a version-1 observation, float32, scale-free.

    Losses are over ``ln C`` (the loss of a uniform guess; C = the largest label + 1), over the
    samples seen so far (all of them before any is): the 10/50/90% quantiles of ``LAST_LOSS``;
    ``train_accuracy`` = mean ``LAST_CORRECT``; ``train_val_gap`` = validation loss minus mean
    training loss; ``class_share_spread`` = std of ``log CLASS_SHARE`` (0 on balanced data, about
    1.5 at imbalance 100); ``seen_frac`` = share of the samples seen.
    """
    x = _v1(obs["samples"])
    ln_c = np.log(max(int(x[:, st.LABEL].max()) + 1, 2))
    seen = x[:, st.SEEN] > 0
    rows = x[seen] if seen.any() else x
    loss = rows[:, st.LAST_LOSS] / ln_c
    q10, q50, q90 = np.quantile(loss, (0.1, 0.5, 0.9))
    gap = float(obs["progress"][st.VAL_LOSS]) / ln_c - loss.mean()
    spread = np.log(np.maximum(x[:, st.CLASS_SHARE], LOSS_FLOOR)).std()
    return np.array([q10, q50, q90, rows[:, st.LAST_CORRECT].mean(), gap, spread, seen.mean()], dtype=np.float32)


def _gumbel_keys(score: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``score + noise * g`` with ``g = -log(-log u)``; no draw when ``noise`` is 0."""
    if noise == 0:
        return score
    return score - noise * np.log(-np.log(rng.random(len(score))))


def _class_top_mask(labels: np.ndarray, keys: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """int8 mask of ``k`` samples in :func:`class_quotas`, the highest keys of each class (ties at random)."""
    classes, group, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    quota = class_quotas(sizes, k, rng)
    mask = np.zeros(len(labels), dtype=np.int8)
    for c in range(len(classes)):
        idx = np.flatnonzero(group == c)
        mask[idx[top_k_mask(keys[idx], int(quota[c]), rng) > 0]] = 1
    return mask


def rule_mask(action: np.ndarray, samples: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    """The ``(N,)`` int8 mask of rule-space point ``action`` (:data:`RULE_PARAMS`) on a v1 observation.

    :param action: ``(13,)``, each entry clipped to ``[-1, 1]`` (the non-negative ones to ``[0, 1]``).
    :param samples: the version-1 ``obs["samples"]``.
    :param keep: the kept share after the ramp, in (0, 1].
    :param rng: generator of every draw (noise, classes, exploration, ties).
    """
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
    if a.shape != (len(RULE_PARAMS),):
        raise ValueError(f"a rule-space action has {len(RULE_PARAMS)} entries {RULE_PARAMS}, got shape {a.shape}")
    features = score_features(samples)  # checks the observation's version
    w = a[: len(SCORE_FEATURES)]
    noise, eps, balance, ramp = (float(max(a[i], 0.0)) for i in (NOISE, EPS, BALANCE, RAMP))
    n = len(samples)
    k = keep_count(keep + (1 - keep) * ramp, n)
    labels = np.asarray(samples[:, st.LABEL], dtype=np.int64)
    if not w.any() and eps == 0:  # a zero score: uniform, as random (or class_balanced) draws it
        return balanced_mask(labels, k, rng) if balance == 1 else random_mask(n, k, rng) if balance == 0 else \
            _combine(np.zeros(n), labels, k, balance, 0.0, rng)
    keys = _gumbel_keys(features @ w if w.any() else np.zeros(n), noise, rng)
    return _combine(keys, labels, k, balance, eps, rng)


def _combine(keys: np.ndarray, labels: np.ndarray, k: int, balance: float, eps: float,
             rng: np.random.Generator) -> np.ndarray:
    """Steps 3-4: the class share, the rest by keys, then the exploration draw."""
    k_explore = k - round((1 - eps) * k)  # epsilon_greedy's split: round((1 - eps) k) greedy
    k_greedy = k - k_explore
    k_class = round(balance * k_greedy)
    mask = _class_top_mask(labels, keys, k_class, rng) if k_class else np.zeros(len(keys), dtype=np.int8)
    if k_greedy > k_class:
        rest = np.flatnonzero(mask == 0)
        mask[rest[top_k_mask(keys[rest], k_greedy - k_class, rng) > 0]] = 1
    if k_explore:
        mask[rng.choice(np.flatnonzero(mask == 0), k_explore, replace=False)] = 1
    return mask


@dataclass(frozen=True)
class RuleSpaceTransform:
    """Observation = progress + :data:`SUMMARIES`; action = a rule-space point (:func:`rule_mask`).

    The ``transform`` interface of :mod:`agents.wrappers` (``observation``,
    ``action_to_mask``), so SB3 trains and plays it as it does ``bins`` and ``linear``.

    :param keep: the kept share after the ramp (a task env sets its own).
    """

    keep: float | None = 0.5

    def __post_init__(self) -> None:
        check_keep(self.keep, allow_none=True)

    @property
    def observation_space(self) -> spaces.Box:
        """``Box(G + 7)``: the progress features, then the summaries (unbounded)."""
        n = len(SUMMARIES)
        return spaces.Box(np.concatenate([st.PROGRESS_LOW, np.full(n, -np.inf)]).astype(np.float32),
                          np.concatenate([st.PROGRESS_HIGH, np.full(n, np.inf)]).astype(np.float32), dtype=np.float32)

    @property
    def action_space(self) -> spaces.Box:
        """``Box(-1, 1, (13,))``: one entry per :data:`RULE_PARAMS`."""
        return spaces.Box(-1.0, 1.0, (len(RULE_PARAMS),), np.float32)

    def observation(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Progress (with a task env's descriptors) followed by :func:`summaries`."""
        return np.concatenate([obs["progress"], summaries(obs)]).astype(np.float32)

    def action_to_mask(self, action: np.ndarray, obs: dict[str, np.ndarray], rng: np.random.Generator,
                       keep: float | None = None) -> np.ndarray:
        """:func:`rule_mask` of ``action`` at ``keep`` (or the transform's)."""
        keep = self.keep if keep is None else keep
        if keep is None:
            raise ValueError("the rule space needs a keep fraction: give it keep=..., or wrap a task env that sets one")
        return rule_mask(action, obs["samples"], keep, rng)
