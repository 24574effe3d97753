"""Fixed spaces for a variable N: a padded observation, its real rows, a padded action.

A task env (:class:`dataselect_env.tasks.TaskEnv`) draws a dataset of N samples at every reset, but
Gymnasium's spaces are fixed: its observation is padded to ``rows = N_max`` (the family's largest
N), with the real rows first and a ``valid`` entry marking them, and its action has ``N_max``
entries of which the first N count. These three functions are that convention, written once:
the env pads (:func:`pad_observation`); an agent or a wrapper acts on :func:`real_rows` and sends
back :func:`pad_action` of its ``(N,)`` action.
"""

from __future__ import annotations

import numpy as np


def pad_observation(obs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """``obs`` with ``samples`` zero-padded to ``(rows, F)`` and ``valid`` (float32 ``(rows,)``: 1.0
    on the real rows, 0.0 on the padding) added; ``progress`` as is.

    :param obs: ``{"samples": (N, F), "progress": (G,)}``, ``N <= rows``.
    :param rows: the padded size, ``N_max``.
    """
    n = len(obs["samples"])
    samples = np.zeros((rows, obs["samples"].shape[1]), dtype=np.float32)
    samples[:n] = obs["samples"]
    valid = np.zeros(rows, dtype=np.float32)
    valid[:n] = 1.0
    return {"samples": samples, "progress": obs["progress"], "valid": valid}


def real_rows(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An unbatched observation without its padding: ``samples`` cut to the N rows ``valid`` marks,
    ``progress`` as is. An observation without ``valid`` (a plain env's) is returned as it is.

    :param obs: ``{"samples": (N_max, F), "progress": (G,), "valid": (N_max,)}``.
    """
    if "valid" not in obs:
        return obs
    n = int(np.count_nonzero(np.asarray(obs["valid"])))
    return {"samples": np.asarray(obs["samples"])[:n], "progress": np.asarray(obs["progress"])}


def pad_action(action: np.ndarray, rows: int) -> np.ndarray:
    """An ``(N,)`` action (a mask or weights) padded with zeros to ``(rows,)``, its dtype kept.

    :param action: the action on the real rows.
    :param rows: the padded size (the env's action space's), ``>= N``.
    """
    action = np.asarray(action)
    out = np.zeros(rows, dtype=action.dtype)
    out[: len(action)] = action
    return out
