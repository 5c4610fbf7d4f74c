"""Reward shaping for densegym: the wrapper contract, the registry and the shapers.

Shapers are requested by data (``None``, a name, a dict or a list of those) and
stacked as Gymnasium wrappers; each adds one named term to ``info["reward_terms"]``.

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym import rewards
    >>> "potential" in rewards.available()
    True
    >>> env = gym.make("densegym/MountainCarSparse-v0", shaping=["potential", "step_penalty"])
    >>> _ = env.reset(seed=0)
    >>> sorted(env.step(2)[4]["reward_terms"])
    ['extrinsic', 'potential', 'step_penalty']
"""

if __name__ != "densegym.rewards":  # pragma: no cover - guard against `import rewards`
    raise ImportError(
        "The rewards/ folder is installed as `densegym.rewards`; import it under that name "
        "(a bare `import rewards` would register shapers twice)."
    )

from densegym.rewards.batching import fold_batched, run_shaping_label, split_batched
from densegym.rewards.core import LearnedShaper, RunningMeanStd, ShapedReward, Transition
from densegym.rewards.registry import (
    apply_shaping,
    available,
    find_shapers,
    make,
    normalize_spec,
    register,
    shaping_label,
)
from densegym.rewards.terms import TermPipeline

__all__ = [
    "LearnedShaper",
    "RunningMeanStd",
    "ShapedReward",
    "TermPipeline",
    "Transition",
    "apply_shaping",
    "available",
    "find_shapers",
    "fold_batched",
    "make",
    "normalize_spec",
    "register",
    "run_shaping_label",
    "shaping_label",
    "split_batched",
]
