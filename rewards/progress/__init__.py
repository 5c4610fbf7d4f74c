"""Progress-based step rewards for multi-step reasoning: PAV, process reward models, implicit PRMs.

Shapers (registry names): ``outcome`` (the verifier's 0/1 at the end), ``pav``
(progress ``V̂(s′) − V̂(s)`` under a prover), ``prm`` (a PRM trained from Monte-Carlo
step labels) and ``implicit_prm`` (``β · log π_θ/π_ref`` per step). Learned step
rewards take ``guard="clip"`` or ``guard="delta"`` to keep episode sums bounded.

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1,
    ...                shaping={"id": "pav", "prover": "oracle", "estimator": "closed_form"})
    >>> _ = env.reset(seed=0)
    >>> env.step(env.unwrapped.oracle_step())[4]["reward_terms"]["pav"]  # V̂ stays 1
    0.0
"""

from densegym.rewards.progress.guards import StepGuard
from densegym.rewards.progress.implicit import (
    ImplicitPRM,
    ImplicitPRMReward,
    OutcomeExample,
    collect_outcome_examples,
    train_implicit_prm,
)
from densegym.rewards.progress.outcome import OutcomeReward
from densegym.rewards.progress.pav import ProgressAdvantageReward, make_value_estimator
from densegym.rewards.progress.prm import (
    PRMTrainResult,
    ProcessRewardShaper,
    fit_prm,
    rank_accuracy,
    train_prm,
)
from densegym.rewards.progress.prm_data import StepExample, collect_step_labels
from densegym.rewards.progress.prm_model import PRM
from densegym.rewards.progress.value import ModelValue, ProverValue, ValueEstimator

__all__ = [
    "PRM",
    "ImplicitPRM",
    "ImplicitPRMReward",
    "ModelValue",
    "OutcomeExample",
    "OutcomeReward",
    "PRMTrainResult",
    "ProcessRewardShaper",
    "ProgressAdvantageReward",
    "ProverValue",
    "StepExample",
    "StepGuard",
    "ValueEstimator",
    "collect_outcome_examples",
    "collect_step_labels",
    "fit_prm",
    "make_value_estimator",
    "rank_accuracy",
    "train_implicit_prm",
    "train_prm",
]
