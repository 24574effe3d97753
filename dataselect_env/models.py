"""Networks by name, and a forward-FLOP count for compute accounting.

- ``resnet18``: the CIFAR ResNet-18 of the data-pruning papers (3x3 stem, no max-pool), 11 M params.
- ``fast``: an airbench-style conv net (three conv groups 64/256/256 with max-pool), for GPUs.
- ``small``: the same shape at widths 32/64/128 with ReLU, about 0.3 M params: the CPU benchmark net
  (a 16-channel stem and ReLU keep it fast under CPU bf16 autocast: oneDNN's bf16 kernels gain
  most on these shapes).
- ``tiny``: a two-layer MLP for vectors (synthetic data) or a 2-group conv net for images.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MODELS = ("resnet18", "fast", "small", "tiny")


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    """3x3 conv (no bias) followed by batch norm."""
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]


class ConvGroup(nn.Sequential):
    """airbench's block: conv -> max-pool 2 -> BN -> act -> conv -> BN -> act."""

    def __init__(self, c_in: int, c_out: int, act: type[nn.Module] = nn.GELU):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                         nn.BatchNorm2d(c_out), act(), *conv_bn(c_out, c_out), act())


def airbench_net(widths: tuple[int, int, int, int], num_classes: int, in_channels: int,
                 act: type[nn.Module] = nn.GELU) -> nn.Module:
    """Stem conv, three :class:`ConvGroup` s, global max-pool, linear head."""
    stem, w1, w2, w3 = widths
    return nn.Sequential(
        *conv_bn(in_channels, stem), act(),
        ConvGroup(stem, w1, act), ConvGroup(w1, w2, act), ConvGroup(w2, w3, act),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(w3, num_classes, bias=False),
    )


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


def resnet18(num_classes: int, in_channels: int) -> nn.Module:
    """CIFAR ResNet-18 (He et al. 2016, the variant of Paul et al. 2021 and Raju et al. 2021)."""
    layers: list[nn.Module] = [*conv_bn(in_channels, 64), nn.ReLU(inplace=True)]
    c_in = 64
    for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))


def make_model(name: str, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Build network ``name`` for inputs of ``input_shape`` (``(C, H, W)`` or ``(D,)``)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    if len(input_shape) == 1:
        if name != "tiny":
            raise ValueError(f"model={name!r} needs image inputs; use model='tiny' for vector data")
        return nn.Sequential(nn.Linear(input_shape[0], 128), nn.GELU(), nn.Linear(128, num_classes))
    c = input_shape[0]
    if name == "resnet18":
        return resnet18(num_classes, c)
    if name == "small":
        return airbench_net((16, 32, 64, 128), num_classes, c, nn.ReLU)
    widths = {"fast": (64, 64, 256, 256), "tiny": (8, 16, 16, 32)}[name]
    return airbench_net(widths, num_classes, c)


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
