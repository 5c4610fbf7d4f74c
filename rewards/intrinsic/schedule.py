"""Decay schedules for a shaper's ``coef``, given as plain data (so specs stay JSON)."""

from __future__ import annotations

import math
from typing import Any

_KINDS = ("linear", "exponential")


class CoefSchedule:
    """The weight of a term after ``step`` steps: constant, linear or exponential decay.

    ``decay`` is ``None`` (constant), ``{"kind": "linear", "steps": N, "final": f}``
    (straight line from ``coef`` to ``f`` over N steps, then flat) or
    ``{"kind": "exponential", "half_life": H, "final": f}`` (the gap to ``f`` halves
    every H steps). ``final`` defaults to 0.

    Args:
        coef: the weight at step 0.
        decay: the schedule spec, or ``None``.
        owner: shaper name used in error messages.

    Raises:
        ValueError: a malformed spec (the message names the owner and the key).

    Example:
        >>> schedule = CoefSchedule(1.0, {"kind": "linear", "steps": 100})
        >>> schedule(0), schedule(50), schedule(500)
        (1.0, 0.5, 0.0)
        >>> halving = CoefSchedule(0.8, {"kind": "exponential", "half_life": 10})
        >>> round(halving(10), 6), CoefSchedule(0.3, None)(10**6)
        (0.4, 0.3)
    """

    def __init__(self, coef: float, decay: dict[str, Any] | None, owner: str = "shaper"):
        self.coef = float(coef)
        self.kind = "constant"
        self.final = self.coef
        self.length = 1.0
        if decay is None:
            return
        if not isinstance(decay, dict):
            raise ValueError(f"{owner}: coef_decay must be a dict or None, got {decay!r}")
        decay = dict(decay)
        kind = decay.pop("kind", None)
        if kind not in _KINDS:
            raise ValueError(f"{owner}: coef_decay['kind'] must be one of {_KINDS}, got {kind!r}")
        length_key = "steps" if kind == "linear" else "half_life"
        if length_key not in decay:
            raise ValueError(f"{owner}: coef_decay of kind {kind!r} needs {length_key!r}")
        length = decay.pop(length_key)
        final = decay.pop("final", 0.0)
        if decay:
            raise ValueError(f"{owner}: coef_decay got unexpected keys {sorted(decay)}")
        if not isinstance(length, (int, float)) or not length > 0:
            raise ValueError(f"{owner}: coef_decay[{length_key!r}] must be > 0, got {length!r}")
        if not isinstance(final, (int, float)) or not math.isfinite(final):
            raise ValueError(f"{owner}: coef_decay['final'] must be a finite number")
        self.kind, self.length, self.final = kind, float(length), float(final)

    def __call__(self, step: int) -> float:
        """Return the weight after ``step`` steps."""
        if self.kind == "constant":
            return self.coef
        if self.kind == "linear":
            fraction = min(step / self.length, 1.0)
            return self.coef + (self.final - self.coef) * fraction
        return self.final + (self.coef - self.final) * 0.5 ** (step / self.length)
