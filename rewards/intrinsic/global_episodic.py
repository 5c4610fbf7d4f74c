"""Global × episodic novelty (Henaff et al., 2023, "A Study of Global and Episodic Bonuses")."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch
from densegym.rewards.intrinsic.counts import CountModule
from densegym.rewards.intrinsic.e3b import E3BBonus
from densegym.rewards.intrinsic.module import IntrinsicModule
from densegym.rewards.intrinsic.rnd import RNDBonus
from densegym.rewards.intrinsic.shaper import IntrinsicShaper

#: Learned halves, by name: the shaper whose module (and defaults) each one uses.
_LEARNED: dict[str, type[IntrinsicShaper]] = {"rnd": RNDBonus, "e3b": E3BBonus}
_GLOBAL_KINDS = ("rnd", "count")
_EPISODIC_KINDS = ("e3b", "count")
_COMBINE = ("product", "sum")


def _build_half(
    role: str,
    kind: str,
    kwargs: dict[str, Any] | None,
    seed: int,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    state_key: Callable[[Any], Hashable],
) -> IntrinsicModule:
    kwargs = dict(kwargs or {})
    if kind == "count":
        if kwargs:
            raise TypeError(f"{role}_kwargs: a count half takes no arguments, got {sorted(kwargs)}")
        mode = "global" if role == "global" else "episodic"
        return CountModule(observation_space, action_space, mode=mode, state_key=state_key)
    shaper = _LEARNED[kind]
    _, defaults = shaper.split_kwargs({})
    for arg in kwargs:
        if arg not in defaults:
            raise TypeError(
                f"{role}_kwargs: {kind} got an unexpected argument {arg!r}; "
                f"it accepts: {', '.join(defaults)}"
            )
    module_kwargs = {**defaults, "seed": seed, **kwargs}
    return shaper.build_module(observation_space, action_space, state_key, module_kwargs)


class GlobalEpisodicModule(IntrinsicModule):
    """Combine a global novelty (``rnd`` or ``count``) with an episodic one (``e3b`` or ``count``).

    The bonus is ``g·e`` (``combine="product"``) or ``g + e`` (``"sum"``). Each half
    keeps its own learned and episodic state.

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space.
        global_bonus: ``"rnd"`` or ``"count"`` (``1/sqrt(N(s′))`` over the whole run).
        episodic_bonus: ``"e3b"`` or ``"count"`` (``1/sqrt(N_episode(s′))``).
        combine: ``"product"`` or ``"sum"``.
        global_kwargs: hyper-parameters of a learned global half (as for ``rnd``).
        episodic_kwargs: hyper-parameters of a learned episodic half (as for ``e3b``).
        seed: seed of the global half; the episodic half gets ``seed + 1`` unless its
            kwargs name one.
        state_key: maps one observation to a hashable key (count halves).

    Example:
        >>> from gymnasium import spaces
        >>> module = GlobalEpisodicModule(
        ...     spaces.Box(0, 9, (1,)), spaces.Discrete(2), global_bonus="count",
        ...     episodic_bonus="count", combine="product", global_kwargs=None,
        ...     episodic_kwargs=None, seed=0, state_key=lambda obs: int(obs[0]))
        >>> episodic = module.new_episodic(1)
        >>> module.reset_episodic(episodic, np.array([0]), np.zeros((1, 1)))
        >>> module.observe(np.full((1, 1), 3.0))
        >>> module.bonus(None, None, np.full((1, 1), 3.0), episodic)  # 1/sqrt(1) * 1/sqrt(1)
        array([1.])
    """

    needs_state_key = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        global_bonus: str,
        episodic_bonus: str,
        combine: str,
        global_kwargs: dict[str, Any] | None,
        episodic_kwargs: dict[str, Any] | None,
        seed: int,
        state_key: Callable[[Any], Hashable],
    ):
        super().__init__(observation_space, action_space)
        if global_bonus not in _GLOBAL_KINDS:
            raise ValueError(f"global_bonus must be one of {_GLOBAL_KINDS}, got {global_bonus!r}")
        if episodic_bonus not in _EPISODIC_KINDS:
            raise ValueError(
                f"episodic_bonus must be one of {_EPISODIC_KINDS}, got {episodic_bonus!r}"
            )
        if combine not in _COMBINE:
            raise ValueError(f"combine must be one of {_COMBINE}, got {combine!r}")
        self.combine = combine
        spaces_ = (observation_space, action_space, state_key)
        self.global_part = _build_half("global", global_bonus, global_kwargs, seed, *spaces_)
        self.episodic_part = _build_half(
            "episodic", episodic_bonus, episodic_kwargs, seed + 1, *spaces_
        )

    def new_episodic(self, n: int) -> tuple[Any, Any]:
        """Both halves' episodic states."""
        return (self.global_part.new_episodic(n), self.episodic_part.new_episodic(n))

    def reset_episodic(self, episodic: Any, indices: np.ndarray, obs: Batch) -> None:
        """Reset both halves' slots."""
        self.global_part.reset_episodic(episodic[0], indices, obs)
        self.episodic_part.reset_episodic(episodic[1], indices, obs)

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """``g·e`` or ``g + e`` per row."""
        g = self.global_part.bonus(obs, actions, next_obs, episodic[0])
        e = self.episodic_part.bonus(obs, actions, next_obs, episodic[1])
        return g * e if self.combine == "product" else g + e

    def observe(self, next_obs: Batch) -> None:
        """Online statistics of both halves."""
        self.global_part.observe(next_obs)
        self.episodic_part.observe(next_obs)

    def train(self, batch: dict[str, Any]) -> dict[str, float]:
        """Train both halves; statistics are prefixed ``global_`` and ``episodic_``."""
        stats = {f"global_{k}": v for k, v in self.global_part.train(batch).items()}
        stats.update({f"episodic_{k}": v for k, v in self.episodic_part.train(batch).items()})
        return stats

    def state_dict(self) -> dict[str, Any]:
        """Both halves' learned state."""
        return {
            "global": self.global_part.state_dict(),
            "episodic": self.episodic_part.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore both halves."""
        self.global_part.load_state_dict(state["global"])
        self.episodic_part.load_state_dict(state["episodic"])


class GlobalEpisodicBonus(IntrinsicShaper):
    """A global novelty bonus combined with an episodic one, the seed paper's recipe.

    Args:
        env: environment to wrap (any Box, Discrete or Dict observation).
        global_bonus: ``"rnd"`` or ``"count"``.
        episodic_bonus: ``"e3b"`` or ``"count"``.
        combine: ``"product"`` (the paper's best) or ``"sum"``.
        global_kwargs: settings of a learned global half (those of ``rnd``), as a dict.
        episodic_kwargs: settings of a learned episodic half (those of ``e3b``), as a dict.
        key: state key of count halves: ``"env"`` or ``"observation"``.
        seed: seed of the global half (the episodic half gets ``seed + 1``).
        update_every, coef_decay, online, coef, normalize, clip, name: see
            :class:`~densegym.rewards.intrinsic.shaper.IntrinsicShaper`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> spec = {"id": "global_episodic", "global_bonus": "count", "episodic_bonus": "count"}
        >>> env = gym.make("densegym/MiniHack-Room-5x5-v0", shaping=spec)
        >>> _ = env.reset(seed=0)
        >>> first = env.step(1)[4]["reward_terms"]["global_episodic"]  # a new cell
        >>> again = env.step(3)[4]["reward_terms"]["global_episodic"]  # back to the start
        >>> bool(first > again > 0)
        True
    """

    registry_name = "global_episodic"
    module_cls = GlobalEpisodicModule
    requires = ("ArrayObservations",)

    @classmethod
    def requirements(cls, kwargs: dict[str, Any]) -> tuple[str, ...]:
        """Networks need array observations; two count halves need nothing."""
        halves = (kwargs.get("global_bonus", "rnd"), kwargs.get("episodic_bonus", "e3b"))
        return () if halves == ("count", "count") else cls.requires

    def __init__(
        self,
        env: gym.Env,
        *,
        global_bonus: str = "rnd",
        episodic_bonus: str = "e3b",
        combine: str = "product",
        global_kwargs: dict[str, Any] | None = None,
        episodic_kwargs: dict[str, Any] | None = None,
        key: str = "env",
        seed: int = 0,
        update_every: int = 64,
        coef_decay: dict[str, Any] | None = None,
        online: bool = True,
        coef: float = 0.05,
        normalize: bool = True,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, **self._saved_kwargs)
