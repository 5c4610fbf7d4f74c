"""Batches of array or Dict observations, and the log of transitions awaiting training.

A *batch* is an array with a leading batch axis, or a dict of such arrays (one per
key of a Dict observation). These helpers treat both alike.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

#: An array with a leading batch axis, or a dict of them (Dict observations).
Batch = np.ndarray | dict[str, np.ndarray]


def batch_of_one(obs: Any) -> Batch:
    """Copy one observation into a batch of size 1.

    Example:
        >>> batch_of_one({"a": np.zeros(3)})["a"].shape
        (1, 3)
    """
    if isinstance(obs, dict):
        return {key: np.array(value, copy=True)[None] for key, value in obs.items()}
    return np.array(obs, copy=True)[None]


def batch_size(batch: Batch) -> int:
    """Return the number of rows in a batch."""
    if isinstance(batch, dict):
        return len(next(iter(batch.values())))
    return len(batch)


def concat(batches: list[Batch]) -> Batch:
    """Concatenate batches along the batch axis.

    Example:
        >>> concat([np.zeros((2, 3)), np.ones((1, 3))]).shape
        (3, 3)
    """
    if isinstance(batches[0], dict):
        return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    return np.concatenate([np.asarray(b) for b in batches])


def take(batch: Batch, index: np.ndarray | list[int]) -> Batch:
    """Select rows of a batch (a copy)."""
    index = np.asarray(index, dtype=np.int64)
    if isinstance(batch, dict):
        return {key: np.asarray(value)[index] for key, value in batch.items()}
    return np.asarray(batch)[index]


def row(batch: Batch, i: int) -> Any:
    """One observation of a batch (a view)."""
    if isinstance(batch, dict):
        return {key: value[i] for key, value in batch.items()}
    return batch[i]


def finite_rows(batch: Batch) -> np.ndarray:
    """Boolean mask of the rows whose every value is finite.

    Example:
        >>> finite_rows(np.array([[0.0, 1.0], [np.inf, 0.0]])).tolist()
        [True, False]
    """
    leaves = batch.values() if isinstance(batch, dict) else [batch]
    mask: np.ndarray | None = None
    for leaf in leaves:
        leaf = np.asarray(leaf)
        if leaf.dtype.kind in "fc":
            ok = np.isfinite(leaf.reshape(len(leaf), -1)).all(axis=1)
        else:
            ok = np.ones(len(leaf), dtype=bool)
        mask = ok if mask is None else mask & ok
    assert mask is not None
    return mask


class TransitionLog:
    """Transitions seen but not yet trained on, as chunks of batches (oldest dropped).

    Args:
        capacity: most transitions kept; older chunks are dropped beyond it.

    Example:
        >>> log = TransitionLog(capacity=100)
        >>> log.add(np.zeros((2, 3)), np.zeros(2), np.ones((2, 3)))
        >>> len(log), log.pop_all()["next_obs"].shape, len(log)
        (2, (2, 3), 0)
    """

    def __init__(self, capacity: int = 16384):
        self.capacity = int(capacity)
        self.chunks: deque[tuple[Batch, np.ndarray, Batch]] = deque()
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: Batch, actions: np.ndarray, next_obs: Batch) -> None:
        """Append one batch of transitions (the caller hands over copies)."""
        self.chunks.append((obs, np.asarray(actions), next_obs))
        self.size += len(actions)
        while self.size > self.capacity and len(self.chunks) > 1:
            self.size -= len(self.chunks.popleft()[1])

    def pop_all(self) -> dict[str, Batch]:
        """Return every logged transition as one batch and clear the log."""
        if not self.chunks:
            return {}
        obs, actions, next_obs = zip(*self.chunks)
        self.chunks.clear()
        self.size = 0
        return {
            "obs": concat(list(obs)),
            "actions": concat(list(actions)),
            "next_obs": concat(list(next_obs)),
        }

    def state_dict(self) -> list[tuple[Batch, np.ndarray, Batch]]:
        """Return copies of the logged chunks."""
        return [
            (_copy(obs), np.array(actions, copy=True), _copy(next_obs))
            for obs, actions, next_obs in self.chunks
        ]

    def load_state_dict(self, chunks: list[tuple[Batch, np.ndarray, Batch]]) -> None:
        """Restore chunks saved by :meth:`state_dict`."""
        self.chunks = deque((_copy(o), np.array(a, copy=True), _copy(n)) for o, a, n in chunks)
        self.size = sum(len(a) for _, a, _ in self.chunks)


def _copy(batch: Batch) -> Batch:
    if isinstance(batch, dict):
        return {key: np.array(value, copy=True) for key, value in batch.items()}
    return np.array(batch, copy=True)
