"""The batched VecEnv form: same bonuses as the per-env form, same info conventions."""

from __future__ import annotations

import io
import math
import warnings

import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import densegym  # noqa: E402, F401
from densegym.rewards import find_shapers  # noqa: E402
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus  # noqa: E402

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
ROOM = "densegym/MiniHack-Room-5x5-v0"
NAMES = ("rnd", "icm", "e3b", "noveld", "global_episodic")
N_ENVS = 3


def _venv(env_id: str, n: int = N_ENVS, shaping=None, max_steps: int = 12, wrap=None):
    def factory():
        env = gym.make(env_id, shaping=shaping, max_episode_steps=max_steps)
        return wrap(env) if wrap else env

    venv = DummyVecEnv([factory] * n)
    venv.seed(0)
    return venv


def _step_both(per_env, batched, actions, name):
    _, r1, d1, i1 = per_env.step(actions)
    _, r2, d2, i2 = batched.step(actions)
    assert d1.tolist() == d2.tolist()
    got = [info["reward_terms"][name] for info in i2]
    want = [info["reward_terms"][name] for info in i1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(r2, r1, rtol=1e-5, atol=1e-8)
    return d1.any()


@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM], ids=["mountaincar", "minihack"])
@pytest.mark.parametrize("name", NAMES)
def test_batched_bonuses_equal_per_env_bonuses_for_the_same_inputs_and_weights(name, env_id):
    # Term normalisation keeps running statistics per wrapper (one per sub-env here, one
    # shared by all sub-envs in the batched form), so compare the bonuses before it.
    spec = {"id": name, "online": False, "coef": 1.0, "normalize": False}
    per_env = _venv(env_id, shaping=spec)
    batched = VecIntrinsicBonus(_venv(env_id), spec)
    per_env.reset()
    batched.reset()
    rng = np.random.default_rng(0)
    n_actions = per_env.action_space.n
    episode_ended = False
    for _ in range(30):
        episode_ended |= _step_both(per_env, batched, rng.integers(n_actions, size=N_ENVS), name)
    assert episode_ended  # resets happened inside the compared window
    # Train the shared module on what it saw, hand its weights to every per-env shaper.
    stats = batched.train_pending()
    assert stats and len(batched.log) == 0
    state = batched.module.state_dict()
    for env in per_env.envs:
        (shaper,) = find_shapers(env)
        shaper.module.load_state_dict(state)
    for _ in range(15):
        _step_both(per_env, batched, rng.integers(n_actions, size=N_ENVS), name)


def test_vec_terms_stack_on_per_env_terms_and_sum_to_the_reward():
    venv = VecIntrinsicBonus(_venv(ROOM, n=2, shaping="count"), {"id": "e3b", "coef": 0.1})
    venv.reset()
    for _ in range(15):
        _, rewards, _, infos = venv.step(np.array([1, 2]))
        for reward, info in zip(rewards, infos):
            terms = info["reward_terms"]
            assert sorted(terms) == ["count", "e3b", "extrinsic"]
            assert reward == pytest.approx(sum(terms.values()), abs=1e-5)
            assert info["reward_terms_nonfinite"]["e3b"] == 0
    assert venv.compute_steps == 30 and venv.compute_seconds > 0


def test_vec_state_dict_round_trip_continues_with_identical_bonuses():
    spec = {"id": "global_episodic", "online": True, "update_every": 3}
    actions = np.random.default_rng(0).integers(8, size=(40, 2))

    def run(venv, rows):
        return [venv.step(a)[3][0]["reward_terms"]["global_episodic"] for a in rows]

    first = VecIntrinsicBonus(_venv(ROOM, n=2), spec)
    first.reset()
    run(first, actions[:20])
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    expected = run(first, actions[20:])

    second = VecIntrinsicBonus(_venv(ROOM, n=2), {**spec, "seed": 9})
    second.reset()
    run(second, actions[:20])
    buffer.seek(0)
    second.load_state_dict(torch.load(buffer, weights_only=False))
    assert run(second, actions[20:]) == expected


def test_vec_online_training_and_freeze():
    venv = VecIntrinsicBonus(
        _venv(MOUNTAIN_CAR, n=2), {"id": "rnd", "online": True, "update_every": 4}
    )
    venv.reset()
    weights = [p.detach().clone() for p in venv.module.nets.parameters()]
    for _ in range(8):
        venv.step(np.array([0, 2]))
    assert venv.last_stats["samples"] == 8
    assert not all(torch.equal(a, b) for a, b in zip(weights, venv.module.nets.parameters()))
    venv.freeze()
    weights = [p.detach().clone() for p in venv.module.nets.parameters()]
    steps = venv.steps
    for _ in range(8):
        venv.step(np.array([0, 2]))
    assert all(torch.equal(a, b) for a, b in zip(weights, venv.module.nets.parameters()))
    assert venv.steps == steps and venv.train_pending() == {} and venv.update({}) == {}


class InjectInf(gym.ObservationWrapper):
    """Turn every observation with position > -0.45 into +inf (MountainCar)."""

    def observation(self, observation):
        return np.full_like(observation, np.inf) if observation[0] > -0.45 else observation


def test_vec_non_finite_observation_is_flagged_not_learned():
    venv = VecIntrinsicBonus(_venv(MOUNTAIN_CAR, n=2, wrap=InjectInf), {"id": "icm"})
    venv.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(12):
            _, rewards, _, infos = venv.step(np.array([2, 0]))
            assert np.isfinite(rewards).all()
    assert any("non-finite" in str(w.message) for w in caught)
    assert infos[0]["reward_terms_nonfinite"]["icm"] == venv.nonfinite_count > 0
    stats = venv.train_pending()
    assert stats["skipped_nonfinite"] > 0 and math.isfinite(stats["loss"])
    assert all(torch.isfinite(p).all() for p in venv.module.nets.parameters())


def test_vec_coef_decay_counts_steps_of_each_sub_env():
    spec = {"id": "e3b", "coef": 1.0, "coef_decay": {"kind": "linear", "steps": 5}}
    venv = VecIntrinsicBonus(_venv(MOUNTAIN_CAR, n=4), spec)
    venv.reset()
    terms = [venv.step(np.zeros(4, int))[3][0]["reward_terms"]["e3b"] for _ in range(6)]
    assert terms[0] > 0 and terms[5] == 0.0


@pytest.mark.parametrize(
    "spec, error",
    [
        ("step_penalty", ValueError),  # not a learned intrinsic bonus
        ("rnd+e3b", ValueError),
        ({"id": "rnd", "bogus": 1}, TypeError),
        ({"id": "rnd", "batched": "yes"}, TypeError),
    ],
)
def test_vec_rejects_bad_specs(spec, error):
    with pytest.raises(error):
        VecIntrinsicBonus(_venv(MOUNTAIN_CAR, n=1), spec)
