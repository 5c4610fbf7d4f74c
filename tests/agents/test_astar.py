import json

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.agents import evaluate
from densegym.agents.llm.astar import AStarAgent
from densegym.agents.make import make_agent
from densegym.agents.protocol import Bindable, HasUsage
from densegym.llm.usage import Usage

IDS = ["densegym/ToolShop-Lookup-v0", "densegym/ToolShop-Orders-v0", "densegym/ToolShop-Config-v0"]


def _plan_cost(base, steps):
    return sum(base.tools[s.name].cost for s in steps)


@pytest.mark.parametrize("env_id", IDS)
def test_exact_heuristic_finds_the_oracle_plan(env_id):
    env = gym.make(env_id, difficulty=3)
    agent = AStarAgent(heuristic="oracle", include_oracle=True, k=4, budget_expansions=100)
    for seed in range(8):
        env.reset(seed=seed)
        base = env.unwrapped
        plan = base.remaining_plan()
        result = agent.search(base)
        assert result.found and result.cost == _plan_cost(base, plan)
        assert len(result.calls) == len(plan)
        assert result.expansions <= len(plan)  # an exact h expands only along the plan
        assert not base.calls and not base.world_diff()  # the search ran on a copy
        names = [json.loads(c)["name"] for c in result.calls]
        assert names[-1] == plan[-1].name
        for call in result.calls:
            _, reward, terminated, _, info = env.step(call)
        assert terminated and info["is_success"]


def test_expansion_budget_is_respected_and_the_agent_goes_on():
    env = gym.make("densegym/ToolShop-Orders-v0", difficulty=3)
    agent = AStarAgent(heuristic="zero", budget_expansions=2)
    result = evaluate(agent, env, n_episodes=3)
    assert agent.history and all(h["expansions"] <= 2 for h in agent.history)
    assert len(agent.history) > 3  # searched again when a partial plan ran out
    assert result.episodes == 3 and result.llm_usage["steps_generated"] > 0


class _ScriptedLLM:
    """A stand-in model: samples calls from the env's grounded candidates, 5 tokens each."""

    def __init__(self, env):
        self.env = env
        self.usage = Usage()

    def generate(self, prompts, n=1, max_tokens=64, temperature=1.0):
        calls = self.env.unwrapped.candidate_actions(n)
        texts = [c.replace('{"name": ', 'Call: {"name": ') for c in calls][:n]
        self.usage.add(prompt_tokens=10, completion_tokens=5 * len(texts))
        return [texts]


def test_llm_proposer_counts_tokens_and_respects_the_token_budget():
    env = gym.make("densegym/ToolShop-Orders-v0", difficulty=2)
    env.reset(seed=0)
    model = _ScriptedLLM(env)
    agent = AStarAgent(proposer=model, k=4, budget_tokens=30, budget_expansions=None)
    result = agent.search(env.unwrapped)
    assert 0 < result.tokens <= 30 + 5 * 4  # checked before each call
    assert agent.usage.calls >= 1 and agent.usage.completion_tokens == result.tokens
    assert agent.usage.prompt_tokens > 0


def test_search_astar_runs_end_to_end_through_make_agent_and_evaluate():
    agent = make_agent("search:astar")
    assert isinstance(agent, AStarAgent) and isinstance(agent, Bindable)
    assert isinstance(agent, HasUsage)
    result = evaluate(agent, "densegym/ToolShop-Orders-v0", n_episodes=4)
    assert result.success_rate >= 0.75
    assert result.llm_calls == 0 and result.llm_usage["scorer_calls"] > 0
    assert result.llm_usage["seconds"] > 0
    spec = make_agent('search:{"name": "astar", "heuristic": "oracle", "k": 4}')
    assert spec.heuristic == "oracle" and spec.k == 4


def test_bad_arguments_and_unbound_use_fail_clearly():
    with pytest.raises(ValueError, match="heuristic"):
        AStarAgent(heuristic="telepathy")
    with pytest.raises(ValueError):
        AStarAgent(k=0)
    with pytest.raises(RuntimeError, match="bind"):
        AStarAgent().predict("obs")
