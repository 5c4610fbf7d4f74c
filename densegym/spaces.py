"""Spaces shared by densegym environments."""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium import spaces

#: Every printable character plus common whitespace; text spaces accept any str anyway.
PRINTABLE = frozenset(string.printable)


class PermissiveText(spaces.Text):
    """A text space that contains any ``str`` up to ``max_length`` characters.

    Gymnasium's :class:`~gymnasium.spaces.Text` rejects characters outside its charset;
    language envs must accept whatever an LLM writes and flag it in ``info`` instead.

    Example:
        >>> space = PermissiveText(max_length=10)
        >>> space.contains("Answer: 42"), space.contains("é ünïcode"), space.contains(3)
        (True, True, False)
    """

    def __init__(self, max_length: int = 4096, seed: int | np.random.Generator | None = None):
        super().__init__(max_length=max_length, min_length=0, charset=string.printable, seed=seed)

    def contains(self, x: Any) -> bool:
        """Return True for any string no longer than ``max_length``."""
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"PermissiveText({self.max_length})"
