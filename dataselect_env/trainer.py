"""Inner training: one epoch on a subset, returning per-sample losses; evaluation; probes.

The trainer runs passes and charges nothing: what each pass costs (compute, FLOPs) is defined in
:mod:`~dataselect_env.accounting` and charged by the env's ledger. It measures the one number that
costs depend on, the network's forward FLOPs per sample (``Trainer.flops_per_forward``).

The whole dataset sits on the device as one tensor. Normalisation, random flip and random
translation are batched tensor ops; there is no DataLoader and no per-sample Python. The
per-sample loss, correctness and margin come from the training forward pass itself
(``reduction="none"``), so observing them costs nothing extra.

What every trainer on one split set shares (the normalisation statistics, the reflect-padded
training images) is computed once, by :func:`prepare_data`, and handed to each :class:`Trainer`: the
env builds it at its first reset and passes it to the episode's trainers and its reference runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig
from .data import Splits
from .hardware import configure_cuda_training, resolve_device, resolve_precision
from .models import forward_flops, make_model


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Boundaries of an epoch's balanced batches: ceil(n / batch_size) batches whose sizes differ by at most one.

    10,000 samples at batch size 256 give 40 batches of 250, not 39 of 256 and a last one of 16 at
    full learning rate (which handicaps whichever run happens to have the small remainder).
    Batch i is ``[bounds[i], bounds[i + 1])``.
    """
    steps = math.ceil(n / batch_size)
    return [i * n // steps for i in range(steps + 1)] if steps else [0]


@dataclass
class EpochResult:
    """What one epoch of training did (its cost is the ledger's: :mod:`~dataselect_env.accounting`).

    ``order`` holds the trained indices in the order trained; ``loss``, ``correct`` and ``margin``
    are aligned with it (from the training forward passes). ``lr`` is the last learning rate used.
    ``diverged``: a training loss or a weight became non-finite (NaN or inf) during the epoch.
    """

    order: torch.Tensor
    loss: torch.Tensor
    correct: torch.Tensor
    margin: torch.Tensor
    lr: float
    diverged: bool = False


def resolve(cfg: TrainConfig) -> tuple[torch.device, str]:
    """The device and precision ``cfg`` asks for, with ``"auto"`` resolved for this machine."""
    device = resolve_device(cfg.device)
    return device, resolve_precision(cfg.precision, device)


def lr_factor(progress: float, warmup: float) -> float:
    """Learning rate / peak at schedule ``progress`` in [0, 1]: linear warm-up, then linear decay."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return (progress + 1e-3) / (warmup + 1e-3)
    return max(0.0, (1.0 - progress) / max(1.0 - warmup, 1e-8))


def random_flip_translate(padded: torch.Tensor, idx: torch.Tensor, pad: int,
                          gen: torch.Generator) -> torch.Tensor:
    """Images ``idx`` of a reflect-padded set, each randomly flipped and translated by up to ``pad``.

    ``padded`` holds the images reflect-padded by ``pad`` on each side (:func:`reflect_pad`). Every
    image is cropped back to the original size at a random offset, and half of them are flipped
    horizontally. Images are grouped by (offset, flip), at most ``2 * (2 * pad + 1) ** 2`` groups,
    and each group is one gather of crops: no per-pixel index tensors.
    """
    n, (c, h, w) = len(idx), (padded.shape[1], padded.shape[2] - 2 * pad, padded.shape[3] - 2 * pad)
    flip = torch.rand(n, device=padded.device, generator=gen) < 0.5
    dy = torch.randint(0, 2 * pad + 1, (n,), device=padded.device, generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=padded.device, generator=gen)
    out = padded.new_empty((n, c, h, w))
    code = (dy * (2 * pad + 1) + dx) * 2 + flip
    order = code.argsort(stable=True)
    counts = torch.bincount(code, minlength=2 * (2 * pad + 1) ** 2).tolist()
    for k, members in enumerate(order.split(counts)):
        if len(members):
            (oy, ox), flipped = divmod(k // 2, 2 * pad + 1), k % 2
            crop = padded[idx[members], :, oy:oy + h, ox:ox + w]
            out[members] = crop.flip(3) if flipped else crop
    return out


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Images reflect-padded by ``pad`` pixels on each side (done once, for :func:`random_flip_translate`)."""
    return F.pad(x, (pad,) * 4, mode="reflect") if pad else x


@dataclass(frozen=True)
class TrainData:
    """The training images as every :class:`Trainer` on one split set uses them, prepared once by
    :func:`prepare_data`: a ``Trainer`` given one neither recomputes nor copies anything.

    ``scale`` and ``shift``: the per-channel normalisation ``x * scale + shift`` of uint8 images (from
    the training split's mean and std); ``padded``: the training images reflect-padded by ``pad``
    pixels, which each epoch's random crops are gathered from (None without augmentation). All None
    for vector data.
    """

    n: int  # training samples it was prepared from
    pad: int | None  # reflect padding of ``padded`` (None: no padded copy)
    scale: torch.Tensor | None = None
    shift: torch.Tensor | None = None
    padded: torch.Tensor | None = None


def data_pad(splits: Splits, cfg: TrainConfig) -> int | None:
    """The reflect padding a trainer with ``cfg`` needs on ``splits`` (None: no padded copy)."""
    return cfg.translate if splits.x_train.dim() == 4 and cfg.augment else None


def prepare_data(splits: Splits, cfg: TrainConfig) -> TrainData:
    """Normalisation statistics and padded copy of ``splits``' training images, for every trainer on them.

    One fp32 pass over the training images (mean and std per channel) and one padded uint8 copy
    (45,000 CIFAR images: 216 MB at ``translate=2``), on the images' device.
    """
    n = len(splits.y_train)
    if splits.x_train.dim() != 4:
        return TrainData(n, None)
    x = splits.x_train.float()
    mean, std = x.mean((0, 2, 3), keepdim=True) / 255, x.std((0, 2, 3), keepdim=True) / 255
    del x
    pad = data_pad(splits, cfg)
    padded = reflect_pad(splits.x_train, pad) if pad is not None else None
    return TrainData(n, pad, 1 / (255 * std), -mean / std, padded)


def weighted_mean(loss: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The batch's training loss: the mean of the per-sample ``loss``, each multiplied by its weight when given."""
    return (loss if weights is None else loss * weights).mean()


def per_sample_stats(logits: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Plain cross-entropy, correctness and probability margin (p_y - max other p) per sample."""
    logits = logits.float()
    loss = F.cross_entropy(logits, y, reduction="none")
    prob = logits.softmax(1)
    p_true = prob.gather(1, y[:, None]).squeeze(1)
    p_other = prob.scatter(1, y[:, None], -1.0).amax(1)
    return {"loss": loss, "correct": (logits.argmax(1) == y).float(), "margin": p_true - p_other}


class Trainer:
    """Builds network ``cfg.model`` and trains it on index subsets of ``splits.x_train``, one epoch per call.

    ``flops_per_forward`` is one sample's forward FLOPs through the network, which the costs of
    :mod:`~dataselect_env.accounting` are reckoned from; the trainer counts nothing. On a CUDA device it
    sets the backend's training flags (:func:`~dataselect_env.hardware.configure_cuda_training`:
    cuDNN autotuning, TF32).

    :param splits: the data, already on ``device``.
    :param cfg: hyperparameters (``cfg.model`` names the network).
    :param device: where model and data live (see :func:`resolve`).
    :param precision: ``"fp32"`` or ``"bf16"`` (autocast).
    :param seed: seeds the network's initialisation and the generator for shuffling and augmentation.
    :param data: ``prepare_data(splits, cfg)``, shared by the trainers on ``splits``; None prepares it here.
    :raises ValueError: if ``data`` was prepared for another number of samples or padding.
    """

    def __init__(self, splits: Splits, cfg: TrainConfig, device: torch.device, precision: str, seed: int,
                 data: TrainData | None = None):
        self.cfg, self.device, self.precision = cfg, device, precision
        if data is None:
            data = prepare_data(splits, cfg)
        elif (data.n, data.pad) != (len(splits.y_train), data_pad(splits, cfg)):
            raise ValueError(f"data was prepared for {data.n} samples with pad={data.pad}, but these splits have "
                             f"{len(splits.y_train)} and cfg needs pad={data_pad(splits, cfg)}: pass "
                             f"prepare_data(splits, cfg) of these splits and config")
        if device.type == "cuda":
            configure_cuda_training()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            model = make_model(cfg.model, splits.num_classes, splits.input_shape)
        self.flops_per_forward = float(forward_flops(model, splits.input_shape))
        self.is_image = splits.x_train.dim() == 4
        fmt = torch.channels_last if self.is_image else torch.contiguous_format
        self.model = model.to(device, memory_format=fmt)
        self.splits, self.data = splits, data
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         nesterov=True, weight_decay=cfg.weight_decay)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing, reduction="none")

    def state_dict(self) -> dict[str, Any]:
        """The trainer between two epochs: the network's weights and buffers, the optimizer's state
        (momentum) and the generator of shuffling and augmentation (the env's ledger counts the FLOPs). Tensors
        by reference, as ``torch.nn.Module.state_dict`` gives them: save or copy them before training on."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`state_dict` of a trainer with the same splits, config and seed: the next
        epoch trains exactly as it would have there (tensors may come from the CPU: each is copied
        to this trainer's device; the generator's state stays a CPU tensor, as ``get_state`` gives it)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["gen"].cpu())

    def autocast(self) -> torch.autocast:
        """The autocast context for this trainer's precision (disabled for fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> normalised float, channels_last (one multiply, one add); vectors pass through."""
        if not self.is_image:
            return x
        return torch.mul(x, self.data.scale).add_(self.data.shift).contiguous(memory_format=torch.channels_last)

    def lr_at(self, progress: float) -> float:
        """Learning rate at schedule progress in [0, 1]."""
        return self.cfg.lr * lr_factor(progress, self.cfg.warmup)

    def lr_frac_at_epoch(self, epoch: int) -> float:
        """Learning rate at the start of ``epoch`` (0-based) as a fraction of the peak."""
        return self.lr_at(epoch / self.cfg.epochs) / self.cfg.lr

    @torch.enable_grad()  # also when the caller is inside no_grad (e.g. ARS evaluating candidates)
    def train_epoch(self, epoch: int, idx: torch.Tensor, weights: torch.Tensor | None = None) -> EpochResult:
        """Train one epoch on samples ``idx`` (a fresh random order), advancing the schedule by one epoch.

        :param epoch: index of this epoch in the schedule (0-based).
        :param idx: int64 indices into the training set, on the device (at least one).
        :param weights: optional per-sample loss weights aligned with ``idx`` (used as float32).
        :return: the indices in the order trained, per-sample ``loss``, ``correct`` and ``margin``
            aligned with them, and the last learning rate.
        """
        self.model.train()
        order = torch.randperm(len(idx), device=self.device, generator=self.gen)
        idx = idx[order]
        weights = weights[order].to(torch.float32) if weights is not None else None
        if self.data.padded is not None:
            x_all = random_flip_translate(self.data.padded, idx, self.data.pad, self.gen)
        else:
            x_all = self.splits.x_train[idx]
        y_all = self.splits.y_train[idx]
        bounds = batch_bounds(len(idx), self.cfg.batch_size)
        steps = len(bounds) - 1
        outputs: dict[str, list[torch.Tensor]] = {"loss": [], "correct": [], "margin": []}
        lr = 0.0
        for step in range(steps):
            lr = self.lr_at((epoch + step / steps) / self.cfg.epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            sl = slice(bounds[step], bounds[step + 1])
            x, y = self.prepare(x_all[sl]), y_all[sl]
            with self.autocast():
                logits = self.model(x)
            loss = self.criterion(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            weighted_mean(loss, None if weights is None else weights[sl]).backward()
            self.optimizer.step()
            with torch.no_grad():
                for k, v in per_sample_stats(logits.detach(), y).items():
                    outputs[k].append(v)
        loss, correct, margin = (torch.cat(outputs[k]) for k in ("loss", "correct", "margin"))
        return EpochResult(idx, loss, correct, margin, lr, diverged=not self._finite(loss))

    def _finite(self, loss: torch.Tensor) -> bool:
        """Whether the epoch's losses and the weights are all finite (one device sync per epoch)."""
        checks = [loss.isfinite().all()] + [p.isfinite().all() for p in self.model.parameters()]
        return bool(torch.stack(checks).all())

    @torch.no_grad()
    def forward_stats(self, x: torch.Tensor, y: torch.Tensor, scores: bool = False) -> dict[str, torch.Tensor]:
        """Eval-mode forward pass over ``x``: per-sample ``loss``, ``correct`` and ``margin``; with
        ``scores``, also the static-pruning scores ``el2n`` (norm of softmax minus one-hot, Paul et
        al. 2021) and ``grand`` (last-layer gradient norm, ``||p - y|| * sqrt(||h||^2 + 1)``, the
        GraNd approximation)."""
        self.model.eval()
        body, head = self.model.body, self.model.head
        out: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(y), self.cfg.eval_batch_size):
            xb = self.prepare(x[start:start + self.cfg.eval_batch_size])
            yb = y[start:start + self.cfg.eval_batch_size]
            with self.autocast():
                h = body(xb)
                logits = head(h)
            stats = per_sample_stats(logits, yb)
            if scores:
                err = logits.float().softmax(1) - F.one_hot(yb, logits.shape[1]).float()
                stats["el2n"] = err.norm(dim=1)
                stats["grand"] = stats["el2n"] * (h.float().square().sum(1) + 1).sqrt()
            for k, v in stats.items():
                out.setdefault(k, []).append(v)
        return {k: torch.cat(v) for k, v in out.items()}

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean cross-entropy of the model on ``(x, y)``."""
        stats = self.forward_stats(x, y)
        return stats["correct"].mean().item(), stats["loss"].mean().item()
