"""Hostile cases of issue 21 for the reasoning worlds' step parsers.

A step is one line of text from an agent or a model: it is parsed boundedly, and bad input
is flagged in ``info`` and counted, never raised out of ``env.step``. The property tests
look for the next break, not only the last one.
"""

from __future__ import annotations

from fractions import Fraction

import gymnasium as gym
import pytest

import densegym  # noqa: F401 - registers the ids
from densegym.envs.reasoning.parsing import (
    MAX_DEPTH,
    expression_problem,
    parse_answer,
    parse_equations,
    parse_expression,
    parse_number,
)
from densegym.envs.reasoning.task import read_step

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

REASONING_IDS = ("densegym/Arithmetic-v0", "densegym/WordProblems-v0", "densegym/Countdown-v0")

#: Text built from the characters the parsers care about, plus anything at all.
STEP_CHARS = st.sampled_from(list("0123456789.,+-*/()%=$xX ×÷−\\{}<>#:") + ["Answer:", "frac"])
STEPS = st.one_of(
    st.text(max_size=400),
    st.lists(STEP_CHARS, max_size=400).map("".join),
    st.builds(
        lambda prefix, n, tail: prefix * n + tail,
        st.sampled_from(["-(", "(", "-", "+-", "((", "-(+"]),
        st.integers(0, 400),
        st.sampled_from(["1 = 1", "1", "2 + 3 = 5", ""]),
    ),
)


@pytest.fixture(scope="module")
def envs():
    made = {}
    for env_id in REASONING_IDS:
        try:
            made[env_id] = gym.make(env_id)
        except gym.error.Error:  # pragma: no cover - an id not registered in this build
            continue
    yield made
    for env in made.values():
        env.close()


@pytest.mark.parametrize("env_id", REASONING_IDS)
def test_a_deeply_nested_step_is_flagged_not_raised(envs, env_id):
    """Issue 21, high 3: ``env.step('-(' * 197 + '1 = 1')`` raised RecursionError."""
    if env_id not in envs:
        pytest.skip(f"{env_id} is not registered")
    env = envs[env_id]
    env.reset(seed=0)
    _, reward, _, _, info = env.step("-(" * 197 + "1 = 1")
    assert info["invalid_step"] and "nested too deeply" in info["invalid_reason"]
    assert info["n_invalid_steps"] == 1
    assert isinstance(reward, float)


@pytest.mark.parametrize(
    "text",
    ["-(" * 197 + "1 = 1", "(" * 5000 + "1" + ")" * 5000 + " = 1", "-" * 10_000 + "1 = -1"],
)
def test_the_parsers_are_bounded_on_any_length(text):
    parse_expression(text)
    parse_equations(text)
    assert read_step(text).invalid
    assert expression_problem(text)


def test_a_long_flat_sum_is_read_or_flagged_without_recursion():
    text = " + ".join(["1"] * 5000) + " = 5000"
    assert read_step(text).invalid_reason.startswith("expression too long")
    assert isinstance(parse_equations(text), list)


def test_ordinary_nesting_is_still_read():
    nested = "(" * MAX_DEPTH + "2 + 3" + ")" * MAX_DEPTH + " * 4 = 20"
    report = read_step(nested)
    assert not report.invalid and report.kind == "equation" and not report.arithmetic_error


@settings(max_examples=300, deadline=None, database=None)
@given(text=STEPS)
def test_no_text_makes_a_parser_raise(text):
    parse_number(text)
    parse_answer(text)
    parse_expression(text)
    for equation in parse_equations(text):
        str(equation)
    report = read_step(text)
    assert report.kind in ("answer", "equation", "text", "invalid")


@settings(max_examples=100, deadline=None, database=None)
@given(text=STEPS)
def test_no_text_makes_env_step_raise(envs, text):
    env = envs["densegym/Arithmetic-v0"]
    env.reset(seed=0)
    _, reward, _, _, info = env.step(text)
    assert isinstance(reward, float)
    assert isinstance(info["invalid_step"], bool)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: 7/0", None),  # was read as 7, and succeeded
        ("Answer: 1 0/0", None),
        ("Answer: 0x10", None),  # was read as 0
        ("Answer: 1e3", Fraction(1000)),  # was read as 1
        ("Answer: 2.5E-1", Fraction(1, 4)),
        ("Answer: 1e999999999", None),  # no huge power of ten is built
        ("Answer: 12.", Fraction(12)),
    ],
)
def test_answers_are_read_as_written_or_not_at_all(text, expected):
    """Issue 21, low: ``7/0`` was read as 7, ``1e3`` as 1 and ``0x10`` as 0."""
    assert parse_answer(text) == (True, expected)
    report = read_step(text)
    if expected is None:
        assert report.invalid and report.invalid_reason == "answer without a number"
    else:
        assert report.answer == expected


def test_a_division_by_zero_answer_does_not_solve_the_task(envs):
    env = envs["densegym/Arithmetic-v0"]
    env.reset(seed=0)
    answer = env.unwrapped.task["answer"]  # 3 on seed 0
    _, _, _, _, info = env.step(f"Answer: {answer}/0")
    assert not info["is_success"] and info["invalid_step"]
