"""Hostile cases of issue 21 for reward values: huge, overflowing or LLM-written terms.

Every value that leaves a shaper must be finite in float32 (SB3's buffers), bounded and,
when the guard had to act, counted in ``info["reward_terms_clamped"]``.
"""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401 - registers the ids
from densegym.agents.runs.config import RunConfig
from densegym.agents.sb3.training import train
from densegym.rewards.llm.critic import critique, sample_transitions
from densegym.rewards.registry import MAX_SHAPERS, MAX_SPEC_DEPTH, normalize_spec
from densegym.rewards.terms import TERM_BOUND, TermPipeline

SIGNATURE = "def reward(obs, action, next_obs, info):\n"


@pytest.fixture
def reward_file(tmp_path):
    def write(body: str) -> str:
        path = tmp_path / "reward.py"
        path.write_text(SIGNATURE + f"    return {body}\n")
        return str(path)

    return write


def _steps(env: gym.Env, n: int) -> list[tuple[float, dict]]:
    env.reset(seed=0)
    out = []
    for _ in range(n):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((reward, info))
        if terminated or truncated:
            env.reset()
    return out


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("body", ["1e39", "-1e200 * (1.0 + float(next_obs[0]))"])
def test_a_huge_finite_llm_code_term_is_bounded_and_counted(reward_file, body, normalize):
    """Issue 21, high 2 (fixed by the term pipeline's bound): ``return 1e39`` reached SB3."""
    spec = {"id": "llm_code", "path": reward_file(body), "normalize": normalize}
    env = gym.make("densegym/MountainCarSparse-v0", shaping=spec)
    env.action_space.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        steps = _steps(env, 20)
    env.close()
    for reward, _info in steps:
        assert np.isfinite(np.float32(reward)) and abs(reward) <= TERM_BOUND + 1
    assert steps[-1][1]["reward_terms_clamped"]["llm_code"] == 20


def test_a_huge_coef_times_a_term_is_bounded_and_counted():
    """Issue 21, medium: a finite term x coef overflowed to inf with the counters at 0."""
    env = gym.make(
        "densegym/MountainCarSparse-v0",
        shaping={"id": "step_penalty", "coef": 1e300, "penalty": 1e6},
    )
    env.action_space.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        steps = _steps(env, 5)
    for reward, info in steps:
        assert math.isfinite(reward) and np.isfinite(np.float32(reward))
        assert abs(info["reward_terms"]["step_penalty"]) <= TERM_BOUND
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert steps[-1][1]["reward_terms_clamped"]["step_penalty"] == 5


def test_stacked_huge_terms_sum_to_a_float32_safe_reward():
    """Issue 21, medium: a sum of (huge) terms must stay finite in float32."""
    stack = [
        {"id": "step_penalty", "coef": 1e308, "penalty": 1e308, "name": f"p{i}"} for i in range(8)
    ]
    env = gym.make("densegym/MountainCarSparse-v0", shaping=stack)
    env.action_space.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (reward, info), *_ = _steps(env, 1)
    assert np.isfinite(np.float32(reward)) and abs(reward) <= 8 * TERM_BOUND
    assert all(count == 1 for count in info["reward_terms_clamped"].values())


def test_the_pipeline_bounds_a_weighted_contribution():
    pipeline = TermPipeline("t", coef=1e300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pipeline.process(2.0) == TERM_BOUND
        assert pipeline.process(-1e9) == -TERM_BOUND
    assert pipeline.clamped_count == 2  # one count per value, even when clamped twice
    assert any("coef" in str(w.message) for w in caught)


def test_training_on_a_huge_llm_code_reward_does_not_crash(reward_file, tmp_path):
    """Issue 21, high 2: ``densegym train ... --shaping llm_code(return 1e39)`` died on NaN."""
    for shaping in (
        {"id": "llm_code", "path": reward_file("1e39")},
        {"id": "step_penalty", "coef": 1e300, "penalty": 1e6},
    ):
        config = RunConfig(
            "densegym/MountainCarSparse-v0",
            shaping=shaping,
            steps=256,
            n_envs=1,
            logdir=str(tmp_path / "runs"),
            hyperparams={"n_steps": 128, "batch_size": 64, "n_epochs": 1},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            summary = train(config, progress=False)
        assert summary["timesteps"] >= 256


@pytest.fixture(scope="module")
def transitions():
    return sample_transitions("densegym/MountainCarSparse-v0", n=32)


@pytest.mark.parametrize(
    "body", ["1e39 * float(next_obs[0])", "float(next_obs[0]) * 1e7", "-2e6 + float(action)"]
)
def test_the_critic_rejects_code_whose_values_the_pipeline_would_clamp(transitions, body):
    """Issue 21, high 2: the critic accepted ``1e39 * x``, so ``design-reward`` trained it."""
    verdict = critique(SIGNATURE + f"    return {body}\n", transitions)
    assert not verdict.accepted and verdict.reason.startswith("extreme:")


def test_the_critic_still_accepts_ordinary_code(transitions):
    verdict = critique(SIGNATURE + "    return float(next_obs[0]) * 100\n", transitions)
    assert verdict.accepted, verdict.reason


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"normalize": "no"}, "normalize must be true or false"),  # "no" meant True
        ({"normalize": 1}, "normalize must be true or false"),
        ({"clip": [math.nan, math.nan]}, "no NaN"),  # silently disabled clipping
        ({"clip": math.nan}, "clip must be positive"),
        ({"clip": "abc"}, "clip must be a positive number or a [low, high] pair"),
        ({"clip": [1.0]}, "clip must be a positive number or a [low, high] pair"),
        ({"clip": [True, 2]}, "clip bounds must be numbers"),
    ],
)
def test_a_bad_normalize_or_clip_is_refused_at_make(extra, words):
    """Issue 21, low: ``normalize: "no"`` meant True and ``clip: [nan, nan]`` disabled clipping."""
    with pytest.raises(ValueError, match="step_penalty") as caught:
        gym.make("densegym/MountainCarSparse-v0", shaping={"id": "step_penalty", **extra})
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("env_id", "potential", "words"),
    [
        ("densegym/MountainCarSparse-v0", "minihack_goal_distance", "env.goal_distance()"),
        ("densegym/MountainCarSparse-v0", "tool_progress", "env.progress()"),
        ("densegym/MountainCarSparse-v0", "oracle_distance", "env.oracle_distance()"),
        ("densegym/ToolShop-Orders-v0", "mountaincar_height", "observations of shape (2,)"),
    ],
)
def test_a_potential_for_another_env_is_refused_at_make(env_id, potential, words):
    """Issue 21, low: a potential for another env failed at reset, not at ``gym.make``."""
    with pytest.raises(ValueError, match="does not fit this env") as caught:
        gym.make(env_id, shaping={"id": "potential", "potential": potential})
    assert words in str(caught.value) and len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("shaper", ["llm_judge", "llm_feedback"])
@pytest.mark.parametrize(
    ("backend", "words"),
    [
        ("bogus:model", "unknown LLM backend 'bogus'"),
        ("openai:model", "expected openai:<model>@<base_url>"),
        ({"id": "openai:m@ftp://host"}, "base_url must look like"),
        ("smollm2:extra", "takes no ':<argument>'"),
        ({"timeout": 1}, "needs an 'id' key"),
    ],
)
def test_an_invalid_llm_backend_is_refused_at_make(shaper, backend, words):
    """Issue 21, low: an invalid ``llm_judge`` backend passed ``gym.make`` (and later raised
    out of ``step``)."""
    spec = {"id": shaper, "backend": backend, "cache": False}
    with pytest.raises(ValueError, match=shaper) as caught:
        gym.make("densegym/MountainCarSparse-v0", shaping=spec)
    assert words in str(caught.value)


def _nested(spec: object, depth: int) -> object:
    for _ in range(depth):
        spec = [spec]
    return spec


@pytest.mark.parametrize(
    ("shaping", "words"),
    [
        ([{"id": "step_penalty", "name": f"s{i}"} for i in range(3000)], "at most 64 shapers"),
        ("+".join(f"count{i}" for i in range(5000)), "at most 64 shapers"),
        (_nested("count", 5000), "nest lists at most 16 deep"),
        ("[" * 100_000 + "]" * 100_000, "nest lists at most 16 deep"),
        ("[" * 500 + '"count"' + "]" * 500, "nest lists at most 16 deep"),
    ],
    ids=["3000-stacked", "5000-plus-stack", "5000-nested", "100k-json-brackets", "500-json"],
)
def test_thousands_of_stacked_or_nested_shapers_are_refused_in_one_sentence(shaping, words):
    """Issue 21, low: thousands of stacked or deeply nested shapers hit the recursion limit."""
    with pytest.raises(ValueError, match=words) as caught:
        gym.make("densegym/MountainCarSparse-v0", shaping=shaping)
    assert "\n" not in str(caught.value)


def test_a_self_containing_spec_list_is_refused_not_recursed():
    spec: list = ["count"]
    spec.append(spec)
    with pytest.raises(ValueError, match="nest lists at most 16 deep"):
        normalize_spec(spec)


def test_the_bounds_still_admit_the_largest_allowed_spec():
    stacked = [{"id": "step_penalty", "name": f"s{i}"} for i in range(MAX_SHAPERS)]
    env = gym.make("densegym/MountainCarSparse-v0", shaping=_nested(stacked, MAX_SPEC_DEPTH - 1))
    env.reset(seed=0)
    assert math.isfinite(env.step(1)[1])
    env.close()
