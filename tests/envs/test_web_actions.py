"""The shop env's grounded candidates (SB3 view), dead-server recovery and action grammar."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web import WebShopEnv
from densegym.envs.web.server import ShopServer
from densegym.envs.web.text import read_action

ENV_ID = "densegym/WebShop-Search-v0"


def test_grounded_candidates_never_consult_the_oracle_and_are_distinct(monkeypatch):
    env = WebShopEnv(difficulty=2)
    for seed in range(10):
        env.reset(seed=seed)
        while True:
            with monkeypatch.context() as m:
                m.setattr(env, "remaining_plan", lambda: pytest.fail("consulted the oracle"))
                cands = env.candidate_actions(8)
            assert 1 <= len(cands) <= 8 and len(set(cands)) == len(cands)
            assert env.oracle_step() in env.candidate_actions(8, include_oracle=True)
            _, _, terminated, truncated, info = env.step(env.oracle_step())
            assert not info["invalid_action"]
            if terminated or truncated:
                break
    env.close()


def test_grounded_candidates_are_valid_and_often_right():
    env = WebShopEnv(difficulty=1)
    right = total = 0
    for seed in range(20):
        env.reset(seed=seed)
        while True:
            cands = env.candidate_actions(8)
            for action in cands:  # every candidate is a valid action on this page
                probe = env.clone()
                assert not probe.step(action)[4]["invalid_action"], action
                probe.close()
            oracle = env.oracle_step()
            right, total = right + (oracle in cands), total + 1
            _, _, terminated, truncated, _ = env.step(oracle)
            if terminated or truncated:
                break
    assert right / total > 0.9
    env.close()


def test_candidates_view_trains_sb3_ppo():
    from stable_baselines3 import PPO

    env = gym.make(ENV_ID, difficulty=1, view={"id": "candidates", "k": 8})
    assert isinstance(env.observation_space, gym.spaces.Box)
    assert env.action_space == gym.spaces.Discrete(8)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and len(info["candidates"]) == 8
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    env.close()


def test_dead_server_is_restarted_and_truncates_never_raises():
    env = WebShopEnv(difficulty=1)
    env.reset(seed=0)
    env.step(env.oracle_step())
    old_port = env.port
    ShopServer.stop()
    obs, reward, terminated, truncated, info = env.step(env.oracle_step())  # must not raise
    assert truncated and not terminated and reward == 0.0 and not info["is_success"]
    assert info["server_restarted"] and info["n_server_restarts"] == 1
    assert ShopServer.running() and not info["server_error"]  # the step was done anew
    assert info["page"] == "item" and "Buy Now" in obs
    assert env.port == ShopServer.port() and old_port is not None
    _, info = env.reset(seed=1)
    assert not info["server_restarted"] and info["n_server_restarts"] == 1
    while True:
        _, _, terminated, truncated, info = env.step(env.oracle_step())
        if terminated or truncated:
            break
    assert info["is_success"] and not info["server_restarted"]
    ShopServer.stop()  # dead between episodes: the reset restarts it and plays on
    _, info = env.reset(seed=2)
    assert info["server_restarted"] and info["n_server_restarts"] == 2
    _, _, _, truncated, info = env.step(env.oracle_step())
    assert not truncated and not info["server_restarted"] and not info["invalid_action"]
    env.close()


def test_issue_grammar_plays_a_whole_episode():
    env = WebShopEnv(difficulty=2)
    env.reset(seed=5)
    task = env.problem
    obs, _, _, _, info = env.step(f'fill(search-input, "{task.query}")')
    assert not info["invalid_action"] and info["page"] == "search"
    assert f'textbox "Search" ({task.query})' in obs
    _, _, _, _, info = env.step("click(search-button)")
    assert info["page"] == "results" and not info["invalid_action"]
    assert env.page.textbox().value == task.query
    while not env.oracle_step().startswith("click[opt-"):
        env.step(env.oracle_step().replace("[", "(").replace("]", ")"))
    for dim, value in task.options:
        _, _, _, _, info = env.step(f'select({dim}, "{value}")')
        assert not info["invalid_action"], info["invalid_reason"]
    _, reward, terminated, _, info = env.step("click(buy-now)")
    assert terminated and reward == 1.0 and info["is_success"]


@pytest.mark.parametrize("action", ['stop["no such product"]', "stop", "stop()", "STOP[x]"])
def test_stop_ends_without_success(action):
    env = WebShopEnv(difficulty=1)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated and reward == 0.0
    assert not info["is_success"] and info["score"] == 0.0 and not info["invalid_action"]


@pytest.mark.parametrize(
    "action",
    [
        "fill(1)",
        'fill(search-button, "x")',
        'fill(search-input, "a\tb")',
        'select(size, "no-such")',
        'select(, "x")',
        "select(size)",
        "eval(1)",
        "__import__('os')",
        "click(search-input)",
    ],
)
def test_bad_grammar_is_flagged(action):
    env = WebShopEnv(difficulty=1)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(action)
    assert info["invalid_action"] and info["invalid_reason"] and not terminated


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=600))
def test_arbitrary_strings_never_raise(text):
    command = read_action(text)
    assert (command.verb == "") == bool(command.error)
    for prefix in ("fill(", "select(", "stop[", "click("):
        read_action(prefix + text)


_ENV = WebShopEnv(difficulty=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["fill(1, ", "select(", "click(", "stop[", "search["]), st.text(max_size=80))
def test_arbitrary_actions_never_raise_in_the_env(prefix, text):
    _ENV.reset(seed=0)
    _, reward, _, _, info = _ENV.step(prefix + text + ")")
    assert np.isfinite(reward) and isinstance(info["invalid_action"], bool)
