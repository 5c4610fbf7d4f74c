r"""GSM8K (or any file in its format) as a multi-turn reasoning env.

A GSM8K record is one JSON object per line::

    {"question": "Natalia sold 48 clips ...", "answer": "48/2 = <<48/2=24>>24 ...\n#### 72"}

The reference solution's lines become the oracle's steps and its calculator
annotations (``<<48/2=24>>``) become the plan the checker tracks; the number after
``####`` is the answer.

Example:
    >>> record = {"question": "Tom has 3 bags of 4 apples and eats 2. How many are left?",
    ...           "answer": "He has 3*4=<<3*4=12>>12.\nHe has 12-2=<<12-2=10>>10 left.\n#### 10"}
    >>> task = task_from_record(record)
    >>> task.answer, task.solution_steps()
    (Fraction(10, 1), ['He has 3*4=12.', 'He has 12-2=10 left.', 'Answer: 10'])
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from densegym.envs.reasoning.base import ReasoningEnv
from densegym.envs.reasoning.chain import ChainTask, ChainTracker, PlanStep
from densegym.envs.reasoning.expr import Bin, Expr, Num, Ref, format_number
from densegym.envs.reasoning.parsing import (
    parse_equations,
    parse_expression,
    parse_number,
    strip_annotations,
)
from densegym.envs.reasoning.task import StepReport

GSM8K_HINT = (
    "GSM8K's files are at https://github.com/openai/grade-school-math "
    "(grade_school_math/data/train.jsonl and test.jsonl); the HF dataset 'openai/gsm8k' "
    "has the same records."
)
_ANNOTATION_RE = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_CACHE: dict[tuple[str, int, int], tuple[dict[str, str], ...]] = {}


class GSM8KFormatError(ValueError):
    """Return the dataset file is not in GSM8K's JSONL format."""


@dataclass(frozen=True)
class GSM8KTask(ChainTask):
    """Return a GSM8K problem: the reference lines are the oracle's steps.

    Attributes:
        lines: the reference solution's lines, annotations removed (and an equation
            appended where the visible text hides a computation).
        line_steps: for each line, the plan steps its annotations define.
    """

    lines: tuple[str, ...] = ()
    line_steps: tuple[tuple[int, ...], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def new_tracker(self) -> GSM8KTracker:
        """Return a tracker that also remembers the lines written."""
        return GSM8KTracker(self)

    def oracle_step(
        self,
        tracker: ChainTracker,
        trust_written: bool = False,
        error_rng: random.Random | None = None,
    ) -> str:
        """Return the next reference line not yet done (equations once values diverge).

        A line is done when all its computations are bound to their true values or it
        was written verbatim; a line without computations is also done once a later
        line is. Trusting the written values, lines without computations are skipped
        and, once a written value is wrong, the plan's equations are written with the
        agent's values.
        """
        if error_rng is not None or (trust_written and not tracker.consistent()):
            return super().oracle_step(tracker, trust_written, error_rng)
        values = self.values
        written = {_squash(step) for step in tracker.written}
        done = []
        for text, steps in zip(self.lines, self.line_steps):
            verbatim = _squash(text) in written
            done.append(
                verbatim or bool(steps) and all(tracker.bound.get(k) == values[k] for k in steps)
            )
        frontier = max((i + 1 for i, d in enumerate(done) if d), default=0)
        for i, (text, steps) in enumerate(zip(self.lines, self.line_steps)):
            if done[i] or (not steps and (trust_written or i < frontier)):
                continue
            return text
        return f"Answer: {format_number(self.answer)}"

    def to_dict(self) -> dict[str, Any]:
        """Describe the task, with the reference solution's lines."""
        data = super().to_dict()
        data["reference_solution"] = list(self.lines)
        return data


class GSM8KTracker(ChainTracker):
    """Return a chain tracker that also remembers the text written (to match plain lines)."""

    __slots__ = ("written",)

    def __init__(
        self,
        task: GSM8KTask,
        bound: dict[int, Fraction] | None = None,
        written: tuple[str, ...] = (),
    ):
        super().__init__(task, bound)
        self.written: tuple[str, ...] = tuple(written)

    def copy(self) -> GSM8KTracker:
        """Return an independent copy."""
        return GSM8KTracker(self.task, self.bound, self.written)

    def process(self, line: str) -> StepReport:
        """Bind equations as a chain tracker does and remember the line."""
        self.written += (line,)
        return super().process(line)


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def _to_plan_expr(expr: Expr, values: list[Fraction]) -> Expr:
    """Turn literals equal to an earlier result into references to the latest such step."""
    if isinstance(expr, Num):
        for k in range(len(values) - 1, -1, -1):
            if values[k] == expr.value:
                return Ref(k)
        return expr
    if isinstance(expr, Bin):
        return Bin(expr.op, _to_plan_expr(expr.left, values), _to_plan_expr(expr.right, values))
    return expr


def task_from_record(record: dict[str, Any], index: int = 0) -> GSM8KTask:
    """Build a task from one GSM8K record (``question`` and ``answer`` with ``####``)."""
    question, answer_text = record["question"], record["answer"]
    body, _, final = answer_text.rpartition("####")
    answer = parse_number(final)
    if answer is None:
        raise GSM8KFormatError(f"record {index}: no number after '####' in {final!r}")
    plan: list[PlanStep] = []
    lines: list[str] = []
    line_steps: list[tuple[int, ...]] = []
    for raw in body.splitlines():
        if not raw.strip():
            continue
        text = strip_annotations(raw).strip()
        steps: list[int] = []
        shown = {str(eq) for eq in parse_equations(text)}
        extra: list[str] = []
        for lhs, rhs in _ANNOTATION_RE.findall(raw):
            value, expr = parse_number(rhs), parse_expression(lhs)
            if value is None or not isinstance(expr, Bin):
                continue  # an unreadable annotation: the line is matched by its text only
            values = [s.value for s in plan]
            plan.append(PlanStep(_to_plan_expr(expr, values), value))
            steps.append(len(plan) - 1)
            equation = f"{lhs.strip()} = {rhs.strip()}"
            if not any(str(e) in shown for e in parse_equations(equation)):
                extra.append(equation)
        if extra:  # the text hides a computation: show it so the step can be checked
            text = f"{text} ({'; '.join(extra)})"
        lines.append(text)
        line_steps.append(tuple(steps))
    return GSM8KTask(
        family="gsm8k",
        question=question.strip(),
        answer=answer,
        plan=tuple(plan),
        lines=tuple(lines),
        line_steps=tuple(line_steps),
        meta={"index": index},
    )


def load_gsm8k(path: str | os.PathLike[str]) -> tuple[dict[str, str], ...]:
    """Read and validate a GSM8K-format JSONL file (cached by path, size and mtime).

    Raises:
        FileNotFoundError: the file does not exist (the message says where to get GSM8K).
        GSM8KFormatError: a line is not JSON, lacks ``question``/``answer`` strings, or
            its answer has no number after ``####``; or the file has no records.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"GSM8K file not found: {str(file)!r}. {GSM8K_HINT}")
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    records = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise GSM8KFormatError(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict) or not all(
                isinstance(record.get(k), str) for k in ("question", "answer")
            ):
                raise GSM8KFormatError(f'{where}: expected {{"question": str, "answer": str}}')
            _, marker, final = record["answer"].rpartition("####")
            if not marker or parse_number(final) is None:
                raise GSM8KFormatError(f"{where}: the answer must end with '#### <number>'")
            records.append({"question": record["question"], "answer": record["answer"]})
    if not records:
        raise GSM8KFormatError(f"{file}: no records. {GSM8K_HINT}")
    _CACHE[key] = tuple(records)
    return _CACHE[key]


#: Size and seed of the generated set played when no ``path`` is given.
GENERATED_SIZE, GENERATED_SEED = 64, 0


def _literal(expr: Expr, values: list[Fraction]) -> str:
    """An expression over numbers only (earlier results written as their values)."""
    if isinstance(expr, Num):
        return format_number(expr.value)
    if isinstance(expr, Ref):
        return format_number(values[expr.index])
    assert isinstance(expr, Bin)
    left, right = (
        f"({_literal(side, values)})" if isinstance(side, Bin) else _literal(side, values)
        for side in (expr.left, expr.right)
    )
    return f"{left}{expr.op}{right}"


def record_from_task(task: ChainTask) -> dict[str, str]:
    """Write a generated task as a GSM8K record: one annotated line per plan step, ``#### n``.

    Example:
        >>> import random
        >>> from densegym.envs.reasoning.word_problems import generate_word_problem
        >>> task = generate_word_problem(random.Random(0), 1, n_steps=2, templates=("ages",))
        >>> print(record_from_task(task)["answer"])  # doctest: +NORMALIZE_WHITESPACE
        Zoe's age is 7+3 = <<7+3=10>>10.
        Age difference is 10-7 = <<10-7=3>>3.
        #### 3
    """
    values: list[Fraction] = []
    lines = []
    for number, step in enumerate(task.plan, start=1):
        lhs, value = _literal(step.expr, values), format_number(step.value)
        label = step.label or f"Step {number}"
        lines.append(f"{label} is {lhs} = <<{lhs}={value}>>{value}.")
        values.append(step.value)
    lines.append(f"#### {format_number(task.answer)}")
    return {"question": task.question, "answer": "\n".join(lines)}


@functools.lru_cache(maxsize=4)
def generated_records(
    n: int = GENERATED_SIZE, seed: int = GENERATED_SEED
) -> tuple[dict[str, str], ...]:
    """A small GSM8K-format set drawn from the WordProblems generator (difficulties 1–3).

    The same ``n`` and ``seed`` always give the same records.

    Example:
        >>> records = generated_records(4)
        >>> last_line = records[0]["answer"].splitlines()[-1]
        >>> len(records), records == generated_records(4), last_line.startswith("#### ")
        (4, True, True)
    """
    from densegym.envs.reasoning.word_problems import generate_word_problem

    rng = random.Random(seed)
    return tuple(record_from_task(generate_word_problem(rng, 1 + i % 3)) for i in range(n))


class GSM8KEnv(ReasoningEnv):
    """Solve GSM8K problems (from a JSONL file, or a small generated set) one step at a time.

    ## Description
    Grade-school math word problems in GSM8K's format. With ``path=`` the records come
    from that JSONL file (GSM8K itself: see below). Without it the env plays a small
    generated set (:func:`generated_records`: 64 problems of the WordProblems generator,
    written out as GSM8K records with ``<<a*b=c>>`` calculator annotations and
    ``#### n``), so ``gym.make("densegym/GSM8K-v0")`` works out of the box; it is not
    GSM8K. Each episode draws one record (or ``options={"index": i}`` picks one). The
    reference solution's calculator annotations (``<<48/2=24>>``) give the intermediate
    values the checker tracks; the oracle writes the reference lines, then
    ``Answer: <number>``.

    ## Observation Space
    ``PermissiveText``: the question, a format hint and the numbered steps so far.

    ## Action Space
    ``PermissiveText``: one step (first non-empty line, at most ``max_step_chars``).

    ## Rewards
    1.0 for a correct final answer (compared exactly with the number after ``####``),
    else 0.0.

    ## Termination
    Terminates on the first step stating a final answer. The registered spec
    truncates after 24 steps. ``info["is_success"]`` is reported at every step.

    ## Registered Configurations
    ``densegym/GSM8K-v0`` with kwargs ``path`` (a JSONL file in GSM8K's format; a
    missing or malformed file raises a clear error; default: the generated set),
    ``max_step_chars`` and ``render_mode``. GSM8K's files are at
    https://github.com/openai/grade-school-math (``grade_school_math/data/test.jsonl``).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/GSM8K-v0")  # the generated set
        >>> len(env.unwrapped), env.unwrapped.path is None
        (64, True)
        >>> _ = env.reset(seed=0)
        >>> done = False
        >>> while not done:
        ...     _, reward, done, _, info = env.step(env.unwrapped.oracle_step())
        >>> reward, info["is_success"]
        (1.0, True)
    """

    family_id = "GSM8K"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        render_mode: str | None = None,
        max_step_chars: int = 400,
    ):
        super().__init__(render_mode=render_mode, max_step_chars=max_step_chars)
        self.path = None if path is None else str(path)
        self.records = generated_records() if path is None else load_gsm8k(path)
        self._tasks: dict[int, GSM8KTask] = {}

    def __len__(self) -> int:
        return len(self.records)

    def task_at(self, index: int) -> GSM8KTask:
        """Return the task of record ``index`` (built once, then cached)."""
        if not 0 <= index < len(self.records):
            raise IndexError(f"record index {index} out of range 0..{len(self.records) - 1}")
        if index not in self._tasks:
            self._tasks[index] = task_from_record(self.records[index], index)
        return self._tasks[index]

    def _generate(self, rng: random.Random, options: dict[str, Any]) -> GSM8KTask:
        index = options.get("index")
        return self.task_at(rng.randrange(len(self.records)) if index is None else int(index))
