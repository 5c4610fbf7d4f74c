"""Clip and Delta bound the episode sum of a step reward a repeating policy would farm."""

import math

import gymnasium as gym
import pytest

from densegym.rewards.progress import StepExample, StepGuard, fit_prm

WORD = "densegym/WordProblems-v0"


def test_guard_arithmetic():
    rewards = [0.3, 0.9, 0.5, 0.7]
    delta = StepGuard("delta")
    out = [delta(r, done=i == len(rewards) - 1) for i, r in enumerate(rewards)]
    assert out == pytest.approx([0.0, 0.3 - 0.9, 0.9 - 0.5, 0.5 - 0.7 + 0.7])
    assert sum(out) == pytest.approx(rewards[0])
    clip = StepGuard("clip", threshold=0.5)
    assert [clip(r, done=False) for r in rewards] == pytest.approx([-0.2, 0.0, 0.0, 0.0])
    assert math.isnan(delta(math.nan, done=False))
    with pytest.raises(ValueError):
        StepGuard("square")


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    data = [
        StepExample("q", ("2 * 3 = 6",), 1.0),
        StepExample("q", ("2 * 3 = 7",), 0.0),
        StepExample("q", ("4 + 1 = 5",), 1.0),
        StepExample("q", ("4 + 1 = 4",), 0.0),
    ]
    path = tmp_path_factory.mktemp("guard") / "prm.pt"
    fit_prm(data, dim=32, epochs=100).model.save(path)
    return str(path)


def _farm(env):
    """Repeat the first correct step until the time limit; return the episode's prm terms."""
    env.reset(seed=0)
    step = env.unwrapped.oracle_step()
    terms, done = [], False
    while not done:
        _, _, terminated, truncated, info = env.step(step)
        terms.append(info["reward_terms"]["prm"])
        done = terminated or truncated
    return terms


@pytest.mark.parametrize("guard", [None, "clip", "delta"])
def test_repeating_policy_cannot_farm_guarded_reward(prm_path, guard):
    spec = {"id": "prm", "path": prm_path, "guard": guard, "threshold": 0.5}
    short = _farm(gym.make(WORD, difficulty=2, max_episode_steps=8, shaping=spec))
    long = _farm(gym.make(WORD, difficulty=2, max_episode_steps=32, shaping=spec))
    assert len(long) == 32
    if guard is None:
        assert sum(long) > sum(short) + 10  # the raw score is farmed
    elif guard == "clip":
        assert sum(long) <= 0.0 and sum(short) <= 0.0
    else:
        # Truncated by the outer TimeLimit: the sum is r_1 - r_T, whatever the length.
        assert long[0] == 0.0 and -1.0 <= sum(long) <= 1.0
        assert sum(long) == pytest.approx(sum(short), abs=0.5)


def test_delta_sum_is_first_reward_on_terminated_episode(prm_path):
    env = gym.make(WORD, difficulty=2, shaping={"id": "prm", "path": prm_path, "guard": "delta"})
    raw = gym.make(WORD, difficulty=2, shaping={"id": "prm", "path": prm_path})
    sums = []
    for e in (env, raw):
        e.reset(seed=0)
        terms, done = [], False
        while not done:
            _, _, done, _, info = e.step(e.unwrapped.oracle_step())
            terms.append(info["reward_terms"]["prm"])
        sums.append(terms)
    assert sum(sums[0]) == pytest.approx(sums[1][0])
