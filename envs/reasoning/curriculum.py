"""Return a success-driven difficulty curriculum for procedurally generated task families.

Example:
    >>> c = Curriculum(levels=(1, 2, 3), window=4, promote=0.75)
    >>> for success in [True, True, True, False]:
    ...     c.record(success)
    >>> c.level
    2
"""

from __future__ import annotations

from collections import deque
from typing import Any


class Curriculum:
    """Moves up a level when recent success is high, down when it is low.

    After ``window`` episodes at the current level, the level rises if the success
    rate is at least ``promote`` and falls if it is at most ``demote``; the window
    then starts afresh.

    Args:
        levels: the difficulty levels, easiest first.
        start: the first level.
        window: episodes judged at a time.
        promote: success rate that moves one level up.
        demote: success rate that moves one level down.
    """

    def __init__(
        self,
        levels: tuple[int, ...] = (1, 2, 3, 4, 5),
        start: int | None = None,
        window: int = 20,
        promote: float = 0.8,
        demote: float = 0.2,
    ):
        if not levels:
            raise ValueError("a curriculum needs at least one level")
        start = levels[0] if start is None else start
        if start not in levels:
            raise ValueError(f"curriculum start {start} is not one of the levels {levels}")
        if window < 1 or not 0.0 <= demote < promote <= 1.0:
            raise ValueError("curriculum needs window >= 1 and 0 <= demote < promote <= 1")
        self.levels = tuple(levels)
        self.window = int(window)
        self.promote = float(promote)
        self.demote = float(demote)
        self._index = self.levels.index(start)
        self._results: deque[bool] = deque(maxlen=self.window)

    @classmethod
    def from_option(
        cls, option: bool | dict[str, Any] | None, levels: tuple[int, ...]
    ) -> Curriculum | None:
        """Build from an env kwarg: ``None``/``False`` (off), ``True`` or a dict of settings."""
        if not option:
            return None
        if option is True:
            return cls(levels=levels)
        if isinstance(option, dict):
            return cls(levels=levels, **option)
        raise TypeError(f"curriculum must be a bool or a dict of settings, got {option!r}")

    @property
    def level(self) -> int:
        """Return the current difficulty level."""
        return self.levels[self._index]

    def record(self, success: bool) -> None:
        """Count one finished episode at the current level."""
        self._results.append(bool(success))
        if len(self._results) < self.window:
            return
        rate = sum(self._results) / len(self._results)
        if rate >= self.promote and self._index < len(self.levels) - 1:
            self._index += 1
        elif rate <= self.demote and self._index > 0:
            self._index -= 1
        else:
            return
        self._results.clear()

    def state_dict(self) -> dict[str, Any]:
        """Return the level and the current window's results."""
        return {"level": self.level, "results": list(self._results)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self._index = self.levels.index(state["level"])
        self._results = deque(state["results"], maxlen=self.window)
