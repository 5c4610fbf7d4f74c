"""Hostile text on this session's new input paths: a flag or a reason, never an exception.

Negotiation moves, BFCL-style tool calls checked against schemas, LLM-written web
instructions, and whole text-game episodes fed arbitrary lines.
"""

from __future__ import annotations

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import densegym
from densegym.agents.llm.call_proposer import validate_call
from densegym.envs.multiagent.negotiation import parse_action
from densegym.envs.web.pae import clean_instruction, instruction_problem

ITEMS = ("book", "hat", "ball")
TOOLS = [
    {
        "name": "cd",
        "parameters": {
            "type": "object",
            "properties": {"folder": {"type": "string"}, "depth": {"type": "integer"}},
            "required": ["folder"],
        },
    }
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@given(st.text(max_size=200))
def test_negotiation_lines_parse_to_one_of_three_kinds(line):
    kind, counts, error = parse_action(line, ITEMS)
    assert kind in ("propose", "accept", "invalid")
    assert (kind == "invalid") == bool(error)
    if kind == "propose":
        assert len(counts) == len(ITEMS) and all(c >= 0 for c in counts)


@given(st.text(max_size=12), st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_any_call_gets_a_verdict_against_the_schemas(name, arguments):
    verdict = validate_call(name, arguments, TOOLS)
    assert isinstance(verdict, str)
    if name != "cd":
        assert verdict  # an unknown tool is never valid


@pytest.fixture(scope="module")
def web_task():
    env = gym.make("densegym/WebShop-Search-v0")
    env.reset(seed=0)
    task = env.unwrapped.problem
    env.close()
    return task


@settings(deadline=None)
@given(st.text(max_size=400))
def test_llm_instructions_are_cleaned_and_judged_without_raising(web_task, text):
    cleaned = clean_instruction(text)
    assert "\n" not in cleaned
    assert isinstance(instruction_problem(cleaned, web_task), str)


@settings(deadline=None, max_examples=25)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=10))
def test_text_games_flag_any_lines_and_stay_bounded(lines):
    for env_id in ("densegym/MA-Referential-v0", "densegym/MA-Negotiation-v0"):
        env = densegym.make_parallel(env_id)
        env.reset(seed=1)
        steps = 0
        for line in lines:
            if not env.agents:
                break
            _, rewards, _, _, infos = env.step({agent: line for agent in env.agents})
            steps += 1
            assert all(0.0 <= r <= 1.0 for r in rewards.values())
        assert steps <= 8
        env.close()
