import json
import random

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.tools import ConfigEnv
from densegym.envs.tools.config import criteria_f1
from densegym.envs.tools.tools import TOOLS
from densegym.envs.tools.world import SETTING_VALUES, world_for_seed


def run_oracle(env, seed, **reset):
    obs, info = env.reset(seed=seed, **reset)
    predicted, n = info["oracle_remaining"], 0
    while True:
        before = info["oracle_remaining"]
        obs, reward, terminated, truncated, info = env.step(env.oracle_step())
        n += 1
        if terminated or truncated:
            return reward, info, n, predicted
        assert info["oracle_remaining"] == before - 1


def test_oracle_solves_every_seed():
    env = ConfigEnv()
    longest, infeasible = 0, 0
    for seed in range(200):
        reward, info, n, predicted = run_oracle(env, seed)
        assert reward == 1.0 and info["is_success"], (seed, env.task["request"])
        assert info["progress"] == 1.0 and info["score"] == 1.0
        assert info["oracle_remaining"] == 0 and n == predicted
        longest = max(longest, n)
        infeasible += env.problem.infeasible
    assert longest * 4 <= 32
    assert 4 <= infeasible <= 30


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_oracle_solves_each_level_over_worlds_and_transports(difficulty):
    env = ConfigEnv(difficulty=difficulty, n_worlds=3, n_distractors=4)
    for seed in range(30):
        reward, info, _, _ = run_oracle(env, seed)
        assert reward == 1.0 and info["difficulty"] == difficulty
    http = ConfigEnv(difficulty=difficulty, transport="http")
    try:
        reward, info, _, _ = run_oracle(http, 0)
        assert reward == 1.0
    finally:
        http.close()


def test_registered_and_criteria_are_settings():
    env = gym.make("densegym/ToolShop-Config-v0", difficulty=3)
    _, info = env.reset(seed=1)
    task = env.unwrapped.task
    assert task["id"] == "ToolShop-Config" and task["criteria"]
    json.dumps(task)
    for user_id, key, value in env.unwrapped.problem.criteria:
        assert key == "default_payment" or value in SETTING_VALUES[key]
        assert user_id in task["request"] or task["plan"][0]["name"] == "find_user"
    assert info["progress"] == 0.0 and info["score"] == 0.0


def _criterion_env(seed=0):
    env = ConfigEnv(difficulty=1)
    for s in range(seed, seed + 50):
        env.reset(seed=s)
        if not env.problem.infeasible and len(env.problem.criteria) == 2:
            return env
    raise AssertionError("no two-criteria task")


def test_score_is_the_criteria_f1_and_progress_the_share_met():
    env = _criterion_env()
    (uid, key, value), second = env.problem.criteria
    _, _, _, _, info = env.step(f'update_setting(user_id="{uid}", key="{key}", value="{value}")')
    assert info["progress"] == 0.5 and info["score"] == pytest.approx(2 / 3)
    other = next(k for k in SETTING_VALUES if k not in (key, second[1]))
    initial = (
        world_for_seed(env.problem.world_seed)
        .connect()
        .execute("SELECT value FROM settings WHERE user_id = ? AND key = ?", (uid, other))
        .fetchone()[0]
    )
    stray = next(v for v in SETTING_VALUES[other] if v != initial)
    _, _, _, _, info = env.step(f'update_setting(user_id="{uid}", key="{other}", value="{stray}")')
    assert info["progress"] == 0.5 and info["score"] == pytest.approx(0.5)
    assert criteria_f1(env.problem, env.world_diff()) == info["score"]


def test_mistakes_can_be_undone_and_the_oracle_restores_them():
    env = _criterion_env(3)
    (uid, key, value), (_, key2, _) = env.problem.criteria
    wrong = next(v for v in SETTING_VALUES[key] if v != value)
    other = next(k for k in SETTING_VALUES if k not in (key, key2))
    initial = (
        world_for_seed(env.problem.world_seed)
        .connect()
        .execute("SELECT value FROM settings WHERE user_id = ? AND key = ?", (uid, other))
        .fetchone()[0]
    )
    stray = next(v for v in SETTING_VALUES[other] if v != initial)
    env.step(f'update_setting(user_id="{uid}", key="{key}", value="{wrong}")')
    env.step(f'update_setting(user_id="{uid}", key="{other}", value="{stray}")')
    plan = env.remaining_plan()
    assert plan is not None and len(plan) == 4  # 2 setters, 1 restore, answer
    assert {"user_id": uid, "key": other, "value": initial} in [s.arguments for s in plan]
    # Answering now fails: criteria not met and a collateral change.
    clone = env.clone()
    _, reward, terminated, _, info = clone.step('answer(answer="done")')
    assert terminated and reward == 0.0 and not info["is_success"]
    while True:
        _, reward, terminated, truncated, info = env.step(env.oracle_step())
        if terminated or truncated:
            break
    assert reward == 1.0 and info["is_success"]


def test_a_write_to_another_table_loses_the_task():
    env = _criterion_env()
    oid = env._conn.execute("SELECT order_id FROM orders WHERE status = 'pending'").fetchone()[0]
    _, _, _, _, info = env.step(f'cancel_order(order_id="{oid}", reason="ordered by mistake")')
    assert info["wrote"] and info["oracle_remaining"] == -1


def test_infeasible_requests_fail_on_write_and_succeed_on_report():
    env = ConfigEnv(difficulty=2, infeasible_rate=1.0)
    templates = set()
    for seed in range(40):
        env.reset(seed=seed)
        templates.add(env.problem.meta["template"])
        assert env.problem.infeasible and not env.problem.criteria
    assert {"bad-value", "unknown-setting"} <= templates
    env = ConfigEnv(difficulty=1, infeasible_rate=1.0)
    env.reset(seed=0)
    uid = env.problem.meta["user_id"]
    _, _, _, _, info = env.step(f'update_setting(user_id="{uid}", key="dark_mode", value="on")')
    assert info["tool_error"] and not info["wrote"]
    _, reward, terminated, _, info = env.step('report_infeasible(reason="not allowed")')
    assert terminated and reward == 1.0


def test_random_calls_stay_low():
    env = gym.wrappers.TimeLimit(ConfigEnv(), max_episode_steps=32)
    rng = random.Random(0)
    wins = 0
    for seed in range(100):
        env.reset(seed=seed)
        task = env.unwrapped.problem
        pool = [str(v) for s in task.plan for v in s.arguments.values() if isinstance(v, str)]
        pool += [v for values in SETTING_VALUES.values() for v in values] + ["done"]
        while True:
            tool = TOOLS[rng.choice(list(env.unwrapped.tools))]
            args = {p.name: rng.choice(pool) for p in tool.params}
            _, _, terminated, truncated, info = env.step(
                json.dumps({"name": tool.name, "arguments": args})
            )
            if terminated or truncated:
                break
        wins += info["is_success"]
    assert wins <= 15


def test_check_env():
    check_env(ConfigEnv(), skip_render_check=True)
