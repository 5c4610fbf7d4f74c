"""Learned-intrinsic shapers: novelty bonuses that reward visiting new states."""

from densegym.rewards.intrinsic.counts import CountBonus, default_state_key

__all__ = ["CountBonus", "default_state_key"]
