"""Compute the leaderboard's reference values with rliable itself, once, into ``rliable_reference.json``.

rliable does not import beside pandas >= 3 (through ``arch``), which the test environment has, so
the cross-check in ``tests/test_leaderboard.py`` compares with values stored here. Regenerate in an
environment where rliable imports, e.g.::

    python3 -m venv /tmp/rlvenv && /tmp/rlvenv/bin/pip install rliable "pandas<3"
    /tmp/rlvenv/bin/python tests/data/rliable_reference.py

The inputs (per-seed Δ of three agents on three scenarios, 4 seeds each: equal seed counts and 12
runs, where rliable's definitions and the leaderboard's coincide) are written with the outputs, so
the test does not depend on how this script drew them.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from rliable import library, metrics

SCENARIOS = ("s1", "s2", "s3")
REPS = 20000


def main() -> None:
    """Draw the scores, compute rliable's point estimates and stratified-bootstrap CIs, write the JSON."""
    rng = np.random.default_rng(123)
    scores = {"random": rng.normal(-1.0, 0.3, (4, 3)), "A": rng.normal(1.5, 0.3, (4, 3)),
              "B": rng.normal(-0.8, 0.6, (4, 3))}  # (runs, tasks), rliable's layout
    aggregate = lambda x: np.array([metrics.aggregate_mean(x), metrics.aggregate_iqm(x)])  # noqa: E731
    np.random.seed(0)  # rliable's bootstrap draws from numpy's global state
    points, cis = library.get_interval_estimates(scores, aggregate, reps=REPS)
    out = {"command": "python tests/data/rliable_reference.py", "rliable": version("rliable"),
           "numpy": np.__version__, "python": sys.version.split()[0], "reps": REPS,
           "scenarios": SCENARIOS, "scores": {k: v.T.tolist() for k, v in scores.items()},  # [scenario][seed]
           "mean": {k: float(points[k][0]) for k in scores}, "iqm": {k: float(points[k][1]) for k in scores},
           "mean_ci": {k: [float(cis[k][0, 0]), float(cis[k][1, 0])] for k in scores},
           "iqm_ci": {k: [float(cis[k][0, 1]), float(cis[k][1, 1])] for k in scores},
           "poi_vs_random": {k: float(metrics.probability_of_improvement(scores[k], scores["random"]))
                             for k in ("A", "B")}}
    path = Path(__file__).with_name("rliable_reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
