"""The compute ledger worked out by hand, and the rule that only ``dataselect_env.accounting`` charges it."""

from __future__ import annotations

import ast
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import dataselect_env  # noqa: F401  (registers the ids)
from dataselect_env.accounting import Ledger

ROOT = Path(__file__).resolve().parents[1]


def test_ledger_of_a_small_episode_with_a_probe_a_scoring_call_and_a_reference_run_by_hand():
    """Synthetic: N = 1,500 training, 500 validation and 1,000 test samples; the main and the reference
    net are both ``tiny`` (f forward FLOPs per sample). In full epochs:

    - reset: a validation pass, 500 / (3 x 1500) = 1/9;
    - ``score_samples()``: a forward pass over all 1,500: 1/3;
    - ``irreducible_loss(epochs=1)``: two nets, each 1 epoch on 750 and scoring the other 750:
      FLOPs 2 (3 x 750 + 750) f = 6000 f, i.e. 6000 / (3 x 1500) = 4/3;
    - step 1: 750 trained (1/2) and validated (1/9): c_1 = 11/18;
    - step 2: 750 trained (1/2), the probe (``probe_every=2``: 1/3), validated (1/9): c_2 = 17/18.

    In all 1/9 + 1/3 + 4/3 + 11/18 + 17/18 = 10/3, of it 3/9 validating. FLOPs: validation
    3 x 500 f, scoring 1500 f, reference 6000 f, training 2 x 3 x 750 f, probe 1500 f, test 1000 f: 16,000 f.
    The rewards divide by the step's own passes only (scoring and reference come between steps).
    """
    env = gym.make("DataSelect/Synthetic-v0", epochs=2, probe_every=2)
    u = env.unwrapped
    _, info = env.reset(seed=0)
    assert (u.n, len(u.splits.y_val), len(u.splits.y_test), u.model_name) == (1500, 500, 1000, "tiny")
    f = u.flops_per_forward
    assert info["compute"] == info["val_compute"] == pytest.approx(1 / 9, abs=1e-15)
    assert info["flops"] == 500 * f
    u.score_samples()
    assert u.ledger.compute == pytest.approx(1 / 9 + 1 / 3, abs=1e-15)
    u.irreducible_loss(epochs=1)
    assert u.ledger.compute == pytest.approx(1 / 9 + 1 / 3 + 4 / 3, abs=1e-15)
    assert u.ledger.flops == pytest.approx((500 + 1500 + 6000) * f, rel=1e-15)
    mask = np.zeros(u.n, dtype=np.int8)
    mask[:750] = 1
    acc = info["val_accuracy"]
    for step, c in ((1, 11 / 18), (2, 17 / 18)):
        _, reward, terminated, _, info = env.step(mask)
        assert reward == pytest.approx(100 * (info["val_accuracy"] - acc) / c, rel=1e-12)
        assert terminated == (step == 2)
        acc = info["val_accuracy"]
    assert info["compute"] == pytest.approx(10 / 3, abs=1e-14)
    assert info["val_compute"] == pytest.approx(3 / 9, abs=1e-15)
    assert info["flops"] == pytest.approx(16_000 * f, rel=1e-15)
    assert (info["samples_trained"], info["keep_fraction"]) == (1500, 0.5)
    assert u.ledger.step_compute == 0.0  # every step's passes are booked
    assert u.ledger.compute == info["compute"]  # the test pass costs FLOPs only


def test_ledger_methods_by_hand():
    """N = 10, 4 validation samples, 2 FLOPs per forward pass: each charge on its own."""
    ledger = Ledger(10, 4, 2.0)
    ledger.validate()
    assert ledger.close_step() == pytest.approx(4 / 30) and ledger.flops == 8.0
    ledger.train(5)
    ledger.probe()
    ledger.validate()
    assert ledger.compute == pytest.approx(4 / 30)  # the open step is not booked yet
    assert ledger.close_step() == pytest.approx(0.5 + 1 / 3 + 4 / 30)
    ledger.score()
    ledger.reference(60.0)  # 60 FLOPs = 60 / (3 x 2 x 10) = 1 epoch
    ledger.test(7)
    assert ledger.compute == pytest.approx(2 * 4 / 30 + 0.5 + 1 / 3 + 1 / 3 + 1.0)
    assert ledger.val_compute == pytest.approx(2 * 4 / 30)
    assert ledger.flops == 8.0 + (3 * 2 * 5 + 2 * 10 + 8) + 2 * 10 + 60 + 2 * 7
    assert (ledger.samples_trained, ledger.last_keep) == (5, 0.5)


def ledger_writes(path: Path) -> list[str]:
    """``file:line`` of each assignment in ``path`` to an attribute of something named ``ledger``."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            for t in ast.walk(target):
                owner = t.value if isinstance(t, ast.Attribute) else None
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
                if name == "ledger":
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return hits


def test_only_the_accounting_module_charges_the_ledger():
    files = [p for d in ("dataselect_env", "agents", "dataselect_harness", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    files.append(ROOT / "train_agent.py")
    writes = [hit for p in files if p.name != "accounting.py" for hit in ledger_writes(p)]
    assert writes == [], f"ledger fields changed outside dataselect_env/accounting.py: {writes}"
