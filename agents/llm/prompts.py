r"""Prompt formats for LLM policies on text reasoning envs: zero-shot and few-shot.

A prompt is built from the env's observation (the question, a format hint and the
steps so far). Few-shot prompts first replay worked examples, one turn per step, so
the model sees what "write only the next step" means before the real question.

Example:
    >>> messages = chat_messages("Question: What is 2 + 3?\n\nSteps so far:\n(none)", shots=0)
    >>> [m["role"] for m in messages]
    ['system', 'user']
    >>> [m["role"] for m in chat_messages("Question: ...", shots=1)][:4]
    ['system', 'user', 'assistant', 'user']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXAMPLES",
    "SYSTEM_PROMPT",
    "WorkedExample",
    "chat_messages",
    "completion_prompt",
    "render_observation",
]

#: The instruction every format starts with.
SYSTEM_PROMPT = (
    "You solve math problems one step at a time. Reply with only the next step, on one "
    "line, as a calculation such as 'Apples bought: 3 * 4 = 12'. When the final result is "
    "known, reply 'Answer: <number>'."
)

_FORMAT_HINT = "Write one step per turn, like '3 * 4 = 12'. Finish with 'Answer: <number>'."


@dataclass(frozen=True)
class WorkedExample:
    """A solved problem replayed in few-shot prompts.

    Attributes:
        question: the problem text.
        steps: its solution, one step per line, ending with ``Answer: <number>``.
    """

    question: str
    steps: tuple[str, ...]


#: Built-in worked examples (few-shot prompts use the first ``shots`` of them).
EXAMPLES: tuple[WorkedExample, ...] = (
    WorkedExample(
        "Ana buys 3 bags of apples with 4 apples in each bag. She eats 2 apples. "
        "How many apples does she have left?",
        ("Apples bought: 3 * 4 = 12", "Apples left: 12 - 2 = 10", "Answer: 10"),
    ),
    WorkedExample(
        "A train travels 60 miles per hour for 3 hours, then 20 more miles. "
        "How many miles does it travel in total?",
        ("Miles in 3 hours: 60 * 3 = 180", "Total miles: 180 + 20 = 200", "Answer: 200"),
    ),
    WorkedExample(
        "Compute (7 + 5) * 2.",
        ("7 + 5 = 12", "12 * 2 = 24", "Answer: 24"),
    ),
)


def render_observation(question: str, steps: tuple[str, ...] | list[str]) -> str:
    """Render a question and its steps so far the way reasoning envs show them.

    Example:
        >>> print(render_observation("What is 2 + 3?", ["2 + 3 = 5"]))
        Question: What is 2 + 3?
        Format: Write one step per turn, like '3 * 4 = 12'. Finish with 'Answer: <number>'.
        <BLANKLINE>
        Steps so far:
        1. 2 + 3 = 5
    """
    lines = [f"Question: {question}", f"Format: {_FORMAT_HINT}", "", "Steps so far:"]
    lines += [f"{i}. {step}" for i, step in enumerate(steps, start=1)] or ["(none)"]
    return "\n".join(lines)


def _user_turn(observation: str) -> str:
    return f"{observation.rstrip()}\n\nNext step:"


def _examples(shots: int, examples: tuple[WorkedExample, ...] | None) -> tuple[WorkedExample, ...]:
    pool = EXAMPLES if examples is None else tuple(examples)
    if shots < 0:
        raise ValueError(f"shots must be >= 0, got {shots}")
    return pool[:shots]


def chat_messages(
    observation: str,
    shots: int = 0,
    system: str = SYSTEM_PROMPT,
    examples: tuple[WorkedExample, ...] | None = None,
) -> list[dict[str, str]]:
    """Return the chat conversation that asks for the next step.

    Args:
        observation: the env's text observation.
        shots: how many worked examples to replay first (0: zero-shot).
        system: the system instruction.
        examples: worked examples to draw from (default :data:`EXAMPLES`).
    """
    messages = [{"role": "system", "content": system}]
    for example in _examples(shots, examples):
        for i, step in enumerate(example.steps):
            shown = render_observation(example.question, example.steps[:i])
            messages.append({"role": "user", "content": _user_turn(shown)})
            messages.append({"role": "assistant", "content": step})
    messages.append({"role": "user", "content": _user_turn(observation)})
    return messages


def completion_prompt(
    observation: str,
    shots: int = 0,
    system: str = SYSTEM_PROMPT,
    examples: tuple[WorkedExample, ...] | None = None,
) -> str:
    """Return a plain-text prompt (for base models without a chat template).

    Example:
        >>> completion_prompt("Question: What is 2 + 3?").endswith("Next step:")
        True
    """
    parts = [system, ""]
    for example in _examples(shots, examples):
        for i, step in enumerate(example.steps):
            shown = render_observation(example.question, example.steps[:i])
            parts += [f"{_user_turn(shown)} {step}", ""]
    parts.append(_user_turn(observation))
    return "\n".join(parts)
