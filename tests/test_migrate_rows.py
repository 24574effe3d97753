"""The one-off migration of old results rows (``benchmarks/migrate_rows.py``): by hand, and idempotent.

``tests/data/old_rows.jsonl`` holds three rows as committed benches wrote them before rows carried a
schema: a Synthetic ``full@0.2`` and a CIFAR-10 ``full@0.2`` written before the env counted validation
(no ``val_compute``), and a CIFAR-10 row written after (with ``val_compute``).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from dataselect_harness import results

ROOT = Path(__file__).resolve().parents[1]
OLD_ROWS = ROOT / "tests" / "data" / "old_rows.jsonl"
_spec = importlib.util.spec_from_file_location("migrate_rows", ROOT / "benchmarks" / "migrate_rows.py")
migrate_rows = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(migrate_rows)


def old_row(**changes) -> dict:
    """A schema-1 row of a 10-epoch CIFAR10Proxy run at compute 5 (half the data each epoch), before
    the env counted validation."""
    row = {"id": "a-random-0", "env": "DataSelect/CIFAR10Proxy-v0", "env_kwargs": {"val_size": 1000, "epochs": 10},
           "agent": "random", "n_train": 5000, "compute": 5.0,
           "curve": {"epoch": list(range(11)), "compute": [0.5 * e for e in range(11)]}}
    return {**row, **changes}


def test_an_old_row_is_brought_onto_the_one_compute_axis_by_hand():
    new = migrate_rows.migrate_row(old_row())
    # 11 validation passes (at reset and after each of 10 epochs) of 1000 / (3 x 5000) = 1/15 epoch
    assert new["compute"] == pytest.approx(5.0 + 11 / 15, abs=1e-12)
    assert new["val_compute"] == pytest.approx(11 / 15, abs=1e-12)
    assert new["curve"]["compute"][0] == pytest.approx(1 / 15) and new["curve"]["compute"][-1] == new["compute"]
    assert new["val_compute_reconstructed"] and new["schema"] == results.ROW_SCHEMA == 2
    assert list(new)[-1] == "schema" and migrate_rows.migrate_row(new) == new
    default = old_row(env_kwargs={"epochs": 10})  # val_size not given: CIFAR's default 5,000
    assert migrate_rows.migrate_row(default)["compute"] == pytest.approx(5.0 + 11 / 3, abs=1e-12)
    on_axis = old_row(val_compute=0.5)  # written after the env counted validation: only stamped
    assert migrate_rows.migrate_row(on_axis) == {**on_axis, "schema": 2}


def test_migration_of_committed_old_rows_by_hand_and_idempotent(tmp_path, capsys):
    """The three rows of ``old_rows.jsonl``, a bench row of today, a line that is not a bench row and a
    killed run's partial line: only the old rows change, and a second run changes no byte."""
    today = json.dumps({"id": "today", "schema": 2, "compute": 1.0})
    other = json.dumps({"setting": "not a bench row"})
    path = tmp_path / "scenario" / "results.jsonl"
    path.parent.mkdir()
    text = OLD_ROWS.read_text() + today + "\n" + other + "\n" + '{"id": "partial", "comp'
    path.write_text(text)
    before = [json.loads(line) for line in OLD_ROWS.read_text().splitlines()]

    assert migrate_rows.main(["--check", str(tmp_path)]) == 1
    assert path.read_text() == text  # --check changes nothing
    assert migrate_rows.main([str(tmp_path)]) == 0
    assert "3 row(s) migrated" in capsys.readouterr().out
    lines = path.read_text().split("\n")
    assert lines[3:] == [today, other, '{"id": "partial", "comp']
    syn, cifar, counted = (json.loads(line) for line in lines[:3])
    # Synthetic: E' = 2, so 3 passes of 500 / (3 x 1500) = 1/9; CIFAR-10: 3 passes of 1000 / (3 x 45000) = 1/135
    assert syn["compute"] == pytest.approx(before[0]["compute"] + 3 / 9, abs=1e-12)
    assert cifar["compute"] == pytest.approx(before[1]["compute"] + 3 / 135, abs=1e-12)
    assert counted == {**before[2], "schema": 2}
    assert all(r["schema"] == 2 for r in (syn, cifar, counted))

    migrated = path.read_bytes()
    assert migrate_rows.main([str(path)]) == 0  # a second run, on the file itself
    assert path.read_bytes() == migrated
    assert migrate_rows.main(["--check", str(tmp_path)]) == 0
    assert "0 row(s)" in capsys.readouterr().out


def test_migration_refuses_while_a_bench_writes_and_a_path_without_results(tmp_path):
    shutil.copy(OLD_ROWS, tmp_path / "results.jsonl")
    with results.results_writer(tmp_path):
        with pytest.raises(SystemExit, match="a bench is writing"):
            migrate_rows.main([str(tmp_path)])
    assert (tmp_path / "results.jsonl").read_bytes() == OLD_ROWS.read_bytes()
    with pytest.raises(SystemExit, match="no results.jsonl"):
        migrate_rows.main([str(tmp_path / "nowhere")])


def test_reading_refuses_unmigrated_rows_and_never_rewrites_them(tmp_path):
    shutil.copy(OLD_ROWS, tmp_path / "results.jsonl")
    command = re.escape(f"`python benchmarks/migrate_rows.py {tmp_path}`")
    with pytest.raises(results.UnmigratedRows, match=f"3 of 3 rows .*{command}"):
        results.read_results(tmp_path)
    assert (tmp_path / "results.jsonl").read_bytes() == OLD_ROWS.read_bytes()  # refused, and left as it was
    migrate_rows.main([str(tmp_path)])
    migrated = (tmp_path / "results.jsonl").read_bytes()
    rows = results.read_results(tmp_path)
    assert [r["schema"] for r in rows] == [2, 2, 2] and rows[0]["val_compute_reconstructed"]
    assert (tmp_path / "results.jsonl").read_bytes() == migrated  # reading rewrites nothing
    with (tmp_path / "results.jsonl").open("a") as f:
        f.write(json.dumps({"id": "future", "schema": 3}) + "\n")
    with pytest.raises(results.UnmigratedRows, match="1 of 4 rows have a row schema above 2"):
        results.read_results(tmp_path)
