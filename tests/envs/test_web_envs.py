"""The web world's shop env: oracle, random policy, findability, bad actions, server life."""

from __future__ import annotations

import pickle
import socket

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web import WebShopEnv
from densegym.envs.web.catalog import catalogue_for_seed
from densegym.envs.web.server import ShopServer
from densegym.envs.web.tasks import generate_task
from densegym.protocols import capabilities

ENV_ID = "densegym/WebShop-Search-v0"


def _oracle_episode(env: WebShopEnv, seed: int) -> tuple[dict, int, int]:
    _, info = env.reset(seed=seed)
    planned, steps = info["oracle_remaining"], 0
    while True:
        _, reward, terminated, truncated, info = env.step(env.oracle_step())
        steps += 1
        if terminated or truncated:
            return {**info, "reward": reward}, planned, steps


@pytest.mark.parametrize("level", [1, 2, 3])
def test_oracle_succeeds_on_100_seeds(level):
    env = WebShopEnv(difficulty=level)
    for seed in range(100):
        info, planned, steps = _oracle_episode(env, seed)
        assert info["is_success"] and info["score"] == 1.0 and info["reward"] == 1.0, seed
        assert steps == planned, (seed, steps, planned)
        assert info["n_invalid"] == 0
    env.close()


def test_oracle_replans_from_any_page():
    env = WebShopEnv(difficulty=2)
    rng = np.random.default_rng(0)
    for seed in range(20):
        env.reset(seed=seed)
        for _ in range(int(rng.integers(1, 6))):  # wander first
            ids = [e.id for e in env.page.elements]
            choices = [f"click[{i}]" for i, el in enumerate(ids, 1) if el != "buy-now"]
            action = "back" if rng.random() < 0.2 else str(rng.choice(choices))
            _, _, terminated, truncated, _ = env.step(action)
            assert not terminated and not truncated
        while True:
            _, _, terminated, truncated, info = env.step(env.oracle_step())
            if terminated or truncated:
                break
        assert info["is_success"], seed
    env.close()


def test_random_policy_stays_low():
    env = WebShopEnv()
    rng = np.random.default_rng(1)
    successes, scores = 0, []
    for seed in range(60):
        env.reset(seed=seed)
        for _ in range(40):
            n = len(env.page.elements)
            roll = rng.random()
            if roll < 0.1:
                action = "back"
            elif roll < 0.2:
                action = (
                    "search[" + " ".join(rng.choice(["shirt", "red", "cotton", "case"], 2)) + "]"
                )
            else:
                action = f"click[{int(rng.integers(1, n + 1))}]"
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        successes += info["is_success"]
        scores.append(info["score"])
    env.close()
    assert successes <= 2 and float(np.mean(scores)) < 0.3


def test_every_task_target_is_findable():
    cat = catalogue_for_seed(0, 1000)
    for level in (1, 2, 3):
        for seed in range(200):
            task = generate_task(cat, seed, level)
            hits = cat.search(task.query)
            assert task.asin in hits and hits.index(task.asin) == task.rank
            product = cat.by_asin[task.asin]
            assert set(task.attributes) <= set(product.attributes)
            assert product.price <= task.price_bound
            assert all(v in product.option_values(d) for d, v in task.options)


def test_same_seed_same_reset_and_different_seeds_differ():
    a, b = WebShopEnv(), WebShopEnv()
    obs_a, info_a = a.reset(seed=11)
    obs_b, info_b = b.reset(seed=11)
    assert obs_a == obs_b and info_a == info_b and a.task == b.task
    assert a.step(a.oracle_step())[0] == b.step(b.oracle_step())[0]
    assert {a.reset(seed=s)[0] for s in range(5)} != {obs_a}
    a.close()
    b.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.from_regex(r"(click|search)\[.{0,30}\]", fullmatch=True)))
def test_bad_actions_are_flagged_never_raised(action):
    env = _SHARED["env"]
    if env.problem is None or env._done:
        env.reset(seed=0)
    _, reward, terminated, _, info = env.step(action)
    assert reward in (0.0, 1.0)
    if info["invalid_action"]:
        assert info["invalid_reason"] and info["n_invalid"] >= 1


_SHARED: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _shared_env():
    _SHARED["env"] = WebShopEnv(difficulty=1)
    yield
    _SHARED.pop("env").close()


def test_invalid_actions_counted_and_truncate():
    env = WebShopEnv(difficulty=1, max_invalid_in_row=3)
    obs, _ = env.reset(seed=0)
    for i, action in enumerate(["jump", "click[99]", "back"], start=1):
        new_obs, reward, terminated, truncated, info = env.step(action)
        assert info["invalid_action"] and info["n_invalid"] == i and reward == 0.0
        assert new_obs == obs  # the page stays
    assert truncated and not terminated and not info["is_success"]
    env.close()


def test_wrong_purchase_scores_partially_and_is_no_success():
    env = WebShopEnv(difficulty=2, reward_mode="score")
    env.reset(seed=5)
    plan = env.remaining_plan()
    for action in plan[:-1]:
        if action.startswith("click[opt-"):
            continue  # skip choosing the options
        env.step(action)
    _, reward, terminated, _, info = env.step("click[buy-now]")
    assert terminated and not info["is_success"]
    assert 0.0 < info["score"] < 1.0 and reward == info["score"]
    assert env.oracle_remaining() is None and info["oracle_remaining"] == -1
    env.close()


def test_snapshot_clone_and_pickle():
    env = WebShopEnv(difficulty=3)
    env.reset(seed=2)
    env.step(env.oracle_step())
    state = env.get_state()
    branch = env.clone()
    obs, *_ = branch.step(branch.oracle_step())
    assert branch.oracle_remaining() == env.oracle_remaining() - 1
    env.step(env.oracle_step())
    assert env.observation() == obs
    env.set_state(state)
    assert env.oracle_remaining() == branch.oracle_remaining() + 1
    copy = pickle.loads(pickle.dumps(env))
    assert copy.step(copy.oracle_step())[0] == obs
    assert {"HasOracle", "HasTask", "Snapshotable"} <= set(capabilities(env))
    for e in (env, branch, copy):
        e.close()


def test_server_port_closed_after_close():
    ShopServer.stop()  # other tests' envs may share it; start fresh
    env = WebShopEnv(difficulty=1)
    env.reset(seed=0)
    port = env.port
    assert ShopServer.running() and port
    env.close()
    assert not ShopServer.running()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_check_env_and_registration():
    env = gym.make(ENV_ID)
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)
    assert env.spec.max_episode_steps == 40
    env.close()


def test_speed_text_driver():
    import time

    env = WebShopEnv(difficulty=2)
    env.reset(seed=0)
    start, steps, resets = time.perf_counter(), 0, 0
    while steps < 300:
        env.reset(seed=resets)
        resets += 1
        while True:
            *_, terminated, truncated, _ = env.step(env.oracle_step())
            steps += 1
            if terminated or truncated:
                break
    rate = steps / (time.perf_counter() - start)
    env.close()
    assert rate > 100, rate  # ~900/s measured on 2 shared cores
