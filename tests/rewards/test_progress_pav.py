"""pav: sign of progress, telescoping, Monte Carlo against the closed form, spec round trip."""

import json
import random

import gymnasium as gym
import numpy as np
import pytest

from densegym.envs.reasoning.provers import make_prover
from densegym.rewards import find_shapers
from densegym.rewards.progress import ProverValue

WORD = "densegym/WordProblems-v0"


def _pav_env(**spec):
    return gym.make(WORD, difficulty=2, shaping={"id": "pav", **spec})


@pytest.mark.parametrize("estimator", ["closed_form", "mc"])
def test_correct_step_positive_wrong_step_negative(estimator):
    env = _pav_env(prover="oracle-0.7", estimator=estimator, n_rollouts=500)
    env.reset(seed=1)
    good = env.step(env.unwrapped.oracle_step())[4]["reward_terms"]["pav"]
    bad = env.step(env.unwrapped.wrong_step(random.Random(0)))[4]["reward_terms"]["pav"]
    assert good > 0
    assert bad < 0


@pytest.mark.parametrize("seed", [0, 3])
def test_episode_sum_telescopes(seed):
    env = _pav_env(prover="oracle-0.7", n_rollouts=16)
    shaper = find_shapers(env)[0]
    env.reset(seed=seed)
    v_start = shaper.value(env.unwrapped.get_state())
    writer, terms, done = make_prover("oracle-0.6", seed=seed), [], False
    while not done:
        step = writer.act("", env)
        _, _, terminated, truncated, info = env.step(step)
        terms.append(info["reward_terms"]["pav"])
        done = terminated or truncated
    v_final = shaper.value(env.unwrapped.get_state())
    assert v_final == float(info["is_success"])
    assert sum(terms) == pytest.approx(v_final - v_start)


def test_monte_carlo_matches_closed_form():
    env = gym.make(WORD, difficulty=2)
    gaps = []
    for seed in range(4):
        env.reset(seed=seed)
        env.step(env.unwrapped.oracle_step())
        state = env.unwrapped.get_state()
        exact = ProverValue("oracle-0.8", method="closed_form")(state)
        estimate = ProverValue("oracle-0.8", n_rollouts=300, seed=seed)(state)
        gaps.append(abs(exact - estimate))
        assert abs(exact - estimate) < 4 * np.sqrt(exact * (1 - exact) / 300) + 1e-9
    assert np.mean(gaps) < 0.05


def test_value_cache_and_determinism():
    env = gym.make(WORD, difficulty=2)
    env.reset(seed=0)
    state = env.unwrapped.get_state()
    estimator = ProverValue("oracle-0.7", n_rollouts=8, seed=5)
    first = estimator(state)
    assert estimator(state) == first and estimator.cache_hits == 1
    assert ProverValue("oracle-0.7", n_rollouts=8, seed=5)(state) == first


def test_alpha_scales_and_spec_round_trips():
    env = _pav_env(prover="oracle-0.7", estimator="closed_form", alpha=2.0)
    env.reset(seed=1)
    term = env.step(env.unwrapped.oracle_step())[4]["reward_terms"]["pav"]
    assert term == pytest.approx(2 * (0.7**3 - 0.7**4))
    spec = gym.envs.registration.EnvSpec.from_json(env.spec.to_json())
    assert json.loads(env.spec.to_json())["kwargs"]["shaping"]["alpha"] == 2.0
    again = gym.make(spec)
    again.reset(seed=1)
    assert again.step(again.unwrapped.oracle_step())[4]["reward_terms"]["pav"] == term


def test_outcome_term_and_spec_round_trip():
    env = gym.make("densegym/Arithmetic-v0", difficulty=1, shaping="outcome")
    spec = gym.envs.registration.EnvSpec.from_json(env.spec.to_json())
    env = gym.make(spec)
    env.reset(seed=0)
    done, terms = False, []
    while not done:
        _, reward, done, _, info = env.step(env.unwrapped.oracle_step())
        terms.append(info["reward_terms"]["outcome"])
    assert terms[-1] == 1.0 and sum(terms) == 1.0 and reward == 2.0


def test_pav_rejects_non_reasoning_env_and_bad_estimator():
    with pytest.raises(ValueError, match="needs an env that is Snapshotable"):
        gym.make("densegym/MountainCarSparse-v0", shaping="pav")
    with pytest.raises(ValueError, match="closed form"):
        _pav_env(prover="llm:tiny-random", estimator="closed_form")
