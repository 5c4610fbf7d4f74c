"""Property tests of issue 21: look for the next break in every text or data a user writes.

* Shaping specs: any JSON value given as ``shaping=`` is either refused at ``gym.make``
  with a ``ValueError``/``TypeError`` that says why, or makes an env whose ``reset`` and
  ``step`` work.
* Tool calls: ``step`` of a tool env never raises, whatever the text.

Budgets are small by default; ``-m slow`` runs them longer.
"""

from __future__ import annotations

import json
import math
import warnings

import gymnasium as gym
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import densegym  # noqa: E402, F401 - registers the ids
from densegym.rewards.registry import MAX_SHAPERS, MAX_SPEC_DEPTH, normalize_spec  # noqa: E402

CAR = "densegym/MountainCarSparse-v0"
TOOLS_ENV = "densegym/ToolShop-Orders-v0"
#: Shapers built from arbitrary specs: the ones that load no language model or worker.
CHEAP_SHAPERS = ["count", "potential", "step_penalty", "invalid_penalty", "outcome", "pav"]
#: Arguments shapers take, so that generated specs reach their validation.
ARGUMENTS = ["coef", "normalize", "clip", "name", "potential", "gamma", "mode", "batched"]
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["none", "count", "count+potential", "+", "[]", "{", "bogus", "no", ""]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(["id", *ARGUMENTS]), st.text(max_size=6)), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
SPEC = st.one_of(
    JSON,
    st.builds(
        lambda name, kwargs: {"id": name, **kwargs},
        st.sampled_from([*CHEAP_SHAPERS, "none", "bogus"]),
        st.dictionaries(st.sampled_from(ARGUMENTS), JSON, max_size=3),
    ),
)


def _refusal_is_clear(error: BaseException) -> None:
    assert isinstance(error, (ValueError, TypeError)), f"{type(error).__name__}: {error}"
    assert str(error).strip(), f"{type(error).__name__} without a message"


def _uses_only_cheap_shapers(spec: object) -> bool:
    try:
        return all(entry["id"] in CHEAP_SHAPERS for entry in normalize_spec(spec))
    except (ValueError, TypeError, KeyError):
        return True  # refused before any shaper is built


@SETTINGS
@given(spec=SPEC)
def test_normalize_spec_accepts_or_refuses_clearly(spec):
    try:
        out = normalize_spec(spec)
    except Exception as error:  # noqa: BLE001 - the property is about which errors
        _refusal_is_clear(error)
        return
    assert all(isinstance(entry, dict) and isinstance(entry["id"], str) for entry in out)


@SETTINGS
@given(
    count=st.integers(0, 3 * MAX_SHAPERS),
    depth=st.integers(0, 3 * MAX_SPEC_DEPTH),
    as_json=st.booleans(),
)
def test_a_spec_within_the_bounds_is_read_and_one_beyond_them_is_refused(count, depth, as_json):
    """Issue 21: thousands of stacked or deeply nested shapers hit the recursion limit."""
    spec: object = [{"id": "count", "name": f"c{i}"} for i in range(count)]
    for _ in range(depth):
        spec = [spec]
    given_spec = json.dumps(spec) if as_json else spec
    innermost = depth + (1 if as_json else 0) + (1 if count else 0)  # the level normalize reads
    if count > MAX_SHAPERS or innermost > MAX_SPEC_DEPTH:
        with pytest.raises(ValueError, match="at most"):
            normalize_spec(given_spec)
    else:
        assert len(normalize_spec(given_spec)) == count


@SETTINGS
@given(spec=SPEC)
def test_gym_make_with_any_shaping_accepts_or_refuses_clearly(spec):
    hypothesis.assume(_uses_only_cheap_shapers(spec))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env = gym.make(CAR, shaping=spec)
        except Exception as error:  # noqa: BLE001
            _refusal_is_clear(error)
            return
        try:  # a spec that was accepted must give a working env
            env.reset(seed=0)
            for action in (0, 2, 1):
                _, reward, *_ = env.step(action)
                assert math.isfinite(reward)
        finally:
            env.close()


@SETTINGS
@given(text=st.text(max_size=200))
def test_a_json_text_spec_is_read_like_its_value(text):
    """A spec given as JSON text (what the CLI passes) behaves like the decoded value."""
    try:
        value = json.loads(text)
    except ValueError:
        return
    try:
        direct = normalize_spec(value)
    except (ValueError, TypeError):
        direct = None
    try:
        textual = normalize_spec(json.dumps(value)) if isinstance(value, (dict, list)) else None
    except (ValueError, TypeError):
        textual = None
    if isinstance(value, (dict, list)):
        assert textual == direct


# --------------------------------------------------------------------- tool calls
@pytest.fixture(scope="module")
def tool_env():
    env = gym.make(TOOLS_ENV)
    env.reset(seed=0)
    yield env
    env.close()


NAMES = st.sampled_from(
    ["get_order", "cancel_order", "answer", "report_infeasible", "find_user", "", "x" * 300]
)
CALLS = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda name, args: json.dumps({"name": name, "arguments": args}),
        NAMES,
        st.dictionaries(st.text(max_size=10), JSON, max_size=3),
    ),
    st.builds(
        lambda name, args: f"{name}({args})",
        NAMES,
        st.text(alphabet="(),=\"'[]{}#W0123 abc_-.\\", max_size=80),
    ),
    st.builds(lambda depth: "f(" * depth + ")" * depth, st.integers(0, 2000)),
    st.builds(lambda depth: '{"a":' * depth + "1" + "}" * depth, st.integers(0, 2000)),
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=CALLS)
def test_tool_env_step_never_raises_on_any_text(tool_env, text):
    _, reward, terminated, truncated, info = tool_env.step(text)
    assert math.isfinite(reward)
    if terminated or truncated:
        tool_env.reset()


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, database=None)
@given(spec=SPEC)
def test_gym_make_with_any_shaping_long(spec):
    test_gym_make_with_any_shaping_accepts_or_refuses_clearly.hypothesis.inner_test(spec)
