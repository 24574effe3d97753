"""In-flight episodes of a bench: ``DIR/inflight/<episode id>.pt``, a running episode as it stood
after its last finished epoch, so that a rerun after Ctrl-C, SIGTERM, a kill or a crash goes on from
there and writes the row an uninterrupted run writes.

The process that plays the episode rewrites its file after every epoch that does not end it (under
a temporary name, then renamed: a kill never leaves half a file); the driver removes it once the
episode's row is in ``results.jsonl``. A file holds :func:`agents.base.episode_state` (the env's and
the agent's ``state_dict``: weights, optimizer state, generators, per-sample statistics, ledger,
the agent's generator and memory) and what the row has gathered so far (curves, return, wall time).
It is a pickle (``torch.save``): a bench loads only the files in its own ``--out``.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

from .results import atomic_write

INFLIGHT = "inflight"
TMP_PREFIX = "tmp_"  # results.atomic_write's temporary names


def inflight_path(directory: str | Path, episode_id: str) -> Path:
    """``DIR/inflight/<episode_id>.pt``.

    :param directory: the bench's results directory.
    :param episode_id: :attr:`~.plan.Episode.id`.
    """
    return Path(directory) / INFLIGHT / f"{episode_id}.pt"


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file beside it, then renamed)."""
    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load(path: Path, episode_id: str, version: str) -> dict[str, Any] | None:
    """The state saved at ``path`` for episode ``episode_id`` by code of ``version``, on the CPU; None
    when there is none. A file that cannot be read, or that another episode or version wrote, is
    ignored with a warning: the episode starts over.
    """
    import torch
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 (any damage: start over)
        warnings.warn(f"{path}: unreadable ({type(err).__name__}: {err}); the episode starts over", stacklevel=2)
        return None
    if not isinstance(state, dict) or (state.get("id"), state.get("version")) != (episode_id, version):
        warnings.warn(f"{path}: written for another episode or dataselect version; the episode starts over",
                      stacklevel=2)
        return None
    return state


def discard(directory: str | Path, episode_id: str) -> None:
    """Remove the in-flight file of ``episode_id`` (its row is written), if any."""
    inflight_path(directory, episode_id).unlink(missing_ok=True)


def tidy(directory: str | Path, finished: set[str]) -> None:
    """Remove what a killed bench may have left in ``DIR/inflight``: temporary files, and the files of
    episodes whose row was written just before the kill."""
    folder = Path(directory) / INFLIGHT
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith(TMP_PREFIX) or path.stem in finished:
            path.unlink(missing_ok=True)


def progress(directory: str | Path, ids: list[str]) -> dict[str, tuple[int, int]]:
    """``{episode id: (epochs finished, epochs)}`` of the episodes among ``ids`` that have an in-flight file."""
    import torch
    found = {}
    for episode_id in ids:
        path = inflight_path(directory, episode_id)
        if not path.is_file():
            continue
        with contextlib.suppress(Exception):  # unreadable: reported as not kept (and started over)
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
            found[episode_id] = (int(state["epoch"]), int(state["epochs"]))
    return found
