"""Train-step throughput of net variants at fp32 and bf16 autocast (no data path, no validation).

Isolates how much CPU bf16 autocast speeds up the network itself, for the designs tried for the
``small`` net. Random inputs, batch 256, SGD with Nesterov momentum, 15 timed steps after 3 warm-up.

Usage::

    python benchmarks/precision_microbench.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from dataselect_env.models import airbench_net

VARIANTS = {  # name: (widths stem/g1/g2/g3, activation)
    "24-stem GELU (first design)": ((24, 32, 64, 128), nn.GELU),
    "16-stem GELU": ((16, 32, 64, 128), nn.GELU),
    "16-stem ReLU (small)": ((16, 32, 64, 128), nn.ReLU),
}


def steps_per_second(model: nn.Module, precision: str, batch: int = 256, steps: int = 15) -> float:
    """Images per second of forward + backward + SGD step."""
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    """Print a markdown table of fp32 and bf16 throughput per variant."""
    print("| variant | params | fp32 img/s | bf16 img/s | bf16 / fp32 |\n|---|---|---|---|---|")
    for name, (widths, act) in VARIANTS.items():
        model = airbench_net(widths, 10, (3, 32, 32), act)
        fp32, bf16 = steps_per_second(model, "fp32"), steps_per_second(model, "bf16")
        params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {params:,} | {fp32:.0f} | {bf16:.0f} | {bf16 / fp32:.2f} |", flush=True)


if __name__ == "__main__":
    main()
