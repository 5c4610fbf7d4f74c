"""Reading reasoning episodes: the unwrapped env, state keys and solution text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from densegym.envs.reasoning.base import ReasoningEnv, ReasoningState


def reasoning_env(env: gym.Env) -> ReasoningEnv:
    """Return the reasoning env under any wrappers (a clear error otherwise).

    Example:
        >>> import gymnasium as gym, densegym
        >>> type(reasoning_env(gym.make("densegym/Arithmetic-v0"))).__name__
        'ArithmeticEnv'
    """
    base = env.unwrapped
    if not isinstance(base, ReasoningEnv):
        raise TypeError(
            "progress rewards need a densegym reasoning env (Arithmetic, WordProblems, "
            f"Countdown, GSM8K or a view of one), got {type(base).__name__}"
        )
    return base


def question_of(state: ReasoningState) -> str:
    """Return the question text of a state's task."""
    return str(state.task.question)


def state_key(state: ReasoningState) -> tuple[Any, ...]:
    """A hashable key: same question and same steps written → same key.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0"); _ = env.reset(seed=0)
        >>> state_key(env.unwrapped.get_state())[1:]
        ((), False, False)
    """
    return (question_of(state), tuple(state.steps), bool(state.done), bool(state.success))


def solution_prompt(question: str, steps: Sequence[str]) -> str:
    """The text a step is conditioned on: the question, then the steps so far.

    Example:
        >>> print(solution_prompt("What is 2 + 3?", ["2 + 3 = 5"]))
        Question: What is 2 + 3?
        Solution:
        2 + 3 = 5
        <BLANKLINE>
    """
    return f"Question: {question}\nSolution:\n" + "".join(f"{s}\n" for s in steps)


def step_continuation(step: str) -> str:
    """The continuation that one step adds to :func:`solution_prompt` (the step and a newline)."""
    return f"{step}\n"
