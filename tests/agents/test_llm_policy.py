"""LLMPolicy: prompts, parsing, the evaluation runner and `densegym eval --agent llm:...`."""

import json

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401
from densegym.agents import evaluate
from densegym.agents.llm import EXAMPLES, LLMPolicy, WorkedExample, parse_step
from densegym.agents.llm.prompts import chat_messages, completion_prompt, render_observation
from densegym.agents.protocol import HasUsage, usage_of
from densegym.llm import Completion, Usage

ARITHMETIC = "densegym/Arithmetic-v0"


class Scripted:
    """A stand-in backend that replies from a script and counts like densegym.llm."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
        self.seen = []

    def _reply(self, prompts, kwargs):
        self.seen.append((prompts, kwargs))
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += 10 * len(prompts)
        self.usage["completion_tokens"] += 3 * len(prompts)
        return [Completion(self.replies.pop(0), 10, 3, "stop", i) for i in range(len(prompts))]

    def chat(self, messages, **kwargs):
        return self._reply(messages, kwargs)

    def generate(self, prompts, **kwargs):
        return self._reply(prompts, kwargs)


@pytest.mark.parametrize(
    "reply, step",
    [
        ("3 * 4 = 12", "3 * 4 = 12"),
        ("  2. Apples left: 12 - 2 = 10\nAnswer: 10", "Apples left: 12 - 2 = 10"),
        ("Step 3: 5 + 5 = 10", "5 + 5 = 10"),
        ("**Answer: 42**", "Answer: 42"),
        ("Answer: 1,250", "Answer: 1,250"),
        ("\n\n- 7 - 2 = 5", "7 - 2 = 5"),
        ("-3 + 4 = 1", "-3 + 4 = 1"),
        ("3.5 * 2 = 7", "3.5 * 2 = 7"),
        ("", ""),
        ("   \n  ", ""),
    ],
)
def test_parse_step_keeps_the_first_line_and_the_answer_label(reply, step):
    assert parse_step(reply) == step


def test_zero_and_few_shot_prompts():
    obs = render_observation("What is 2 + 3?", [])
    zero = chat_messages(obs, shots=0)
    assert [m["role"] for m in zero] == ["system", "user"] and obs in zero[-1]["content"]
    few = chat_messages(obs, shots=2)
    n_turns = len(EXAMPLES[0].steps) + len(EXAMPLES[1].steps)
    assert len(few) == 2 + 2 * n_turns
    assert few[2]["content"] == EXAMPLES[0].steps[0]  # the first assistant turn
    text = completion_prompt(obs, shots=1)
    assert text.count("Next step:") == len(EXAMPLES[0].steps) + 1 and text.endswith("Next step:")
    custom = chat_messages(obs, shots=1, examples=(WorkedExample("Q?", ("Answer: 1",)),))
    assert custom[2]["content"] == "Answer: 1"
    with pytest.raises(ValueError):
        chat_messages(obs, shots=-1)


def test_policy_plays_an_episode_from_scripted_replies():
    model = Scripted(["1. 2 - 1 = 1\nmore", "Answer: 1", "x", "y"])
    policy = LLMPolicy(model, shots=0)
    env = gym.make(ARITHMETIC, difficulty=1)
    obs, _ = env.reset(seed=0)
    step, state = policy.predict(obs, deterministic=True)
    assert step == "2 - 1 = 1" and state is None
    assert model.seen[0][1] == {"max_tokens": 48, "stop": ["\n"]}  # greedy: no temperature
    policy.predict(obs, deterministic=False)
    assert model.seen[1][1]["temperature"] == policy.temperature
    assert isinstance(policy, HasUsage) and isinstance(policy.usage, Usage)
    assert (policy.usage.calls, policy.usage.prompt_tokens, policy.usage.completion_tokens) == (
        2,
        20,
        6,
    )
    assert policy.usage.seconds == 0.0 and policy.usage.tokens == 26
    assert usage_of(policy).as_dict() == policy.usage.as_dict()


def test_batched_observations_give_an_array_of_steps():
    policy = LLMPolicy(Scripted(["1 + 1 = 2", "Answer: 3"]), chat=False)
    steps, _ = policy.predict(np.array(["Question: a", "Question: b"], dtype=object))
    assert steps.tolist() == ["1 + 1 = 2", "Answer: 3"]
    assert policy.usage["calls"] == 1


@pytest.fixture(scope="module")
def tiny_policy():
    return LLMPolicy("tiny-random", max_tokens=6, seed=0)


@pytest.mark.parametrize("shots", [0, 1])
def test_tiny_random_policy_through_evaluate_reports_tokens(tiny_policy, shots):
    tiny_policy.shots = shots
    env = gym.make(ARITHMETIC, difficulty=1, max_episode_steps=3)
    result = evaluate(tiny_policy, env, n_episodes=2, seed=0)
    assert result.episodes == 2 and result.env_steps > 0
    assert result.llm_calls == result.env_steps  # one call per step
    assert result.llm_tokens > result.env_steps  # prompts and replies


def test_plain_text_prompts_with_sampling(tiny_policy):
    policy = LLMPolicy(tiny_policy.llm, chat=False, max_tokens=4, seed=1)
    step, _ = policy.predict("Question: What is 2 + 3?", deterministic=False)
    assert isinstance(step, str) and "\n" not in step
    assert policy.usage["calls"] == 1 and policy.usage["completion_tokens"] > 0
    policy.reset_usage()
    assert policy.usage.tokens == 0


def test_densegym_eval_runs_an_llm_agent(capsys):
    from densegym.cli import main

    argv = ["eval", "--agent", "llm:tiny-random", "--env", ARITHMETIC, "--episodes", "2"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and result["env_id"] == ARITHMETIC
    assert result["llm_calls"] == result["env_steps"] > 0 and result["llm_tokens"] > 0


@pytest.mark.parametrize(
    "name",
    [
        "densegym.agents.llm",
        "densegym.agents.llm.parsing",
        "densegym.agents.llm.prompts",
        "densegym.agents.llm.policy",
    ],
)
def test_docstring_examples_run(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_accuracy_benchmark_runs_on_the_tiny_model(tmp_path, load_benchmark):
    module = load_benchmark("llm_accuracy")
    out = tmp_path / "acc.json"
    argv = ["--backend", "tiny-random", "--n", "1", "--levels", "1,2", "--max-tokens", "3"]
    assert module.main([*argv, "--env", ARITHMETIC, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["env_id"] == ARITHMETIC and set(result["levels"]) == {"1", "2"}
    assert all(level["n"] == 1 for level in result["levels"].values())
    assert result["llm_usage"]["calls"] > 0
    # --resume keeps the episodes played and plays only the missing seeds.
    first = result["records"]["1"][0]
    argv2 = [*argv[:3], "2", *argv[4:]]
    assert module.main([*argv2, "--env", ARITHMETIC, "--out", str(out), "--resume"]) == 0
    resumed = json.loads(out.read_text())
    assert [r["seed"] for r in resumed["records"]["1"]] == [0, 1]
    assert resumed["records"]["1"][0] == first
    assert resumed["levels"]["2"]["n"] == 2
    with pytest.raises(SystemExit, match="--resume"):
        module.main([*argv2, "--env", "densegym/WordProblems-v0", "--out", str(out), "--resume"])
