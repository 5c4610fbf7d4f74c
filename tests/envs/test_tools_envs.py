import json
import random
import socket

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from densegym.envs.tools import LookupEnv, OrdersEnv
from densegym.envs.tools.tools import TOOLS
from densegym.envs.tools.transport import ToolServer
from densegym.envs.tools.world import world_for_seed
from densegym.protocols import capabilities

FAMILIES = [LookupEnv, OrdersEnv]


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


@pytest.mark.parametrize("cls", FAMILIES)
def test_oracle_solves_every_seed(cls):
    env = cls()
    longest, infeasible = 0, 0
    for seed in range(200):
        reward, info, n, predicted = run_oracle(env, seed)
        assert reward == 1.0 and info["is_success"], (seed, env.task["request"])
        assert info["progress"] == 1.0 and info["score"] == 1.0
        assert info["oracle_remaining"] == 0 and n == predicted
        longest = max(longest, n)
        infeasible += env.problem.infeasible
    assert longest * 4 <= 32  # the registered max_episode_steps
    assert 4 <= infeasible <= 30  # about 7%


@pytest.mark.parametrize("cls", FAMILIES)
@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_oracle_solves_each_level(cls, difficulty):
    env = cls(difficulty=difficulty, n_worlds=3, n_distractors=5)
    for seed in range(30):
        reward, info, _, _ = run_oracle(env, seed)
        assert reward == 1.0 and info["difficulty"] == difficulty


def _random_call(rng, env):
    """A call to a random tool with arguments drawn from ids in the task and the world."""
    task = env.problem
    pool = [str(v) for step in task.plan for v in step.arguments.values() if isinstance(v, str)]
    pool += ["#W1234567", "done", "no longer needed", "1 + 1"]
    tool = TOOLS[rng.choice(list(env.tools))]
    args = {}
    for param in tool.params:
        value = rng.choice(pool)
        args[param.name] = [value] if param.type == "array" else value
    return json.dumps({"name": tool.name, "arguments": args})


@pytest.mark.parametrize("cls", FAMILIES)
def test_random_calls_stay_low(cls):
    env = gym.wrappers.TimeLimit(cls(), max_episode_steps=32)
    rng = random.Random(0)
    wins = 0
    for seed in range(100):
        env.reset(seed=seed)
        while True:
            _, _, terminated, truncated, info = env.step(_random_call(rng, env.unwrapped))
            if terminated or truncated:
                break
        wins += info["is_success"]
    assert wins <= 15


@pytest.mark.parametrize("cls", FAMILIES)
def test_reset_is_deterministic_and_no_write_survives(cls):
    env = cls(difficulty=1)
    obs1, _ = env.reset(seed=5)
    task1 = env.task["request"]
    oid = world_for_seed(0).connect().execute("SELECT order_id FROM orders").fetchone()[0]
    env.step(
        f'modify_address(order_id="{oid}", address1="1 A St", city="B", state="CA", zip="90001")'
    )
    env.step(f'cancel_order(order_id="{oid}", reason="no longer needed")')
    env.step(env.oracle_step())
    obs2, _ = env.reset(seed=5)
    assert obs1 == obs2 and env.task["request"] == task1
    assert not env.unwrapped.world_diff()
    assert not world_for_seed(0).full_diff(env._conn)
    other = cls(difficulty=1)
    assert other.reset(seed=5)[0] == obs1


def test_policy_violation_answers_with_error_and_writes_nothing():
    env = OrdersEnv(difficulty=1)
    env.reset(seed=0)
    conn = env._conn
    delivered = conn.execute("SELECT order_id FROM orders WHERE status = 'delivered'").fetchone()[0]
    pending = conn.execute("SELECT order_id FROM orders WHERE status = 'pending'").fetchone()[0]
    item = conn.execute(
        "SELECT item_id FROM order_items WHERE order_id = ?", (delivered,)
    ).fetchone()[0]
    wrong_payment = conn.execute(
        "SELECT payment_id FROM payment_methods WHERE payment_id NOT IN "
        "(SELECT payment_id FROM payments WHERE order_id = ?)",
        (delivered,),
    ).fetchone()[0]
    calls = [
        f'cancel_order(order_id="{delivered}", reason="no longer needed")',
        f'cancel_order(order_id="{pending}", reason="because")',
        f'return_items(order_id="{delivered}", item_ids=["{item}"], payment_id="{wrong_payment}")',
        f'return_items(order_id="{pending}", item_ids=["x"], payment_id="y")',
        f'modify_address(order_id="{delivered}", address1="1 A St", city="B", state="CA", '
        'zip="90001")',
        f'exchange_items(order_id="{delivered}", item_ids=["{item}"], new_item_ids=["{item}"], '
        f'payment_id="{wrong_payment}")',
    ]
    for call in calls:
        obs, _, terminated, _, info = env.step(call)
        assert info["tool_error"] and not info["invalid_call"] and not info["wrote"]
        assert env.calls[-1].result.startswith("Error: ")
        assert not terminated
    assert "policy" in env.calls[0].result
    assert info["n_tool_errors"] == len(calls)
    assert not world_for_seed(0).full_diff(conn)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("", "empty action"),
        ("hello there", "no tool call found"),
        ("get_order(", "no tool call found"),
        ('{"name": "get_order", "arguments": ', "invalid JSON"),
        ("launch_rockets()", "unknown tool"),
        ('get_order(order_id="#W1", extra=1)', "has no argument"),
        ("get_order()", "needs the argument"),
        ("get_order(order_id=[[1]])", "must be a string"),
        ('get_order(order_id=open("x"))', "constants"),
        ("x" * 5000, "longer than"),
        (12, "must be a string"),
        (None, "must be a string"),
        ('get_order("#W1", "#W2")', "at most 1 arguments"),
        ('get_order("#W1", order_id="#W2")', "twice"),
        ('{"name": "get_order", "arguments": [1]}', "must be an object"),
    ],
)
def test_bad_input_is_flagged_and_counted(action, reason):
    env = LookupEnv(difficulty=1)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["invalid_call"] and reason in info["invalid_reason"], info["invalid_reason"]
    assert info["n_invalid"] == 1 and info["invalid_streak"] == 1 and info["call_cost"] >= 0
    assert reward == 0.0 and not terminated and not truncated
    assert "Error: " in obs and env.observation_space.contains(obs)


def test_invalid_streak_truncates_and_a_valid_call_resets_it():
    env = LookupEnv(difficulty=1, max_invalid_in_row=3)
    env.reset(seed=0)
    env.step("nonsense")
    env.step("nonsense")
    _, _, _, truncated, info = env.step('calculate(expression="1+1")')
    assert not truncated and info["invalid_streak"] == 0 and info["n_invalid"] == 2
    for _ in range(3):
        _, _, terminated, truncated, info = env.step("nonsense")
    assert truncated and not terminated and info["n_invalid"] == 5
    with pytest.raises(RuntimeError):
        env.step("nonsense")


@pytest.mark.parametrize("cls", FAMILIES)
def test_http_transport_gives_the_same_episode(cls):
    inproc, http = cls(n_distractors=3), cls(n_distractors=3, transport="http")
    rng = random.Random(1)
    for seed in range(6):
        a = inproc.reset(seed=seed)
        b = http.reset(seed=seed)
        assert a == b
        for _ in range(10):
            action = _random_call(rng, inproc) if rng.random() < 0.5 else inproc.oracle_step()
            a, b = inproc.step(action), http.step(action)
            assert a == b
            if a[2] or a[3]:
                break
    port = http._transport.port
    inproc.close()
    http.close()
    assert not ToolServer.running()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_server_is_shared_and_stops_with_the_last_session():
    first, second = LookupEnv(transport="http"), OrdersEnv(transport="http")
    first.reset(seed=0)
    second.reset(seed=0)
    assert first._transport.port == second._transport.port
    branch = second.clone()  # clones run in process and hold no session
    assert branch.transport_kind == "inproc"
    first.close()
    assert ToolServer.running()
    _, _, _, _, info = second.step(second.oracle_step())
    assert not info["invalid_call"]
    second.close()
    assert not ToolServer.running()
    branch.step(branch.oracle_step())
    branch.close()


def test_openapi_lists_every_tool():
    import http.client

    env = LookupEnv(transport="http")
    env.reset(seed=0)
    client = http.client.HTTPConnection("127.0.0.1", env._transport.port, timeout=5)
    client.request("GET", "/openapi.json")
    doc = json.loads(client.getresponse().read())
    client.close()
    env.close()
    assert {f"/api/{name}" for name in TOOLS} == set(doc["paths"])


@pytest.mark.parametrize("cls", FAMILIES)
def test_clone_and_set_state_branch_independently(cls):
    env = cls(difficulty=3)
    env.reset(seed=2)
    env.step(env.oracle_step())
    snapshot = env.get_state()
    clone = env.clone()
    # Run the clone to success; the original must not see its writes.
    while True:
        _, reward, terminated, truncated, info = clone.step(clone.oracle_step())
        if terminated or truncated:
            break
    assert reward == 1.0
    assert len(env.calls) == 1 and not env.world_diff()
    assert env.oracle_remaining() == len(clone.calls) - 1
    # Branch the original, then go back.
    env.step("report_infeasible(reason='x')")
    env.set_state(snapshot)
    assert len(env.calls) == 1 and env.oracle_remaining() == len(clone.calls) - 1
    assert not world_for_seed(env.problem.world_seed).full_diff(env._conn)
    while True:
        _, reward, terminated, truncated, _ = env.step(env.oracle_step())
        if terminated or truncated:
            break
    assert reward == 1.0


def test_wrong_write_loses_the_task_and_counts_collateral():
    env = OrdersEnv(difficulty=1)
    for seed in range(50):
        env.reset(seed=seed)
        if not env.problem.infeasible and env.problem.meta["requests"] == ["cancel"]:
            break
    conn = env._conn
    target = env.problem.meta["orders"][0]
    other = conn.execute(
        "SELECT order_id FROM orders WHERE status = 'pending' AND order_id != ?", (target,)
    ).fetchone()[0]
    _, _, _, _, info = env.step(f'cancel_order(order_id="{other}", reason="no longer needed")')
    assert info["wrote"] and info["oracle_remaining"] == -1 and info["score"] == 0.0
    while True:
        _, reward, terminated, truncated, info = env.step(env.oracle_step())
        if terminated or truncated:
            break
    assert reward == 0.0 and not info["is_success"]


def test_task_describes_tools_and_capabilities():
    env = OrdersEnv(n_distractors=4)
    env.reset(seed=0)
    task = env.task
    assert len(task["tools"]) == 15 + 4
    assert all(t["type"] == "function" and "parameters" in t["function"] for t in task["tools"])
    json.dumps(task)
    assert {"HasOracle", "HasTask", "Snapshotable"} <= set(capabilities(env))
    _, _, _, _, info = env.step('get_weather(city="Austin")')
    assert info["call_cost"] == 1.0 and not info["invalid_call"]


@pytest.mark.parametrize("cls", FAMILIES)
def test_check_env(cls):
    check_env(cls(), skip_render_check=True)


def test_bad_constructor_arguments_are_refused():
    with pytest.raises(ValueError):
        LookupEnv(difficulty=9)
    with pytest.raises(ValueError):
        LookupEnv(transport="smoke")
    with pytest.raises(ValueError):
        LookupEnv(n_distractors=99)
