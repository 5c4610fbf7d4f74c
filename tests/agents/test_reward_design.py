"""Eureka-style reward design: the loop that trains one agent per candidate."""

import json
import random

import gymnasium as gym
import pytest

import densegym  # noqa: F401
from densegym.agents.reward_design import design_reward
from densegym.rewards.llm import check_code, sample_transitions
from densegym.rewards.llm.designer import menu_candidate
from densegym.rewards.llm.evolution import fitness_key, screen_round, training_stats
from densegym.rewards.llm.features import feature_menu

ENV = "densegym/MountainCarSparse-v0"


@pytest.mark.slow
def test_design_reward_evolves_with_reflection(tmp_path):
    import densegym.llm

    llm = densegym.llm.load("tiny-random")
    prompts = []
    original = llm.chat

    def recording_chat(messages, **kwargs):
        prompts.append(messages[-1]["content"])
        return original(messages, **kwargs)

    llm.chat = recording_chat
    out = tmp_path / "reward_mc.py"
    result = design_reward(
        ENV,
        rounds=2,
        k=1,
        backend=llm,
        budget=256,
        n_envs=1,
        out=out,
        logdir=tmp_path / "design",
        critic_transitions=64,
        progress=False,
    )
    assert result.path == str(out) and check_code(out.read_text()) == []
    assert len(result.candidates) == 2 and result.llm_usage["calls"] == 2
    assert "best reward so far" not in prompts[0] and "best reward so far" in prompts[1]
    records = json.loads(
        (tmp_path / "design" / "MountainCarSparse-v0" / "seed0" / "candidates.json").read_text()
    )
    assert all(r["accepted"] and r["fitness"] is not None for r in records)
    env = gym.make(ENV, shaping={"id": "llm_code", "path": result.path})
    env.reset(seed=0)
    assert "llm_code" in env.step(2)[4]["reward_terms"]
    env.close()


@pytest.mark.slow
def test_cli_design_reward(tmp_path, capsys):
    from densegym.cli import main

    out = tmp_path / "r.py"
    argv = ["design-reward", "--backend", "tiny-random", "--rounds", "1", "--k", "2"]
    argv += ["--budget", "256", "--n-envs", "1", "--out", str(out), "--logdir", str(tmp_path)]
    assert main([*argv, "--no-progress"]) == 0
    assert out.exists() and '"path"' in capsys.readouterr().out


class _Answers:
    """A stand-in LLM whose chat returns fixed answers."""

    name = "fake"

    def __init__(self, answers):
        self.answers = answers

    def chat(self, messages, n=1, **kwargs):
        return [type("C", (), {"text": text})() for text in self.answers[:n]]


def test_screen_round_replaces_rejected_code_with_a_menu_candidate():
    task = dict(gym.make(ENV).unwrapped.task)
    menu = feature_menu(task)
    good = "```python\ndef reward(obs, action, next_obs, info):\n    return float(next_obs[0])\n```"
    llm = _Answers([good, "no code here"])
    transitions = sample_transitions(ENV, n=64, seed=0)
    slots = screen_round(llm, task, menu, 2, "code", None, transitions, random.Random(0))
    assert [s.index for s in slots] == [0, 1]
    assert slots[0].replaced is None and slots[0].candidate.verdict.accepted
    assert slots[1].replaced is not None and not slots[1].replaced.verdict.accepted
    assert slots[1].candidate.source in ("menu", "fallback") and slots[1].candidate.verdict
    assert menu_candidate("", menu, random.Random(0)).source == "fallback"


def test_training_stats_and_fitness_key(tmp_path):
    (tmp_path / "curve.csv").write_text("step,success_rate\n1,0.1\n2,\n3,nan\n4,0.5\n")
    (tmp_path / "progress.csv").write_text("reward/potential,reward/extrinsic\n0.5,\n0.7,-1\n")
    stats = training_stats(tmp_path)
    assert stats == {"success_curve": [0.1, 0.5], "term_means": {"potential": 0.7, "extrinsic": -1}}
    assert training_stats(tmp_path / "missing") == {}
    assert fitness_key({"success_rate": float("nan"), "extrinsic_return": 2.0}) == (0.0, 2.0)
    assert fitness_key({}) == (0.0, 0.0)
    assert json.dumps(stats)
