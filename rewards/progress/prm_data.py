"""Monte-Carlo step labels for process reward models (Math-Shepherd / OmegaPRM style).

A policy writes a solution; after each of its steps, a completer (a prover) finishes the
solution ``n`` times from there. The step's label is

* ``"hard"``: 1 if any completion succeeds (the step can still lead to a right answer);
* ``"soft"``: the completions' success rate (an estimate of the completer's V̂);
* ``"outcome"``: the written solution's own final result, for every step (what an
  outcome reward model is trained on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from densegym.envs.reasoning.provers import Prover, make_prover
from densegym.rewards.progress.state import question_of

#: Accepted label kinds.
LABELS = ("hard", "soft", "outcome")


@dataclass(frozen=True)
class StepExample:
    """One labelled partial solution.

    Attributes:
        question: the task's question.
        steps: the steps written so far (the newest one is being labelled).
        label: a target in [0, 1].
        problem: index of the problem it comes from (for held-out splits).
    """

    question: str
    steps: tuple[str, ...]
    label: float
    problem: int = 0


def collect_step_labels(
    env: str | gym.Env = "densegym/WordProblems-v0",
    policy: str | Prover = "oracle-0.7",
    completer: str | Prover | None = None,
    n_problems: int = 32,
    n_rollouts: int = 8,
    labels: str = "hard",
    seed: int = 0,
    max_steps: int = 16,
    env_kwargs: dict[str, Any] | None = None,
) -> list[StepExample]:
    """Roll out ``policy`` on ``n_problems`` problems and label every step by Monte Carlo.

    Args:
        env: a reasoning env id (made with ``env_kwargs``) or instance.
        policy: the prover that writes the solutions (spec or instance).
        completer: the prover that finishes them for the labels (default: ``policy``).
        n_problems: problems, reset with seeds ``seed``, ``seed + 1``, ...
        n_rollouts: completions per step (ignored for ``"outcome"`` labels).
        labels: ``"hard"``, ``"soft"`` or ``"outcome"``.
        seed: first problem seed; also seeds the provers.
        max_steps: steps per solution and per completion.
        env_kwargs: kwargs for ``gym.make``.

    Returns:
        One :class:`StepExample` per written step.

    Example:
        >>> data = collect_step_labels("densegym/Arithmetic-v0", "oracle-0.7",
        ...                            n_problems=3, n_rollouts=4,
        ...                            env_kwargs={"difficulty": 1})
        >>> len(data) >= 3, all(0.0 <= d.label <= 1.0 for d in data)
        (True, True)
    """
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    own = isinstance(env, str)
    environment = gym.make(env, **(env_kwargs or {})) if own else env
    writer = make_prover(policy, seed=seed)
    finisher = make_prover(completer, seed=seed + 1) if completer is not None else writer
    examples: list[StepExample] = []
    try:
        for problem in range(n_problems):
            environment.reset(seed=seed + problem)
            base = environment.unwrapped.clone()
            states = []
            for _ in range(max_steps):
                step = writer.act_batch([base.observation()], [base])[0]
                _, _, terminated, _, _ = base.step(step)
                states.append(base.get_state())
                if terminated:
                    break
            final = states[-1]
            for index, state in enumerate(states):
                if labels == "outcome" or state.done:
                    label = float(final.success if labels == "outcome" else state.success)
                else:
                    left = max(max_steps - index - 1, 1)
                    results = finisher.rollouts(state, n_rollouts, max_steps=left)
                    rate = sum(r.success for r in results) / len(results)
                    label = rate if labels == "soft" else float(rate > 0)
                examples.append(StepExample(question_of(state), state.steps, label, problem))
    finally:
        if own:
            environment.close()
    return examples
