"""Compute accounting: what every pass of an episode costs, and the ledger that charges it.

Two measures. ``compute`` is in full-epoch units: one training pass (forward and backward) over all N
training samples is 1, so training k samples costs ``k / N`` and a forward-only pass over k samples
``FORWARD_COST * k / N`` (a third: the backward pass costs about twice the forward). ``flops`` is an
estimate from the network's forward FLOPs per sample: ``TRAIN_COST`` forward passes per trained sample,
one per sample passed forward only.

Every cost is defined here, and only :class:`Ledger`'s methods change a ledger. The env owns one per
episode and charges it for the passes it makes (training, probes, validation, the final test) and for
those an agent asks for (``score_samples``, the reference runs of ``irreducible_loss``); the trainer
counts nothing. What is charged where:

| Pass                                  | ``compute``                                  | ``flops``                     |
|---------------------------------------|----------------------------------------------|-------------------------------|
| training k samples (an epoch)         | ``k / N``                                    | ``TRAIN_COST * f * k``        |
| probe or scoring (forward over all N) | ``FORWARD_COST``                             | ``f * N``                     |
| validation (forward over n_val)       | ``FORWARD_COST * n_val / N``                 | ``f * n_val``                 |
| final test (forward over n_test)      | none (it measures the run)                   | ``f * n_test``                |
| reference run of ``F`` FLOPs          | ``F / (TRAIN_COST * f * N)``                 | ``F``                         |

(``f``: the main network's forward FLOPs per sample.) The full-data runs of the ``vs_frontier`` reward
are not charged: they measure the controller, they are not part of it.
"""

from __future__ import annotations

from dataclasses import dataclass

TRAIN_COST = 3.0  # a training pass (forward + backward) of one sample, in forward passes
FORWARD_COST = 1.0 / 3.0  # a forward-only pass, in training passes


def train_pass_compute(k: int, n: int) -> float:
    """Compute of a training pass over ``k`` of the ``n`` training samples, in full epochs."""
    return k / n


def forward_pass_compute(k: int, n: int) -> float:
    """Compute of a forward-only pass over ``k`` samples (of any split), in full epochs of ``n``
    training samples: ``FORWARD_COST * k / n``. A pass over the whole training split is charged as
    ``FORWARD_COST`` itself (:meth:`Ledger.probe`, :meth:`Ledger.score`)."""
    return FORWARD_COST * k / n


def train_pass_flops(flops_per_forward: float, k: int) -> float:
    """FLOPs of a training pass over ``k`` samples: ``TRAIN_COST`` forward passes each."""
    return TRAIN_COST * flops_per_forward * k


def forward_pass_flops(flops_per_forward: float, k: int) -> float:
    """FLOPs of a forward-only pass over ``k`` samples."""
    return flops_per_forward * k


def reference_compute(flops: float, flops_per_forward: float, n: int) -> float:
    """``flops`` spent by another network (a reference run) in the main network's full-epoch units:
    ``flops / (TRAIN_COST * flops_per_forward * n)``."""
    return flops / (TRAIN_COST * flops_per_forward * n)


def reference_run_flops(flops_per_forward: float, trained: int, epochs: int, scored: int) -> float:
    """FLOPs of one reference network (``flops_per_forward`` its own): ``epochs`` training passes over
    ``trained`` samples, then a forward pass scoring ``scored`` samples."""
    flops = 0.0
    for _ in range(epochs):
        flops += train_pass_flops(flops_per_forward, trained)
    return flops + forward_pass_flops(flops_per_forward, scored)


def full_data_compute(epochs: int | float, val_cost: float) -> float:
    """Compute of a full-data run of ``epochs`` epochs that validates at the start and after every
    epoch, as an episode does: ``epochs + (epochs + 1) * val_cost``."""
    return epochs + (epochs + 1) * val_cost


def full_data_epochs(compute: float, val_cost: float) -> float:
    """The inverse of :func:`full_data_compute`: the (fractional) epochs a full-data run spends
    ``compute`` on, rounded to 9 decimals so that a whole run's own compute gives a whole number."""
    return round((compute - val_cost) / (1 + val_cost), 9)


@dataclass
class Ledger:
    """One episode's account: its compute (full-epoch units) and FLOPs, charged only by the methods below.

    The passes of an epoch (:meth:`train`, :meth:`probe`, :meth:`validate`) add up in ``step_compute``
    until :meth:`close_step` books them (the compute a step's reward divides or charges by); the
    passes an agent asks for between steps (:meth:`score`, :meth:`reference`) are booked at once.

    :param n: training samples N (the unit: one training pass over all of them is 1).
    :param n_val: validation samples.
    :param flops_per_forward: forward FLOPs of one sample through the main network.
    """

    n: int
    n_val: int
    flops_per_forward: float
    compute: float = 0.0  # cumulative, full-epoch units, validation included
    val_compute: float = 0.0  # the part of ``compute`` spent on the validation passes
    flops: float = 0.0  # cumulative estimate, the final test pass included
    samples_trained: int = 0  # cumulative
    last_keep: float = 0.0  # fraction of the samples trained in the last epoch
    step_compute: float = 0.0  # the open step's passes, not yet in ``compute``

    @property
    def val_cost(self) -> float:
        """Compute of one validation pass, ``FORWARD_COST * n_val / N``."""
        return forward_pass_compute(self.n_val, self.n)

    def train(self, k: int) -> None:
        """An epoch's training pass over ``k`` samples (0: no training; the step still counts)."""
        self.step_compute += train_pass_compute(k, self.n)
        self.flops += train_pass_flops(self.flops_per_forward, k)
        self.samples_trained += k
        self.last_keep = k / self.n

    def probe(self) -> None:
        """A forward pass over every training sample in this step (``probe_every``): ``FORWARD_COST``."""
        self.step_compute += FORWARD_COST
        self.flops += forward_pass_flops(self.flops_per_forward, self.n)

    def validate(self) -> None:
        """A validation pass in this step (or at reset): :attr:`val_cost`, also counted in ``val_compute``."""
        self.step_compute += self.val_cost
        self.val_compute += self.val_cost
        self.flops += forward_pass_flops(self.flops_per_forward, self.n_val)

    def close_step(self) -> float:
        """Book the open step's passes into ``compute``; return their compute (the step's ``c_t``)."""
        step, self.step_compute = self.step_compute, 0.0
        self.compute += step
        return step

    def score(self) -> None:
        """A forward pass over every training sample that an agent asked for (``score_samples``),
        booked at once: ``FORWARD_COST``."""
        self.compute += FORWARD_COST
        self.flops += forward_pass_flops(self.flops_per_forward, self.n)

    def reference(self, flops: float) -> None:
        """Reference runs (other networks) that spent ``flops``, booked at once (:func:`reference_compute`)."""
        self.flops += flops
        self.compute += reference_compute(flops, self.flops_per_forward, self.n)

    def test(self, k: int) -> None:
        """The final test pass over ``k`` samples: FLOPs only (it measures the run; no compute)."""
        self.flops += forward_pass_flops(self.flops_per_forward, k)
