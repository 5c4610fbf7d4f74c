"""Token advantages of the LM trainers: one value per generated step of a group of rollouts.

A group is ``G`` rollouts of one task. Each rollout is a list of steps, and each step
has two rewards: its **outcome** part (the ``extrinsic`` term: the task's own reward,
nonzero at the end of a solved episode) and its **process** part (everything the run's
``shaping`` adds at that step: ``pav`` progress, ``prm`` scores, ``potential``,
guards...). Every token of a step gets its step's advantage. The modes:

* ``"process"`` -- DeepSeekMath's process-supervised GRPO (Shao et al. 2024, 4.1.3):
  every step reward (outcome + process) of the group is normalised together,
  ``(r - mean) / (std + eps)`` (population std), and a step gets the sum of the
  normalised rewards of its own and every later step. With ``process_weight`` ``w`` < 1
  the result is ``w * process + (1 - w) * outcome``.
* ``"outcome"`` -- plain GRPO: one normalised outcome per rollout,
  ``(o_i - mean(o)) / (std(o) + eps)`` with the *sample* std, as TRL's GRPOTrainer
  computes it; every step of rollout ``i`` shares it.
* ``"pav"`` -- PAV (Setlur et al. 2024, "Rewarding Progress"): the outcome advantage plus
  the sum of the process rewards of the step and every later step (the progress
  rewards are not normalised; their scale is the shaper's ``coef``).
* ``"rloo"`` -- the leave-one-out baseline (RLOO, Ahmadian et al. 2024; LOOP, Chen et al.
  2025): ``R_i - mean_{j != i} R_j`` with ``R`` the rollout's whole shaped return.

With every process reward zero, ``"pav"`` and ``"process"`` with ``process_weight=0``
give exactly the ``"outcome"`` (plain GRPO) advantages.

Example:
    >>> step_advantages("rloo", [[0.0, 1.0], [0.0], [0.0]], [[0.0, 1.0], [0.0], [0.0]])
    [[1.0, 1.0], [-0.5], [-0.5]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: The advantage modes of ``lm:grpo`` (``"rloo"`` is ``lm:rloo``'s).
GRPO_MODES = ("process", "outcome", "pav")
ADVANTAGE_MODES = (*GRPO_MODES, "rloo")

#: Added to the std (a group of equal rewards gets zero advantages).
EPS = 1e-4

Steps = Sequence[Sequence[float]]


def _suffix_sums(values: Sequence[float]) -> list[float]:
    acc, out = 0.0, []
    for value in reversed(values):
        acc += value
        out.append(acc)
    return out[::-1]


def process_advantages(
    rewards: Steps, eps: float = EPS, digits: int | None = 4
) -> list[list[float]]:
    """Process-supervised GRPO advantages of one group, one value per step.

    All step rewards of the group (every rollout, every step) are normalised together,
    ``(r - mean) / (std + eps)`` with the population std; the advantage of step ``j``
    of a rollout is the sum of its normalised rewards from step ``j`` on. Every token
    of a step shares its step's advantage.

    Args:
        rewards: per rollout, its step rewards in order.
        eps: added to the std (a group of equal rewards gets zero advantages).
        digits: round the result (``None``: keep full precision).

    Returns:
        The advantages, shaped like ``rewards``.

    Example:
        >>> process_advantages([[1.0, 1.0], [1.0]])
        [[0.0, 0.0], [0.0]]
        >>> process_advantages([[0.0, 0.0, 1.0], [0.0, 0.0]], digits=3)
        [[1.0, 1.5, 2.0], [-1.0, -0.5]]
    """
    flat = [float(r) for rollout in rewards for r in rollout]
    if not flat:
        return [[] for _ in rewards]
    mean = math.fsum(flat) / len(flat)
    std = math.sqrt(math.fsum((r - mean) ** 2 for r in flat) / len(flat))
    out = []
    for rollout in rewards:
        suffix = _suffix_sums([(float(r) - mean) / (std + eps) for r in rollout])
        out.append([round(v, digits) if digits is not None else v for v in suffix])
    return out


def outcome_advantages(outcomes: Sequence[float], eps: float = EPS) -> list[float]:
    """Plain GRPO's advantage of each rollout: its outcome normalised within the group.

    ``(o_i - mean) / (std + eps)`` with the sample (Bessel-corrected) std, as TRL's
    ``GRPOTrainer`` scales rewards (``scale_rewards="group"``).

    Example:
        >>> [round(a, 3) for a in outcome_advantages([1.0, 0.0, 0.0, 0.0])]
        [1.5, -0.5, -0.5, -0.5]
    """
    values = [float(o) for o in outcomes]
    if len(values) < 2:
        return [0.0] * len(values)
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((o - mean) ** 2 for o in values) / (len(values) - 1))
    return [(o - mean) / (std + eps) for o in values]


def rloo_advantages(returns: Sequence[float]) -> list[float]:
    """Leave-one-out advantages: each return minus the mean of the *other* returns.

    Example:
        >>> rloo_advantages([3.0, 1.0, 2.0])
        [1.5, -1.5, 0.0]
    """
    values = [float(r) for r in returns]
    n = len(values)
    if n < 2:
        return [0.0] * n
    total = math.fsum(values)
    return [r - (total - r) / (n - 1) for r in values]


def step_advantages(
    mode: str,
    rewards: Steps,
    outcome: Steps,
    *,
    process_weight: float = 1.0,
    eps: float = EPS,
) -> list[list[float]]:
    """The advantage of every step of a group under ``mode`` (see the module docstring).

    Args:
        mode: one of :data:`ADVANTAGE_MODES`.
        rewards: per rollout, each step's whole shaped reward (outcome + process).
        outcome: per rollout, each step's outcome part (the ``extrinsic`` term); the
            process part of a step is ``reward - outcome``.
        process_weight: for ``"process"``, the weight of the process advantage against
            the outcome one (1: pure process supervision, 0: plain GRPO).
        eps: added to the stds.

    Returns:
        Per rollout, one advantage per step.

    Raises:
        ValueError: an unknown mode, a weight outside [0, 1], or ``rewards`` and
            ``outcome`` shaped differently.

    Example:
        >>> rewards = [[0.5, 0.5, 1.0], [0.0, 0.0, 0.0]]  # progress 0.5 twice, then solved
        >>> outcome = [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
        >>> [[round(a, 3) for a in r] for r in step_advantages("pav", rewards, outcome)]
        [[1.707, 1.207, 0.707], [-0.707, -0.707, -0.707]]
    """
    if mode not in ADVANTAGE_MODES:
        raise ValueError(f"unknown advantage mode {mode!r}; known: {', '.join(ADVANTAGE_MODES)}")
    weight = float(process_weight)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"process_weight must be in [0, 1], got {process_weight!r}")
    if [len(r) for r in rewards] != [len(o) for o in outcome]:
        raise ValueError("rewards and outcome must have one value per step of every rollout")
    outcomes = [math.fsum(o) for o in outcome]
    if mode == "rloo":
        per_rollout = rloo_advantages([math.fsum(r) for r in rewards])
        return [[a] * len(r) for a, r in zip(per_rollout, rewards)]
    grpo = outcome_advantages(outcomes, eps)
    if mode == "outcome" or (mode == "process" and weight == 0.0):
        return [[a] * len(r) for a, r in zip(grpo, rewards)]
    if mode == "pav":
        out = []
        for a, r, o in zip(grpo, rewards, outcome):
            progress = [float(x) - float(y) for x, y in zip(r, o)]
            out.append([a + later for later in _suffix_sums(progress)])
        return out
    process = process_advantages(rewards, eps, digits=None)
    if weight == 1.0:
        return process
    return [[weight * p + (1.0 - weight) * a for p in steps] for a, steps in zip(grpo, process)]
