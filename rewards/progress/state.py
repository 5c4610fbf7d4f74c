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


def step_chain_env(env: gym.Env) -> Any:
    """Return the base env under any wrappers if it has a step chain and snapshots.

    A reasoning env, or any env with ``steps``, ``wrong_step``, ``committed`` and
    ``get_state``/``set_state`` (``HasStepChain`` and ``Snapshotable``, e.g. the tool
    envs); a clear error otherwise.

    Example:
        >>> import gymnasium as gym, densegym
        >>> type(step_chain_env(gym.make("densegym/ToolShop-Lookup-v0"))).__name__
        'LookupEnv'
    """
    base = env.unwrapped
    if isinstance(base, ReasoningEnv):
        return base
    needed = ("wrong_step", "committed", "get_state", "set_state", "clone")
    if all(callable(getattr(type(base), name, None)) for name in needed) and hasattr(
        type(base), "steps"
    ):
        return base
    return reasoning_env(env)


def question_of(state: Any) -> str:
    """Return the question text of a state's task (a tool state's request).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/ToolShop-Lookup-v0"); _ = env.reset(seed=0)
        >>> question_of(env.unwrapped.get_state()) == env.unwrapped.task["request"]
        True
    """
    if isinstance(state, ReasoningState):
        return str(state.task.question)
    question = getattr(state.task, "question", None)
    return str(question if question is not None else state.question)


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
