"""Countdown: reach a target by combining the given numbers with + - * / (a search task).

Example:
    >>> solve((3, 7), 100) is None
    True
    >>> [f"{a} {op} {b} = {c}" for a, op, b, c in solve((2, 5, 10), 60)]
    ['10 + 2 = 12', '12 * 5 = 60']
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import Any

from densegym.envs.reasoning.base import ReasoningEnv
from densegym.envs.reasoning.expr import Bin, Num, format_number
from densegym.envs.reasoning.task import ReasoningTask, StepReport, invalid, perturb, read_step

#: One move ``(a, op, b, result)``.
Move = tuple[int, str, int, int]
_LARGE = (25, 50, 75, 100)


def _moves(a: int, b: int) -> list[tuple[str, int]]:
    """Legal results of two numbers with ``a >= b > 0`` (no ×1 or ÷1, no zero or negatives)."""
    moves = [("+", a + b)]
    if b > 1:
        moves.append(("*", a * b))
        if a % b == 0:
            moves.append(("/", a // b))
    if a > b:
        moves.append(("-", a - b))
    return moves


def _search(
    pool: tuple[int, ...], target: int, depth: int, memo: dict[tuple[tuple[int, ...], int], bool]
) -> tuple[Move, ...] | None:
    """Find moves reaching ``target`` from the sorted ``pool`` within ``depth`` moves."""
    if target in pool:
        return ()
    if depth == 0 or len(pool) < 2 or (pool, depth) in memo:
        return None
    pairs = {(pool[j], pool[i], i, j) for i in range(len(pool)) for j in range(i + 1, len(pool))}
    for a, b, i, j in sorted(pairs, reverse=True):  # the pool is sorted, so a >= b
        if depth == 1:  # leaves dominate the search: test them without recursing
            for op, c in _moves(a, b):
                if c == target:
                    return ((a, op, b, c),)
            continue
        rest = pool[:i] + pool[i + 1 : j] + pool[j + 1 :]
        for op, c in _moves(a, b):
            found = _search(tuple(sorted(rest + (c,))), target, depth - 1, memo)
            if found is not None:
                return ((a, op, b, c),) + found
    memo[(pool, depth)] = False
    return None


@lru_cache(maxsize=4096)
def _solve(pool: tuple[int, ...], target: int) -> tuple[Move, ...] | None:
    memo: dict[tuple[tuple[int, ...], int], bool] = {}
    for depth in range(len(pool)):
        found = _search(pool, target, depth, memo)
        if found is not None:
            return found
    return None


def solve(numbers: tuple[int, ...] | list[int], target: int) -> tuple[Move, ...] | None:
    """Return a shortest sequence of moves making ``target`` (``()`` if already there).

    Iterative deepening over the board (failures memoised within a call, results
    cached across calls); ``None`` if impossible.
    """
    return _solve(tuple(sorted(int(n) for n in numbers)), int(target))


def clear_solver_cache() -> None:
    """Forget cached solutions (for benchmarks that must not reuse earlier searches)."""
    _solve.cache_clear()


def _move_text(move: Move, stated: int | Fraction | None = None) -> str:
    a, op, b, c = move
    return f"{a} {op} {b} = {format_number(c if stated is None else stated)}"


@dataclass(frozen=True)
class CountdownTask(ReasoningTask):
    """Make ``answer`` (the target) from ``numbers``.

    Attributes:
        family: ``"countdown"``.
        question: the question text.
        answer: the target.
        numbers: the starting numbers.
        reference: the moves the generator used to make the target.
        meta: generator settings.
    """

    family: str
    question: str
    answer: Fraction
    numbers: tuple[int, ...]
    reference: tuple[Move, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    step_format = "One operation per step, like '25 * 4 = 100'. Finish with 'Answer: <target>'."

    @property
    def target(self) -> int:
        """Return the number to make."""
        return int(self.answer)

    @cached_property
    def shortest(self) -> int:
        """Length of a shortest solution from the starting numbers."""
        found = solve(self.numbers, self.target)
        return len(found) if found is not None else len(self.reference)

    def new_tracker(self) -> PoolTracker:
        """Return a tracker holding the starting numbers."""
        return PoolTracker(self, tuple(sorted(self.numbers)))

    def is_solved(self, tracker: PoolTracker, answer: Fraction) -> bool:
        """Return whether the answer is the target, on the board, with every result right."""
        return answer == self.answer and self.target in tracker.pool and not tracker.tainted

    def oracle_step(
        self,
        tracker: PoolTracker,
        trust_written: bool = False,
        error_rng: random.Random | None = None,
    ) -> str:
        """Return the first move of a shortest solution from the numbers on the board.

        Both modes continue from the board as written (a wrong result cannot be undone;
        the episode is then lost). From a dead end the oracle answers the closest number.
        """
        moves = solve(tracker.pool, self.target)
        if moves:
            stated = None
            if error_rng is not None:
                stated = perturb(Fraction(moves[0][3]), {Fraction(moves[0][3])}, error_rng)
                stated = stated if stated > 0 else moves[0][3] + 1
            return _move_text(moves[0], stated)
        value: Fraction = self.answer
        if moves is None:
            value = Fraction(min(tracker.pool, key=lambda n: (abs(n - self.target), n)))
        if error_rng is not None:
            value = perturb(value, {self.answer}, error_rng)
        return f"Answer: {format_number(value)}"

    def status_line(self, tracker: PoolTracker) -> str:
        """Return the numbers still available."""
        return "Numbers available: " + ", ".join(str(n) for n in tracker.pool)

    def to_dict(self) -> dict[str, Any]:
        """Numbers, target, the generator's solution and the oracle's."""
        data = super().to_dict()
        data["numbers"] = list(self.numbers)
        data["target"] = self.target
        data["reference_solution"] = [_move_text(m) for m in self.reference]
        data["intermediate_values"] = [m[3] for m in self.reference]
        return data


class PoolTracker:
    """Return the numbers on the board and whether a wrong result was ever committed.

    Attributes:
        task: the task.
        pool: the available numbers, sorted.
        tainted: a step stated a wrong result (it was committed; the episode is lost).
    """

    __slots__ = ("task", "pool", "tainted")

    def __init__(self, task: CountdownTask, pool: tuple[int, ...], tainted: bool = False):
        self.task = task
        self.pool = pool
        self.tainted = tainted

    def copy(self) -> PoolTracker:
        """Return an independent copy (the pool is an immutable tuple)."""
        return PoolTracker(self.task, self.pool, self.tainted)

    def describe(self) -> dict[str, Any]:
        """Return the board, JSON-friendly: ``{"numbers": [...], "tainted": False}``."""
        return {"numbers": list(self.pool), "tainted": self.tainted}

    def progress(self) -> float:
        """1 − (moves still needed) / (moves needed at the start); 0 once tainted or stuck."""
        if self.tainted:
            return 0.0
        moves = solve(self.pool, self.task.target)
        if moves is None:
            return 0.0
        return 1.0 - len(moves) / max(self.task.shortest, 1)

    def process(self, line: str) -> StepReport:
        """Apply one move ``a op b = c`` (and/or read ``Answer: n``)."""
        report = read_step(line)
        if report.invalid:
            return report
        if len(report.equations) > 1:
            return invalid("write one operation per step, like '25 * 4 = 100'")
        if not report.equations:
            if report.kind == "text":
                return invalid("expected a step like '25 * 4 = 100' or 'Answer: <number>'")
            return report
        equation = report.equations[0]
        expr = equation.expr
        if not (
            isinstance(expr, Bin) and isinstance(expr.left, Num) and isinstance(expr.right, Num)
        ):
            return invalid("write one operation per step, like '25 * 4 = 100'")
        board = Counter(self.pool)
        for operand in (expr.left.value, expr.right.value):
            if operand.denominator != 1 or board[int(operand)] == 0:
                return invalid(f"{format_number(operand)} is not an available number")
            board[int(operand)] -= 1
        value, stated = equation.value, equation.stated
        if value is None or value.denominator != 1:
            return invalid("division must be exact")
        if value <= 0:
            return invalid("results must be positive")
        if stated.denominator != 1 or stated <= 0:
            return invalid("results must be positive whole numbers")
        self.pool = tuple(sorted(list(board.elements()) + [int(stated)]))
        if stated != value:
            self.tainted = True
        return report


@dataclass(frozen=True)
class CountdownLevel:
    """Generator settings for one difficulty level."""

    n_small: int
    n_large: int
    small_max: int
    moves: tuple[int, int]
    target: tuple[int, int]


#: Difficulty 1 (3 numbers, 2 moves) to 5 (the classic 6 numbers, 4–5 moves, target 100–999).
LEVELS: dict[int, CountdownLevel] = {
    1: CountdownLevel(3, 0, 10, (2, 2), (10, 99)),
    2: CountdownLevel(3, 1, 10, (2, 3), (20, 200)),
    3: CountdownLevel(3, 1, 13, (3, 3), (50, 500)),
    4: CountdownLevel(4, 1, 10, (3, 4), (100, 999)),
    5: CountdownLevel(4, 2, 10, (4, 5), (100, 999)),
}


def generate_countdown(rng: random.Random, difficulty: int = 2) -> CountdownTask:
    """Draw numbers and a target made from them by a random sequence of moves.

    The target is not one of the numbers, lies in the level's range, and (from
    level 2) needs at least two moves.
    """
    level = LEVELS[difficulty]
    for _ in range(10_000):
        numbers = [rng.randint(1, level.small_max) for _ in range(level.n_small)]
        numbers += rng.sample(_LARGE, level.n_large)
        rng.shuffle(numbers)
        pool, reference = list(numbers), []
        for _ in range(rng.randint(*level.moves)):
            a, b = rng.sample(pool, 2)
            a, b = max(a, b), min(a, b)
            op, c = rng.choice(_moves(a, b))
            pool.remove(a)
            pool.remove(b)
            pool.append(c)
            reference.append((a, op, b, c))
        target = reference[-1][3]
        if target in numbers or not level.target[0] <= target <= level.target[1]:
            continue
        if difficulty >= 2 and _search(tuple(sorted(numbers)), target, 1, {}) is not None:
            continue  # reachable in one move
        listing = ", ".join(str(n) for n in numbers)
        question = (
            f"Using the numbers {listing}, make {target}. Each step combines two available "
            "numbers with +, -, * or / (division must be exact and results positive); each "
            "number can be used once and every result becomes available. "
            f"Finish with 'Answer: {target}'."
        )
        return CountdownTask(
            family="countdown",
            question=question,
            answer=Fraction(target),
            numbers=tuple(numbers),
            reference=tuple(reference),
            meta={"difficulty": difficulty},
        )
    raise RuntimeError("no countdown task found")  # pragma: no cover


class CountdownEnv(ReasoningEnv):
    """Combine the given numbers with + − × ÷ to reach a target.

    ## Description
    The numbers game: from e.g. ``2, 5, 10`` make ``60``. Each step combines two
    available numbers (``10 + 2 = 12``); both are used up and the result becomes
    available. Division must be exact and results positive. The episode ends with
    ``Answer: 60``. The state space branches widely, so this family suits search
    (``clone()``/``get_state()``) and progress-based shaping.

    Steps are checked strictly: a move using an unavailable number, an inexact
    division or more than one operation is rejected (flagged in ``info``, the board is
    unchanged); a move stating a *wrong result* is committed as written — like a false
    line in a proof it cannot be taken back, and the episode can no longer succeed.

    ## Observation Space
    ``PermissiveText``: the question, a format hint, the numbered steps so far and the
    line ``Numbers available: …``.

    ## Action Space
    ``PermissiveText``: one move ``a op b = c`` or the final ``Answer: <target>``.

    ## Rewards
    1.0 when the final answer is the target, the target is on the board and every
    committed result was correct; else 0.0.

    ## Termination
    Terminates on the first step stating a final answer. The registered spec
    truncates after 12 steps. ``info["is_success"]`` is reported at every step;
    ``info["progress"]`` is 1 − (moves still needed)/(moves needed at the start).

    ## Registered Configurations
    ``densegym/Countdown-v0`` with kwargs ``difficulty`` (1–5, default 2: 3, 4, 4, 5, 6
    numbers, targets up to 99 … 999), ``curriculum``, ``max_step_chars`` and
    ``render_mode``.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Countdown-v0", difficulty=1)
        >>> _ = env.reset(seed=0)
        >>> _, _, _, _, info = env.step("99 * 99 = 9801")
        >>> info["invalid_step"], info["invalid_reason"]
        (True, '99 is not an available number')
    """

    family_id = "Countdown"
    levels = tuple(LEVELS)

    def __init__(
        self,
        difficulty: int = 2,
        curriculum: bool | dict[str, Any] | None = None,
        render_mode: str | None = None,
        max_step_chars: int = 400,
    ):
        super().__init__(
            difficulty=difficulty,
            curriculum=curriculum,
            render_mode=render_mode,
            max_step_chars=max_step_chars,
        )

    def _generate(self, rng: random.Random, options: dict[str, Any]) -> CountdownTask:
        return generate_countdown(rng, self.difficulty)
