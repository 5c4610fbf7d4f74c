"""The shaper registry and the shaping spec: JSON round trips and error messages."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec

from densegym import rewards
from densegym.rewards import find_shapers, normalize_spec
from densegym.rewards.intrinsic import CountBonus
from densegym.rewards.potential import PotentialShaping

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
ROOM = "densegym/MiniHack-Room-5x5-v0"

SPECS = {
    "none": None,
    "name": "potential",
    "dict": {"id": "potential", "gamma": 0.9, "coef": 0.5, "clip": (-0.2, 0.2)},
    "list": ["count", {"id": "step_penalty", "penalty": 0.05}, {"id": "potential", "gamma": 1.0}],
    "stack_string": "count+step_penalty",
    "json_string": '[{"id": "count", "mode": "episodic", "name": "novelty"}]',
}


def _rollout(env: gym.Env, seed: int, steps: int = 40):
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=steps)
    env.reset(seed=seed)
    out = []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(int(action))
        out.append((reward, dict(info.get("reward_terms", {}))))
        if terminated or truncated:
            env.reset()
    return out


@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM])
@pytest.mark.parametrize("case", sorted(SPECS))
def test_spec_json_round_trip_rebuilds_the_same_shaped_env(env_id, case):
    shaping = SPECS[case]
    env = gym.make(env_id, shaping=shaping)
    text = env.spec.to_json()
    remade = gym.make(EnvSpec.from_json(text))

    expected_terms = [spec.get("name") or spec["id"] for spec in normalize_spec(shaping)]
    for candidate in (env, remade):
        shapers = find_shapers(candidate)
        assert [s.term_name for s in shapers] == expected_terms  # no double shaping
    assert [type(s) for s in find_shapers(env)] == [type(s) for s in find_shapers(remade)]
    assert remade.spec.to_json() == text
    assert len(remade.spec.additional_wrappers) == len(env.spec.additional_wrappers)

    first, second = _rollout(env, seed=2), _rollout(remade, seed=2)
    assert first == second
    for reward, terms in first:
        if expected_terms:
            assert set(terms) == {"extrinsic", *expected_terms}
            assert math.isclose(reward, sum(terms.values()), abs_tol=1e-9)
    env.close()
    remade.close()


def test_round_trip_keeps_kwargs():
    env = gym.make(MOUNTAIN_CAR, shaping=SPECS["dict"])
    remade = gym.make(EnvSpec.from_json(env.spec.to_json()))
    (shaper,) = find_shapers(remade)
    assert isinstance(shaper, PotentialShaping)
    assert (shaper.gamma, shaper.coef, shaper.clip) == (0.9, 0.5, (-0.2, 0.2))


def test_registry_lists_the_first_shapers():
    assert {"potential", "step_penalty", "count"} <= set(rewards.available())
    assert rewards.available() == sorted(rewards.available())


def test_unknown_shaper_lists_registered_names():
    with pytest.raises(ValueError, match="unknown shaper 'nope'") as error:
        gym.make(MOUNTAIN_CAR, shaping="nope")
    for name in rewards.available():
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("spec", "shaper", "argument"),
    [
        ({"id": "potential", "gama": 0.9}, "potential", "gama"),
        ({"id": "count", "modes": "global"}, "count", "modes"),
        ({"id": "step_penalty", "env": None}, "step_penalty", "env"),
    ],
)
def test_unknown_kwarg_is_a_type_error_naming_shaper_and_argument(spec, shaper, argument):
    with pytest.raises(TypeError) as error:
        gym.make(MOUNTAIN_CAR, shaping=spec)
    assert repr(shaper) in str(error.value)
    assert repr(argument) in str(error.value)


@pytest.mark.parametrize(
    ("spec", "shaper"),
    [
        ({"id": "potential", "gamma": 2}, "potential"),
        ({"id": "potential", "gamma": -0.1}, "potential"),
        ({"id": "potential", "potential": "no_such_potential"}, "potential"),
        ({"id": "count", "mode": "x"}, "count"),
        ({"id": "count", "key": "pixels"}, "count"),
        ({"id": "count", "coef": math.nan}, "count"),
        ({"id": "step_penalty", "coef": math.inf}, "step_penalty"),
        ({"id": "step_penalty", "penalty": -1}, "step_penalty"),
        ({"id": "step_penalty", "clip": -1.0}, "step_penalty"),
        ({"id": "potential", "clip": [1.0, -1.0]}, "potential"),
    ],
)
def test_bad_value_is_a_value_error_naming_the_shaper(spec, shaper):
    with pytest.raises(ValueError, match=shaper):
        gym.make(MOUNTAIN_CAR, shaping=spec)


@pytest.mark.parametrize(
    "shaping",
    [
        ["count", "count"],
        ["count", {"id": "count", "mode": "episodic"}],
        [{"id": "step_penalty", "name": "cost"}, {"id": "count", "name": "cost"}],
        {"id": "count", "name": "extrinsic"},
    ],
)
def test_duplicate_term_names_are_refused(shaping):
    with pytest.raises(ValueError, match="two shaping terms are named"):
        gym.make(MOUNTAIN_CAR, shaping=shaping)


def test_distinct_names_allow_the_same_shaper_twice():
    env = gym.make(
        MOUNTAIN_CAR, shaping=["count", {"id": "count", "mode": "episodic", "name": "ep"}]
    )
    env.reset(seed=0)
    terms = env.step(1)[4]["reward_terms"]
    assert set(terms) == {"extrinsic", "count", "ep"}


def _callable_shaper(env):
    return env


@pytest.mark.parametrize(
    "shaping",
    [
        _callable_shaper,
        CountBonus,
        lambda env: CountBonus(env),
        [_callable_shaper],
        ["count", CountBonus],
        {"id": CountBonus},
        3,
    ],
)
def test_callables_are_refused(shaping):
    with pytest.raises(TypeError, match="not callables|data, not a callable"):
        gym.make(MOUNTAIN_CAR, shaping=shaping)


@pytest.mark.parametrize("shaping", [None, "", "none", "sparse", [], {"id": "none"}])
def test_no_shaping_spellings(shaping):
    env = gym.make(MOUNTAIN_CAR, shaping=shaping)
    assert find_shapers(env) == []
    env.reset(seed=0)
    _, reward, _, _, info = env.step(1)
    assert info.get("reward_terms", {"extrinsic": reward}) == {"extrinsic": reward}


def test_normalize_spec_forms():
    assert normalize_spec("count + potential") == [{"id": "count"}, {"id": "potential"}]
    assert normalize_spec(["count", ["potential"]]) == [{"id": "count"}, {"id": "potential"}]
    assert normalize_spec('{"id": "count", "coef": 0.1}') == [{"id": "count", "coef": 0.1}]
    with pytest.raises(ValueError, match="not valid JSON"):
        normalize_spec("[{oops")
    with pytest.raises(ValueError, match="'id'"):
        normalize_spec({"coef": 0.1})


def test_shaping_label_is_filesystem_safe():
    label = rewards.shaping_label([{"id": "potential", "gamma": 0.9}, "count"])
    assert label == "potential(gamma=0.9)+count"
    assert "/" not in rewards.shaping_label({"id": "count", "name": "a/b"})
