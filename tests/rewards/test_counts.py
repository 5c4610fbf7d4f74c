"""The count bonus 1/sqrt(n): decay, episodic vs global, freeze, state round trip, batches."""

from __future__ import annotations

import math
import pickle

import gymnasium as gym
import numpy as np
import pytest

from densegym.rewards import find_shapers
from densegym.rewards.intrinsic import CountBonus, default_state_key

LEFT, RIGHT = 0, 1
# The bonus itself (the shaper's default coef weights it down); coef is tested in test_core.
COUNT = {"id": "count", "coef": 1.0}


class Corridor(gym.Env):
    """Five cells in a row, deterministic moves; no ``state_key`` (observation bytes count)."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 4.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.position = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = int((options or {}).get("start", 0))
        return self._obs(), {}

    def step(self, action):
        self.position = min(max(self.position + (1 if action == RIGHT else -1), 0), 4)
        return self._obs(), 0.0, False, False, {}

    def _obs(self):
        return np.array([self.position], dtype=np.float32)


def _bonuses(env: gym.Env, actions) -> list[float]:
    return [env.step(a)[4]["reward_terms"]["count"] for a in actions]


def _inv_sqrt(*counts: int) -> list[float]:
    return [1.0 / math.sqrt(n) for n in counts]


def test_bonus_decays_as_one_over_sqrt_n():
    env = CountBonus(Corridor(), coef=1.0)
    env.reset(seed=0)  # cell 0 counted once
    # stay at 0 (n=2, 3, 4), then new cells 1 and 2, then back to 1 (n=2) and 0 (n=5)
    got = _bonuses(env, [LEFT, LEFT, LEFT, RIGHT, RIGHT, LEFT, LEFT])
    np.testing.assert_allclose(got, _inv_sqrt(2, 3, 4, 1, 1, 2, 5), rtol=0, atol=1e-12)
    assert env.counts[default_state_key(np.array([0.0], np.float32))] == 5


def test_bonus_on_a_real_env_repeated_state():
    env = gym.make("densegym/MiniHack-Room-5x5-v0", shaping=COUNT)
    env.reset(seed=0)
    names = env.unwrapped.action_names
    # the agent starts in the top-left corner: walking north keeps it in place
    np.testing.assert_allclose(
        _bonuses(env, [names.index("N")] * 3 + [names.index("SE")]), _inv_sqrt(2, 3, 4, 1)
    )
    (shaper,) = find_shapers(env)
    assert shaper.state_key(env.unwrapped._observation()) == (37, 10, 1)
    env.close()


def test_mountain_car_uses_the_env_state_key():
    env = gym.make("densegym/MountainCarSparse-v0", shaping=COUNT)
    obs, _ = env.reset(seed=0)
    (shaper,) = find_shapers(env)
    assert shaper.state_key(obs) == env.unwrapped.state_key(obs)
    by_bytes = gym.make("densegym/MountainCarSparse-v0", shaping={**COUNT, "key": "observation"})
    by_bytes.reset(seed=0)
    # float observations never repeat exactly, discretised cells do
    cells = _bonuses(env, [1] * 20)
    raw = _bonuses(by_bytes, [1] * 20)
    assert min(cells) < 0.5 and raw == [1.0] * 20


def test_global_counts_survive_reset_episodic_counts_do_not():
    global_env = CountBonus(Corridor(), coef=1.0, mode="global")
    episodic_env = CountBonus(Corridor(), coef=1.0, mode="episodic")
    for env in (global_env, episodic_env):
        env.reset(seed=0)
        _bonuses(env, [LEFT, LEFT])  # cell 0 now counted 3 times
        env.reset()
    np.testing.assert_allclose(_bonuses(global_env, [LEFT, RIGHT, LEFT]), _inv_sqrt(5, 1, 6))
    np.testing.assert_allclose(_bonuses(episodic_env, [LEFT, RIGHT, LEFT]), _inv_sqrt(2, 1, 3))
    assert len(episodic_env.counts) == len(global_env.counts) == 2


def test_freeze_stops_counting():
    env = CountBonus(Corridor(), coef=1.0)
    env.reset(seed=0)
    _bonuses(env, [LEFT, RIGHT])  # cell 0: 2, cell 1: 1
    env.freeze()
    before = dict(env.counts)
    got = _bonuses(env, [LEFT, LEFT, RIGHT, RIGHT, RIGHT])  # 0, 0, 1, 2 (unseen), 3 (unseen)
    np.testing.assert_allclose(got, _inv_sqrt(2, 2, 1, 1, 1))
    env.reset()
    assert dict(env.counts) == before
    assert env.update({"next_obs": np.zeros((4, 1), np.float32)}) == {"new_states": 0.0}
    assert dict(env.counts) == before
    env.unfreeze()
    np.testing.assert_allclose(_bonuses(env, [LEFT]), _inv_sqrt(3))  # the frozen reset: uncounted


def test_state_dict_round_trip_gives_identical_future_bonuses():
    env = gym.make("densegym/MiniHack-Room-5x5-v0", shaping={**COUNT, "normalize": True})
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(60):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(8)))
        if terminated or truncated:
            env.reset()
    (shaper,) = find_shapers(env)
    state = pickle.loads(pickle.dumps(shaper.state_dict()))  # as a checkpoint would

    clone = gym.make("densegym/MiniHack-Room-5x5-v0", shaping={**COUNT, "normalize": True})
    (clone_shaper,) = find_shapers(clone)
    clone_shaper.load_state_dict(state)
    assert clone_shaper.counts == shaper.counts and clone_shaper.counts is not state["counts"]

    actions = np.random.default_rng(1).integers(8, size=40).tolist()
    futures = []
    for candidate in (env, clone):
        candidate.reset(seed=3)
        futures.append(_bonuses(candidate, actions))
    assert futures[0] == futures[1]
    assert len(set(futures[0])) > 1
    fresh = gym.make("densegym/MiniHack-Room-5x5-v0", shaping={**COUNT, "normalize": True})
    fresh.reset(seed=3)
    assert _bonuses(fresh, actions) != futures[0]  # the loaded state matters
    for candidate in (env, clone, fresh):
        candidate.close()


def test_update_counts_a_batch():
    env = CountBonus(Corridor(), coef=1.0, online=False)
    env.reset(seed=0)
    assert env.counts == {}  # offline: nothing counted while acting
    batch = np.array([[0.0], [1.0], [1.0], [2.0]], dtype=np.float32)
    assert env.update({"next_obs": batch}) == {"new_states": 3.0}
    assert env.update({"next_obs": batch[1:2]}) == {"new_states": 0.0}
    assert _bonuses(env, [RIGHT, RIGHT, RIGHT]) == _inv_sqrt(3, 1, 1)
    assert sum(env.counts.values()) == 5  # acting did not count


def test_update_counts_a_dict_batch():
    env = gym.make("densegym/MiniHack-Room-5x5-v0", shaping={**COUNT, "online": False})
    obs, _ = env.reset(seed=0)
    (shaper,) = find_shapers(env)
    observations = [obs] + [env.step(a)[0] for a in (5, 0, 2)]  # SE, N, S: three cells
    assert shaper.counts == {}  # offline: acting counted nothing
    batch = {key: np.stack([o[key] for o in observations]) for key in obs}
    assert shaper.update({"next_obs": batch}) == {"new_states": 3.0}
    assert set(shaper.counts) == {(36, 9, 1), (37, 10, 1), (37, 9, 1)}
    assert shaper.counts[(37, 10, 1)] == 2
    env.close()


@pytest.mark.parametrize("mode", ["global", "episodic"])
def test_bonus_is_one_on_unseen_states(mode):
    env = CountBonus(Corridor(), coef=1.0, mode=mode)
    env.reset(seed=0)
    assert _bonuses(env, [RIGHT, RIGHT, RIGHT, RIGHT]) == [1.0] * 4


def test_coef_decay_anneals_the_bonus_and_survives_a_state_round_trip():
    decay = {"kind": "linear", "steps": 4}
    env = CountBonus(Corridor(), coef=1.0, coef_decay=decay)
    env.reset(seed=0)
    # Four new cells (raw bonus 1 each): the weighted term follows the schedule 1 → 0.
    np.testing.assert_allclose(_bonuses(env, [RIGHT] * 4), [1.0, 0.75, 0.5, 0.25], atol=1e-12)
    state = env.state_dict()
    assert state["steps"] == 4
    restored = CountBonus(Corridor(), coef=1.0, coef_decay=decay)
    restored.load_state_dict(state)
    restored.reset(seed=0)
    assert restored.coef == 0.0 and _bonuses(restored, [RIGHT]) == [0.0]
    env.freeze()
    assert env.steps == 4 and _bonuses(env, [LEFT]) == [0.0]  # frozen: no more steps counted
    with pytest.raises(ValueError, match="count"):
        CountBonus(Corridor(), coef_decay={"kind": "cosine"})


def test_first_visit_pays_once_per_key_per_episode():
    env = CountBonus(Corridor(), coef=1.0, mode="first_visit")
    env.reset(seed=0)  # cell 0 visited
    # 0 again, new 1, new 2, back to 1, back to 0
    assert _bonuses(env, [LEFT, RIGHT, RIGHT, LEFT, LEFT]) == [0.0, 1.0, 1.0, 0.0, 0.0]
    env.reset()  # a new episode: every cell but the start pays again
    assert _bonuses(env, [RIGHT, LEFT, RIGHT, RIGHT]) == [1.0, 0.0, 0.0, 1.0]


def test_first_visit_episode_total_is_bounded_by_distinct_keys():
    env = gym.make("densegym/MiniHack-Room-5x5-v0", shaping={**COUNT, "mode": "first_visit"})
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    total, cells = 0.0, {env.unwrapped.agent_position()}
    for action in rng.integers(0, env.action_space.n, 60):
        _, _, terminated, truncated, info = env.step(int(action))
        total += info["reward_terms"]["count"]
        cells.add(env.unwrapped.agent_position())
        if terminated or truncated:
            break
    assert total == len(cells) - 1  # every cell but the start paid exactly once
    env.close()
