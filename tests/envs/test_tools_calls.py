import random

import pytest

from densegym.envs.tools import OrdersEnv
from densegym.envs.tools.calls import parse_call


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ('get_order(order_id="#W1")', "get_order", {"order_id": "#W1"}),
        (
            '{"name": "get_order", "arguments": {"order_id": "#W1"}}',
            "get_order",
            {"order_id": "#W1"},
        ),
        (
            '```json\n{"name": "answer", "arguments": {"answer": "4"}}\n```',
            "answer",
            {"answer": "4"},
        ),
        (
            '{"function": {"name": "answer", "arguments": "{\\"answer\\": \\"x\\"}"}}',
            "answer",
            {"answer": "x"},
        ),
        ('{"tool": "answer", "args": {"answer": 1}}', "answer", {"answer": 1}),
        (
            "I will call return_items(order_id='#W1', item_ids=['1', '2'], payment_id='p') now",
            "return_items",
            {"order_id": "#W1", "item_ids": ["1", "2"], "payment_id": "p"},
        ),
        ("calculate(expression='-1 + 2')", "calculate", {"expression": "-1 + 2"}),
        ("f(x=-3, y=None, z=True)", "f", {"x": -3, "y": None, "z": True}),
    ],
)
def test_parse_call_forms(text, name, arguments):
    call = parse_call(text)
    assert call.ok, call.error
    assert (call.name, call.arguments) == (name, arguments)


@pytest.mark.parametrize(
    "text",
    [
        "f(x=g())",
        "f(x=a.b)",
        "f(**k)",
        "f(*a)",
        "f(x=1 + 2)",
        "f(x=[[[[1]]]])",
        "f(x=lambda: 1)",
        "a.b(x=1)",
        "f(x={'a': 1})",
    ],
)
def test_parse_call_refuses_non_constants(text):
    assert not parse_call(text).ok


def test_nesting_and_length_are_bounded():
    assert not parse_call("f(x=" + "[" * 3000 + "]" * 3000 + ")").ok
    assert not parse_call('{"name": "f", "arguments": ' + "[" * 1900 + "]" * 1900 + "}").ok
    assert not parse_call("f(x=" + "-" * 3000 + "1)").ok
    assert "longer than" in parse_call("f()" + " " * 5000).error


def _step_never_raises(env, action):
    if env._done:
        env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert isinstance(obs, str) and env.observation_space.contains(obs)
    assert reward in (0.0, 1.0)
    assert info["invalid_call"] == bool(info["invalid_reason"])
    assert info["n_invalid"] >= int(info["invalid_call"])


def test_step_never_raises_on_random_bytes():
    """A fallback fuzz that runs without hypothesis too."""
    env = OrdersEnv()
    env.reset(seed=0)
    rng = random.Random(0)
    alphabet = "(){}[]\"',:=\\ -#W0123456789abcdefghijklmnopqrstuvwxyz_\n\x00é"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        if rng.random() < 0.5:
            text = rng.choice(["get_order(", '{"name": "cancel_order", "arguments": ']) + text
        _step_never_raises(env, text)
