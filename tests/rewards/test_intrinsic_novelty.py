"""Every learned bonus decays on a repeated MiniHack state and stays high on an unseen one."""

from __future__ import annotations

import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import densegym  # noqa: E402, F401
from densegym.rewards import make  # noqa: E402
from densegym.rewards.intrinsic.batches import batch_of_one, concat  # noqa: E402

ROOM = "densegym/MiniHack-Room-5x5-v0"
REPEATS = 32  # rows per training batch, all the same transition


@pytest.fixture(scope="module")
def observations():
    """Three distinct MiniHack observations: a repeated one, an unseen one, a start."""

    def first(env_id: str, seed: int):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        env.close()
        return batch_of_one(obs)

    return {
        "seen": first(ROOM, 0),
        "unseen": first("densegym/MiniHack-Room-15x15-v0", 0),
        "start": first("densegym/MiniHack-Corridor-R3-v0", 0),
    }


def _module(spec: dict):
    env = gym.make(ROOM)
    return make(env.unwrapped, spec).module


def _repeat(batch, n: int = REPEATS):
    return concat([batch] * n)


def _train_on(module, obs, steps: int) -> None:
    rows = _repeat(obs)
    batch = {"obs": rows, "actions": np.zeros(REPEATS, dtype=np.int64), "next_obs": rows}
    for _ in range(steps):
        module.update(batch)


def _global_bonus(module, obs) -> float:
    return float(module.bonus(obs, np.zeros(1, dtype=np.int64), obs, module.new_episodic(1))[0])


@pytest.mark.parametrize(
    "spec",
    [
        {"id": "rnd", "normalize_bonus": False},
        {"id": "icm", "normalize_bonus": False},
    ],
    ids=["rnd", "icm"],
)
def test_global_novelty_decays_with_training_on_a_repeated_state(spec, observations):
    module = _module(spec)
    seen, unseen = observations["seen"], observations["unseen"]
    before = _global_bonus(module, seen)
    _train_on(module, seen, steps=60)
    after, fresh = _global_bonus(module, seen), _global_bonus(module, unseen)
    assert after < 0.1 * before
    assert fresh > 5 * after


def test_e3b_decays_within_an_episode_and_is_high_on_an_unseen_state(observations):
    module = _module({"id": "e3b"})
    seen, unseen = observations["seen"], observations["unseen"]
    episodic = module.new_episodic(1)
    module.reset_episodic(episodic, np.array([0]), observations["start"])
    action = np.zeros(1, dtype=np.int64)
    bonuses = [float(module.bonus(seen, action, seen, episodic)[0]) for _ in range(10)]
    assert all(np.diff(bonuses) < 0)
    assert bonuses[-1] < 0.2 * bonuses[0]
    assert float(module.bonus(seen, action, unseen, episodic)[0]) > 5 * bonuses[-1]


def test_noveld_gates_repeats_and_rewards_moving_to_more_novel_states(observations):
    # Observation digests as keys: the three observations are distinct even where two
    # MiniHack maps would put the agent at the same (x, y).
    module = _module({"id": "noveld", "key": "observation", "normalize_bonus": False})
    seen, unseen, start = observations["seen"], observations["unseen"], observations["start"]
    action = np.zeros(1, dtype=np.int64)

    def episode_bonus(sequence):
        episodic = module.new_episodic(1)
        module.reset_episodic(episodic, np.array([0]), start)
        out, previous = [], start
        for obs in sequence:
            out.append(float(module.bonus(previous, action, obs, episodic)[0]))
            previous = obs
        return out

    first_visit, second_visit = episode_bonus([seen, seen])
    assert first_visit > 0 and second_visit == 0.0  # the first-visit gate
    _train_on(module, seen, steps=60)
    (after,) = episode_bonus([seen])
    (fresh,) = episode_bonus([unseen])
    assert after < 0.2 * first_visit
    assert fresh > max(5 * after, 1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        {"id": "global_episodic", "global_kwargs": {"normalize_bonus": False}},
        {"id": "global_episodic", "global_bonus": "count", "episodic_bonus": "count"},
        {"id": "global_episodic", "combine": "sum"},
    ],
    ids=["rnd*e3b", "count*count", "rnd+e3b"],
)
def test_global_episodic_decays_on_repeats_and_is_high_on_an_unseen_state(spec, observations):
    module = _module({**spec, "key": "observation"})
    seen, unseen = observations["seen"], observations["unseen"]
    _train_on(module, seen, steps=30)
    episodic = module.new_episodic(1)
    module.reset_episodic(episodic, np.array([0]), observations["start"])
    action = np.zeros(1, dtype=np.int64)
    bonuses = [float(module.bonus(seen, action, seen, episodic)[0]) for _ in range(8)]
    assert bonuses[-1] < 0.5 * bonuses[0]
    assert float(module.bonus(seen, action, unseen, episodic)[0]) > 2 * bonuses[-1]
