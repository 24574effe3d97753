"""The results file of a bench: ``DIR/results.jsonl``, one JSON line per finished episode.

The driver appends, flushes and fsyncs one line per episode (:func:`results_writer`), so a crash
never loses an episode already written; :func:`read_results` ignores a partial last line left by a
killed run. Tables and plots are made from this file by ``harness.report``.

Every row carries ``"schema": ROW_SCHEMA``. Reading never rewrites a row: a file holding rows of an
older schema (written before rows carried one) is refused until ``python benchmarks/migrate_rows.py
DIR`` has migrated it, once (:class:`UnmigratedRows`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
ROW_SCHEMA = 2  # 2: compute counts every validation pass (val_compute); rows without "schema" are 1
MIGRATE = "python benchmarks/migrate_rows.py"  # the one-off migration of older rows (its docstring says what it does)
PLAN = "plan.json"  # the ids of every episode a bench into DIR planned (a union over its runs)
# Env kwargs left out of an episode's id: where the data is, and how (not which) an episode runs. Every
# row records its resolved "device" and "precision"; the report never compares rows of two precisions,
# and a bench refuses to add rows of another precision to a directory (harness.plan.check_precision).
NOT_IN_ID = ("data_root", "download", "device", "precision")
# What the controller observes, not how a mask sequence trains: rows that differ only in it share a
# setting and its frontier (an agent that reads the v1 columns runs with obs_version=1 on a -v0 id).
NOT_IN_SETTING = ("obs_version",)


class UnmigratedRows(ValueError):
    """A results file holds rows of another schema than :data:`ROW_SCHEMA`; the message names the
    file, how many rows and the command that migrates them."""


def read_results(directory: str | Path) -> list[dict[str, Any]]:
    """Rows of ``DIR/results.jsonl`` as written; a partial or corrupt line (a killed run's) is skipped.

    :raises UnmigratedRows: if a row's ``schema`` is not :data:`ROW_SCHEMA` (an older row: run
        ``python benchmarks/migrate_rows.py DIR`` once; a newer one: a newer dataselect wrote it).
    """
    path = Path(directory) / RESULTS
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                row = json.loads(line)
                if isinstance(row, dict) and "id" in row:
                    rows.append(row)
    check_schema(rows, path)
    return rows


def check_schema(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Refuse ``rows`` (read from ``path``) unless every one has ``"schema": ROW_SCHEMA``.

    :raises UnmigratedRows: naming the file, the count, and :data:`MIGRATE` for older rows.
    """
    older = sum(row.get("schema", 1) < ROW_SCHEMA for row in rows)
    newer = sum(row.get("schema", 1) > ROW_SCHEMA for row in rows)
    if older:
        raise UnmigratedRows(f"{path}: {older} of {len(rows)} rows were written before rows carried \"schema\": "
                             f"{ROW_SCHEMA}, and reading does not rewrite them; migrate them once with "
                             f"`{MIGRATE} {Path(path).parent}`, then read again")
    if newer:
        raise UnmigratedRows(f"{path}: {newer} of {len(rows)} rows have a row schema above {ROW_SCHEMA}, "
                             "written by a newer dataselect; read them with that version")


@contextlib.contextmanager
def bench_lock(directory: Path, busy: str) -> Iterator[None]:
    """Hold the exclusive lock a bench holds on ``DIR/.lock`` while it writes (git ignores the file).

    :raises SystemExit: with the message ``busy`` if another process holds it.
    """
    with open(directory / ".lock", "a") as lock:
        with contextlib.suppress(ImportError):  # no fcntl (Windows): no lock
            import fcntl
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SystemExit(busy) from None
        yield


@contextlib.contextmanager
def results_writer(directory: Path) -> Iterator:
    """Yield ``write(row)``: append one JSON line to ``DIR/results.jsonl``, flushed and fsynced.

    Holds an exclusive lock on ``DIR/.lock`` (two benches cannot write one DIR) and first cuts off a
    partial last line left by a killed run, so that the next row starts on a line of its own. Every
    row opens the file by name, so a file replaced meanwhile (a ``git checkout`` or ``git stash`` of
    committed results) still receives it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESULTS
    with bench_lock(directory, f"another bench is writing to {directory}; wait for it or use another --out"):
        with open(path, "a+b") as f:
            f.seek(0)
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

        def write(row: dict[str, Any]) -> None:
            with open(path, "ab") as f:
                f.write((json.dumps(row) + "\n").encode())
                f.flush()
                os.fsync(f.fileno())
        yield write


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """``write(tmp)`` to a temporary name beside ``path``, then rename it to ``path``: a kill never
    leaves half a file (a checkpoint, a manifest) under the real name."""
    tmp = path.with_name(f"tmp_{os.getpid()}_{path.name}")
    write(str(tmp))
    os.replace(tmp, path)


# ---- what a row is ----------------------------------------------------------------------------

def is_frontier(row: dict[str, Any]) -> bool:
    """Whether ``row`` is a full-data run (``full`` or ``full@f``), i.e. a point of the frontier."""
    return row["agent"] == "full" or row["agent"].startswith("full@")


def setting_of(row: dict[str, Any]) -> str:
    """What a row is compared within: env, E, resolved precision and the env kwargs that change results."""
    kw = {k: v for k, v in row["env_kwargs"].items() if k not in ("epochs", "action_mode", *NOT_IN_ID, *NOT_IN_SETTING)}
    return (f"{row['env']} E={row['bench_epochs']} {row.get('precision', '?')}"
            + (f" {json.dumps(kw, sort_keys=True)}" if kw else ""))


def kwargs_key(row: dict[str, Any]) -> str:
    """The row's agent kwargs without ``keep`` (its own column), as sorted JSON."""
    return json.dumps({k: v for k, v in row["agent_kwargs"].items() if k != "keep"}, sort_keys=True)


def write_plan(directory: str | Path, ids: list[str]) -> None:
    """Add ``ids`` (the episodes a bench plans) to ``DIR/plan.json``, so a report can say it is partial."""
    path = Path(directory) / PLAN
    known = planned(directory) or set()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(sorted(known | set(ids))) + "\n"))


def planned(directory: str | Path) -> set[str] | None:
    """The episode ids planned into ``DIR`` (``plan.json``), or None for a directory without one."""
    path = Path(directory) / PLAN
    return set(json.loads(path.read_text())) if path.is_file() else None
