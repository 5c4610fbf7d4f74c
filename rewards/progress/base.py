"""The shared base of step-level reasoning rewards: state tracking and guards."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from densegym.envs.reasoning.base import ReasoningState
from densegym.rewards.core import ShapedReward, Transition
from densegym.rewards.progress.guards import StepGuard
from densegym.rewards.progress.state import step_chain_env


class StepRewardShaper(ShapedReward):
    """A shaper whose term depends on the reasoning state before and after each step.

    It reads the states from ``env.unwrapped`` (``get_state()``), never from the action,
    so it works whether it wraps the text env or a ``CandidateActions`` view of it (the
    step just written is ``after.steps[-1]``). Subclasses implement :meth:`step_reward`.

    Args:
        env: a reasoning env (possibly wrapped).
        guard: ``None``, ``"clip"`` or ``"delta"`` (see
            :mod:`densegym.rewards.progress.guards`).
        threshold: the Clip threshold.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.
    """

    #: Reads the reasoning state before and after each step (``get_state()``).
    requires = ("Snapshotable", "HasStepChain")

    def __init__(
        self,
        env: gym.Env,
        *,
        guard: str | None = None,
        threshold: float = 0.0,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        self.base_env = step_chain_env(env)
        self.guard = StepGuard(guard, threshold)
        self._before: ReasoningState | None = None

    def step_reward(
        self, before: ReasoningState, after: ReasoningState, transition: Transition
    ) -> float:
        """Return the raw (unguarded) reward of the step that led from ``before`` to ``after``."""
        raise NotImplementedError

    def on_episode_start(self, state: ReasoningState) -> None:
        """Hook called after reset with the initial state."""

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Remember the initial state and reset the guard."""
        self._before = self.base_env.get_state()
        self.guard.reset()
        self.on_episode_start(self._before)

    def reward_term(self, transition: Transition) -> float:
        """Return the guarded step reward."""
        after = self.base_env.get_state()
        before = self._before if self._before is not None else after
        raw = float(self.step_reward(before, after, transition))
        self._before = after
        return self.guard(raw, done=transition.terminated or transition.truncated)
