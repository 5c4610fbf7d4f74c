"""A constant per-step penalty: the simplest dense term."""

from __future__ import annotations

import gymnasium as gym

from densegym.rewards.core import ShapedReward, Transition


class StepPenalty(ShapedReward):
    """Adds ``-penalty`` at every step, rewarding shorter episodes.

    Args:
        env: environment to wrap.
        penalty: magnitude of the per-step penalty (must be >= 0).
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0", shaping={"id": "step_penalty"})
        >>> _ = env.reset(seed=0)
        >>> env.step(0)[1]
        -0.01
    """

    registry_name = "step_penalty"
    requires = ()

    def __init__(
        self,
        env: gym.Env,
        *,
        penalty: float = 0.01,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        if not isinstance(penalty, (int, float)) or penalty < 0:
            raise ValueError(f"step_penalty: penalty must be a number >= 0, got {penalty!r}")
        self.penalty = float(penalty)

    def reward_term(self, transition: Transition) -> float:
        """Return ``-penalty``."""
        return -self.penalty
