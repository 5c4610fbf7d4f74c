"""Shapers for tool-use worlds: a per-call cost term and a discovery bonus for needed ids.

Both read only what the env already exposes: ``info["call_cost"]`` (every tool env
reports the called tool's cost) and, for the discovery bonus, the base env's
``needed_entities()`` / ``seen_entities()`` (the ids the task's gold plan reveals, and
those shown so far). Envs without them get a term of 0, so both shapers stack on any
registered env.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym

from densegym.rewards.core import ShapedReward, Transition

__all__ = ["CallCost", "DiscoveryBonus", "tracks_entities"]


def _number(value: Any, what: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}: {what} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{owner}: {what} must be a finite number >= 0, got {value!r}")
    return float(value)


class CallCost(ShapedReward):
    """Adds ``-scale * info["call_cost"]`` per step: the tool's price, CoSTA*-style.

    Tool envs report each call's cost (0 for an unreadable call); this term makes a
    policy pay for it, so cheaper plans to the same outcome earn more. Envs without the
    key (or with a non-finite or negative value there) get a term of 0.

    Args:
        env: environment to wrap.
        scale: λ, the price of one unit of cost (must be >= 0).
        key: the ``info`` key that holds the step's cost.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> spec = {"id": "call_cost", "scale": 0.05}
        >>> env = gym.make("densegym/ToolShop-Orders-v0", shaping=spec)
        >>> _ = env.reset(seed=0)
        >>> info = env.step(env.unwrapped.oracle_step())[4]
        >>> info["call_cost"], info["reward_terms"]["call_cost"]
        (1.0, -0.05)
    """

    registry_name = "call_cost"
    requires = ()

    def __init__(
        self,
        env: gym.Env,
        *,
        scale: float = 0.01,
        key: str = "call_cost",
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        self.scale = _number(scale, "scale", "call_cost")
        if not isinstance(key, str) or not key:
            raise ValueError(f"call_cost: key must be a non-empty info key, got {key!r}")
        self.key = key

    def reward_term(self, transition: Transition) -> float:
        """Return ``-scale * cost`` for the step (0 when the env reports no usable cost)."""
        cost = transition.info.get(self.key)
        if isinstance(cost, bool) or not isinstance(cost, (int, float)):
            return 0.0
        if not math.isfinite(cost) or cost <= 0:
            return 0.0
        return -self.scale * float(cost)


def tracks_entities(env: gym.Env) -> bool:
    """Whether the base env says which ids its task needs and which it has shown.

    Example:
        >>> import gymnasium as gym, densegym
        >>> tracks_entities(gym.make("densegym/ToolShop-Lookup-v0"))
        True
        >>> tracks_entities(gym.make("densegym/MountainCarSparse-v0"))
        False
    """
    base = env.unwrapped
    return callable(getattr(base, "needed_entities", None)) and callable(
        getattr(base, "seen_entities", None)
    )


class DiscoveryBonus(ShapedReward):
    """Pays once per episode for each id the task needs, on its first sight.

    A count-style bonus in text space: the first time a tool result shows a value the
    task's gold plan reveals (a user id, an order id, a fact), the step earns
    ``bonus / len(needed)``; a value seen again, or already in the request, earns
    nothing. An episode's bonus is therefore at most ``bonus`` by construction, however
    a policy repeats or reorders its reads. The base env tells the ids
    (``needed_entities()`` / ``seen_entities()``, as :class:`~densegym.envs.tools.ToolEnv`
    does, see :func:`tracks_entities`); other envs get a term of 0.

    Args:
        env: environment to wrap.
        bonus: the most the term pays in one episode (must be >= 0).
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/ToolShop-Orders-v0", shaping={"id": "discovery", "bonus": 0.2})
        >>> _ = env.reset(seed=0)
        >>> sorted(env.unwrapped.needed_entities())
        ['#W4801824', 'mason_jensen_4589']
        >>> find_user = env.unwrapped.oracle_step()
        >>> env.step(find_user)[4]["reward_terms"]["discovery"]  # shows the user id
        0.1
        >>> env.step(find_user)[4]["reward_terms"]["discovery"]  # the same id again
        0.0
    """

    registry_name = "discovery"
    requires = ()

    def __init__(
        self,
        env: gym.Env,
        *,
        bonus: float = 0.1,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        self.bonus = _number(bonus, "bonus", "discovery")
        self.tracking = tracks_entities(env)
        self._paid: frozenset[str] = frozenset()
        self._needed = 0

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Count the ids the new task needs; those the request already shows never pay."""
        if not self.tracking:
            return
        base = self.env.unwrapped
        self._needed = len(base.needed_entities())
        self._paid = frozenset(base.seen_entities())

    @property
    def paid(self) -> frozenset[str]:
        """The needed ids seen so far this episode (paid for, or shown by the request)."""
        return self._paid

    def reward_term(self, transition: Transition) -> float:
        """Return ``bonus / len(needed)`` for each needed id first seen at this step."""
        if not self.tracking or not self._needed:
            return 0.0
        seen = frozenset(self.env.unwrapped.seen_entities())
        new = seen - self._paid
        if not new:
            return 0.0
        self._paid = self._paid | new
        return self.bonus * len(new) / self._needed
