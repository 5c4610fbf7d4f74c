"""``pav``: progress rewards — the change in a prover's success probability per step.

"Rewarding Progress: Scaling Automated Process Verifiers for LLM Reasoning" (Setlur et
al., 2024): a step's reward is its *advantage under a prover policy*,
``A(s, a) = V̂(s′) − V̂(s)``, where V̂ is the chance that a prover (distinct from the
policy being trained) finishes correctly from the state. Provers continue from the steps
already written, right or wrong, so a wrong step lowers V̂ and a wrong final answer
drives it to 0. The paper combines it with the outcome reward as
``r = outcome + α · progress``; here the extrinsic reward is the outcome and this term
is ``α · progress``.

The episode sum of the term telescopes to ``α · (V̂(s_T) − V̂(s_0))``, and V̂(s_T) is
the outcome once an answer is given, so progress cannot be farmed.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from densegym.envs.reasoning.base import ReasoningState
from densegym.envs.reasoning.provers import Prover
from densegym.rewards.core import Transition
from densegym.rewards.progress.base import StepRewardShaper
from densegym.rewards.progress.value import ModelValue, ProverValue, ValueEstimator


def make_value_estimator(
    prover: str | Prover = "oracle-0.7",
    n_rollouts: int = 16,
    estimator: str = "mc",
    value_model: str | None = None,
    max_steps: int | None = None,
    seed: int = 0,
) -> ValueEstimator:
    """Build the V̂ a ``pav`` spec asks for (``estimator``: ``mc``, ``closed_form``, ``model``).

    Example:
        >>> make_value_estimator("oracle-0.5", estimator="closed_form").method
        'closed_form'
    """
    if estimator == "model" or value_model is not None:
        if value_model is None:
            raise ValueError("estimator='model' needs value_model=<path to a saved PRM>")
        return ModelValue(value_model)
    return ProverValue(prover, n_rollouts, estimator, max_steps=max_steps, seed=seed)


class ProgressAdvantageReward(StepRewardShaper):
    """Progress term ``α · (V̂(s′) − V̂(s))`` with V̂ a prover's success probability.

    Args:
        env: a reasoning env or a view of one.
        prover: prover spec (``"oracle-0.7"``, ``"llm:smollm2"``, ...) for V̂.
        n_rollouts: Monte-Carlo rollouts per state.
        estimator: ``"mc"`` (rollouts), ``"closed_form"`` (noisy oracle) or ``"model"``.
        value_model: path to a saved PRM used as V̂ (a trained process advantage
            verifier; implies ``estimator="model"``).
        alpha: weight of progress relative to the outcome (extrinsic) reward.
        max_steps: steps a prover rollout may take.
        seed: seed of the rollouts.
        guard, threshold: see :class:`~densegym.rewards.progress.base.StepRewardShaper`.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    ``info["progress_value"]`` holds V̂(s′) after every step.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1,
        ...                shaping={"id": "pav", "prover": "oracle-0.5",
        ...                         "estimator": "closed_form"})
        >>> _ = env.reset(seed=0)                      # V̂(s0) = 0.5 ** 3
        >>> info = env.step(env.unwrapped.oracle_step())[4]
        >>> info["reward_terms"]["pav"], info["progress_value"]   # 0.5**2 - 0.5**3
        (0.125, 0.25)
    """

    registry_name = "pav"
    requires = ("Snapshotable", "HasStepChain")

    @classmethod
    def requirements(cls, kwargs: dict[str, Any]) -> tuple[str, ...]:
        """Snapshots always; the env's oracle too when V̂ comes from an oracle prover."""
        prover = kwargs.get("prover", "oracle-0.7")
        oracle = isinstance(prover, str) and prover.strip().startswith("oracle")
        if oracle and kwargs.get("value_model") is None and kwargs.get("estimator") != "model":
            return (*cls.requires, "HasOracle")
        return cls.requires

    def __init__(
        self,
        env: gym.Env,
        *,
        prover: str = "oracle-0.7",
        n_rollouts: int = 16,
        estimator: str = "mc",
        value_model: str | None = None,
        alpha: float = 1.0,
        max_steps: int | None = None,
        seed: int = 0,
        guard: str | None = None,
        threshold: float = 0.0,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(
            env,
            guard=guard,
            threshold=threshold,
            coef=coef,
            normalize=normalize,
            clip=clip,
            name=name,
        )
        self.alpha = float(alpha)
        self.estimator = make_value_estimator(
            prover, n_rollouts, estimator, value_model, max_steps, seed
        )
        self._value_before = 0.0

    def value(self, state: ReasoningState) -> float:
        """Return V̂(state)."""
        return self.estimator(state)

    def on_episode_start(self, state: ReasoningState) -> None:
        """Estimate V̂(s_0)."""
        self._value_before = self.value(state)

    def step_reward(
        self, before: ReasoningState, after: ReasoningState, transition: Transition
    ) -> float:
        """Return ``α · (V̂(after) − V̂(before))``."""
        value_after = self.value(after)
        transition.info["progress_value"] = value_after
        progress = value_after - self._value_before
        self._value_before = value_after
        return self.alpha * progress

    def state_dict(self) -> dict[str, Any]:
        """Normalisation statistics (the value cache is rebuilt on demand)."""
        return super().state_dict()
