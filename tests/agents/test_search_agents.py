"""Search agents: solve oracle-verifiable problems, respect budgets, count cost."""

import doctest
import importlib

import gymnasium as gym
import pytest

from densegym.agents import evaluate
from densegym.agents.llm.search import SEARCH_AGENTS, make_search_agent
from densegym.agents.llm.search_parts import Budget, StepProposer

WORD = "densegym/WordProblems-v0"
SCORED = {"best_of_n", "beam", "mcts", "q_select"}


def _kwargs(name, scorer="oracle"):
    return {"scorer": scorer} if name in SCORED else {}


@pytest.mark.parametrize("name", sorted(SEARCH_AGENTS))
def test_exact_oracle_proposer_solves_everything(name):
    env = gym.make(WORD, difficulty=2)
    agent = make_search_agent(name, proposer="oracle", budget_steps=200, **_kwargs(name))
    result = evaluate(agent.bind(env), env, n_episodes=4)
    assert result.success_rate == 1.0
    assert result.llm_calls > 0 and result.llm_tokens > 0


@pytest.mark.parametrize("name", sorted(SCORED))
@pytest.mark.parametrize("scorer", ["oracle", "pav:oracle-0.7"])
def test_scored_search_beats_noisy_proposer(name, scorer):
    env = gym.make(WORD, difficulty=2)
    greedy = evaluate(make_search_agent("greedy", proposer="oracle-0.7").bind(env), env, 12)
    kwargs = {"n": 8} if name == "best_of_n" else {}
    agent = make_search_agent(
        name, proposer="oracle-0.7", scorer=scorer, budget_steps=120, **kwargs
    ).bind(env)
    result = evaluate(agent, env, n_episodes=12)
    assert result.success_rate >= 0.75
    assert result.success_rate > greedy.success_rate


@pytest.mark.parametrize("name", sorted(SEARCH_AGENTS))
@pytest.mark.parametrize("budget", [3, 10])
def test_budget_is_respected(name, budget):
    env = gym.make(WORD, difficulty=3)
    agent = make_search_agent(name, proposer="oracle-0.7", budget_steps=budget, **_kwargs(name))
    result = evaluate(agent.bind(env), env, n_episodes=3)
    assert result.episodes == 3  # the episodes still end (a fallback answer costs nothing)
    assert all(h["steps"] <= budget for h in agent.history)
    assert agent.usage.steps_generated <= 3 * budget
    assert result.llm_usage["steps_generated"] == agent.usage.steps_generated


def test_token_budget_and_proposer_accounting():
    env = gym.make(WORD, difficulty=2)
    env.reset(seed=0)
    budget = Budget(max_tokens=10)
    proposer = StepProposer("oracle")
    state = env.unwrapped.get_state()
    assert len(proposer.propose([state], 3, budget)[0]) == 3
    assert budget.tokens >= 10 and budget.exhausted
    assert proposer.propose([state], 3, budget) == [[]]


def test_errors_are_clear():
    with pytest.raises(ValueError, match="needs a scorer"):
        make_search_agent("beam", proposer="oracle")
    with pytest.raises(ValueError, match="unknown search agent"):
        make_search_agent("dfs")
    with pytest.raises(RuntimeError, match="bind"):
        make_search_agent("greedy", proposer="oracle").predict("obs")


@pytest.mark.parametrize(
    "module", ["densegym.agents.llm.search", "densegym.agents.llm.search_parts"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
