"""LLM policies on tool envs: one tool call per step, end to end."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import densegym  # noqa: F401
from densegym.agents import evaluate, make_agent
from densegym.agents.llm import LLMPolicy, ToolCallPolicy
from densegym.calls import parse_call
from densegym.llm import Completion
from densegym.llm.tools import ToolCall


class OracleBackend:
    """A stand-in backend that answers every tool chat with the env's oracle call."""

    def __init__(self, env):
        self.env = env
        self.usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
        self.seen_tools = []

    def chat(self, messages, tools=None, **kwargs):
        self.usage["calls"] += 1
        self.seen_tools.append(tools)
        call = parse_call(self.env.unwrapped.oracle_step(), 20000, allow_dicts=True)
        arguments = dict(call.arguments)
        if call.positional:  # BFCL's ground truth has positional calls
            name = call.name
            schema = next(t for t in tools if t["function"]["name"] == name)
            params = list(schema["function"]["parameters"]["properties"])
            arguments.update(zip(params, call.positional))
        tool_call = ToolCall(call.name, arguments, "c")
        return [
            Completion("", 10, 3, "stop", i, tool_calls=(tool_call,)) for i in range(len(messages))
        ]


def test_make_agent_llm_tiny_random_plays_a_toolshop_episode_end_to_end():
    pytest.importorskip("transformers")
    agent = make_agent("llm:tiny-random", tool_max_tokens=24, seed=0)
    env = gym.make("densegym/ToolShop-Lookup-v0")
    result = evaluate(agent, env, n_episodes=1, seed=0)
    assert agent.tool_mode and isinstance(agent, LLMPolicy)
    assert result.episodes == 1 and 1 <= result.env_steps <= 32
    assert result.llm_calls == result.env_steps and result.llm_tokens > 0
    assert len(agent.last_replies) == 1


def test_tool_calls_become_actions_toolshop():
    env = gym.make("densegym/ToolShop-Orders-v0")
    backend = OracleBackend(env)
    policy = LLMPolicy(backend)
    result = evaluate(policy, env, n_episodes=3, seed=0)
    assert result.success_rate == 1.0
    names = [t["function"]["name"] for t in backend.seen_tools[0]]
    assert "get_order" in names and "answer" in names
    assert policy.usage.calls == backend.usage["calls"]


def test_tool_calls_become_actions_bfcl():
    pytest.importorskip("bfcl_eval")
    env = gym.make("densegym/BFCL-MultiTurn-v0")
    backend = OracleBackend(env)
    result = evaluate(ToolCallPolicy(backend), env, n_episodes=3, seed=1)
    assert result.success_rate == 1.0
    assert backend.seen_tools[0][-1]["function"]["name"] == "end_turn"


def test_a_reply_without_a_call_is_flagged_by_the_env():
    class Chatty:
        usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}

        def chat(self, messages, **kwargs):
            return [Completion("I think I would look it up.", 5, 5, "stop")]

    env = gym.make("densegym/ToolShop-Lookup-v0")
    policy = LLMPolicy(Chatty()).bind(env)
    obs, _ = env.reset(seed=0)
    action, _ = policy.predict(obs)
    assert action == "I think I would look it up."
    _, _, _, _, info = env.step(action)
    assert info["invalid_call"] and info["n_invalid"] == 1


def test_reasoning_envs_keep_plain_steps():
    env = gym.make("densegym/Arithmetic-v0")
    policy = LLMPolicy("tiny-random").bind(env)
    assert not policy.tool_mode


def test_tool_call_policy_needs_tools():
    policy = ToolCallPolicy(OracleBackend(None))
    with pytest.raises(RuntimeError, match="tools"):
        policy.predict("hi")
    fixed = ToolCallPolicy(OracleBackend(None), tools=[{"name": "ls"}])
    assert fixed.current_tools() == [{"name": "ls"}]
    assert json.loads(ToolCall("ls", {}).as_action()) == {"name": "ls", "arguments": {}}
