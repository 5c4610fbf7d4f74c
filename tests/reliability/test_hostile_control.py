"""Hostile cases of issue 21 for the classic-control worlds' actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401 - registers the ids

pytest.importorskip("minihack")


@pytest.fixture(scope="module")
def env():
    made = gym.make("densegym/MiniHack-Room-5x5-v0")
    yield made
    made.close()


@pytest.mark.parametrize("action", [-1, 1.5, "1", True, 99, np.array(1.0), None, [1, 2]])
def test_an_action_that_is_no_index_is_flagged_and_the_game_waits(env, action):
    """Issue 21, low: MiniHack ran ``step(-1)`` as the last action and ``1.5``/``"1"`` as 1."""
    obs, _ = env.reset(seed=0)
    before = env.unwrapped.agent_position()
    _, reward, terminated, truncated, info = env.step(action)
    assert info["invalid_action"] and info["n_invalid_actions"] == 1
    assert reward == 0.0 and not terminated and not truncated
    assert env.unwrapped.agent_position() == before


@pytest.mark.parametrize("action", [1, np.int64(1), np.array(1), np.array([1])])
def test_integer_actions_still_step(env, action):
    env.reset(seed=0)
    _, _, _, _, info = env.step(action)
    assert not info["invalid_action"] and info["n_invalid_actions"] == 0
