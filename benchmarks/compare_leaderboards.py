"""Two renderings of one leaderboard (or one bench summary) side by side: what changed, and by how much.

    python benchmarks/compare_leaderboards.py OLD/leaderboard.csv NEW/leaderboard.csv [--min-change 0.3]
    python benchmarks/compare_leaderboards.py OLD/summary.csv NEW/summary.csv

Prints a markdown table of the mean Δ vs frontier of every (entry, scenario) and of each entry's
aggregate IQM in both files, with the change, largest changes first; rows that changed by less
than ``--min-change`` points are counted, not listed. Used for BENCHMARKS.md when a change of
accounting re-renders existing results (no episode re-run).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read(path: Path) -> dict[tuple[str, str], float]:
    """``(entry, scenario or 'aggregate IQM') -> value`` of a ``leaderboard.csv``; of a bench's
    ``summary.csv``: ``(agent k=keep kwargs, setting) -> mean Δ vs frontier``."""
    out = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            if "kind" not in row:  # summary.csv
                if row["delta_mean"] not in ("", "nan"):
                    name = row["agent"] + (f" k={float(row['keep']):g}" if row["keep"] else "") + \
                        ("" if row["agent_kwargs"] in ("{}", "") else f" {row['agent_kwargs']}")
                    setting = row["setting"].replace(" fp32", "").replace(" bf16", "")  # older renders lack it
                    out[name, setting] = float(row["delta_mean"])
            elif row["kind"] == "scenario":
                out[row["agent"], row["scenario"]] = float(row["mean"])
            else:
                out[row["agent"], "aggregate IQM"] = float(row["iqm"])
    return out


def main() -> None:
    """Parse the two paths, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--min-change", type=float, default=0.3, help="list changes of at least this many points")
    a = p.parse_args()
    old, new = read(a.old), read(a.new)
    keys = sorted(set(old) & set(new), key=lambda k: -abs(new[k] - old[k]))
    listed = [k for k in keys if abs(new[k] - old[k]) >= a.min_change]
    print("| entry | scenario | before | after | change |\n|---|---|---:|---:|---:|")
    for k in listed:
        print(f"| {k[0]} | {k[1]} | {old[k]:+.2f} | {new[k]:+.2f} | {new[k] - old[k]:+.2f} |")
    print(f"\n{len(listed)} of {len(keys)} values changed by {a.min_change:g} points or more; "
          f"{len(set(old) ^ set(new))} in only one of the files.")


if __name__ == "__main__":
    main()
