"""benchmarks/gpu_check.py: it refuses to run without a GPU unless asked, and its tiny CPU version runs end to
end with only the GPU machine's packages (no Stable-Baselines3, rliable, Ray)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
# Packages of the project's extras that the GPU machine's image lacks (the device tool's KINDS.md lists the image's
# packages: SciPy, scikit-learn and matplotlib are there): importing one fails in the child processes.
ABSENT = ("stable_baselines3", "sb3_contrib", "rliable", "ray", "rl_zoo3")
BLOCKER = f"""
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {ABSENT!r}:
            raise ImportError(f"{{name}} is not installed on the GPU machine")

sys.meta_path.insert(0, Absent())
"""


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_stops_at_once_and_says_why(tmp_path):
    with pytest.raises(SystemExit, match=r"no CUDA device .* pass --allow-cpu"):
        load_script().main(["--out", str(tmp_path), "--data", "nowhere"])
    assert not any(tmp_path.iterdir())  # nothing run, nothing written


@pytest.mark.cifar
@pytest.mark.skipif(torch.cuda.is_available(), reason="--allow-cpu runs the tiny version only without CUDA")
def test_the_tiny_cpu_version_runs_with_the_gpu_machines_packages(cifar_archive, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(REPO)])}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--data", str(cifar_archive), "--allow-cpu"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / "gpu_check.json").read_text())
    assert summary["mode"].startswith("tiny") and not summary["imported_sb3"]
    episode = summary["episode"]
    assert episode["n_train"] == 2000 and episode["samples_trained"] == 2000 and 0 <= episode["test_accuracy"] <= 1
    assert episode["images_per_s"] > 0 and summary["raw"]["images_per_s"] > 0
    assert summary["smoke"]["returncode"] == 0 and (out / "smoke" / "leaderboard.md").exists()
    assert summary["repeatability"]["deterministic"]["identical"]  # the CPU path is deterministic
    assert "env / raw" in (out / "gpu_check.md").read_text() and "env / raw" in proc.stdout
