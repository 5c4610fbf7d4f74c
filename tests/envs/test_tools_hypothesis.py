"""Property tests: no text or JSON ever raises from parse_call or env.step (needs hypothesis)."""

import json

import pytest

from densegym.envs.tools import LookupEnv, OrdersEnv
from densegym.envs.tools.calls import parse_call

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TOOL_NAMES = ["get_order", "cancel_order", "return_items", "find_user", "answer", "nope", ""]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIXTURE = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _step_never_raises(env, action):
    if env._done:
        env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert isinstance(obs, str) and env.observation_space.contains(obs)
    assert reward in (0.0, 1.0)
    assert info["invalid_call"] == bool(info["invalid_reason"])
    assert info["n_invalid"] >= int(info["invalid_call"])


@pytest.fixture(scope="module")
def envs():
    lookup, orders = LookupEnv(n_distractors=3), OrdersEnv()
    lookup.reset(seed=0)
    orders.reset(seed=1)
    return lookup, orders


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_call_never_raises_on_text(text):
    call = parse_call(text)
    assert call.ok or call.error


@FIXTURE
@given(st.text(max_size=400))
def test_step_never_raises_on_text(envs, text):
    for env in envs:
        _step_never_raises(env, text)


@FIXTURE
@given(st.sampled_from(TOOL_NAMES), st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4))
def test_step_never_raises_on_json_calls(envs, name, arguments):
    for env in envs:
        _step_never_raises(env, json.dumps({"name": name, "arguments": arguments}))
        _step_never_raises(env, f"{name}(**{arguments!r})")
        keywords = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
        _step_never_raises(env, f"{name}({keywords})")


@FIXTURE
@given(JSON_VALUES)
def test_step_never_raises_on_any_json(envs, value):
    for env in envs:
        _step_never_raises(env, json.dumps(value))
