"""The one-off migration of results rows written before rows carried a schema, to the row schema of today.

    python benchmarks/migrate_rows.py PATH...          # migrate every results.jsonl at or under each PATH
    python benchmarks/migrate_rows.py --check PATH...  # change nothing; exit 1 naming each file that would change

Each ``PATH`` is a ``results.jsonl``, or a directory searched for them (a suite directory holds one per
scenario). A bench row (a JSON object with an ``id``) without ``"schema"`` is schema 1, and becomes
:data:`~dataselect_harness.results.ROW_SCHEMA` (2): a row written before the env counted validation
(no ``val_compute``, but ``n_train`` and a curve) gets its ``E + 1`` validation passes of
``forward_pass_compute(n_val, N)`` (:mod:`dataselect_env.accounting`) added to ``compute`` and to the
curve's per-epoch compute, read off its own ``env_kwargs`` (``val_size``, else the dataset's
default), ``n_train`` and curve length, and is marked ``val_compute_reconstructed``; then every one
is stamped ``"schema": 2`` (its last key). Reading results once did this on every read, silently
(``on_one_axis``); now :func:`~dataselect_harness.results.read_results` refuses such rows instead.

Idempotent: a row with a ``schema``, a line that is not a bench row and one that is not JSON (a killed
run's partial line) keep their bytes, so a second run changes no byte. A file is rewritten atomically,
under its directory's ``.lock``: while a bench writes there, this refuses to touch it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dataselect_harness.results import RESULTS, ROW_SCHEMA, atomic_write, bench_lock  # noqa: E402


def migrate_row(row: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 ``row`` as a row of schema 2 (see the module docstring); a row with a schema as it is."""
    if "schema" in row:
        return row
    epochs = row.get("curve", {}).get("epoch")
    if "val_compute" in row or "n_train" not in row or not epochs:
        return {**row, "schema": ROW_SCHEMA}
    import gymnasium as gym

    import dataselect_env  # noqa: F401  (registers the ids)
    from dataselect_env.accounting import forward_pass_compute
    from dataselect_env.data import DEFAULT_VAL_SIZE
    registered = {**gym.spec(row["env"]).kwargs, **row["env_kwargs"]}
    n_val = registered.get("val_size") or DEFAULT_VAL_SIZE[registered.get("dataset", "cifar10")]
    cost = forward_pass_compute(n_val, row["n_train"])
    curve = {**row["curve"], "compute": [c + (i + 1) * cost for i, c in enumerate(row["curve"]["compute"])]}
    return {**row, "compute": row["compute"] + len(epochs) * cost, "val_compute": len(epochs) * cost,
            "val_compute_reconstructed": True, "curve": curve, "schema": ROW_SCHEMA}


def migrate_line(line: str) -> str:
    """One line of a results file (without its newline), migrated: only a bench row without a schema changes."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return line
    if not isinstance(row, dict) or "id" not in row or "schema" in row:
        return line
    return json.dumps(migrate_row(row))


def migrated_text(text: str) -> str:
    """The text of a results file with every line migrated (:func:`migrate_line`); newlines kept as they are."""
    return "\n".join(migrate_line(line) for line in text.split("\n"))


def results_files(paths: list[Path]) -> list[Path]:
    """The ``results.jsonl`` files named by ``paths``: a file itself, a directory's at any depth, sorted.

    :raises SystemExit: for a path that does not exist or holds no results file.
    """
    files: list[Path] = []
    for path in paths:
        found = [path] if path.is_file() else sorted(path.rglob(RESULTS)) if path.is_dir() else []
        if not found:
            raise SystemExit(f"migrate_rows.py: no {RESULTS} at or under {path}")
        files += found
    return sorted(set(files))


def locked(directory: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the lock a bench holds while it writes (:func:`~dataselect_harness.results.bench_lock`).

    :raises SystemExit: if a bench holds it.
    """
    return bench_lock(directory, f"migrate_rows.py: a bench is writing to {directory}; run this after it")


def migrate_file(path: Path, check: bool = False) -> int:
    """Migrate ``path`` in place (atomically, under its directory's lock); return the rows changed.
    With ``check``, count them and change nothing."""
    with locked(path.parent):
        text = path.read_bytes().decode()
        new = migrated_text(text)
        changed = sum(a != b for a, b in zip(text.split("\n"), new.split("\n"), strict=True))
        if changed and not check:
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(new.encode()))
    return changed


def main(argv: list[str] | None = None) -> int:
    """Migrate (or ``--check``) every results file named; print one line per file that changes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", type=Path, help="results.jsonl files or directories holding them")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    args = p.parse_args(argv)
    files = results_files(args.paths)
    changed = {path: migrate_file(path, args.check) for path in files}
    for path, n in changed.items():
        if n:
            print(f"{path}: {n} row(s) {'to migrate' if args.check else 'migrated'} to schema {ROW_SCHEMA}")
    print(f"{len(files)} file(s), {sum(changed.values())} row(s) {'to migrate' if args.check else 'migrated'}")
    return 1 if args.check and any(changed.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
