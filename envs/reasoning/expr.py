"""Exact arithmetic expression trees: numbers, references to earlier steps, binary ops.

Solution plans and the equations an agent writes are both trees of :class:`Num`,
:class:`Ref` (the result of an earlier solution step) and :class:`Bin`. Values are
:class:`fractions.Fraction`, so division is exact and equality is never approximate.

Example:
    >>> from fractions import Fraction
    >>> tree = Bin("*", Bin("+", Num(Fraction(3)), Ref(0)), Num(Fraction(2)))
    >>> render(tree, [Fraction(4)]), evaluate(tree, [Fraction(4)])
    ('(3 + 4) * 2', Fraction(14, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

#: The four operations, in the ASCII form every step is written with.
OPS = ("+", "-", "*", "/")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True, slots=True)
class Num:
    """Return a number literal."""

    value: Fraction


@dataclass(frozen=True, slots=True)
class Ref:
    """Return the result of solution step ``index`` (0-based)."""

    index: int


@dataclass(frozen=True, slots=True)
class Bin:
    """Return a binary operation ``left op right`` with ``op`` in ``+ - * /``."""

    op: str
    left: Expr
    right: Expr


Expr = Num | Ref | Bin

#: Values of earlier steps, indexed by :class:`Ref` index (``None``: unknown).
Values = Sequence[Fraction | None]


def apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    """Apply one operation exactly; ``None`` for division by zero.

    Example:
        >>> apply("/", Fraction(7), Fraction(2)), apply("/", Fraction(1), Fraction(0))
        (Fraction(7, 2), None)
    """
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    raise ValueError(f"unknown operation {op!r}")


def evaluate(expr: Expr, values: Values = ()) -> Fraction | None:
    """Evaluate a tree; ``None`` on division by zero or an unknown reference."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return values[expr.index] if expr.index < len(values) else None
    left, right = evaluate(expr.left, values), evaluate(expr.right, values)
    if left is None or right is None:
        return None
    return apply(expr.op, left, right)


def substitute(expr: Expr, values: Values) -> Expr | None:
    """Replace every reference by its value (``None`` if one is unknown)."""
    if isinstance(expr, Num):
        return expr
    if isinstance(expr, Ref):
        value = values[expr.index] if expr.index < len(values) else None
        return None if value is None else Num(value)
    left, right = substitute(expr.left, values), substitute(expr.right, values)
    if left is None or right is None:
        return None
    return Bin(expr.op, left, right)


def canonical(expr: Expr) -> tuple:
    """Return a hashable form, equal for trees differing only by commutativity/associativity.

    Chains of ``+`` (or ``*``) are flattened and sorted, so ``4 * 3`` matches ``3 * 4``.

    Example:
        >>> one, two = Num(Fraction(1)), Num(Fraction(2))
        >>> canonical(Bin("+", one, two)) == canonical(Bin("+", two, one))
        True
        >>> canonical(Bin("-", one, two)) == canonical(Bin("-", two, one))
        False
    """
    if isinstance(expr, Num):
        return ("n", expr.value)
    if isinstance(expr, Ref):
        return ("r", expr.index)
    if expr.op in ("+", "*"):
        parts: list[tuple] = []
        for child in (expr.left, expr.right):
            if isinstance(child, Bin) and child.op == expr.op:
                parts.extend(canonical(child)[1])
            else:
                parts.append(canonical(child))
        return (expr.op, tuple(sorted(parts, key=repr)))
    return (expr.op, canonical(expr.left), canonical(expr.right))


def refs(expr: Expr) -> frozenset[int]:
    """Return the indices of every step the tree refers to."""
    if isinstance(expr, Ref):
        return frozenset((expr.index,))
    if isinstance(expr, Bin):
        return refs(expr.left) | refs(expr.right)
    return frozenset()


def count_ops(expr: Expr) -> int:
    """Count the binary operations in the tree."""
    if isinstance(expr, Bin):
        return 1 + count_ops(expr.left) + count_ops(expr.right)
    return 0


def format_number(value: Fraction | int) -> str:
    """Write a number the way a step states it: ``12``, ``-3``, ``2.5`` or ``7/3``.

    Example:
        >>> [format_number(Fraction(n, d)) for n, d in [(12, 1), (-5, 2), (7, 3)]]
        ['12', '-2.5', '7/3']
    """
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    if den == 1:  # a terminating decimal
        return format(value.numerator / value.denominator, ".10f").rstrip("0").rstrip(".")
    return f"{value.numerator}/{value.denominator}"


def render(expr: Expr, values: Values = (), ref_names: bool = False) -> str:
    """Write a tree with the parentheses it needs.

    Negative literals are parenthesised, as is the right operand of an operation
    with the same precedence, so the tree can be read back unambiguously.

    Args:
        expr: the tree.
        values: values substituted for references.
        ref_names: write references as ``s1``, ``s2``, … (1-based) instead of values.
    """
    if isinstance(expr, Num):
        text = format_number(expr.value)
        return f"({text})" if expr.value < 0 or "/" in text else text
    if isinstance(expr, Ref):
        value = values[expr.index] if expr.index < len(values) else None
        if ref_names or value is None:
            return f"s{expr.index + 1}"
        return render(Num(value))
    prec = _PRECEDENCE[expr.op]
    left = render(expr.left, values, ref_names)
    right = render(expr.right, values, ref_names)
    if isinstance(expr.left, Bin) and _PRECEDENCE[expr.left.op] < prec:
        left = f"({left})"
    if isinstance(expr.right, Bin) and _PRECEDENCE[expr.right.op] <= prec:
        right = f"({right})"
    return f"{left} {expr.op} {right}"
