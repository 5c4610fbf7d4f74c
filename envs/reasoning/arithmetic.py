"""Multi-step arithmetic: evaluate an expression one operation per step.

Example:
    >>> import random
    >>> task = generate_arithmetic(random.Random(3), difficulty=2)
    >>> task.question
    'Compute (10 - 7) * 7 - 12.'
    >>> task.solution_steps()
    ['10 - 7 = 3', '3 * 7 = 21', '21 - 12 = 9', 'Answer: 9']
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from densegym.envs.reasoning.base import ReasoningEnv
from densegym.envs.reasoning.chain import ChainTask, PlanBuilder
from densegym.envs.reasoning.expr import Bin, Expr, Num, Ref, render


@dataclass(frozen=True)
class ArithmeticLevel:
    """Generator settings for one difficulty level."""

    n_ops: int
    max_value: int
    ops: str
    negatives: bool


#: Difficulty 1 (two additions/subtractions under 10) to 5 (seven operations, negatives).
LEVELS: dict[int, ArithmeticLevel] = {
    1: ArithmeticLevel(2, 10, "+-", False),
    2: ArithmeticLevel(3, 20, "+-*", False),
    3: ArithmeticLevel(4, 30, "+-*/", False),
    4: ArithmeticLevel(5, 50, "+-*/", True),
    5: ArithmeticLevel(7, 100, "+-*/", True),
}
MAX_OPS = 12


def _split(rng: random.Random, value: int, level: ArithmeticLevel) -> tuple[str, int, int] | None:
    """Choose ``op, a, b`` with ``a op b == value``, all values nonzero integers."""
    ops = list(level.ops)
    rng.shuffle(ops)
    top = level.max_value
    for op in ops:
        if op == "+":
            high = top if level.negatives else min(top, value - 1)
            low = -top if level.negatives else 1
            if high < low:
                continue
            a = rng.randint(low, high)
            if a not in (0, value):
                return "+", a, value - a
        elif op == "-":
            b = rng.randint(1, top)
            if level.negatives and rng.random() < 0.3:
                b = -b
            if value + b != 0:
                return "-", value + b, b
        elif op == "*" and abs(value) >= 4:
            divisors = [d for d in range(2, int(abs(value) ** 0.5) + 1) if value % d == 0]
            if divisors:
                d = rng.choice(divisors)
                pair = [d, value // d]
                rng.shuffle(pair)
                return "*", pair[0], pair[1]
        elif op == "/":
            b = rng.randint(2, 9)
            if abs(value * b) <= 10 * top:
                return "/", value * b, b
    return None


def _tree(rng: random.Random, value: int, n_ops: int, level: ArithmeticLevel) -> Expr:
    """Build a random expression with ``n_ops`` operations whose value is ``value``."""
    if n_ops == 0:
        return Num(Fraction(value))
    split = None
    for _ in range(20):  # every level allows "-", so this practically always succeeds
        split = _split(rng, value, level)
        if split is not None:
            break
    if split is None:
        return Num(Fraction(value))
    op, a, b = split
    left_ops = rng.randint(0, n_ops - 1)
    return Bin(op, _tree(rng, a, left_ops, level), _tree(rng, b, n_ops - 1 - left_ops, level))


def _plan(expr: Expr, builder: PlanBuilder) -> Ref | int | Fraction:
    """Append the tree's operations in evaluation order (left operand first)."""
    if isinstance(expr, Num):
        return expr.value
    left = _plan(expr.left, builder)
    right = _plan(expr.right, builder)
    return builder.add(expr.op, left, right)


def generate_arithmetic(
    rng: random.Random, difficulty: int = 2, n_ops: int | None = None
) -> ChainTask:
    """Draw an expression task: every intermediate value is a nonzero integer.

    Args:
        rng: the generator's random source.
        difficulty: level 1–5 (see :data:`LEVELS`).
        n_ops: number of operations (overrides the level's; 1–12).
    """
    level = LEVELS[difficulty]
    count = level.n_ops if n_ops is None else int(n_ops)
    if not 1 <= count <= MAX_OPS:
        raise ValueError(f"n_ops must be between 1 and {MAX_OPS}, got {n_ops!r}")
    top = level.max_value
    value = rng.randint(-top, top) if level.negatives else rng.randint(2, top)
    value = value or 1
    tree = _tree(rng, value, count, level)
    builder = PlanBuilder()
    answer_ref = _plan(tree, builder)
    expression = render(tree)
    return ChainTask(
        family="arithmetic",
        question=f"Compute {expression}.",
        answer=builder.value(answer_ref),
        plan=builder.steps(),
        meta={"difficulty": difficulty, "n_ops": count, "expression": expression},
    )


class ArithmeticEnv(ReasoningEnv):
    """Evaluate an arithmetic expression, one operation per step.

    ## Description
    A random expression such as ``Compute (10 - 7) * 7 - 12.`` is solved by writing one
    operation per step (``10 - 7 = 3``, ``3 * 7 = 21``, ``21 - 12 = 9``) and then
    ``Answer: 9``. Every intermediate value is a nonzero integer (division is exact),
    so a single wrong intermediate value always changes the answer. Difficulty 1–5
    sets the number of operations (2, 3, 4, 5, 7), the operand range (10 to 100), the
    operations (``+-`` up to ``+-*/``) and whether negative numbers appear (4–5).

    ## Observation Space
    ``PermissiveText``: the question, a format hint and the numbered steps so far.

    ## Action Space
    ``PermissiveText``: one step (first non-empty line, at most ``max_step_chars``).

    ## Rewards
    1.0 for a correct final answer, else 0.0.

    ## Termination
    Terminates on the first step stating a final answer. The registered spec
    truncates after 16 steps. ``info["is_success"]`` is reported at every step;
    ``info["invalid_step"]``/``info["n_invalid_steps"]`` flag unusable steps and
    ``info["progress"]`` is the share of operations computed correctly.

    ## Registered Configurations
    ``densegym/Arithmetic-v0`` with kwargs ``difficulty`` (1–5, default 2),
    ``n_ops`` (1–12, overrides the level's), ``curriculum`` (``True`` or a dict of
    :class:`~densegym.envs.reasoning.curriculum.Curriculum` settings),
    ``max_step_chars`` and ``render_mode`` (``"ansi"``, ``"human"``).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1)
        >>> obs, info = env.reset(seed=0)
        >>> while True:
        ...     obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
        ...     if terminated or truncated:
        ...         break
        >>> reward, info["is_success"]
        (1.0, True)
    """

    family_id = "Arithmetic"
    levels = tuple(LEVELS)

    def __init__(
        self,
        difficulty: int = 2,
        n_ops: int | None = None,
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
        if n_ops is not None and not 1 <= int(n_ops) <= MAX_OPS:
            raise ValueError(f"n_ops must be between 1 and {MAX_OPS}, got {n_ops!r}")
        self.n_ops = n_ops

    def _generate(self, rng: random.Random, options: dict[str, Any]) -> ChainTask:
        return generate_arithmetic(rng, self.difficulty, self.n_ops)
