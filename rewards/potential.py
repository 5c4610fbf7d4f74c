"""Potential-based shaping F = γ·Φ(s′) − Φ(s) (Ng, Harada & Russell, 1999).

Potential-based terms leave the optimal policy unchanged. Φ is a registered function
of the unwrapped env and its observation; each env names a sensible default in
``env.unwrapped.default_potential``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.protocols import HasPotential
from densegym.rewards.core import ShapedReward, Transition

#: A potential maps (unwrapped env, observation) to a float.
Potential = Callable[[gym.Env, Any], float]

_POTENTIALS: dict[str, Potential] = {}
#: What each potential reads from its env: methods of the unwrapped env, an observation shape.
_NEEDS: dict[str, tuple[tuple[str, ...], tuple[int, ...] | None]] = {}


def register_potential(
    name: str,
    fn: Potential | None = None,
    *,
    needs: tuple[str, ...] = (),
    obs_shape: tuple[int, ...] | None = None,
):
    """Register a potential function under ``name`` (directly or as a decorator).

    Args:
        name: the name specs use.
        fn: the function (omit to use this as a decorator).
        needs: methods the unwrapped env must have (checked when the shaper is built).
        obs_shape: the observation shape the function reads (checked likewise).

    Example:
        >>> @register_potential("constant_one")
        ... def constant_one(env, obs):
        ...     return 1.0
        >>> "constant_one" in available_potentials()
        True
    """

    def _add(func: Potential) -> Potential:
        _POTENTIALS[name] = func
        _NEEDS[name] = (tuple(needs), None if obs_shape is None else tuple(obs_shape))
        return func

    return _add if fn is None else _add(fn)


def available_potentials() -> list[str]:
    """Return the registered potential names, sorted."""
    return sorted(_POTENTIALS)


def get_potential(name: str) -> Potential:
    """Look up a potential by name; unknown names list the registered ones."""
    if name not in _POTENTIALS:
        raise ValueError(
            f"unknown potential {name!r}; "
            f"registered potentials: {', '.join(available_potentials())}"
        )
    return _POTENTIALS[name]


def potential_misfit(name: str, env: gym.Env) -> str | None:
    """Why potential ``name`` cannot read ``env`` (a method or shape it lacks), or ``None``.

    Example:
        >>> import gymnasium as gym, densegym
        >>> potential_misfit("minihack_goal_distance", gym.make("densegym/MountainCarSparse-v0"))
        'it reads env.goal_distance(), env.max_distance(), which MountainCarSparseEnv lacks'
        >>> potential_misfit("mountaincar_height", gym.make("densegym/MountainCarSparse-v0"))
    """
    methods, shape = _NEEDS.get(name, ((), None))
    base = env.unwrapped
    missing = [m for m in methods if not callable(getattr(base, m, None))]
    if missing:
        listed = ", ".join(f"env.{m}()" for m in missing)
        return f"it reads {listed}, which {type(base).__name__} lacks"
    space_shape = getattr(env.observation_space, "shape", None)
    if shape is not None and tuple(space_shape or ()) != shape:
        have = space_shape if space_shape else type(env.observation_space).__name__
        return f"it reads observations of shape {shape}; this env's are {have}"
    return None


@register_potential("zero")
def zero_potential(env: gym.Env, obs: Any) -> float:
    """Φ ≡ 0 (no shaping); the fallback for envs without a default."""
    return 0.0


# MountainCar physics: v' = v + 0.001·a − 0.0025·cos(3x), so the potential energy per
# unit mass is (0.0025/3)·sin(3x). Potentials are scaled to [0, 1] at rest.
_MC_ENERGY_SCALE = 0.0025 / 3.0
_MC_MIN_ENERGY = -_MC_ENERGY_SCALE  # bottom of the valley, at rest
_MC_GOAL_ENERGY = _MC_ENERGY_SCALE * math.sin(3 * 0.5)  # at the flag, at rest


@register_potential("mountaincar_energy", obs_shape=(2,))
def mountaincar_energy(env: gym.Env, obs: Any) -> float:
    """Mechanical energy (kinetic + potential), 0 at rest in the valley, ≈1 at the flag."""
    position, velocity = float(obs[0]), float(obs[1])
    energy = 0.5 * velocity**2 + _MC_ENERGY_SCALE * math.sin(3 * position)
    return (energy - _MC_MIN_ENERGY) / (_MC_GOAL_ENERGY - _MC_MIN_ENERGY)


@register_potential("mountaincar_height", obs_shape=(2,))
def mountaincar_height(env: gym.Env, obs: Any) -> float:
    """Height of the car on the hill, 0 in the valley, ≈1 at the flag."""
    height = math.sin(3 * float(obs[0]))
    return (height + 1.0) / (math.sin(1.5) + 1.0)


@register_potential("minihack_goal_distance", needs=("goal_distance", "max_distance"))
def minihack_goal_distance(env: gym.Env, obs: Any) -> float:
    """``1 − d/d_max`` for the BFS distance d to the goal when it is visible, else 0.

    This is the negative BFS distance shifted by a constant, so that discovering the
    goal is never penalised by the jump from "unseen" (Φ = 0) to "seen".
    """
    distance = env.goal_distance()
    if distance is None:
        return 0.0
    max_distance = float(env.max_distance())
    return 1.0 - min(distance, max_distance) / max_distance


@register_potential("tool_progress", needs=("progress",))
def tool_progress(env: gym.Env, obs: Any) -> float:
    """Share of the task's checks met (tool envs: verifier predicates met / all), in [0, 1].

    LOOP's fraction of unit tests passed, per step; reads ``env.progress()``.
    """
    return float(env.progress())


@register_potential("web_progress", needs=("shop_progress",))
def web_progress(env: gym.Env, obs: Any) -> float:
    """Stage of a shop purchase in [0, 1]: target listed, its page, each asked option, Buy.

    Reads ``env.shop_progress()`` (:class:`~densegym.envs.web.env.WebShopEnv`).
    """
    return float(env.shop_progress())


@register_potential("web_item_match", needs=("viewed_item_match",))
def web_item_match(env: gym.Env, obs: Any) -> float:
    """Purchase score of the item being viewed, with its options as chosen, in [0, 1].

    Reads ``env.viewed_item_match()`` (:class:`~densegym.envs.web.env.WebShopEnv`): the
    attribute/option/price match of the page's item, 0 off item pages.
    """
    return float(env.viewed_item_match())


@register_potential("web_target_rank", needs=("target_rank_score",))
def web_target_rank(env: gym.Env, obs: Any) -> float:
    """``1 / rank`` of the target among the current query's results, in [0, 1].

    Reads ``env.target_rank_score()`` (:class:`~densegym.envs.web.env.WebShopEnv`).
    """
    return float(env.target_rank_score())


@register_potential("oracle_distance", needs=("oracle_distance",))
def oracle_distance(env: gym.Env, obs: Any) -> float:
    """``−d`` for the oracle's normalised distance to the goal ``d`` in [0, 1] (1: lost).

    Reads ``env.oracle_distance()`` (tool envs: calls the re-planning oracle still needs
    over the gold plan's length).
    """
    return -float(env.oracle_distance())


class PotentialShaping(ShapedReward):
    """Potential-based shaping term F = γ·Φ(s′) − Φ(s), with Φ(terminal) = 0.

    Its discounted episode sum telescopes to γ^T·Φ(s_T) − Φ(s_0), so it changes how
    fast an agent learns, never which policy is optimal.

    Args:
        env: environment to wrap.
        gamma: discount γ; use the agent's own discount.
        potential: registered potential name; default: the env's ``default_potential``.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0",
        ...                shaping={"id": "potential", "gamma": 0.99})
        >>> _ = env.reset(seed=0)
        >>> terms = env.step(2)[4]["reward_terms"]
        >>> terms["extrinsic"], terms["potential"] != 0.0
        (0.0, True)
    """

    registry_name = "potential"
    requires = ("HasPotential",)

    @classmethod
    def requirements(cls, kwargs: dict[str, Any]) -> tuple[str, ...]:
        """The env's default potential is needed only when the spec names none."""
        return () if kwargs.get("potential") else cls.requires

    def __init__(
        self,
        env: gym.Env,
        *,
        gamma: float = 0.99,
        potential: str | None = None,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        if not isinstance(gamma, (int, float)) or not 0.0 <= gamma <= 1.0:
            raise ValueError(f"potential: gamma must be in [0, 1], got {gamma!r}")
        self.gamma = float(gamma)
        base = env.unwrapped
        potential_name = potential or (
            base.default_potential if isinstance(base, HasPotential) else None
        )
        if potential_name is None:
            raise ValueError(
                f"potential: {type(env.unwrapped).__name__} has no default potential; pass "
                f"potential=<name>, one of: {', '.join(available_potentials())}"
            )
        self.potential_name = potential_name
        self.phi = get_potential(potential_name)
        misfit = potential_misfit(potential_name, env)
        if misfit is not None:
            raise ValueError(f"potential {potential_name!r} does not fit this env: {misfit}")
        self._phi_last = 0.0

    def potential_of(self, obs: Any) -> float:
        """Φ of an observation of the wrapped env."""
        return float(self.phi(self.env.unwrapped, obs))

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Cache Φ(s_0)."""
        self._phi_last = self.potential_of(obs)

    def reward_term(self, transition: Transition) -> float:
        """Return γ·Φ(s′) − Φ(s), with Φ(s′) = 0 when s′ is terminal."""
        phi_next = 0.0 if transition.terminated else self.potential_of(transition.next_obs)
        value = self.gamma * phi_next - self._phi_last
        self._phi_last = phi_next
        return value if np.isfinite(value) else math.nan
