"""Global or episodic visit counts as an intrinsic module (halves of blends, NovelD's gate)."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch, batch_size, finite_rows, row
from densegym.rewards.intrinsic.module import IntrinsicModule

_MODES = ("global", "episodic")


class CountModule(IntrinsicModule):
    """Bonus ``1/sqrt(n(s′))`` over a hashable state key, counted globally or per episode.

    Global counts grow in :meth:`observe` (the wrappers call it before :meth:`bonus`
    while learning online, so a first visit scores 1); episodic counts live in the
    episodic state, count the episode's first observation and each ``s′`` as the
    bonus is computed.

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space.
        mode: ``"global"`` or ``"episodic"``.
        state_key: maps one observation to a hashable key.

    Example:
        >>> from gymnasium import spaces
        >>> space = spaces.Box(0, 9, (1,))
        >>> counts = CountModule(space, spaces.Discrete(2), mode="episodic",
        ...                      state_key=lambda o: int(o[0]))
        >>> episodic = counts.new_episodic(1)
        >>> counts.reset_episodic(episodic, np.array([0]), np.zeros((1, 1)))
        >>> seen = lambda x: float(counts.bonus(None, None, np.full((1, 1), x), episodic)[0])
        >>> seen(5.0), round(seen(5.0), 4), round(seen(0.0), 4)  # 0.0 was the first state
        (1.0, 0.7071, 0.7071)
    """

    needs_state_key = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        mode: str,
        state_key: Callable[[Any], Hashable],
    ):
        super().__init__(observation_space, action_space)
        if mode not in _MODES:
            raise ValueError(f"count mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode
        self.state_key = state_key
        self.counts: dict[Hashable, int] = {}

    def keys(self, batch: Batch) -> list[Hashable | None]:
        """Return the state key of each row (``None`` where a value is not finite)."""
        ok = finite_rows(batch)
        return [self.state_key(row(batch, i)) if ok[i] else None for i in range(len(ok))]

    def new_episodic(self, n: int) -> list[dict[Hashable, int]] | None:
        """One empty count table per environment (episodic mode)."""
        return [{} for _ in range(n)] if self.mode == "episodic" else None

    def reset_episodic(self, episodic: Any, indices: np.ndarray, obs: Batch) -> None:
        """Clear the slots' tables and count each episode's first observation."""
        if self.mode != "episodic":
            return
        for slot, key in zip(indices, self.keys(obs)):
            episodic[slot] = {} if key is None else {key: 1}

    def count_next(self, episodic: Any, next_obs: Batch) -> np.ndarray:
        """Count each row's ``s′`` in its slot; return the counts (NaN where not finite)."""
        counts = np.full(batch_size(next_obs), math.nan)
        for i, key in enumerate(self.keys(next_obs)):
            if key is None:
                continue
            if self.mode == "episodic":
                table = episodic[i]
                table[key] = table.get(key, 0) + 1
                counts[i] = table[key]
            else:
                counts[i] = max(self.counts.get(key, 0), 1)
        return counts

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """``1/sqrt(n(s′))`` per row."""
        return 1.0 / np.sqrt(self.count_next(episodic, next_obs))

    def observe(self, next_obs: Batch) -> None:
        """Count states globally (no-op in episodic mode)."""
        if self.mode != "global":
            return
        for key in self.keys(next_obs):
            if key is not None:
                self.counts[key] = self.counts.get(key, 0) + 1

    def state_dict(self) -> dict[str, Any]:
        """Return a copy of the global counts."""
        return {"counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore global counts."""
        self.counts = dict(state["counts"])
