"""A bounded penalty for malformed actions that a text world flagged in ``info``."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym

from densegym.rewards.core import ShapedReward, Transition

#: The ``info`` flags densegym's text worlds set on a malformed action: reasoning steps
#: (``invalid_step``) and tool calls (``invalid_call``).
DEFAULT_FLAGS = ("invalid_step", "invalid_call")


class InvalidActionPenalty(ShapedReward):
    """Adds ``-penalty`` on a step whose action the env flagged as malformed.

    Text worlds never raise on bad input: they flag it in ``info`` and go on. This term
    makes the flag cost something, and never more than ``penalty`` per step, so a
    policy cannot be driven to an unbounded return by it. Envs that set none of the
    flags get a term of 0.

    Args:
        env: environment to wrap.
        penalty: magnitude of the penalty (must be >= 0).
        flags: the boolean ``info`` keys that mark a malformed action.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", shaping="invalid_penalty")
        >>> _ = env.reset(seed=0)
        >>> env.step("Answer:")[4]["reward_terms"]["invalid_penalty"]  # an answer with no number
        -0.1
    """

    registry_name = "invalid_penalty"
    requires = ()

    def __init__(
        self,
        env: gym.Env,
        *,
        penalty: float = 0.1,
        flags: Sequence[str] = DEFAULT_FLAGS,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        if isinstance(flags, str) or not all(isinstance(flag, str) for flag in flags):
            raise TypeError(f"invalid_penalty: flags must be a list of info keys, got {flags!r}")
        flags = list(flags)  # a list, as the spec's JSON round trip gives it back
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        if not isinstance(penalty, (int, float)) or not 0 <= penalty < float("inf"):
            raise ValueError(f"invalid_penalty: penalty must be a number >= 0, got {penalty!r}")
        self.penalty = float(penalty)
        self.flags = tuple(flags)

    def reward_term(self, transition: Transition) -> float:
        """Return ``-penalty`` when any flag is set in the step's info, else 0."""
        flagged = any(transition.info.get(flag) is True for flag in self.flags)
        return -self.penalty if flagged else 0.0
