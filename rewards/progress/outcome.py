"""``outcome``: the verifier's 0/1 at the end of the episode (the ORM baseline, named)."""

from __future__ import annotations

import gymnasium as gym

from densegym.rewards.core import ShapedReward, Transition


class OutcomeReward(ShapedReward):
    """The outcome term: 1 when the episode ends with a correct answer, else 0.

    Reasoning envs already pay this as their extrinsic reward; the explicit term exists
    so that comparisons name their baseline (``shaping="outcome"``) and so that an
    outcome reward can be weighted against dense terms (``coef``). Reads
    ``info["is_success"]`` on the last step.

    Args:
        env: the environment to wrap (any env that reports ``info["is_success"]``).
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1, shaping="outcome")
        >>> _ = env.reset(seed=0)
        >>> done, terms = False, []
        >>> while not done:
        ...     _, _, done, _, info = env.step(env.unwrapped.oracle_step())
        ...     terms.append(info["reward_terms"]["outcome"])
        >>> terms
        [0.0, 0.0, 1.0]
    """

    registry_name = "outcome"
    requires = ()

    def __init__(
        self,
        env: gym.Env,
        *,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)

    def reward_term(self, transition: Transition) -> float:
        """Return 1.0 on a successful last step, else 0.0."""
        done = transition.terminated or transition.truncated
        return float(done and bool(transition.info.get("is_success", False)))
