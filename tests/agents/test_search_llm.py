"""Search agents over a tiny-random LLM proposer with learned scorers: mechanics and cost."""

import gymnasium as gym
import pytest

pytest.importorskip("transformers")

import densegym.llm  # noqa: E402
from densegym.agents import evaluate  # noqa: E402
from densegym.agents.llm.search import make_search_agent  # noqa: E402
from densegym.agents.llm.search_parts import ImplicitPRMScorer, PRMScorer  # noqa: E402
from densegym.rewards.progress import ImplicitPRM, StepExample, fit_prm  # noqa: E402

ARITH = "densegym/Arithmetic-v0"


@pytest.fixture(scope="module")
def llm():
    return densegym.llm.load("tiny-random")


@pytest.fixture(scope="module")
def prm():
    data = [StepExample("q", ("2 * 3 = 6",), 1.0), StepExample("q", ("2 * 3 = 7",), 0.0)]
    return fit_prm(data, dim=32, epochs=30).model


@pytest.mark.parametrize("name", ["greedy", "majority", "best_of_n", "beam", "mcts", "q_select"])
def test_llm_proposer_counts_model_tokens_and_respects_budget(llm, prm, name):
    env = gym.make(ARITH, difficulty=1, max_episode_steps=6)
    kwargs = {} if name in ("greedy", "majority") else {"scorer": PRMScorer(prm, "min")}
    if name in ("majority", "best_of_n"):
        kwargs["n"] = 2
    agent = make_search_agent(
        name, proposer=llm, budget_tokens=60, max_tokens=8, max_depth=3, **kwargs
    ).bind(env)
    before = llm.usage.snapshot()
    result = evaluate(agent, env, n_episodes=1)
    spent = llm.usage.since(before)
    assert result.episodes == 1
    assert agent.usage.completion_tokens == spent["completion_tokens"] > 0
    assert result.llm_tokens == agent.usage.tokens
    # Checked before each call: one batched call (at most 16 prompts x 8 tokens) may overshoot.
    assert agent.last_budget.tokens <= 60 + 16 * 8


def test_implicit_prm_scorer_ranks_by_sequence_reward():
    scorer = ImplicitPRMScorer(ImplicitPRM("tiny-random"))
    env = gym.make(ARITH, difficulty=1)
    env.reset(seed=0)
    state = env.unwrapped.get_state()
    assert scorer.score([state], [state]) == [0.5]
