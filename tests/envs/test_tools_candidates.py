import json
from pathlib import Path

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.adapters.candidates import CandidateActions
from densegym.envs.tools import ConfigEnv, LookupEnv, OrdersEnv
from densegym.envs.tools.candidates import grounded_calls, pad_calls, read_seen
from densegym.envs.tools.tasks import call_key

FAMILIES = [LookupEnv, OrdersEnv, ConfigEnv]


def _key(text):
    data = json.loads(text)
    if data["name"] == "report_infeasible":  # the reason is free text
        return "report_infeasible"
    return call_key(data["name"], data["arguments"])


@pytest.mark.parametrize("cls", FAMILIES)
def test_candidates_are_distinct_valid_and_cover_the_oracle(cls):
    env = cls()
    hits = total = 0
    for seed in range(60):
        env.reset(seed=seed)
        while True:
            calls = grounded_calls(env, k=8)
            assert 1 <= len(calls) <= 8 and len(set(calls)) == len(calls)
            for call in calls:
                name, arguments, error = env._read(call)
                assert not error and name in env.tools
            total += 1
            hits += _key(env.oracle_step()) in {_key(c) for c in calls}
            _, _, terminated, truncated, _ = env.step(env.oracle_step())
            if terminated or truncated:
                break
    assert hits / total >= 0.9, hits / total


def test_candidates_never_ask_the_oracle_by_default(monkeypatch):
    env = LookupEnv(difficulty=1)
    env.reset(seed=0)
    answer = env.problem.answer

    def no_oracle(*_, **__):
        raise AssertionError("the oracle was consulted")

    monkeypatch.setattr(env, "remaining_plan", no_oracle)
    monkeypatch.setattr(env, "oracle_step", no_oracle)
    calls = grounded_calls(env, k=32)
    answers = [json.loads(c)["arguments"] for c in calls if json.loads(c)["name"] == "answer"]
    assert all(a["answer"] != answer for a in answers)  # nothing read yet, nothing to tell
    monkeypatch.undo()
    env.step(env.oracle_step())  # read the order: now the answer is grounded in a result
    assert any(json.loads(c)["arguments"].get("answer") == answer for c in grounded_calls(env))


def test_include_oracle_puts_the_oracle_call_in_and_calls_already_made_drop_out():
    env = OrdersEnv(difficulty=3)
    env.reset(seed=4)
    first = grounded_calls(env, k=3)
    env.step(first[0])
    assert first[0] not in grounded_calls(env, k=3)
    while True:
        calls = grounded_calls(env, k=2, include_oracle=True)
        assert env.oracle_step() in calls and len(calls) <= 2
        _, reward, terminated, truncated, _ = env.step(env.oracle_step())
        if terminated or truncated:
            break
    assert reward == 1.0
    assert pad_calls(["a", "b"], 5) == ["a", "b", "a", "b", "a"] and len(pad_calls([], 2)) == 2


def test_seen_collects_ids_from_the_request_and_results():
    env = OrdersEnv(difficulty=2)
    env.reset(seed=1)
    seen = read_seen(env)
    assert seen.emails or "zip code" in seen.request
    env.step(env.oracle_step())
    env.step(env.oracle_step())
    seen = read_seen(env)
    assert seen.users and seen.orders and seen.last == 2


@pytest.mark.parametrize("env_id", ["ToolShop-Lookup", "ToolShop-Orders", "ToolShop-Config"])
def test_candidates_view_solves_tasks_by_index(env_id):
    view = {
        "id": "candidates",
        "k": 6,
        "include_oracle": True,
        "encoder": {"id": "ngram", "dim": 32},
    }
    env = gym.make(f"densegym/{env_id}-v0", view=view)
    assert env.action_space == gym.spaces.Discrete(6) and env.observation_space.shape == (
        7 * 32 + 6,
    )
    inner = env.unwrapped
    wrapper = env
    while not isinstance(wrapper, CandidateActions):
        wrapper = wrapper.env
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        while True:
            index = wrapper.oracle_action()
            assert index is not None
            obs, reward, terminated, truncated, info = env.step(index)
            assert env.observation_space.contains(obs)
            if terminated or truncated:
                break
        assert reward == 1.0 and info["is_success"], inner.task["request"]


def test_grounded_proposer_fits_tool_envs_only():
    with pytest.raises(ValueError, match="grounded"):
        CandidateActions(gym.make("densegym/ToolShop-Lookup-v0"), proposer="oracle-0.7")
    with pytest.raises(ValueError, match="prover spec"):
        CandidateActions(gym.make("densegym/Arithmetic-v0"), proposer="grounded")
    env = CandidateActions(gym.make("densegym/ToolShop-Lookup-v0"), k=4)
    _, info = env.reset(seed=0)
    assert len(info["candidates"]) == 4
    _, _, _, _, info = env.step(9)  # out of range: flagged as an invalid call, not raised
    assert info["invalid_action"] and info["invalid_call"]


@pytest.mark.parametrize("shaping", [None, "potential"])
def test_ppo_runs_on_grounded_candidates(tmp_path, shaping):
    from densegym.agents.sb3.training import RunConfig, train

    env_kwargs = {"view": {"id": "candidates", "k": 8, "encoder": {"id": "ngram", "dim": 32}}}
    if shaping:
        env_kwargs["shaping"] = shaping
    config = RunConfig(
        "densegym/ToolShop-Orders-v0",
        algo="ppo",
        steps=256,
        n_envs=2,
        seed=0,
        logdir=str(tmp_path),
        env_kwargs=env_kwargs,
        hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 2},
        log_every=128,
    )
    summary = train(config, progress=False)
    assert summary["timesteps"] >= 256
    assert (Path(summary["run_dir"]) / "final_model.zip").exists()
