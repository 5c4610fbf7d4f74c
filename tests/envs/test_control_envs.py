"""Classic sparse-control envs: registered tasks, seeding, observation presets, info."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import densegym
from densegym.envs.control.minihack import MiniHackNavigation
from densegym.registration import ENTRIES

# The control world's own behaviour. Gymnasium's checker, seeded determinism, shaping,
# spec round trips and pickling run on every id in tests/test_contract.py.
CONTROL_IDS = tuple(entry.id for entry in ENTRIES if entry.world == "control")
MINIHACK_IDS = [env_id for env_id in CONTROL_IDS if "MiniHack" in env_id]


def _box_leaves(space: gym.Space):
    if isinstance(space, gym.spaces.Dict):
        for sub in space.spaces.values():
            yield from _box_leaves(sub)
    elif isinstance(space, gym.spaces.Tuple):
        for sub in space.spaces:
            yield from _box_leaves(sub)
    elif isinstance(space, gym.spaces.Box):
        yield space


def test_all_ids_are_registered():
    assert set(CONTROL_IDS) <= set(densegym.ENV_IDS)
    assert CONTROL_IDS[0] == "densegym/MountainCarSparse-v0"
    tasks = {env_id.split("MiniHack-")[1].removesuffix("-v0") for env_id in MINIHACK_IDS}
    required = "Room-5x5 Room-15x15 Corridor-R3 KeyRoom-S5 KeyRoom-S15 MultiRoom-N2 MultiRoom-N4"
    assert tasks >= {*required.split(), "MultiRoom-N6", "River"}
    for env_id in densegym.ENV_IDS:
        assert env_id in gym.registry


@pytest.mark.parametrize(
    "env_id",
    [
        "densegym/MountainCarSparse-v0",
        "densegym/MiniHack-MultiRoom-N2-v0",
        "densegym/MiniHack-KeyRoom-S5-v0",
    ],
)
def test_different_seeds_give_different_initial_states(env_id):
    env = gym.make(env_id)
    if isinstance(env.unwrapped, MiniHackNavigation):
        states = {env.reset(seed=seed)[0]["glyphs"].tobytes() for seed in range(5)}
        positions = set()
        for seed in range(5):
            env.reset(seed=seed)
            positions.add(env.unwrapped.agent_position())
        assert len(positions) > 1
    else:
        states = {env.reset(seed=seed)[0].tobytes() for seed in range(5)}
    assert len(states) > 1
    env.close()


def test_unseeded_reset_continues_the_seeded_stream():
    env = gym.make("densegym/MiniHack-MultiRoom-N2-v0")
    env.reset(seed=11)
    a = [env.reset()[0]["glyphs"].tobytes() for _ in range(3)]
    env.reset(seed=11)
    b = [env.reset()[0]["glyphs"].tobytes() for _ in range(3)]
    assert a == b
    env.close()


@pytest.mark.parametrize("env_id", CONTROL_IDS)
def test_box_leaves_are_float32(env_id):
    """SB3's VecNormalize keeps the space dtype: integer leaves would truncate."""
    env = gym.make(env_id)
    leaves = list(_box_leaves(env.observation_space))
    assert leaves
    for leaf in leaves:
        assert leaf.dtype == np.float32, f"{env_id}: {leaf}"
    obs, _ = env.reset(seed=0)
    arrays = obs.values() if isinstance(obs, dict) else [obs]
    assert all(np.asarray(a).dtype == np.float32 for a in arrays)
    env.close()


@pytest.mark.parametrize("env_id", CONTROL_IDS)
def test_info_and_task_contract(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert info["is_success"] is False
    task = env.unwrapped.task
    assert {"id", "goal", "actions", "reward"} <= set(task)
    _, _, _, _, info = env.step(0)
    assert isinstance(info["is_success"], bool)
    if "MiniHack" in env_id:
        assert isinstance(info["message"], str)
        assert info["caption"].startswith("You are at x=")
    env.close()


def _energy_pumping(obs) -> int:
    return 2 if obs[1] >= 0 else 0


def test_mountain_car_sparse_reward_and_success():
    env = gym.make("densegym/MountainCarSparse-v0")
    obs, _ = env.reset(seed=0)
    rewards, steps = [], 0
    while True:
        obs, reward, terminated, truncated, info = env.step(_energy_pumping(obs))
        rewards.append(reward)
        steps += 1
        if terminated or truncated:
            break
    assert terminated and not truncated and info["is_success"]
    assert obs[0] >= 0.5
    assert rewards[-1] == 1.0 and set(rewards[:-1]) == {0.0}
    assert steps < 200

    env.reset(seed=0)
    coasted = 0
    while True:  # coasting never reaches the flag: truncated by the 200-step limit
        _, reward, terminated, truncated, info = env.step(1)
        coasted += 1
        assert reward == 0.0 and not info["is_success"]
        if terminated or truncated:
            break
    assert truncated and not terminated and coasted == 200


def test_minihack_reaches_goal_in_room_5x5():
    env = gym.make("densegym/MiniHack-Room-5x5-v0")
    env.reset(seed=0)
    south_east = env.unwrapped.action_names.index("SE")
    total = 0.0
    for _ in range(4):  # fixed layout: start top-left, goal bottom-right
        _, reward, terminated, truncated, info = env.step(south_east)
        total += reward
    assert terminated and not truncated and info["is_success"]
    assert total == 1.0
    env.close()


def test_minihack_full_map_is_the_whole_glyph_map():
    env = gym.make("densegym/MiniHack-Corridor-R3-v0", full_map=True)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    game = env.unwrapped
    assert obs["map"].shape == (21, 79) and obs["map"].dtype == np.float32
    assert np.array_equal(obs["map"], game._raw["glyphs"])
    x, y = game.agent_position()
    assert np.array_equal(obs["glyphs"][4, 4], obs["map"][y, x])  # the crop's centre
    # The map keeps what was seen: after some moves it has at least as many drawn cells.
    blank = obs["map"] == obs["map"].max()
    for action in [1] * 10:
        obs, *_ = env.step(action)
    assert (obs["map"] == obs["map"].max()).sum() <= blank.sum()
    assert "map" not in gym.make("densegym/MiniHack-Corridor-R3-v0").observation_space.spaces
    env.close()
