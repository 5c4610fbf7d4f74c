"""LLM call proposals and search agents (A*, q_select, best_of_n) on BFCL multi-turn."""

from __future__ import annotations

import json
import time

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("bfcl_eval", reason='pip install --no-deps "bfcl-eval==2026.3.23"')

import densegym  # noqa: E402,F401
from densegym.agents.llm.astar import AStarAgent  # noqa: E402
from densegym.agents.llm.call_proposer import (  # noqa: E402
    GroundedProposer,
    LLMCallProposer,
    make_call_proposer,
    validate_call,
)
from densegym.agents.llm.search_parts import Budget  # noqa: E402
from densegym.agents.llm.tool_search import ToolBestOfN, ToolQSelect  # noqa: E402
from densegym.agents.make import make_agent  # noqa: E402
from densegym.llm import load  # noqa: E402
from densegym.llm.base import LLM  # noqa: E402
from densegym.llm.results import Completion  # noqa: E402

END = '{"arguments": {}, "name": "end_turn"}'


class ScriptedText(LLM):
    """A backend whose replies are fixed texts (cycled): the rest is the real chat path.

    ``chat(..., tools=...)`` goes through the base class's text fallback and
    ``with_text_calls``, so what the proposer reads is what any text-only model gives.
    """

    def __init__(self, texts: list[str]):
        super().__init__("scripted")
        self.texts, self.i = list(texts), 0

    def format_chat(self, messages):
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def _generate(self, prompts, params, *, templated=False):
        out = []
        for p, _prompt in enumerate(prompts):
            for s in range(params.n):
                text = self.texts[self.i % len(self.texts)]
                self.i += 1
                out.append(Completion(text, 100, 10, "stop", p, s))
        return out

    def _logprobs(self, prompts, continuations):
        raise NotImplementedError


@pytest.fixture
def env():
    env = gym.make("densegym/BFCL-MultiTurn-v0")
    env.reset(options={"entry": "multi_turn_base_0"})
    return env


@pytest.fixture(scope="module")
def tiny():
    return load("tiny-random")


def _valid_in_env(env, call: str) -> bool:
    sim = env.unwrapped.clone()
    *_, info = sim.step(call)
    return not info["invalid_call"]


def _play(agent, env, entry: str = "multi_turn_base_0"):
    agent.bind(env)
    obs, info = env.reset(options={"entry": entry})
    first, steps = True, 0
    while True:
        action, _ = agent.predict(obs, episode_start=np.array([first]))
        first = False
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            return info, steps


def test_validate_call_against_bfcl_schemas(env):
    tools = env.unwrapped.task["tools"]
    assert validate_call("cd", {"folder": "document"}, tools) == ""
    assert "missing" in validate_call("cd", {}, tools)
    assert "not string" in validate_call("cd", {"folder": 3}, tools)
    assert "unknown argument" in validate_call("cd", {"folder": "a", "x": 1}, tools)
    assert "unknown function" in validate_call("rm_rf", {}, tools)
    assert validate_call("end_turn", {}, tools) == ""


def test_llm_proposer_keeps_valid_calls_counts_invalid_and_pads(env):
    texts = [
        "ls(a=True)",
        "Sure: ls(a=True)",  # duplicate of the first
        "rm -rf /",  # no call
        "launch_rocket()",  # unknown function
        "cd(folder=3)",  # wrong type
        '{"name": "cd", "arguments": {"folder": "document"}}',
    ]
    proposer = LLMCallProposer(ScriptedText(texts), temperature=0.8)
    calls = proposer.propose(env, 6)
    stats = proposer.stats
    assert (stats.sampled, stats.valid, stats.invalid, stats.duplicates) == (6, 3, 3, 1)
    assert stats.valid + stats.invalid == stats.sampled
    # two distinct valid calls (the twice-proposed one first), then end_turn as padding
    assert [json.loads(c)["name"] for c in calls] == ["ls", "cd", "end_turn"]
    assert stats.padded == 1 and proposer.votes[calls[0]] == 2 and proposer.votes[END] == 0
    assert proposer.share(calls[0]) == pytest.approx(2 / 3)
    assert all(_valid_in_env(env, c) for c in calls)
    # truncated to k
    assert len(LLMCallProposer(ScriptedText(texts)).propose(env, 1)) == 1
    # without padding, only what the model proposed
    bare = LLMCallProposer(ScriptedText(["nothing here"]), pad=False)
    assert bare.propose(env, 3) == [] and bare.stats.invalid == 3


def test_tiny_random_candidates_are_valid_or_counted_and_budget_holds(env, tiny):
    proposer = LLMCallProposer(tiny, max_tokens=12, temperature=1.0)
    budget = Budget(max_tokens=30)
    first = proposer.propose(env, 4, budget)
    assert 1 <= len(first) <= 4 and all(_valid_in_env(env, c) for c in first)
    assert proposer.stats.valid + proposer.stats.invalid == proposer.stats.sampled == 4
    while not budget.exhausted:
        proposer.propose(env, 4, budget)
    assert proposer.propose(env, 4, budget) == []  # spent: nothing more is sampled
    assert 30 <= budget.tokens <= 30 + 4 * 12  # checked before each call
    assert budget.calls == proposer.stats.sampled // 4


def test_grounded_proposer_on_bfcl_offers_end_turn(env):
    assert GroundedProposer().propose(env, 4) == [END]
    with pytest.raises(ValueError, match="prover spec"):
        make_call_proposer("oracle-0.7")


@pytest.mark.parametrize(
    "spec, kwargs",
    [
        ("search:astar", {"goal": "end_turn", "heuristic": "zero", "budget_expansions": 3}),
        ("search:astar", {"goal": "success", "heuristic": "zero", "budget_expansions": 3}),
        ("search:tool_q_select", {}),
        ("search:tool_best_of_n", {"n": 2, "max_depth": 2}),
    ],
)
def test_agents_play_a_bfcl_entry_with_tiny_random(env, tiny, spec, kwargs):
    k = {"n": 2} if "best_of_n" in spec else {"k": 3}
    agent = make_agent(spec, proposer=tiny, max_tokens=8, **{**k, **kwargs})
    info, steps = _play(agent, env)
    assert len(info["turn_success"]) == 4 and steps >= 4  # every turn was played
    assert agent.usage.calls >= 4 and agent.usage.completion_tokens > 0
    if spec == "search:astar":
        assert all(h["expansions"] <= 3 for h in agent.history)


def test_token_budget_per_turn_is_respected(env, tiny):
    agent = ToolQSelect(proposer=tiny, k=3, max_tokens=8, budget_tokens=8)
    info, steps = _play(agent, env)
    # one proposal per turn fits the budget (checked before each call), then end_turn
    assert agent.usage.completion_tokens <= 4 * 3 * 8
    astar = AStarAgent(proposer=tiny, k=2, max_tokens=8, budget_tokens=10, budget_expansions=None)
    _play(astar, env)
    assert all(h["tokens"] <= 10 + 2 * 8 for h in astar.history)


def test_honest_goal_ends_the_turn_where_the_simulator_goal_finds_nothing(env):
    # the model proposes pwd() and end_turn(): a legal turn, but not BFCL's answer
    script = ["pwd()", "end_turn()"]
    honest = AStarAgent(
        proposer=ScriptedText(script), k=2, goal="end_turn", heuristic="zero", vote_cost=1.0
    )
    result = honest.search(env.unwrapped)
    names = [json.loads(c)["name"] for c in result.calls]
    assert result.found and names[-1] == "end_turn" and "pwd" in names
    upper = AStarAgent(proposer=ScriptedText(script), k=2, goal="success", budget_expansions=5)
    assert not upper.search(env.unwrapped).found  # pwd() does not pass turn 1's checks
    with pytest.raises(ValueError, match="goal"):
        AStarAgent(goal="telepathy")


def test_simulator_scorer_is_an_upper_bound_that_picks_the_ground_truth(env):
    base = env.unwrapped
    truth = base.oracle_step()
    script = [f"{truth}", "pwd()", "end_turn()"]
    agent = ToolQSelect(proposer=ScriptedText(script), k=3, scorer="simulator").bind(env)
    action, _ = agent.predict(base.observation(), episode_start=np.array([True]))
    assert json.loads(action)["name"] == truth.split("(")[0]
    with pytest.raises(ValueError, match="scorer"):
        ToolBestOfN(scorer="oracle")


def test_smollm2_greedy_step_on_bfcl_is_valid_and_quick(env):
    try:
        llm = load("smollm2")
    except Exception as error:  # no cached checkpoint offline
        pytest.skip(f"smollm2 unavailable: {error}")
    started = time.perf_counter()
    agent = ToolQSelect(proposer=llm, k=1, temperature=0.0, max_tokens=24).bind(env)
    action, _ = agent.predict(env.unwrapped.observation(), episode_start=np.array([True]))
    assert _valid_in_env(env, action)
    assert agent.usage.calls == 1 and agent.usage.completion_tokens <= 24
    stats = agent.proposer.stats
    assert stats.valid + stats.invalid == stats.sampled == 1
    assert time.perf_counter() - started < 30


def test_benchmark_bfcl_section_runs_the_llm_agents():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).parents[2] / "benchmarks" / "tool_use.py"
    spec = importlib.util.spec_from_file_location("tool_use_bench_bfcl", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    section = module.bfcl(2, "tiny-random", 1)
    rows = section["rows"]
    llm_rows = {k: v for k, v in rows.items() if "tiny-random" in k}
    assert len(llm_rows) == 5 and not any("error" in r for r in llm_rows.values())
    for row in llm_rows.values():
        assert row["entries"] == 1 and row["llm_calls"] >= 1 and row["tokens"] > 0
        assert 0.0 <= row["success_per_turn"] <= 1.0
        stats = row["proposals"]
        assert stats["valid"] + stats["invalid"] == stats["sampled"] > 0
    table = module.markdown({"env_speed": _SPEED, "agents": {}, "config": {}, "bfcl": section})
    assert "A* (goal = BFCL turn check: upper bound, tiny-random)" in table


_SPEED = dict.fromkeys(
    [
        "reset_ms",
        "reference_json_reload_ms",
        "ratio_reset_vs_json_reload",
        "world_restore_ms",
        "ratio_world_restore_vs_json_reload",
        "clone_ms",
        "reference_deepcopy_ms",
        "ratio_clone_vs_deepcopy",
        "snapshot_restore_ms",
        "ratio_snapshot_vs_deepcopy",
        "inproc_steps_per_s",
        "http_steps_per_s",
    ],
    1.0,
)


def test_astar_heuristics_on_bfcl_read_no_ground_truth_unless_oracle(env):
    base = env.unwrapped
    assert AStarAgent(heuristic="progress")._h(base) == 0.0
    assert AStarAgent(heuristic="zero")._h(base) == 0.0
    assert AStarAgent(heuristic="oracle")._h(base) == base.oracle_remaining() > 0
