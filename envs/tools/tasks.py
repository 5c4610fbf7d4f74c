r"""Tool-use tasks: the request, the gold plan, the SQL verifier and the re-planning oracle.

A :class:`ToolTask` is what a family generator emits: the request text, a gold plan of
:class:`PlanStep` calls (built with the task, so it is right by construction), and the
success check: an exact answer (``kind="answer"``), or verifier :class:`Predicate`\\ s
over the final world plus "no collateral change" (``kind="state"``; the world's diff
from its initial rows must equal the diff the gold plan makes), or
``report_infeasible`` with nothing written for infeasible tasks.

:func:`replan` continues the gold plan from any state: a write step is pending while
one of its predicates fails, a read step until the same call has been made or every
value it reveals (an id) has been seen in a tool result.

Example:
    >>> step = PlanStep("get_order", {"order_id": "#W1"}, reveals=("1234567890",))
    >>> step.action()
    '{"name": "get_order", "arguments": {"order_id": "#W1"}}'
    >>> answers_match("$1,234.50", "1234.5"), answers_match(" Delivered. ", "delivered")
    (True, True)
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from densegym.envs.tools.tools import TOOLS, call_tool
from densegym.envs.tools.world import ACCUMULATING, WorldDiff, world_for_seed

__all__ = [
    "Evaluation",
    "PlanStep",
    "Predicate",
    "ToolTask",
    "answers_match",
    "call_key",
    "evaluate",
    "is_lost",
    "replan",
]


def call_key(name: str, arguments: dict[str, Any]) -> str:
    """Return a canonical key of a call: ``name:{sorted JSON arguments}``."""
    try:
        return f"{name}:{json.dumps(arguments, sort_keys=True)}"
    except (TypeError, ValueError):  # pragma: no cover - arguments are parsed constants
        return f"{name}:{arguments!r}"


@dataclass(frozen=True)
class Predicate:
    """One verifier check: ``sql`` (with ``params``) returns ``expected`` in its first cell.

    Attributes:
        description: what it checks, in words.
        sql: a ``SELECT`` returning one value.
        params: the query parameters.
        expected: the value the query must return.
    """

    description: str
    sql: str
    params: tuple[Any, ...]
    expected: Any

    def holds(self, conn: sqlite3.Connection) -> bool:
        """Whether the check passes on ``conn``."""
        row = conn.execute(self.sql, self.params).fetchone()
        return row is not None and row[0] == self.expected

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly form."""
        return {
            "description": self.description,
            "sql": self.sql,
            "params": list(self.params),
            "expected": self.expected,
        }


@dataclass(frozen=True)
class PlanStep:
    """One call of the gold plan.

    Attributes:
        name: the tool.
        arguments: its arguments.
        reveals: values a read's result shows that later steps use (read steps).
        predicates: indices of the task predicates this write satisfies (write steps).
    """

    name: str
    arguments: dict[str, Any]
    reveals: tuple[str, ...] = ()
    predicates: tuple[int, ...] = ()

    @property
    def writes(self) -> bool:
        """Whether the step changes the world."""
        return TOOLS[self.name].writes

    @property
    def terminal(self) -> bool:
        """Whether the step ends the episode."""
        return TOOLS[self.name].terminal

    def key(self) -> str:
        """Return the call's canonical key (name and sorted JSON arguments)."""
        return call_key(self.name, self.arguments)

    def action(self) -> str:
        """Return the step as a JSON action."""
        return json.dumps({"name": self.name, "arguments": self.arguments})

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly form."""
        return {"name": self.name, "arguments": dict(self.arguments)}


@dataclass(frozen=True)
class ToolTask:
    """One task over a shop world.

    Attributes:
        family: the family name (``Lookup``, ``Orders``, ``Config``).
        request: the request shown to the agent.
        world_seed: the seed of the world the task lives in.
        plan: the gold plan, ending with ``answer`` or ``report_infeasible``.
        kind: ``"answer"`` (exact answer) or ``"state"`` (predicates, no collateral).
        predicates: the verifier (``state`` tasks).
        answer: the expected answer (``answer`` tasks).
        infeasible: whether the request cannot be fulfilled under the policy.
        difficulty: the level the task was drawn at.
        criteria: ``(user_id, key, value)`` settings the task asks for (Config).
        meta: generator details (template name, ids).
    """

    family: str
    request: str
    world_seed: int
    plan: tuple[PlanStep, ...]
    kind: str = "state"
    predicates: tuple[Predicate, ...] = ()
    answer: str | None = None
    infeasible: bool = False
    difficulty: int = 1
    criteria: tuple[tuple[str, str, str], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def expected_diff(self) -> WorldDiff:
        """The change the gold plan makes to the world (computed once, by running it)."""
        if not any(step.writes for step in self.plan):
            return WorldDiff()
        world = world_for_seed(self.world_seed)
        conn = world.connect()
        for step in self.plan:
            if step.writes:
                result = call_tool(conn, step.name, step.arguments)
                if result.status != "ok":  # pragma: no cover - a generator bug
                    raise RuntimeError(f"gold plan step {step.name} failed: {result.content}")
        diff = world.diff(conn)
        conn.close()
        return diff

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description (for ``env.unwrapped.task``)."""
        return {
            "family": self.family,
            "request": self.request,
            "difficulty": self.difficulty,
            "kind": self.kind,
            "infeasible": self.infeasible,
            "answer": self.answer,
            "plan": [s.to_dict() for s in self.plan],
            "predicates": [p.to_dict() for p in self.predicates],
            "criteria": [list(c) for c in self.criteria],
            "world_seed": self.world_seed,
            "meta": dict(self.meta),
        }


_STRIP = " \t\n\r.'\"`$*"


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip(_STRIP).lower().replace(",", ""))


def answers_match(given: Any, expected: str) -> bool:
    """Whether an answer equals the expected one.

    Case, surrounding spaces, quotes, ``$`` and commas are ignored; numbers match
    within half a cent.
    """
    a, b = _normalise(given), _normalise(expected)
    if a == b:
        return True
    try:
        return abs(float(a.strip(_STRIP)) - float(b)) < 0.005
    except ValueError:
        return False


@dataclass(frozen=True)
class Evaluation:
    """Where an episode stands against its task.

    Attributes:
        satisfied: checks met (predicates, or facts seen plus the answer for lookups).
        total: checks in all.
        collateral: rows (by key) changed that the gold plan leaves alone.
        extra: rows the gold plan changes that have not changed (yet).
    """

    satisfied: int
    total: int
    collateral: int
    extra: int

    @property
    def progress(self) -> float:
        """Satisfied checks over all checks."""
        return self.satisfied / self.total if self.total else 0.0

    @property
    def score(self) -> float:
        """Partial credit: satisfied checks over all checks plus collateral rows."""
        denominator = self.total + self.collateral
        return self.satisfied / denominator if denominator else 0.0


def _read_done(
    step: PlanStep, seen: str, done_calls: Collection[str], assumed: Collection[str] = ()
) -> bool:
    if step.key() in done_calls:
        return True
    return bool(step.reveals) and all(t in seen or t in assumed for t in step.reveals)


def evaluate(
    task: ToolTask,
    conn: sqlite3.Connection,
    diff: WorldDiff,
    seen: str,
    done_calls: Collection[str] = (),
    answered: bool = False,
) -> Evaluation:
    """Measure the state: predicates met, facts seen, collateral rows.

    Args:
        task: the task.
        conn: the world now.
        diff: the world's diff from its initial rows.
        seen: the request plus every tool result so far, joined.
        done_calls: keys (:func:`call_key`) of the calls made so far (refused ones too).
        answered: whether a correct answer (``answer`` tasks) or an infeasibility report
            (infeasible tasks) was given.
    """
    expected = WorldDiff() if task.infeasible else task.expected_diff
    collateral = len(diff.keys() - expected.keys())
    missing = expected.minus(diff).n_rows()
    if task.infeasible:
        return Evaluation(int(answered), 1, collateral, missing)
    if task.kind == "answer":
        reads = [step for step in task.plan if not step.terminal]
        known = sum(_read_done(step, seen, done_calls) for step in reads)
        return Evaluation(known + int(answered), len(reads) + 1, collateral, missing)
    met = sum(p.holds(conn) for p in task.predicates)
    return Evaluation(met, len(task.predicates), collateral, missing)


def is_lost(diff: WorldDiff, expected: WorldDiff) -> bool:
    """Whether the changes so far can no longer end as ``expected``.

    Lost: a row changed that the gold plan leaves alone, or a row the plan changes now
    holds a value other than its final one (balances may pass through other values).
    """
    if not diff.keys() <= expected.keys():
        return True
    final = expected.final_rows()
    return any(
        key[0] not in ACCUMULATING and final.get(key) != row
        for key, row in diff.final_rows().items()
    )


def replan(
    task: ToolTask,
    conn: sqlite3.Connection,
    diff: WorldDiff,
    seen: str,
    done_calls: Collection[str] = (),
) -> list[PlanStep] | None:
    """Return the gold plan's steps still to take from this state, ``None`` if it is lost.

    A state is lost when the world changed in a way the gold plan does not (a wrong or
    extra write cannot be undone under the policy).
    """
    expected = WorldDiff() if task.infeasible else task.expected_diff
    if is_lost(diff, expected):
        return None
    steps: list[PlanStep] = []
    assumed: set[str] = set()
    for step in task.plan:
        if step.terminal:
            steps.append(step)
            break
        if step.writes:
            if not all(task.predicates[i].holds(conn) for i in step.predicates):
                steps.append(step)
        elif not _read_done(step, seen, done_calls, assumed):
            steps.append(step)
            assumed.update(step.reveals)
    return steps
