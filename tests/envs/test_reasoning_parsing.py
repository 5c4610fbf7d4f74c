from fractions import Fraction

import pytest

from densegym.envs.reasoning.expr import render
from densegym.envs.reasoning.parsing import (
    parse_answer,
    parse_equations,
    parse_expression,
    parse_number,
    strip_annotations,
)
from densegym.envs.reasoning.task import read_step


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Answer: 42", 42),
        ("answer: 42", 42),
        ("Answer:42", 42),
        ("The answer is 12.", 12),
        ("So the final answer is 18 dollars.", 18),
        ("#### 72", 72),
        ("#### 1,000", 1000),
        ("Answer: 1,234,567.", 1234567),
        ("Answer: $12.50", Fraction(25, 2)),
        ("Answer: -7", -7),
        ("Answer: \u22127 meters", -7),
        ("Answer: -$5", -5),
        ("**Answer:** 42", 42),
        ("Answer: **42**", 42),
        ("\\boxed{3/4}", Fraction(3, 4)),
        ("Answer: 3/4", Fraction(3, 4)),
        ("Answer: 2 1/2 cups", Fraction(5, 2)),
        ("Answer: 0.5", Fraction(1, 2)),
        ("Answer: .5", Fraction(1, 2)),
        ("Answer = 9", 9),
        ("Answer: 3 + 4 = 7", 7),
        ("Answer: 50%", 50),
        ("Total 5 + 7 = 12, so the answer is 12", 12),
        ("Answer: 12 apples (3 bags of 4)", 12),
    ],
)
def test_answers_are_parsed_robustly(text, value):
    assert parse_answer(text) == (True, Fraction(value))


@pytest.mark.parametrize("text", ["3 * 4 = 12", "To answer this, 3 * 4 = 12", "", "answers vary"])
def test_text_without_an_answer_marker_has_no_answer(text):
    assert parse_answer(text) == (False, None)


@pytest.mark.parametrize("text", ["Answer:", "Answer: I don't know", "The answer is unclear."])
def test_marker_without_a_number_is_reported(text):
    assert parse_answer(text) == (True, None)


def test_non_strings_do_not_crash():
    assert parse_answer(None) == (False, None)
    assert parse_number(12) is None
    assert parse_equations(b"3 + 4 = 7") == []
    assert parse_expression(None) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("12 apples", 12), ("-3", -3), ("$1,234.50", Fraction(2469, 2)), ("1 1/2", Fraction(3, 2))],
)
def test_numbers(text, value):
    assert parse_number(text) == Fraction(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 4 = 7", [("3 + 4", 7, True)]),
        ("3 + 4 = 8", [("3 + 4", 8, False)]),
        ("Cost of the pens: 3 * $4 = $12.", [("3 * 4", 12, True)]),
        ("3 x 4 = 12", [("3 * 4", 12, True)]),
        ("3 \u00d7 4 \u2212 2 = 10", [("3 * 4 - 2", 10, True)]),
        ("12 \u00f7 4 = 3", [("12 / 4", 3, True)]),
        ("5 - -3 = 8", [("5 - (-3)", 8, True)]),
        ("(-5) * 3 = -15", [("(-5) * 3", -15, True)]),
        ("(2 + 3) * 4 = 20", [("(2 + 3) * 4", 20, True)]),
        ("1,200 + 300 = 1,500", [("1200 + 300", 1500, True)]),
        ("7 / 2 = 7/2", [("7 / 2", Fraction(7, 2), True)]),
        ("7 / 2 = 3.5", [("7 / 2", Fraction(7, 2), True)]),
        ("20% * 50 = 10", [("0.2 * 50", 10, True)]),
        ("3 * 4 = 12 + 5 = 17", [("3 * 4", 12, True), ("12 + 5", 17, True)]),
        ("She sold 48/2 = <<48/2=24>>24 clips", [("48 / 2", 24, True)]),
        ("x = 5", []),
        ("Total = 12", []),
        ("3 apples and 4 pears", []),
        ("a == b", []),
    ],
)
def test_equations(text, expected):
    got = [(render(eq.expr), eq.stated, eq.correct) for eq in parse_equations(text)]
    assert got == [(expr, Fraction(stated), ok) for expr, stated, ok in expected]


def test_division_by_zero_is_an_invalid_step():
    (equation,) = parse_equations("5 / 0 = 3")
    assert equation.value is None and not equation.correct
    assert read_step("5 / 0 = 3").invalid_reason == "division by zero"


def test_expressions():
    assert render(parse_expression("2 + 3 * 4")) == "2 + 3 * 4"
    assert render(parse_expression("(2 + 3) * 4")) == "(2 + 3) * 4"
    assert parse_expression("2 +") is None
    assert parse_expression("(2 + 3") is None
    assert parse_expression("two plus three") is None


def test_strip_annotations():
    assert strip_annotations("48/2 = <<48/2=24>>24 clips") == "48/2 = 24 clips"


@pytest.mark.parametrize(
    ("line", "kind", "reason"),
    [
        ("", "invalid", "empty step"),
        ("   ", "invalid", "empty step"),
        ("Answer: ???", "invalid", "answer without a number"),
        ("3 * 4 = 12", "equation", ""),
        ("First, add the apples.", "text", ""),
        ("3 * 4 = 12. Answer: 12", "answer", ""),
    ],
)
def test_read_step(line, kind, reason):
    report = read_step(line)
    assert (report.kind, report.invalid_reason) == (kind, reason)
