"""``auto``: one selector to leave on, which reads its regime from the data it is given.

The ``cpu`` suite shows a winning rule per regime and each rule losing outside it: class quotas
on a long tail, small-loss filtering under memorising label noise, uniform ``random`` on clean,
balanced data. :class:`Auto` applies each rule with the strength its regime's evidence calls for,
from what every training loop has (the training labels and the per-sample losses of the
observation; never the ground truth):

- **skew** (:func:`quota_strength`, :func:`tempered_quotas`): class quotas ``∝ n_c ** (1 - s)``,
  from ``s = 0`` (instance-balanced: ``random``) on balanced labels to ``s = 1`` (class-balanced:
  ``class_balanced``) at imbalance 100;
- **label noise** (:func:`noise_estimate`): the share of wrongly labelled samples, estimated every
  epoch by a two-component Gaussian mixture over the per-sample losses (DivideMix); the samples
  judged noisy are left out, as many as the estimate says, none when it says clean;
- **clean, balanced data**: both off, and then the mask is ``random``'s (same draws) at the epoch's share,
  which ramps from all the data down to ``keep`` over a warm-up, as Co-teaching's does.
"""

from __future__ import annotations

import math

import numpy as np

from dataselect_env.selection import check_keep, class_quotas, keep_count, random_mask
from dataselect_env.stats import CLASS_SHARE, EPOCH_FRAC, EPOCHS_SINCE_SELECTED, LABEL, LAST_LOSS, SEEN

from .base import Agent

__all__ = ["Auto", "expired", "noise_estimate", "quota_strength", "tempered_quotas", "warmed_up"]

FULL_QUOTAS_AT = 100.0  # imbalance (largest / smallest class) at which the quotas are fully class-balanced
MIXTURE_SAMPLES = 4000  # losses the mixture is fitted to: a 1-D two-component fit on 4,000 takes milliseconds
MIN_FIT = 50  # fewer seen samples than this: no estimate (no noise assumed)
MIN_SHARE = 0.1  # a large-loss component below this share is early training's outliers, not a noise mode
WARMUP = 0.25  # share of the schedule trained before the noise is judged (the losses of a net still learning
# the clean pattern sit near ln C for clean and noisy samples alike: 45k clean CIFAR-10 after 1 of 10 epochs
# has a large-loss component at 1.03 ln C holding 43% of the samples, 0.83 ln C after 3)


def warmed_up(frac: float) -> bool:
    """Whether the epoch that starts at ``frac`` of the schedule is past the warm-up (``WARMUP``)."""
    return frac >= WARMUP - 1e-6


def expired(samples: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the samples left out for at least ``WARMUP`` of the schedule, whose last loss is too old
    to judge them by (observation version 1's ``EPOCHS_SINCE_SELECTED``)."""
    return samples[:, EPOCHS_SINCE_SELECTED] >= WARMUP - 1e-6


def quota_strength(labels: np.ndarray, num_classes: int | None = None, full_at: float = FULL_QUOTAS_AT) -> float:
    """How class-balanced the quotas are, in [0, 1], from the label distribution alone.

    ``s = clip(ln(imbalance) / ln(full_at), 0, 1)`` with ``imbalance`` = largest class count /
    smallest (classes absent from ``labels`` count as size 1 when ``num_classes`` says they exist).
    Balanced labels give 0, imbalance 10 gives 0.5 (square-root sampling, ``p_c ∝ sqrt(n_c)``,
    Mahajan et al. 2018; Kang et al. 2020's middle ground), imbalance ``full_at`` and beyond 1
    (class-balanced sampling).

    :param labels: ``(N,)`` integer training labels.
    :param num_classes: C, when some classes may be missing from ``labels``.
    :param full_at: the imbalance at which the strength reaches 1, > 1.
    """
    if full_at <= 1:
        raise ValueError(f"full_at must be > 1 (an imbalance ratio), got {full_at!r}")
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes or 0)
    counts = counts[counts > 0] if num_classes is None else np.maximum(counts, 1)
    if len(counts) < 2:
        return 0.0
    return float(np.clip(math.log(counts.max() / counts.min()) / math.log(full_at), 0.0, 1.0))


def tempered_quotas(sizes: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class counts summing to ``k``, proportional to ``weights`` as far as ``sizes`` allow.

    Water-filling by weight: each open class gets ``k_left * w_c / sum(w_open)``; a class whose
    size is below that gives all its samples and the rest is shared again. The fractional parts
    of the last level go, one sample each, to the classes with the largest ones (ties at random).

    :param sizes: ``(C,)`` samples available per class, >= 0.
    :param weights: ``(C,)`` positive weights.
    :param k: the budget, ``0 <= k <= sizes.sum()``.
    :param rng: generator of the tie breaks.
    """
    sizes, weights = np.asarray(sizes, dtype=np.int64), np.asarray(weights, dtype=np.float64)
    if not 0 <= k <= sizes.sum():
        raise ValueError(f"k must be in [0, {sizes.sum()}] (the samples there are), got {k}")
    quotas, open_ = np.zeros(len(sizes), dtype=np.int64), sizes > 0
    budget = k
    while open_.any() and budget > 0:
        share = np.where(open_, budget * weights / weights[open_].sum(), 0.0)
        full = open_ & (sizes <= share)
        if not full.any():
            base = np.floor(share).astype(np.int64)
            extra = budget - int(base.sum())
            order = np.lexsort((rng.random(len(sizes)), -(share - base)))
            base[order[:extra]] += 1
            quotas[open_] = base[open_]
            break
        quotas[full] = sizes[full]
        budget -= int(sizes[full].sum())
        open_ &= ~full
    return quotas


def noise_estimate(losses: np.ndarray, num_classes: int, max_samples: int = MIXTURE_SAMPLES,
                   seed: int = 0) -> tuple[float, float]:
    """The share of wrongly labelled samples and the loss above which a sample is judged one.

    DivideMix's label-noise model (Li, Socher & Hoi 2020, "DivideMix: Learning with Noisy Labels as
    Semi-supervised Learning", ICLR; after Arazo et al. 2019): the per-sample losses of a network
    that has learnt the clean pattern but not yet memorised the noise form two modes, the clean
    samples' small losses and the mislabelled ones' large losses. A two-component Gaussian mixture
    (scikit-learn's ``GaussianMixture``) is fitted to the losses in units of ``ln C`` (the loss of
    a uniform prediction); a sample is judged noisy where the large-loss component's posterior is
    above 0.5 (DivideMix's ``p_threshold``) and its loss is above ``ln C`` (its label gets less than
    chance probability: a label the network leans towards is not one it contradicts; without this
    floor, asymmetric noise's mixture judged the hard clean samples between 0.8 and 1 ``ln C`` noisy,
    at the corrupted samples' base rate), and the estimate is the share of such samples.

    The estimate is 0 (no noise) unless the mixture is evidence of two populations:

    - two components explain the losses better than one (BIC, Schwarz 1978);
    - the large-loss component sits above ``ln C``: on average the network gives those samples'
      labels less than chance probability, as it does to labels it contradicts. Clean data's hard
      samples form a tail that the mixture also splits off, but the network is unsure of them
      rather than set against them (their mean loss stays below ``ln C``).

    :param losses: ``(n,)`` per-sample cross-entropy losses (nats) of the samples seen so far.
    :param num_classes: C.
    :param max_samples: the mixture is fitted to at most this many losses (a fixed random subset).
    :param seed: seed of that subset and of the mixture's initialisation.
    :return: ``(share, threshold)``: the estimated noisy share in [0, 1] and the loss (nats) above
        which a sample is judged noisy (``inf`` when the share is 0).
    """
    from sklearn.mixture import GaussianMixture

    losses = np.asarray(losses, dtype=np.float64)
    if len(losses) < MIN_FIT or num_classes < 2:
        return 0.0, math.inf
    ln_c = math.log(num_classes)
    x = losses / ln_c
    fit = x if len(x) <= max_samples else np.random.default_rng(seed).choice(x, max_samples, replace=False)
    fit = fit.reshape(-1, 1)
    one = GaussianMixture(1).fit(fit)
    two = GaussianMixture(2, reg_covar=5e-4, random_state=seed).fit(fit)
    high = int(np.argmax(two.means_[:, 0]))
    if two.bic(fit) >= one.bic(fit) or two.means_[high, 0] <= 1.0:
        return 0.0, math.inf
    low_mean = float(two.means_[1 - high, 0])
    noisy = (two.predict_proba(x.reshape(-1, 1))[:, high] > 0.5) & (x > low_mean)  # not the wide tail below
    if not noisy.any():
        return 0.0, math.inf
    # the posterior's 0.5 crossing, as a loss, and never below ln C: a label the network gives more than
    # chance probability is one it leans towards, not one it contradicts
    threshold = max(float(losses[noisy].min()), ln_c)
    share = float((losses >= threshold).mean())
    return (0.0, math.inf) if share < MIN_SHARE else (share, threshold)


class Auto(Agent):
    """A regime-aware selector: class quotas as strong as the labels are skewed, noisy samples left
    out as far as the losses say there are any, ``random`` otherwise.

    After a warm-up it keeps exactly ``k = round(keep * N)`` samples every epoch:

    0. **Warm-up.** The first ``WARMUP`` = 25% of the schedule is trained without judging the noise:
       the losses mean nothing before the net has learnt the clean pattern (DivideMix warms up on all
       data for this reason). With ``ramp`` (the default) the share kept falls linearly from all
       the data at the first epoch to ``keep`` at the end of the warm-up, as Co-teaching's ``R(t)``
       does (:class:`~agents.rules.SmallLoss`), spending ``(1 - keep) * (W + 1) / 2`` epochs of
       data more than ``keep`` would over a warm-up of ``W`` epochs (3.85 at keep 0.3 and ``W`` = 10);
       the samples are drawn in the quotas below, uniformly. Without it, a kept share of 0.3 trains so few steps that under 40%
       noise the losses had not separated by epoch 15 of 40 and the noise was judged late
       (epochs 18 to 26 in the ``cpu`` suite's rows of ``auto`` before the ramp, commit 5c737dc).
    1. **Noise.** After the warm-up :func:`noise_estimate` fits the losses of the samples
       seen so far (``LAST_LOSS`` where ``SEEN``); the samples whose loss is above its threshold
       are judged noisy and are the last to be kept (after every other sample). A judgement lasts
       as long as the warm-up (:func:`expired`): a sample left out for ``WARMUP`` of the schedule is
       drawn again like the others and judged on the loss it then has. Its last loss is the one of a
       weaker net (the losses are observed only where a sample is trained), and clean samples that net
       got wrong would otherwise stay out for good: without the expiry, ``auto k=0.3`` on the ``cpu``
       suite's 40% noise judged 64% of the samples noisy by its end (41% of them clean, most judged
       between epochs 10 and 16 at validation accuracies below 0.44) and trained on the same 36% of
       the data from then on (seed 0, commit 1a309c7).
    2. **Skew.** The budget is split over the classes (the training labels, ``LABEL``) in quotas
       ``∝ n_c ** (1 - s)`` (:func:`tempered_quotas` of the samples not judged noisy), with
       ``s = quota_strength(labels)``: 0 on balanced labels, 1 (``class_balanced``'s equal
       quotas) at imbalance 100 and beyond. Within a class the samples are drawn uniformly.
    3. **Clean, balanced data** (``s = 0``, no sample judged noisy): the mask is ``random``'s at the
       share of the epoch, drawn by the same call from the same generator (with ``ramp=False``, an
       episode there is ``random``'s own).

    Sources: DivideMix's loss mixture (Li et al. 2020) for the noise, class-balanced and
    square-root re-sampling (Kang et al. 2020, "Decoupling Representation and Classifier for
    Long-Tailed Recognition"; Mahajan et al. 2018) for the skew, uniform dynamic pruning (Raju et
    al. 2021) for the rest. The defaults were set from the rules' regimes, not per scenario:
    ``FULL_QUOTAS_AT`` (100) is the imbalance of the standard long-tailed CIFAR benchmarks, where
    class-balanced sampling is the strong baseline; the mixture's thresholds are DivideMix's.

    Reads observation version 1 (the bench gives it ``obs_version=1``): ``LAST_LOSS``, ``SEEN``,
    ``LABEL`` and ``CLASS_SHARE`` (which gives C); nothing from the env, so it plays behind any
    ``VecEnv``; never the ground truth.

    :param keep: fraction of the samples trained on each epoch after the warm-up, in (0, 1]; exactly
        ``round(keep * N)``.
    :param seed: seed of the generator when ``reset(env)`` is not called.
    :param ramp: ramp the kept share from 1 down to ``keep`` over the warm-up (default), instead of
        ``keep`` from the first epoch.
    """

    obs_version = 1

    def __init__(self, keep: float = 0.5, seed: int = 0, ramp: bool = True) -> None:
        super().__init__(seed)
        self.keep = check_keep(keep)
        if not isinstance(ramp, (bool, np.bool_)):
            raise ValueError(f"ramp must be True or False, got {ramp!r}")
        self.ramp = bool(ramp)
        self.noise_share = 0.0  # the last estimate (for inspection)
        self.strength = 0.0  # the last quota strength (for inspection)

    def act(self, samples: np.ndarray, progress: np.ndarray) -> np.ndarray:
        """``round(share * N)`` samples: judged-clean first, in tempered class quotas, uniform within a class."""
        frac = float(progress[EPOCH_FRAC])
        k = keep_count(self.share(frac), self.n)
        labels = samples[:, LABEL].astype(np.int64)
        num_classes = classes_of(samples)
        self.strength = quota_strength(labels, num_classes)
        seen = samples[:, SEEN] > 0
        self.noise_share, threshold = noise_estimate(samples[seen, LAST_LOSS], num_classes, seed=self.seed) \
            if warmed_up(frac) and seen.any() else (0.0, math.inf)
        noisy = seen & (samples[:, LAST_LOSS] >= threshold) & ~expired(samples)
        if self.strength == 0 and not noisy.any():
            return random_mask(self.n, k, self.rng)
        return self.select(labels, num_classes, noisy, samples[:, LAST_LOSS], k)

    def share(self, frac: float) -> float:
        """The share kept at the epoch that starts at ``frac`` of the schedule: ``keep`` after the warm-up;
        during it, with ``ramp``, ``1 - (1 - keep) * frac / WARMUP`` (from all data down to ``keep``)."""
        if not self.ramp or warmed_up(frac):
            return self.keep
        return 1 - (1 - self.keep) * frac / WARMUP

    def select(self, labels: np.ndarray, num_classes: int, noisy: np.ndarray, loss: np.ndarray, k: int) -> np.ndarray:
        """int8 mask of ``k``: tempered quotas over the samples not judged noisy; if they are fewer
        than ``k``, all of them and the judged-noisy ones of smallest loss."""
        mask = np.zeros(self.n, dtype=np.int8)
        clean = ~noisy
        if clean.sum() <= k:
            mask[clean] = 1
            rest = np.flatnonzero(noisy)
            mask[rest[np.argsort(loss[rest], kind="stable")[:k - int(clean.sum())]]] = 1
            return mask
        counts = np.bincount(labels, minlength=num_classes)
        available = np.bincount(labels[clean], minlength=num_classes)
        weights = np.maximum(counts, 1).astype(np.float64) ** (1 - self.strength)
        quotas = class_quotas(available, k, self.rng) if self.strength == 1 else \
            tempered_quotas(available, weights, k, self.rng)
        order = np.lexsort((self.rng.random(self.n), noisy, labels))  # by class, judged-noisy last, at random
        starts = np.cumsum(np.bincount(labels, minlength=num_classes)) - counts
        rank = np.arange(self.n) - starts[labels[order]]
        mask[order[rank < quotas[labels[order]]]] = 1
        return mask


def classes_of(samples: np.ndarray) -> int:
    """C from an observation of version 1: ``CLASS_SHARE = count(label) * C / N`` for every sample."""
    labels = samples[:, LABEL].astype(np.int64)
    counts = np.bincount(labels)
    first = int(np.flatnonzero(counts)[0])
    i = int(np.argmax(labels == first))
    return max(int(round(float(samples[i, CLASS_SHARE]) * len(labels) / counts[first])), int(labels.max()) + 1)
