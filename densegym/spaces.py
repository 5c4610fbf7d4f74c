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


class CategoricalBox(spaces.Box):
    """A Box whose values are exact integer category ids (e.g. NetHack glyph ids).

    An env declares a leaf categorical by giving it this space: learned encoders
    (:mod:`densegym.rewards.intrinsic.networks`) embed its ids instead of scaling them as
    numbers. It is a :class:`~gymnasium.spaces.Box` in every other respect (and equal to
    the plain Box with the same bounds), so SB3 and Gymnasium's checker treat it as one.

    Raises:
        ValueError: bounds that are not finite, a negative lower bound, or ids of 2**16
            or more (too many to embed).

    Example:
        >>> space = CategoricalBox(0, 5976, (9, 9), np.float32)
        >>> space == spaces.Box(0, 5976, (9, 9), np.float32), space.num_ids
        (True, 5977)
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
            raise ValueError("a CategoricalBox needs finite bounds")
        if float(self.low.min()) < 0 or float(self.high.max()) >= 2**16:
            raise ValueError("a CategoricalBox holds ids in [0, 2**16)")

    @property
    def num_ids(self) -> int:
        """How many ids an embedding of this leaf needs (``high.max() + 1``)."""
        return int(self.high.max()) + 1

    def __repr__(self) -> str:
        return "Categorical" + super().__repr__()
