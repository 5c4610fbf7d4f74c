"""What every reasoning task provides: a question, an answer, a step checker and an oracle.

A task object is immutable; the mutable part of an episode (which intermediate values
the agent has committed to) lives in a small *tracker* the task creates, so an
episode can be copied cheaply (``tracker.copy()``) for prover rollouts.

Example:
    >>> read_step("3 * 4 = 12").kind, read_step("Answer: 12").answer, read_step("  ").kind
    ('equation', Fraction(12, 1), 'invalid')
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from densegym.envs.reasoning.expr import format_number
from densegym.envs.reasoning.parsing import (
    Equation,
    expression_problem,
    parse_answer,
    parse_equations,
)

#: Longest oracle continuation simulated before giving up (guards against loops).
MAX_SIMULATED_STEPS = 64


@dataclass(frozen=True)
class StepReport:
    """How one step was read and checked.

    Attributes:
        kind: ``"answer"`` (states a final answer), ``"equation"`` (states at least one
            computation), ``"text"`` (neither) or ``"invalid"``.
        equations: the computations stated, in order.
        answer: the final answer stated, if any.
        invalid_reason: why the step is invalid (empty when valid).
        arithmetic_error: whether a stated result is wrong.
    """

    kind: str
    equations: tuple[Equation, ...] = ()
    answer: Fraction | None = None
    invalid_reason: str = ""
    arithmetic_error: bool = False

    @property
    def invalid(self) -> bool:
        """Whether the step could not be used."""
        return self.kind == "invalid"


def invalid(reason: str) -> StepReport:
    """Return a report for a step that cannot be used."""
    return StepReport(kind="invalid", invalid_reason=reason)


def read_step(line: str) -> StepReport:
    """Parse one step into equations and an optional final answer (no task knowledge).

    Empty steps, arithmetic nested too deeply or too long to read (see
    :func:`~densegym.envs.reasoning.parsing.expression_problem`), a division by zero and an
    answer marker without a number are invalid.
    """
    if not line.strip():
        return invalid("empty step")
    problem = expression_problem(line)
    if problem:  # the parser refuses it; say so rather than read the step as prose
        return invalid(problem)
    equations = tuple(parse_equations(line))
    if any(eq.value is None for eq in equations):
        return invalid("division by zero")
    arithmetic_error = any(not eq.correct for eq in equations)
    has_answer, answer = parse_answer(line)
    if has_answer and answer is None:
        return invalid("answer without a number")
    kind = "answer" if has_answer else ("equation" if equations else "text")
    return StepReport(kind, equations, answer, "", arithmetic_error)


class Tracker(Protocol):
    """Return the mutable checking state of one episode."""

    def copy(self) -> Tracker:
        """Return an independent copy (cheap)."""

    def process(self, line: str) -> StepReport:
        """Read one step, commit what it states, and report."""

    def describe(self) -> dict[str, Any]:
        """The committed intermediate values, JSON-friendly."""

    def progress(self) -> float:
        """Fraction of the reference solution established so far, in [0, 1]."""


class ReasoningTask(ABC):
    """Base of every task: question, exact answer, checker and oracle.

    Subclasses are frozen dataclasses with at least ``family``, ``question``,
    ``answer`` and ``meta`` fields.
    """

    family: str
    question: str
    answer: Fraction
    meta: dict[str, Any]

    #: One line telling the agent how to write steps (shown in the observation).
    step_format: str = "Write one step per turn, like '3 * 4 = 12'. Finish with 'Answer: <number>'."

    @abstractmethod
    def new_tracker(self) -> Tracker:
        """Return a tracker for a fresh episode."""

    @abstractmethod
    def is_solved(self, tracker: Tracker, answer: Fraction) -> bool:
        """Whether stating ``answer`` now solves the task."""

    @abstractmethod
    def oracle_step(
        self, tracker: Tracker, trust_written: bool = False, error_rng: random.Random | None = None
    ) -> str:
        """Return the next step of a correct solution from the tracker's state.

        Args:
            tracker: the episode's state (not modified).
            trust_written: continue from the values the agent stated, even wrong ones
                (errors then propagate); otherwise redo whatever is missing or wrong.
            error_rng: when given, return a plausible *wrong* version of that step
                (its result off by a small amount, never equal to the right value).
        """

    def status_line(self, tracker: Tracker) -> str | None:
        """Return an optional line shown under the steps (e.g. the numbers available)."""
        return None

    def simulate(self, tracker: Tracker, trust_written: bool = False) -> tuple[list[str], bool]:
        """Run the oracle to the end on a copy of ``tracker``.

        Returns:
            The steps written and whether the final answer solves the task.
        """
        tracker = tracker.copy()
        steps: list[str] = []
        for _ in range(MAX_SIMULATED_STEPS):
            step = self.oracle_step(tracker, trust_written)
            steps.append(step)
            report = tracker.process(step)
            if report.kind == "answer":
                return steps, self.is_solved(tracker, report.answer)
        return steps, False

    def solution_steps(self) -> list[str]:
        """Return the oracle's full solution from scratch."""
        return self.simulate(self.new_tracker())[0]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description for LLM reward modules and logs."""
        return {
            "family": self.family,
            "question": self.question,
            "answer": json_number(self.answer),
            "solution_steps": self.solution_steps(),
            "step_format": self.step_format,
            "meta": dict(self.meta),
        }


def json_number(value: Fraction | int) -> int | str:
    """Return an int when integral, else the number's text (``"7/2"``, ``"2.5"``)."""
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else format_number(value)


def perturb(value: Fraction, avoid: set[Fraction], rng: random.Random) -> Fraction:
    """Return a plausible wrong result: ``value`` off by a small nonzero amount.

    The result differs from ``value``, from every number in ``avoid`` and from 0.

    Example:
        >>> wrong = perturb(Fraction(12), {Fraction(12)}, random.Random(0))
        >>> wrong != 12 and abs(wrong - 12) <= 10
        True
    """
    deltas = [-2, -1, 1, 2] + ([-10, 10] if abs(value) >= 50 else [])
    for _ in range(100):
        wrong = value + rng.choice(deltas)
        if wrong != value and wrong != 0 and wrong not in avoid:
            return wrong
    return value + 3 if value + 3 not in avoid and value + 3 != 0 else value + 7
