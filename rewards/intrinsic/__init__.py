"""Learned-intrinsic shapers: novelty bonuses that reward visiting new states.

``count`` needs nothing beyond numpy (it runs per-env or batched); the torch-based
bonuses (``rnd``, ``icm``, ``e3b``, ``noveld``, ``global_episodic``) and the batched
VecEnv form are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from densegym.rewards.intrinsic.counts import CountBonus, CountModule, default_state_key

_LAZY = {
    "RNDBonus": "rnd",
    "ICMBonus": "icm",
    "E3BBonus": "e3b",
    "NovelDBonus": "noveld",
    "GlobalEpisodicBonus": "global_episodic",
    "IntrinsicShaper": "shaper",
    "IntrinsicModule": "module",
    "CoefSchedule": "schedule",
    "VecIntrinsicBonus": "vec",
}

__all__ = ["CountBonus", "CountModule", "default_state_key", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"densegym.rewards.intrinsic.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
