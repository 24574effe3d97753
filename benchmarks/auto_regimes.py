"""What ``auto`` keeps, per regime: the kept share of each class and of the corrupted samples over epochs.

Reads the ``auto`` rows of a suite directory (their per-epoch ``class_kept`` and ``corrupted_kept``
curves, which every row records) and draws one panel per scenario: a line per class (the share of
that class's samples trained on in the epoch, mean over seeds) and the corrupted share of the kept
samples (dashed black, on scenarios with corruption; dotted black: that share in the training set, which
``random`` keeps). No episode is run.

    python benchmarks/auto_regimes.py benchmarks/results/suite-cpu --keep 0.3

writes ``DIR/auto_regimes.png`` and prints, per scenario, over the episode's second half (mean over
seeds): the kept share of the most-kept and of the least-kept class, and the corrupted share of the kept
samples against the training set's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def auto_curves(scenario: Path, keep: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
    """``(class_kept (E, C), corrupted_kept (E,) or None, corrupted share of the training set)`` over seeds, or None."""
    rows = [json.loads(line) for line in (scenario / "results.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["spec"] == "auto" and abs(r["keep"] - keep) < 1e-9]
    if not rows:
        return None
    class_kept = np.mean([np.array(r["curve"]["class_kept"][1:], dtype=float) for r in rows], axis=0)
    corrupted = [r["curve"]["corrupted_kept"][1:] for r in rows]
    corrupted_kept = np.mean(np.array(corrupted, dtype=float), axis=0) if rows[0]["corrupted_fraction"] > 0 else None
    return class_kept, corrupted_kept, float(rows[0]["corrupted_fraction"])


def main(argv: list[str] | None = None) -> None:
    """Draw ``DIR/auto_regimes.png`` from the suite directory ``DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="a suite directory holding <scenario>/results.jsonl")
    parser.add_argument("--keep", type=float, default=0.3, help="the keep whose auto rows are drawn (default 0.3)")
    args = parser.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = sorted(p for p in args.suite.iterdir() if (p / "results.jsonl").exists())
    curves = {p.name: c for p in scenarios if (c := auto_curves(p, args.keep)) is not None}
    if not curves:
        raise SystemExit(f"no auto rows at keep {args.keep} under {args.suite}")
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.4), sharey=True, squeeze=False)
    for ax, (name, (class_kept, corrupted_kept, corrupted_share)) in zip(axes[0], curves.items()):
        epochs = np.arange(1, len(class_kept) + 1)
        order = np.argsort(-class_kept[-1])  # legend from the most-kept class
        for shade, c in enumerate(order):
            ax.plot(epochs, class_kept[:, c], color=plt.cm.viridis(shade / max(len(order) - 1, 1)), lw=1,
                    label=f"class {c}")
        if corrupted_kept is not None:
            ax.plot(epochs, corrupted_kept, "k--", lw=2, label="corrupted share of the kept")
            ax.axhline(corrupted_share, color="black", lw=0.8, ls=":", label="... in the training set")
        ax.axhline(args.keep, color="grey", lw=0.8, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        half = slice(len(class_kept) // 2, None)
        line = f"{name}: most-kept class {class_kept[half].mean(axis=0).max():.2f} of its samples, " \
               f"least-kept class {class_kept[half].mean(axis=0).min():.2f}"
        if corrupted_kept is not None:
            line += f", corrupted share of the kept {np.nanmean(corrupted_kept[half]):.2f} " \
                    f"(training set {corrupted_share:.2f})"
        print(line + " (second half, mean over seeds)")
    axes[0][0].set_ylabel(f"share of the class's samples kept (keep {args.keep})", fontsize=8)
    axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the panels, not over a line
    fig.suptitle(f"auto: what it keeps per regime (keep {args.keep}; mean over seeds)", fontsize=10)
    fig.tight_layout()
    out = args.suite / "auto_regimes.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
