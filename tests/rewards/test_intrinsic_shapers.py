"""The per-env learned intrinsic shapers through gym.make: specs, checkpoints, resets, NaN."""

from __future__ import annotations

import io
import math
import warnings

import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium.envs.registration import EnvSpec  # noqa: E402

import densegym  # noqa: E402, F401
from densegym.rewards import find_shapers, make  # noqa: E402
from densegym.rewards.intrinsic.shaper import IntrinsicShaper  # noqa: E402

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
ROOM = "densegym/MiniHack-Room-5x5-v0"
NAMES = ("rnd", "icm", "e3b", "noveld", "global_episodic")
EPISODIC = ("e3b", "noveld", "global_episodic")


def _actions(env: gym.Env, n: int, seed: int = 0) -> list[int]:
    return [int(a) for a in np.random.default_rng(seed).integers(env.action_space.n, size=n)]


def _run(env: gym.Env, actions, name: str) -> list[float]:
    """Step through ``actions`` (resetting on episode end); return the term per step."""
    out = []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        terms = info["reward_terms"]
        assert reward == pytest.approx(sum(terms.values()), abs=1e-9)
        out.append(terms[name])
        if terminated or truncated:
            env.reset()
    return out


def _shaper(env: gym.Env) -> IntrinsicShaper:
    (shaper,) = find_shapers(env)
    assert isinstance(shaper, IntrinsicShaper)
    return shaper


def _torch_modules(module):
    """Every torch network inside a module, composite ones included."""
    if hasattr(module, "nets"):
        yield module.nets
    for part in ("rnd", "global_part", "episodic_part"):
        if hasattr(module, part):
            yield from _torch_modules(getattr(module, part))


def _weights(shaper: IntrinsicShaper) -> list[torch.Tensor]:
    return [p.detach().clone() for nets in _torch_modules(shaper.module) for p in nets.parameters()]


@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM], ids=["mountaincar", "minihack"])
@pytest.mark.parametrize("name", NAMES)
def test_gym_make_spec_json_round_trip_rebuilds_the_same_shaper(name, env_id):
    spec = {
        "id": name,
        "coef": 0.5,
        "seed": 3,
        "update_every": 8,
        "coef_decay": {"kind": "linear", "steps": 1000, "final": 0.1},
    }
    if name == "global_episodic":
        spec["global_kwargs"] = {"lr": 3e-4}
    env = gym.make(env_id, shaping=spec)
    rebuilt = gym.make(EnvSpec.from_json(env.spec.to_json()))
    assert _shaper(rebuilt).term_name == name  # exactly one shaper: no double shaping
    assert _shaper(rebuilt)._saved_kwargs == _shaper(env)._saved_kwargs
    actions = _actions(env, 40)
    env.reset(seed=0)
    rebuilt.reset(seed=0)
    first, second = _run(env, actions, name), _run(rebuilt, actions, name)
    assert first == second  # same seed, same data: bit-identical bonuses
    assert all(math.isfinite(b) for b in first) and any(b != 0 for b in first)
    assert _shaper(env).module is not _shaper(rebuilt).module


def test_seed_fixes_the_networks():
    def bonuses(seed: int) -> list[float]:
        env = gym.make(MOUNTAIN_CAR, shaping={"id": "rnd", "seed": seed})
        env.reset(seed=0)
        return _run(env, [2] * 10, "rnd")

    assert bonuses(0) == bonuses(0)
    assert bonuses(0) != bonuses(1)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_with_identical_bonuses(name):
    spec = {"id": name, "update_every": 4}
    if name != "global_episodic":
        spec["batch_size"] = 8
    env = gym.make(ROOM, shaping=spec)
    actions = _actions(env, 60, seed=1)
    env.reset(seed=0)
    _run(env, actions[:30], name)
    buffer = io.BytesIO()
    torch.save(_shaper(env).state_dict(), buffer)
    expected = _run(env, actions[30:], name)

    # A second run whose shaper starts from other weights, restored from the checkpoint.
    other = gym.make(ROOM, shaping={**spec, "seed": 7})
    other.reset(seed=0)
    _run(other, actions[:30], name)
    buffer.seek(0)
    _shaper(other).load_state_dict(torch.load(buffer, weights_only=False))
    assert _run(other, actions[30:], name) == expected


@pytest.mark.parametrize("name", NAMES)
def test_frozen_shaper_repeats_an_episode_exactly_so_episodic_state_resets(name):
    env = gym.make(ROOM, shaping={"id": name})
    shaper = _shaper(env)
    env.reset(seed=0)
    _run(env, _actions(env, 20, seed=3), name)  # learn a little first
    shaper.freeze()
    before, logged = _weights(shaper), len(shaper.log)
    actions = _actions(env, 25, seed=4)
    env.reset(seed=5)
    first = _run(env, actions, name)
    env.reset(seed=5)
    second = _run(env, actions, name)
    assert first == second
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(shaper)))
    assert len(shaper.log) == logged and shaper.update({"obs": None}) == {}


def test_e3b_covariance_restarts_from_the_first_observation_on_reset():
    env = gym.make(ROOM, shaping={"id": "e3b"})
    shaper = _shaper(env)
    shaper.freeze()
    env.reset(seed=0)
    _run(env, _actions(env, 30), "e3b")
    obs, _ = env.reset(seed=1)
    first = {key: value[None] for key, value in obs.items()}
    np.testing.assert_allclose(shaper.episodic[0], shaper.module.covariance_inverse(first))


@pytest.mark.parametrize("name", EPISODIC)
def test_episodic_bonus_of_a_revisited_state_falls_within_an_episode(name):
    # Walking west into the wall of Room-5x5 keeps the agent in place.
    env = gym.make(ROOM, shaping={"id": name, "key": "env"} if name != "e3b" else "e3b")
    _shaper(env).freeze()
    env.reset(seed=0)
    west = env.unwrapped.action_names.index("W")
    bonuses = _run(env, [west] * 12, name)
    assert bonuses[-1] < bonuses[0] or bonuses[0] == 0.0
    assert bonuses[-1] <= 0.25 * max(bonuses)


class InjectInf(gym.Wrapper):
    """Replace the observation by +inf at the given step numbers (0 is the reset)."""

    def __init__(self, env: gym.Env, bad_steps: set[int]):
        super().__init__(env)
        self.bad_steps = bad_steps
        self.t = 0

    def _corrupt(self, obs):
        if self.t not in self.bad_steps:
            return obs
        if isinstance(obs, dict):
            obs = {key: value.copy() for key, value in obs.items()}
            obs["blstats"][0] = np.inf
            return obs
        return np.full_like(obs, np.inf)

    def reset(self, **kwargs):
        self.t = 0
        obs, info = self.env.reset(**kwargs)
        return self._corrupt(obs), info

    def step(self, action):
        self.t += 1
        obs, *rest = self.env.step(action)
        return (self._corrupt(obs), *rest)


@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM], ids=["mountaincar", "minihack"])
@pytest.mark.parametrize("name", NAMES)
def test_non_finite_observation_is_flagged_and_kept_out_of_the_weights(name, env_id):
    bad = {0, 5, 6, 20}
    env = make(InjectInf(gym.make(env_id), bad), {"id": name, "update_every": 4})
    shaper = _shaper(env)
    env.reset(seed=0)
    terms, flagged = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for action in [0, 1, 2] * 10:
            _, _, terminated, truncated, info = env.step(action)
            terms.append(info["reward_terms"][name])
            flagged.append(info["reward_terms_nonfinite"][name])
            assert not (terminated or truncated)
    assert any("non-finite" in str(w.message) for w in caught)
    for step in bad - {0}:
        assert terms[step - 1] == 0.0  # s′ was inf: flagged and replaced by 0
    assert flagged[-1] >= len(bad - {0})
    assert all(math.isfinite(t) for t in terms)
    # The run goes on with real bonuses (NovelD's are gated to first visits: ask directly).
    if name == "noveld":
        last = shaper.log.pop_all()
        fresh = shaper.module.bonus(last["obs"], last["actions"], last["next_obs"], [{}] * 4)
        assert np.isfinite(fresh).all() and (fresh > 0).any()
    else:
        assert any(t != 0.0 for t in terms[21:])
    for weight in _weights(shaper):
        assert torch.isfinite(weight).all()
    assert shaper.module.state_dict() is not None
    episodic = shaper.episodic
    if name == "e3b":
        assert np.isfinite(episodic).all()


def test_coef_decay_reaches_its_final_value():
    env = gym.make(
        MOUNTAIN_CAR,
        shaping={"id": "rnd", "coef": 1.0, "coef_decay": {"kind": "linear", "steps": 10}},
    )
    env.reset(seed=0)
    terms = _run(env, [2] * 15, "rnd")
    assert terms[0] != 0.0 and terms[10:] == [0.0] * 5
    assert _shaper(env).coef == 0.0


def test_offline_shaper_learns_only_when_asked():
    env = gym.make(MOUNTAIN_CAR, shaping={"id": "icm", "online": False})
    shaper = _shaper(env)
    env.reset(seed=0)
    before = _weights(shaper)
    _run(env, [0, 2] * 20, "icm")
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(shaper)))
    stats = shaper.train_pending()
    assert stats["samples"] == 40 and math.isfinite(stats["loss"])
    assert not all(torch.equal(a, b) for a, b in zip(before, _weights(shaper)))
    batch = {
        "obs": np.zeros((5, 2), np.float32),
        "actions": np.ones(5, np.int64),
        "next_obs": np.zeros((5, 2), np.float32),
    }
    assert shaper.update(batch)["samples"] == 5


@pytest.mark.parametrize("name", ["icm", "e3b"])
def test_box_actions_work(name):
    env = make(gym.make("Pendulum-v1"), {"id": name, "update_every": 4})
    env.reset(seed=0)
    terms = [env.step(env.action_space.sample())[4]["reward_terms"][name] for _ in range(12)]
    assert all(math.isfinite(t) for t in terms)
    assert math.isfinite(_shaper(env).last_stats["loss"])


@pytest.mark.parametrize(
    "spec, error, words",
    [
        ({"id": "rnd", "bogus": 1}, TypeError, ["rnd", "bogus"]),
        ({"id": "e3b", "ridge": -1.0}, ValueError, ["e3b", "ridge"]),
        ({"id": "icm", "update_every": 0}, ValueError, ["icm", "update_every"]),
        ({"id": "noveld", "key": "position"}, ValueError, ["noveld", "key"]),
        ({"id": "global_episodic", "global_bonus": "icm"}, ValueError, ["global_bonus"]),
        ({"id": "global_episodic", "episodic_kwargs": {"nope": 1}}, TypeError, ["nope"]),
        ({"id": "rnd", "coef_decay": {"kind": "linear"}}, ValueError, ["rnd", "steps"]),
    ],
)
def test_bad_arguments_name_the_shaper_and_the_argument(spec, error, words):
    with pytest.raises(error) as raised:
        gym.make(MOUNTAIN_CAR, shaping=spec)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM], ids=["mountaincar", "minihack"])
@pytest.mark.parametrize("name", ["rnd", "icm"])
def test_normalised_bonuses_are_of_order_one_from_the_first_step(name, env_id):
    env = gym.make(env_id, shaping={"id": name, "coef": 1.0})
    env.reset(seed=0)
    first = _run(env, _actions(env, 10), name)  # before any training batch
    assert 0.05 < float(np.median(first)) < 20


def _fresh_bonus(module, obs, action, next_obs) -> float:
    """The module's bonus for one transition, from a fresh episode's state."""
    batch = lambda o: {k: v[None] for k, v in o.items()}  # noqa: E731
    episodic = module.new_episodic(1)
    module.reset_episodic(episodic, np.array([0]), batch(obs))
    return float(module.bonus(batch(obs), np.array([action]), batch(next_obs), episodic)[0])


@pytest.mark.parametrize("name", ["rnd", "icm", "e3b", "noveld"])
def test_obs_keys_limit_what_the_networks_see(name):
    keys = ["blstats", "glyphs"]
    only = gym.make(ROOM, full_map=True, shaping={"id": name, "obs_keys": keys})
    every = gym.make(ROOM, full_map=True, shaping={"id": name})
    obs, _ = only.reset(seed=0)
    next_obs = only.step(1)[0]
    other_map = {**next_obs, "map": np.full_like(next_obs["map"], 2359.0)}
    for env, blind in ((only, True), (every, False)):
        module = _shaper(env).module
        prepare = module.rnd.prepare if name == "noveld" else module.prepare
        assert sorted(leaf.key for leaf in prepare.leaves) == (keys if blind else [*keys, "map"])
        same = _fresh_bonus(module, obs, 1, next_obs) == _fresh_bonus(module, obs, 1, other_map)
        assert same is blind, (name, blind)
    with pytest.raises(ValueError, match="obs_keys.*blstats.*glyphs.*map"):
        gym.make(ROOM, full_map=True, shaping={"id": name, "obs_keys": ["crop"]})
    with pytest.raises(ValueError, match="Dict observation"):
        gym.make(MOUNTAIN_CAR, shaping={"id": name, "obs_keys": ["glyphs"]})
