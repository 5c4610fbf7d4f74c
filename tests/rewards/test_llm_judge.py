"""llm_judge (CALM): subgoals once per task, judged per caption (cached), paid once per episode."""

import gymnasium as gym
import pytest

import densegym  # noqa: F401
import densegym.llm
from densegym.rewards import find_shapers
from densegym.rewards.llm.judge import parse_subgoals

ENV = "densegym/MountainCarSparse-v0"


@pytest.fixture
def judge_env(tmp_path):
    def make(**options):
        spec = {"id": "llm_judge", "backend": "tiny-random", "cache": str(tmp_path / "j.db")}
        env = gym.make(ENV, shaping={**spec, **options})
        return env, find_shapers(env)[0]

    return make


def test_each_subgoal_pays_once_per_episode(judge_env, monkeypatch):
    env, judge = judge_env(subgoals=["Build momentum", "Reach the flag"])
    # A deterministic judge: every text achieves every open subgoal.
    monkeypatch.setattr(judge, "judge", lambda text, indices: {i: True for i in indices})
    env.reset(seed=0)
    first = env.step(2)[4]
    second = env.step(2)[4]
    assert first["reward_terms"]["llm_judge"] == 2.0 and second["reward_terms"]["llm_judge"] == 0.0
    assert second["llm_judge_achieved"] == ["Build momentum", "Reach the flag"]
    env.reset(seed=1)
    assert env.step(2)[4]["reward_terms"]["llm_judge"] == 2.0  # reopened each episode
    env.close()


def test_judgements_are_cached_by_caption(judge_env):
    env, judge = judge_env(subgoals=["Reach the flag"])
    env.reset(seed=0)
    env.step(1)
    llm = judge.llm
    calls = llm.usage["calls"]
    text = next(iter(judge.judgements))[1]
    assert judge.judge(text, [0]) == {0: judge.judgements[("Reach the flag", text)]}
    assert llm.usage["calls"] == calls  # memory cache
    judge.judgements.clear()
    judge.judge(text, [0])
    assert llm.usage["calls"] == calls  # disk cache
    env.close()


def test_decomposition_happens_once_per_task(judge_env):
    env, judge = judge_env(n_subgoals=2)
    env.reset(seed=0)
    subgoals = judge.decompose()
    calls = judge.llm.usage["calls"]
    assert 1 <= len(subgoals) <= 2 and all(isinstance(s, str) and s for s in subgoals)
    env.reset(seed=1)
    assert judge.decompose() == subgoals and judge.llm.usage["calls"] == calls
    env.close()


def test_a_failing_llm_judges_no_and_flags_it(judge_env, monkeypatch, caplog):
    env, judge = judge_env(subgoals=["Reach the flag"], cache=False)
    env.reset(seed=0)
    judge.llm = densegym.llm.load("tiny-random")

    def broken(*args, **kwargs):
        raise RuntimeError("server down")

    monkeypatch.setattr(judge.llm, "logprobs", broken)
    info = env.step(2)[4]
    assert info["reward_terms"]["llm_judge"] == 0.0 and info["llm_judge_error"]
    assert "server down" in caplog.text
    env.close()


def test_parse_subgoals():
    assert parse_subgoals("1. a b c\n2. d e f\n3. g h i", 2) == ["a b c", "d e f"]
    assert parse_subgoals("gibberish", 3) == []
