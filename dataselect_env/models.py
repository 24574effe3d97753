"""Networks by name, and a forward-FLOP count for compute accounting.

- ``resnet18``: the CIFAR ResNet-18 of the data-pruning papers (3x3 stem, no max-pool), 11 M params.
- ``fast``: an airbench-style conv net (three conv groups 64/256/256 with max-pool), for GPUs.
- ``small``: the same shape at widths 32/64/128 with ReLU, about 0.3 M params: the CPU benchmark net
  (a 16-channel stem and ReLU keep it fast under CPU bf16 autocast: oneDNN's bf16 kernels gain
  most on these shapes).
- ``tiny``: a two-layer MLP for vectors (synthetic data) or a 2-group conv net for images.

Every network is a :class:`Classifier`: a ``body`` (input -> penultimate features) and a linear
``head``. The global pools are a fixed-kernel ``MaxPool2d`` (its kernel the feature map's size, known
from the input shape) and a mean over the spatial dims, not ``AdaptiveMaxPool2d`` /
``AdaptiveAvgPool2d``, whose backward passes on CUDA are nondeterministic (atomic adds); on the CPU
both give bit-identical results to the adaptive pools they replace.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODELS = ("resnet18", "fast", "small", "tiny")


class Classifier(nn.Module):
    """``head(body(x))``: ``body`` maps a batch of inputs to features ``(batch, d)``, ``head`` is linear.

    Scoring (the trainer's ``forward_stats``: GraNd's last-layer gradient norm) reads the features
    ``body(x)``; nothing assumes the network is an ``nn.Sequential``.
    """

    def __init__(self, body: nn.Module, head: nn.Linear):
        super().__init__()
        self.body, self.head = body, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class GlobalAvgPool(nn.Module):
    """Mean over the spatial dims, ``(N, C, H, W) -> (N, C)``: deterministic on CUDA (unlike
    ``AdaptiveAvgPool2d``'s backward) and bit-identical to ``AdaptiveAvgPool2d(1)`` + ``Flatten`` on the CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    """3x3 conv (no bias) followed by batch norm."""
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]


class ConvGroup(nn.Sequential):
    """airbench's block: conv -> max-pool 2 -> BN -> act -> conv -> BN -> act."""

    def __init__(self, c_in: int, c_out: int, act: type[nn.Module] = nn.GELU):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                         nn.BatchNorm2d(c_out), act(), *conv_bn(c_out, c_out), act())


def airbench_net(widths: tuple[int, int, int, int], num_classes: int, input_shape: tuple[int, int, int],
                 act: type[nn.Module] = nn.GELU) -> Classifier:
    """Stem conv, three :class:`ConvGroup` s, global max-pool, linear head.

    The global max-pool is a ``MaxPool2d`` over the whole final feature map (each group halves the
    side, rounding down: 32 -> 4), deterministic on CUDA where ``AdaptiveMaxPool2d``'s backward is not.
    """
    (c, h, w), (stem, w1, w2, w3) = input_shape, widths
    if h < 8 or w < 8:
        raise ValueError(f"the conv nets need images of at least 8 x 8 pixels, got {h} x {w}")
    body = nn.Sequential(
        *conv_bn(c, stem), act(),
        ConvGroup(stem, w1, act), ConvGroup(w1, w2, act), ConvGroup(w2, w3, act),
        nn.MaxPool2d((h // 8, w // 8)), nn.Flatten(),
    )
    return Classifier(body, nn.Linear(w3, num_classes, bias=False))


class BasicBlock(nn.Module):
    """ResNet basic block with a projection shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(c_in, c_out, stride), nn.ReLU(inplace=True),
                                  *conv_bn(c_out, c_out))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet18(num_classes: int, in_channels: int) -> Classifier:
    """CIFAR ResNet-18 (He et al. 2016, the variant of Paul et al. 2021 and Raju et al. 2021)."""
    layers: list[nn.Module] = [*conv_bn(in_channels, 64), nn.ReLU(inplace=True)]
    c_in = 64
    for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
        c_in = c_out
    return Classifier(nn.Sequential(*layers, GlobalAvgPool()), nn.Linear(512, num_classes))


def make_model(name: str, num_classes: int, input_shape: tuple[int, ...]) -> Classifier:
    """Build network ``name`` for inputs of ``input_shape`` (``(C, H, W)`` or ``(D,)``)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    if len(input_shape) == 1:
        if name != "tiny":
            raise ValueError(f"model={name!r} needs image inputs; use model='tiny' for vector data")
        return Classifier(nn.Sequential(nn.Linear(input_shape[0], 128), nn.GELU()), nn.Linear(128, num_classes))
    if name == "resnet18":
        return resnet18(num_classes, input_shape[0])
    if name == "small":
        return airbench_net((16, 32, 64, 128), num_classes, input_shape, nn.ReLU)
    widths = {"fast": (64, 64, 256, 256), "tiny": (8, 16, 16, 32)}[name]
    return airbench_net(widths, num_classes, input_shape)


def forward_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of one sample (2 x multiply-accumulates of conv and linear layers)."""
    total = 0

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_out = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += 2 * per_out * output[0].numel()
        elif isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        device = next(model.parameters()).device
        model(torch.zeros(1, *input_shape, device=device))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
