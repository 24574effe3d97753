"""Minor page faults per CPU training step, with and without ``keep_freed_memory`` (glibc only).

Each run is a fresh process (the allocator setting is process-wide and cannot be undone): it
builds the CPU ``Trainer`` on random 32x32 images (``small`` net, fp32, batch 256) and trains
``--epochs`` epochs on all of them, counting the process's minor faults per step in each epoch.
``off`` replaces the setting with a no-op before the trainer is built. Prints one markdown row a
run and the median over runs of each epoch.

The counts are the whole process's (every thread), so they move with the machine's load: a
worker thread that touches a page first takes its fault, and on a loaded host threads start and
run at other times. That is why this is a benchmark and not a test; the tests check the setting
itself on a single thread, where the count is exact
(``test_keep_freed_memory_keeps_a_freed_heap_instead_of_handing_it_back``).

Usage::

    python benchmarks/allocator_faults.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys

CHILD = """
import json, resource, sys
import torch
setting, samples, epochs, threads = sys.argv[1] == "on", int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
import dataselect_env.trainer as trainer_module
from dataselect_env.config import TrainConfig
from dataselect_env.data import Splits
if not setting:
    trainer_module.keep_freed_memory = lambda: False
x = torch.randint(0, 255, (samples, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
y = torch.randint(0, 10, (samples,), generator=torch.Generator().manual_seed(1))
splits = Splits(x, y, x[:8], y[:8], x[:8], y[:8], 10, "random")
trainer = trainer_module.Trainer(splits, TrainConfig(model="small", epochs=epochs), torch.device("cpu"), "fp32", seed=0)
steps = -(-samples // 256)
faults = []
for epoch in range(epochs):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    trainer.train_epoch(epoch, torch.arange(samples))
    faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps)
print(json.dumps(faults))
"""


def run(setting: str, samples: int, epochs: int, threads: int) -> list[float]:
    """Faults per step of each epoch, in a fresh process with the setting ``"on"`` or ``"off"``."""
    out = subprocess.run([sys.executable, "-c", CHILD, setting, str(samples), str(epochs), str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per setting")
    parser.add_argument("--samples", type=int, default=1024, help="training images (steps = samples / 256)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the tests use 2)")
    args = parser.parse_args()
    if platform.libc_ver()[0] != "glibc":
        sys.exit("keep_freed_memory is a glibc setting; nothing to measure here")
    epochs = " | ".join(f"epoch {e}" for e in range(args.epochs))
    print(f"| setting | run | {epochs} |\n|---|---|{'---|' * args.epochs}")
    for setting in ("off", "on"):
        rows = [run(setting, args.samples, args.epochs, args.threads) for _ in range(args.runs)]
        for i, faults in enumerate(rows):
            print(f"| {setting} | {i} | " + " | ".join(f"{f:,.0f}" for f in faults) + " |", flush=True)
        medians = [statistics.median(col) for col in zip(*rows)]
        print(f"| {setting} | median | " + " | ".join(f"{f:,.0f}" for f in medians) + " |", flush=True)


if __name__ == "__main__":
    main()
