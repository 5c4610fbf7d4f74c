"""The ShapedReward contract: reward_terms invariants, coef, normalisation, clipping, NaN."""

from __future__ import annotations

import logging
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest

from densegym import rewards
from densegym.rewards import ShapedReward, find_shapers
from densegym.rewards import registry as shaper_registry

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
ROOM = "densegym/MiniHack-Room-5x5-v0"
# Every registered shaper on every id it admits is checked by tests/test_contract.py
# (reward_terms invariants included); these three stand for the rest in the rules below.
CORE_SHAPERS = ("count", "potential", "step_penalty")


def _policy(env_id: str, rng: np.random.Generator):
    """A seeded behaviour policy that sometimes reaches the goal (so extrinsic != 0)."""
    if env_id == MOUNTAIN_CAR:
        return lambda obs: int(rng.integers(3)) if rng.random() < 0.2 else (2 if obs[1] >= 0 else 0)
    return lambda obs: 5 if rng.random() < 0.3 else int(rng.integers(8))  # 5 = SE, to the goal


def _rollout(env: gym.Env, env_id: str, seed: int, steps: int):
    """Return per-step (obs, reward, info) with resets, actions from a seeded policy."""
    policy = _policy(env_id, np.random.default_rng(seed))
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        out.append((obs, reward, info))
        if terminated or truncated:
            obs, _ = env.reset()
    return out


def _terms(env_id: str, shaping, seed: int = 0, steps: int = 150, name: str | None = None):
    env = gym.make(env_id, shaping=shaping)
    key = name or rewards.normalize_spec(shaping)[0]["id"]
    values = [info["reward_terms"][key] for _, _, info in _rollout(env, env_id, seed, steps)]
    env.close()
    return np.array(values)


@pytest.fixture(scope="module")
def unshaped():
    cache = {}
    for env_id, steps in ((MOUNTAIN_CAR, 400), (ROOM, 250)):
        env = gym.make(env_id)
        cache[env_id] = _rollout(env, env_id, seed=7, steps=steps)
        env.close()
    return cache


def test_core_shapers_are_registered():
    assert set(CORE_SHAPERS) <= set(rewards.available())


@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM])
def test_reward_terms_invariants_for_a_stack(env_id, unshaped):
    names = list(CORE_SHAPERS)
    env = gym.make(env_id, shaping=names)
    reference = unshaped[env_id]
    for (_, reward, info), (_, ref_reward, _) in zip(
        _rollout(env, env_id, seed=7, steps=len(reference)), reference
    ):
        terms = info["reward_terms"]
        assert list(terms) == ["extrinsic", *names]
        assert terms["extrinsic"] == ref_reward
        assert math.isclose(reward, sum(terms.values()), rel_tol=0, abs_tol=1e-9)
    env.close()


@pytest.mark.parametrize("shaper", CORE_SHAPERS)
@pytest.mark.parametrize("coef", [2.5, -0.5, 0.0])
def test_coef_scales_the_term(shaper, coef):
    base = _terms(MOUNTAIN_CAR, {"id": shaper, "coef": 1.0})
    scaled = _terms(MOUNTAIN_CAR, {"id": shaper, "coef": coef})
    assert np.any(base != 0)
    np.testing.assert_allclose(scaled, coef * base, rtol=0, atol=1e-12)


def _normalised(raw: np.ndarray, epsilon: float = 1e-4) -> np.ndarray:
    """raw_t / std of (a prior of weight epsilon with mean 0, var 1) pooled with raw_0..raw_t."""
    out = []
    for t in range(len(raw)):
        seen = raw[: t + 1]
        count = epsilon + len(seen)
        mean = seen.sum() / count
        var = (epsilon * (1.0 + mean**2) + ((seen - mean) ** 2).sum()) / count
        out.append(raw[t] / math.sqrt(max(var, 1e-8)))
    return np.array(out)


def test_normalize_divides_by_the_running_std():
    raw = _terms(MOUNTAIN_CAR, "potential", steps=300)
    normalised = _terms(MOUNTAIN_CAR, {"id": "potential", "normalize": True}, steps=300)
    np.testing.assert_allclose(normalised, _normalised(raw), rtol=1e-9, atol=1e-12)
    assert np.median(np.abs(normalised[50:])) > 10 * np.median(np.abs(raw[50:]))
    assert 0.3 < np.std(normalised[100:]) < 3.0


def test_normalize_with_coef_and_clip():
    raw = _terms(MOUNTAIN_CAR, "potential", steps=200)
    spec = {"id": "potential", "normalize": True, "clip": 1.0, "coef": 0.5}
    out = _terms(MOUNTAIN_CAR, spec, steps=200)
    np.testing.assert_allclose(out, 0.5 * np.clip(_normalised(raw), -1.0, 1.0), atol=1e-12)


def test_frozen_normaliser_stops_updating():
    env = gym.make(MOUNTAIN_CAR, shaping={"id": "potential", "normalize": True})
    _rollout(env, MOUNTAIN_CAR, seed=0, steps=100)
    (shaper,) = find_shapers(env)
    shaper.freeze()
    frozen = dict(shaper.normalizer.state_dict())
    std = shaper.normalizer.std
    for _, _, info in _rollout(env, MOUNTAIN_CAR, seed=1, steps=50):
        assert math.isfinite(info["reward_terms"]["potential"])
    assert shaper.normalizer.state_dict() == frozen
    assert shaper.normalizer.std == std
    env.close()


@pytest.mark.parametrize(
    ("clip", "low", "high"), [(0.005, -0.005, 0.005), ((-0.001, 0.5), -0.001, 0.5)]
)
def test_clip_bounds_the_term(clip, low, high):
    raw = _terms(MOUNTAIN_CAR, "potential", steps=300)
    clipped = _terms(MOUNTAIN_CAR, {"id": "potential", "clip": clip}, steps=300)
    assert clipped.min() >= low and clipped.max() <= high
    assert np.any(raw < low) or np.any(raw > high), "the clip should be active somewhere"
    np.testing.assert_array_equal(clipped, np.clip(raw, low, high))


def test_clip_applies_before_coef():
    clipped = _terms(MOUNTAIN_CAR, {"id": "potential", "clip": 0.005, "coef": 2.0}, steps=300)
    assert np.abs(clipped).max() == pytest.approx(0.01)


# -- non-finite terms -----------------------------------------------------------------


class _NonFinite(ShapedReward):
    """Returns NaN, 0.5, inf, -inf, a non-number, 0.5 ... in turn."""

    def __init__(self, env, *, coef=1.0, normalize=False, clip=None, name=None):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        self.calls = 0

    def reward_term(self, transition):
        values = (math.nan, 0.5, math.inf, -math.inf, "oops", 0.5)
        value = values[self.calls % len(values)]
        self.calls += 1
        return value


@pytest.fixture
def nonfinite_shaper():
    rewards.register("test_nonfinite", _NonFinite)
    yield "test_nonfinite"
    shaper_registry.SHAPERS.unregister("test_nonfinite")


@pytest.mark.parametrize("normalize", [False, True])
def test_nonfinite_term_is_replaced_counted_and_warned_once(nonfinite_shaper, normalize, caplog):
    env = gym.make(
        MOUNTAIN_CAR, shaping=[{"id": nonfinite_shaper, "normalize": normalize}, "potential"]
    )
    env.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        bad = 0
        for step in range(120):
            _, reward, terminated, truncated, info = env.step(step % 3)
            terms = info["reward_terms"]
            if step % 6 in (0, 2, 3, 4):
                bad += 1
                assert terms[nonfinite_shaper] == 0.0
            else:
                assert terms[nonfinite_shaper] > 0.0
            assert info["reward_terms_nonfinite"][nonfinite_shaper] == bad
            assert math.isfinite(reward) and all(math.isfinite(v) for v in terms.values())
            assert math.isclose(reward, sum(terms.values()), abs_tol=1e-9)
            if terminated or truncated:
                env.reset()
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1
    assert nonfinite_shaper in str(runtime[0].message)
    logged = [r for r in caplog.records if "non-finite" in r.getMessage()]
    assert len(logged) == 1
    shaper = find_shapers(env)[0]
    assert shaper.nonfinite_count == bad == 80
    if normalize:
        assert math.isfinite(shaper.normalizer.mean) and math.isfinite(shaper.normalizer.var)
    env.close()


def test_shaper_sees_consistent_transitions():
    seen = []

    class _Recorder(ShapedReward):
        def __init__(self, env, *, coef=1.0, normalize=False, clip=None, name=None):
            self._record_args(locals())
            super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)

        def reward_term(self, transition):
            seen.append(transition)
            return 0.0

    rewards.register("test_recorder", _Recorder)
    try:
        env = gym.make(MOUNTAIN_CAR, shaping="test_recorder")
        reset_obs, _ = env.reset(seed=0)
        outputs = []
        for action in (2, 2, 0, 1):
            outputs.append(env.step(action))
        env.close()
    finally:
        shaper_registry.SHAPERS.unregister("test_recorder")
    np.testing.assert_array_equal(seen[0].obs, reset_obs)
    for i, (transition, (obs, reward, terminated, truncated, _)) in enumerate(zip(seen, outputs)):
        assert transition.action == (2, 2, 0, 1)[i]
        np.testing.assert_array_equal(transition.next_obs, obs)
        assert transition.extrinsic == reward
        assert (transition.terminated, transition.truncated) == (terminated, truncated)
        if i:
            np.testing.assert_array_equal(transition.obs, outputs[i - 1][0])


def test_timing_is_kept_on_the_wrapper_and_infos_are_reproducible():
    infos = []
    for _ in range(2):
        env = gym.make(MOUNTAIN_CAR, shaping=["potential", "count"])
        env.reset(seed=0)
        infos.append([env.step(1)[4] for _ in range(10)])
        times = env.get_wrapper_attr("shaping_times")()
        assert list(times) == ["potential", "count"]
        for shaper in find_shapers(env):
            assert shaper.compute_steps == 10 and shaper.compute_seconds > 0
            assert times[shaper.term_name] == {
                "seconds": shaper.compute_seconds,
                "steps": 10.0,
            }
        env.close()
    assert infos[0] == infos[1]  # no wall-clock values in info


def test_shaping_times_reach_an_sb3_vec_env():
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    venv = vec_env.DummyVecEnv(
        [lambda: gym.make(MOUNTAIN_CAR, shaping=["count", "step_penalty"])] * 2
    )
    venv.reset()
    for _ in range(7):
        venv.step(np.array([1, 2]))
    per_env = venv.env_method("shaping_times")
    assert len(per_env) == 2
    for times in per_env:
        assert list(times) == ["count", "step_penalty"]
        assert all(t["steps"] == 7.0 and t["seconds"] > 0 for t in times.values())
    venv.close()


def test_shaper_state_resets_on_reset():
    episodic_spec = {"id": "count", "mode": "episodic", "name": "episodic_count"}
    env = gym.make(ROOM, shaping=["potential", episodic_spec, "count"])
    potential, episodic, global_count = find_shapers(env)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(30):
        obs, *_ = env.step(int(rng.integers(8)))
    assert len(episodic.counts) > 1
    seen_globally = dict(global_count.counts)

    obs, _ = env.reset(seed=1)
    start = episodic.state_key(obs)
    assert dict(episodic.counts) == {start: 1}
    assert potential._phi_last == potential.potential_of(obs)
    assert global_count.counts[start] == seen_globally.get(start, 0) + 1
    assert sum(global_count.counts.values()) == sum(seen_globally.values()) + 1
    env.close()
