"""benchmarks/outside_suite.py's table: Δ vs each seed's own full-data frontier at the compute spent, and the
paired difference to random, checked by hand on made-up rows (no training)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "outside_suite.py"


def load_script():
    spec = importlib.util.spec_from_file_location("outside_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(agent: str, keep: float, seed: int, accuracy: float, compute: float) -> dict:
    return {"setting": "sym20-5k-e40", "agent": agent, "keep": keep, "seed": seed, "test_accuracy": accuracy / 100,
            "compute": compute}


def test_the_table_compares_each_seed_with_its_own_frontier_at_the_compute_spent():
    outside = load_script()
    rows = []
    for seed, lift in ((0, 0.0), (1, 2.0)):  # seed 1's frontier is 2 points higher everywhere
        rows += [row("full@0.5", 0.5, seed, 50 + lift, 20.0), row("full@1", 1.0, seed, 60 + lift, 40.0),
                 row("random", 0.5, seed, 49 + lift, 20.0),  # 1 below the frontier at 20
                 row("auto", 0.5, seed, 58 + lift, 25.0)]  # frontier at 25 is 52.5 (+ lift): Δ +5.5
    text = outside.table(rows)
    lines = {line.split("|")[3].strip(): line for line in text.splitlines() if "| sym20-5k-e40 |" in line}
    assert set(lines) == {"random", "auto"}  # the frontier's own rows are not listed
    assert "| 2 | 59.00 | 25.00 | +5.50 [+5.50, +5.50] | +9.00 [+9.00, +9.00] |" in lines["auto"]
    assert "| -1.00 [-1.00, -1.00] | — |" in lines["random"]


def test_frontier_points_run_full_data_on_a_compressed_schedule(monkeypatch):
    outside = load_script()
    made = {}

    class Stop(Exception):
        pass

    def make(env_id, epochs, **kwargs):
        made["epochs"] = epochs
        raise Stop

    monkeypatch.setattr("gymnasium.make", make)
    try:
        outside.play(("sym20-5k-e40", "full@0.3", 0.3, 0, {}))
    except Stop:
        pass
    assert made["epochs"] == 12  # round(0.3 * 40)


def test_the_figure_has_one_panel_per_keep(tmp_path):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib")
    import matplotlib.image
    outside = load_script()
    rows = []
    for seed in (0, 1):
        rows += [row("full@0.5", 0.5, seed, 50, 20.0), row("full@1", 1.0, seed, 60, 40.0)]
        rows += [row(agent, keep, seed, 55, 30.0) for agent in ("random", "auto") for keep in (0.3, 0.5)]
    outside.plot(rows, tmp_path / "one.png")
    outside.plot([r for r in rows if r["keep"] != 0.3], tmp_path / "two.png")
    tall, short = (matplotlib.image.imread(tmp_path / name).shape for name in ("one.png", "two.png"))
    assert tall[1] == short[1] and tall[0] > 1.5 * short[0]  # two keeps: two panels stacked, same width
