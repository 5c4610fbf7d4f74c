"""Chain tasks: a question whose solution is a plan of computations over earlier results.

Arithmetic, word problems and GSM8K are all chain tasks. The plan is a list of
:class:`PlanStep` (an expression over numbers and earlier steps' results); the
:class:`ChainTracker` matches each equation the agent writes to a plan step and
*binds* that step to the value the agent stated — right or wrong — so that

* the oracle can redo what is missing or wrong (``trust_written=False``), and
* a prover can continue from what was written, errors included
  (``trust_written=True``): a wrong value then propagates to a wrong answer.

Matching is by structure first (same operation on the same operands, in either order
for ``+`` and ``*``, using the agent's values or the true ones), then by value (a
correct computation whose result equals a step's value, which also covers steps the
agent merged into one line).

Example:
    >>> b = PlanBuilder()
    >>> cost = b.add("*", 3, 4, "Cost of the pens")
    >>> total = b.add("+", cost, 5, "Total")
    >>> task = ChainTask("demo", "Pens cost $4 each...", b.value(total), b.steps())
    >>> tracker = task.new_tracker()
    >>> task.oracle_step(tracker)
    'Cost of the pens: 3 * 4 = 12'
    >>> _ = tracker.process("3 * 4 = 13")            # a wrong value is committed
    >>> task.oracle_step(tracker), task.oracle_step(tracker, trust_written=True)
    ('Cost of the pens: 3 * 4 = 12', 'Total: 13 + 5 = 18')
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

from densegym.envs.reasoning.expr import (
    Bin,
    Expr,
    Num,
    Ref,
    canonical,
    evaluate,
    format_number,
    refs,
    render,
    substitute,
)
from densegym.envs.reasoning.parsing import Equation
from densegym.envs.reasoning.task import (
    ReasoningTask,
    StepReport,
    json_number,
    perturb,
    read_step,
)


@dataclass(frozen=True)
class PlanStep:
    """One computation of the reference solution.

    Attributes:
        expr: the computation, over numbers and earlier steps (:class:`Ref`).
        value: its true value.
        label: a short description (``"Cost of the pens"``), prefixed to the step.
    """

    expr: Expr
    value: Fraction
    label: str = ""


class PlanBuilder:
    """Builds a plan one operation at a time (used by the procedural generators).

    Operands are ints/Fractions or the :class:`Ref` returned by an earlier ``add``.
    """

    def __init__(self) -> None:
        self._steps: list[PlanStep] = []

    def add(
        self, op: str, a: int | Fraction | Ref, b: int | Fraction | Ref, label: str = ""
    ) -> Ref:
        """Append ``a op b`` and return a reference to its result."""
        expr = Bin(op, _operand(a), _operand(b))
        value = evaluate(expr, [s.value for s in self._steps])
        if value is None:
            raise ValueError(f"division by zero in plan step {render(expr)}")
        self._steps.append(PlanStep(expr, value, label))
        return Ref(len(self._steps) - 1)

    def value(self, ref: Ref | int | Fraction) -> Fraction:
        """Return the value of an operand."""
        return self._steps[ref.index].value if isinstance(ref, Ref) else Fraction(ref)

    def __len__(self) -> int:
        return len(self._steps)

    def steps(self) -> tuple[PlanStep, ...]:
        """Return the plan built so far."""
        return tuple(self._steps)


def _operand(x: int | Fraction | Ref) -> Expr:
    return x if isinstance(x, Ref) else Num(Fraction(x))


@dataclass(frozen=True)
class ChainTask(ReasoningTask):
    """Return a task solved by computing a plan step by step, then stating the answer.

    Attributes:
        family: task family name (``"arithmetic"``, ``"word_problems"``, ``"gsm8k"``).
        question: the question text.
        answer: the exact answer.
        plan: the reference computations; the answer is the value of ``plan[answer_step]``.
        meta: generator settings (difficulty, template, seed, …).
    """

    family: str
    question: str
    answer: Fraction
    plan: tuple[PlanStep, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def new_tracker(self) -> ChainTracker:
        """Return a tracker with nothing bound."""
        return ChainTracker(self)

    def is_solved(self, tracker: ChainTracker, answer: Fraction) -> bool:
        """Return whether the answer is right (chain tasks judge the outcome only)."""
        return answer == self.answer

    @cached_property
    def values(self) -> tuple[Fraction, ...]:
        """True value of every plan step."""
        return tuple(step.value for step in self.plan)

    @cached_property
    def answer_step(self) -> int | None:
        """Index of the last plan step whose value is the answer (``None`` if none)."""
        for k in range(len(self.plan) - 1, -1, -1):
            if self.plan[k].value == self.answer:
                return k
        return None

    @cached_property
    def ancestors(self) -> tuple[frozenset[int], ...]:
        """For each step, every earlier step it depends on (transitively)."""
        result: list[frozenset[int]] = []
        for step in self.plan:
            direct = refs(step.expr)
            deps = set(direct)
            for j in direct:
                deps |= result[j]
            result.append(frozenset(deps))
        return tuple(result)

    @cached_property
    def true_canonical(self) -> tuple[tuple, ...]:
        """Canonical form of each step with the true values substituted (for matching)."""
        return tuple(canonical(substitute(s.expr, self.values)) for s in self.plan)

    def render_step(self, k: int, values: list[Fraction | None], stated: Fraction) -> str:
        """Write plan step ``k`` with the given operand values and stated result."""
        text = f"{render(self.plan[k].expr, values)} = {format_number(stated)}"
        return f"{self.plan[k].label}: {text}" if self.plan[k].label else text

    def oracle_step(
        self,
        tracker: ChainTracker,
        trust_written: bool = False,
        error_rng: random.Random | None = None,
    ) -> str:
        """Next step: the first plan step not yet bound (trusting) or not bound right."""
        if trust_written:
            todo = [k for k in range(len(self.plan)) if k not in tracker.bound]
            values = tracker.faithful_values()
        else:
            todo = [k for k, v in enumerate(self.values) if tracker.bound.get(k) != v]
            values = list(self.values)
        if not todo:
            return self._answer_text(tracker, trust_written, error_rng)
        k = todo[0]
        value = evaluate(self.plan[k].expr, values)
        if value is None:  # the agent's values divide by zero: fall back to the true ones
            values, value = list(self.values), self.values[k]
        if error_rng is None:
            return self.render_step(k, values, value)
        for _ in range(20):  # a wrong value that a trusting continuation cannot undo
            text = self.render_step(k, values, perturb(value, {self.values[k]}, error_rng))
            after = tracker.copy()
            after.process(text)
            if not self.simulate(after, trust_written=True)[1]:
                break
        return text

    def _answer_text(
        self, tracker: ChainTracker, trust_written: bool, error_rng: random.Random | None
    ) -> str:
        value = self.answer
        if trust_written and self.answer_step is not None:
            faithful = tracker.faithful_values()[self.answer_step]
            value = self.answer if faithful is None else faithful
        if error_rng is not None:
            value = perturb(value, {self.answer}, error_rng)
        return f"Answer: {format_number(value)}"

    def to_dict(self) -> dict[str, Any]:
        """Question, answer, solution steps, intermediate values and the plan."""
        data = super().to_dict()
        data["intermediate_values"] = [json_number(v) for v in self.values]
        data["plan"] = [
            {
                "label": s.label,
                "expr": render(s.expr, ref_names=True),
                "value": json_number(s.value),
            }
            for s in self.plan
        ]
        return data


class ChainTracker:
    """Which plan steps the agent has stated a value for, and which values.

    Attributes:
        task: the task being solved.
        bound: plan step index → the value the agent stated for it (latest wins).
    """

    __slots__ = ("task", "bound")

    def __init__(self, task: ChainTask, bound: dict[int, Fraction] | None = None):
        self.task = task
        self.bound: dict[int, Fraction] = dict(bound or {})

    def copy(self) -> ChainTracker:
        """Return an independent copy."""
        return ChainTracker(self.task, self.bound)

    def faithful_values(self) -> list[Fraction | None]:
        """Each step's value as the agent's own statements determine it.

        Bound steps keep the stated value; unbound steps are computed from them.
        """
        if self.consistent():  # then every value is the true one
            return list(self.task.values)
        values: list[Fraction | None] = []
        for k, step in enumerate(self.task.plan):
            values.append(self.bound[k] if k in self.bound else evaluate(step.expr, values))
        return values

    def consistent(self) -> bool:
        """Whether every stated value is the true one."""
        values = self.task.values
        return all(values[k] == v for k, v in self.bound.items())

    def describe(self) -> dict[str, Any]:
        """Return the committed values, JSON-friendly: ``{"values": {"s1": 12}, ...}``."""
        values = self.task.values
        return {
            "values": {f"s{k + 1}": json_number(v) for k, v in sorted(self.bound.items())},
            "wrong": [f"s{k + 1}" for k, v in sorted(self.bound.items()) if values[k] != v],
            "consistent": self.consistent(),
        }

    def progress(self) -> float:
        """Fraction of plan steps bound to their true value."""
        if not self.task.plan:
            return 0.0
        values = self.task.values
        return sum(values[k] == v for k, v in self.bound.items()) / len(self.task.plan)

    def process(self, line: str) -> StepReport:
        """Read a step and bind each equation it states to the plan step it computes."""
        report = read_step(line)
        for equation in report.equations:
            self._bind_equation(equation)
        return report

    def _bind_equation(self, equation: Equation) -> int | None:
        target = canonical(equation.expr)
        plan = self.task.plan
        unbound = [k for k in range(len(plan)) if k not in self.bound]
        # Re-binding a step to the value it already has changes nothing; skipping those
        # lets a repeated computation (e.g. two steps both "1 + 2") reach the step that
        # still needs it.
        bound = [
            k for k in range(len(plan)) if k in self.bound and self.bound[k] != equation.stated
        ]
        # While every stated value is true, the agent's values are the true ones.
        faithful = None if self.consistent() else self.faithful_values()
        for group in (unbound, bound):
            for k in group:
                if self.task.true_canonical[k] == target:
                    self.bound[k] = equation.stated
                    return k
                if faithful is not None:
                    sub = substitute(plan[k].expr, faithful)
                    if sub is not None and canonical(sub) == target:
                        self.bound[k] = equation.stated
                        return k
        if not equation.correct:
            return None
        if faithful is None:
            faithful = list(self.task.values)
        for k in unbound:
            if equation.stated in (faithful[k], self.task.values[k]):
                for j in sorted(self.task.ancestors[k]):
                    if j not in self.bound and faithful[j] is not None:
                        self.bound[j] = faithful[j]
                self.bound[k] = equation.stated
                return k
        return None
