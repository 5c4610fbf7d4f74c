"""The agent contract: predict, optional bind and usage, and make_agent for every kind."""

import doctest
import importlib
import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401
from densegym.agents import (
    AGENTS,
    Agent,
    Bindable,
    HasUsage,
    RandomAgent,
    evaluate,
    make_agent,
)
from densegym.agents.llm import LLMPolicy
from densegym.agents.llm.search import SEARCH_AGENTS
from densegym.agents.sb3.training import RunConfig, train
from densegym.cli import main as cli_main
from densegym.llm import Usage

WORD = "densegym/WordProblems-v0"
CAR = "densegym/MountainCarSparse-v0"


def test_evaluate_binds_a_search_agent_and_reports_its_usage():
    agent = make_agent("search:beam", scorer="oracle", proposer="oracle-0.7", budget_steps=60)
    assert isinstance(agent, (Agent, Bindable, HasUsage)) and agent.env is None
    assert isinstance(agent.usage, Usage)
    env = gym.make(WORD, difficulty=2)
    first = evaluate(agent, env, n_episodes=3)  # no agent.bind(env) by the caller
    assert agent.env is env and first.success_rate == 1.0
    spent = agent.usage.snapshot()
    assert first.llm_calls == spent.calls > 0 and first.llm_tokens == spent.tokens > 0
    assert first.llm_usage["steps_generated"] == spent.steps_generated > 0
    assert first.llm_usage["scorer_calls"] == spent.scorer_calls > 0
    assert json.loads(json.dumps(first.as_dict()))["llm_usage"]["calls"] == spent.calls
    # A second run on another env rebinds and reports only what that run spent.
    other = gym.make(WORD, difficulty=1)
    second = evaluate(agent, other, n_episodes=2)
    assert agent.env is other
    assert second.llm_calls == agent.usage.calls - spent.calls > 0
    assert second.llm_usage["steps_generated"] == agent.usage.since(spent).steps_generated


def test_evaluate_over_a_tiny_llm_proposer_counts_model_tokens():
    pytest.importorskip("transformers")
    agent = make_agent(
        "search:greedy", proposer="llm:tiny-random", max_tokens=6, max_depth=2, budget_tokens=30
    )
    llm = agent.proposer.model
    before = llm.usage.snapshot()
    result = evaluate(agent, gym.make("densegym/Arithmetic-v0", difficulty=1), n_episodes=1)
    spent = llm.usage.since(before)
    assert result.llm_calls == spent.calls > 0
    assert result.llm_tokens == spent.tokens and result.llm_usage["seconds"] > 0


def test_agents_without_usage_report_zero_and_old_style_usage_is_refused():
    env = gym.make(CAR)
    result = evaluate(RandomAgent(seed=0), env, n_episodes=1)  # bound by evaluate
    assert result.llm_calls == result.llm_tokens == 0
    assert result.llm_usage == Usage().as_dict()

    class OldStyle(RandomAgent):
        def usage(self):
            return {"calls": 0}

    with pytest.raises(TypeError, match=r"OldStyle\.usage must be a densegym\.llm\.Usage"):
        evaluate(OldStyle(seed=0), env, n_episodes=1)
    with pytest.raises(RuntimeError, match="bind"):
        RandomAgent().predict(env.reset(seed=0)[0])


def test_usage_is_one_type_across_agents():
    policy = LLMPolicy("tiny-random")
    search = make_agent("search:greedy", proposer="oracle")
    for agent in (policy, search):
        assert isinstance(agent, HasUsage) and type(agent.usage) is Usage
    # search_parts re-exports the same type.
    from densegym.agents.llm import search_parts

    assert search_parts.Usage is Usage


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    config = RunConfig(
        CAR, steps=256, n_envs=2, logdir=str(tmp_path_factory.mktemp("runs")), log_every=128
    )
    return train(config, progress=False)["run_dir"]


def test_make_agent_builds_every_kind(run_dir, tmp_path):
    random_agent = make_agent("random", env_id=CAR, seed=0)
    assert isinstance(random_agent, RandomAgent) and random_agent.action_space.n == 3
    assert make_agent("random").action_space is None  # takes the env's in bind

    model = make_agent(f"sb3:{run_dir}", seed=0)
    obs = gym.make(CAR).reset(seed=0)[0]
    action, _ = model.predict(obs, deterministic=True)
    assert isinstance(model, Agent) and int(action) in (0, 1, 2)
    assert evaluate(model, CAR, n_episodes=1).env_steps == 200

    # Without final_model.zip the latest checkpoint's model is loaded.
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "final_model.zip").unlink()
    from_checkpoint = make_agent(f"sb3:{copy}")
    assert np.allclose(
        from_checkpoint.policy.state_dict()["action_net.weight"].numpy(),
        model.policy.state_dict()["action_net.weight"].numpy(),
    )
    assert Path(run_dir, "final_model.zip").exists()

    policy = make_agent("llm:tiny-random", max_tokens=4, shots=0)
    assert isinstance(policy, LLMPolicy) and policy.shots == 0 and policy.max_tokens == 4

    for name in SEARCH_AGENTS:
        kwargs = {"scorer": "oracle"} if SEARCH_AGENTS.get(name).needs_scorer else {}
        agent = make_agent(f"search:{name}", proposer="oracle", **kwargs)
        # Search agents are asked for by capability, not class (A* is no SearchAgent).
        assert isinstance(agent, Agent) and isinstance(agent, Bindable)
        assert isinstance(agent, HasUsage) and agent.name == name
    beam = make_agent('search:{"name": "beam", "scorer": "oracle", "beam_width": 2}', seed=3)
    assert beam.name == "beam" and beam.beam_width == 2
    assert make_agent(beam) is beam  # an agent is returned as it is


def test_unknown_or_incomplete_specs_fail_with_one_sentence(tmp_path):
    assert AGENTS.names() == ["llm", "random", "sb3", "search"]
    with pytest.raises(ValueError) as error:
        make_agent("ppo")
    assert str(error.value) == "unknown agent 'ppo'; registered agents: llm, random, sb3, search"
    with pytest.raises(ValueError, match=r"unknown search agent 'dfs'; registered search agents"):
        make_agent("search:dfs")
    with pytest.raises(ValueError, match=r"unknown LLM backend 'nope'; registered LLM backends"):
        _ = make_agent("llm:nope").llm
    with pytest.raises(ValueError, match=r"'sb3:<run dir>'"):
        make_agent("sb3")
    with pytest.raises(ValueError, match="takes no"):
        make_agent("random:x")
    with pytest.raises(FileNotFoundError, match="not a densegym run directory"):
        make_agent(f"sb3:{tmp_path}")
    with pytest.raises(ValueError, match="non-empty"):
        make_agent("")


def test_cli_eval_builds_agents_with_make_agent(run_dir, capsys):
    assert cli_main(["eval", "--agent", f"sb3:{run_dir}", "--episodes", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env_id"] == CAR and result["env_steps"] == 200
    argv = ["eval", "--agent", "search:greedy", "--env", WORD, "--episodes", "2"]
    assert cli_main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and result["llm_usage"]["steps_generated"] > 0
    assert cli_main(["eval", "--agent", "random", "--env", CAR, "--episodes", "1"]) == 0
    with pytest.raises(SystemExit, match="unknown agent 'dfs'; registered agents"):
        cli_main(["eval", "--agent", "dfs", "--env", CAR])
    with pytest.raises(SystemExit, match="needs --env"):
        cli_main(["eval", "--agent", "random"])
    with pytest.raises(SystemExit, match="beam needs a scorer"):
        cli_main(["eval", "--agent", "search:beam", "--env", WORD])


@pytest.mark.parametrize(
    "module", ["densegym.agents.protocol", "densegym.agents.make", "densegym.agents.evaluate"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
