"""The llm_code shaper, the critic and the designer (the design loop: tests/agents)."""

import logging
import random
import time

import gymnasium as gym
import pytest

import densegym  # noqa: F401
from densegym.rewards.llm import check_code, critique, sample_transitions
from densegym.rewards.llm.code_shaper import acquire_sandbox, release_sandbox
from densegym.rewards.llm.designer import (
    Candidate,
    code_prompt,
    extract_code,
    menu_candidate,
    menu_prompt,
    parse_weights,
)
from densegym.rewards.llm.features import compose_code, feature_menu

ENV = "densegym/MountainCarSparse-v0"
SIGNATURE = "def reward(obs, action, next_obs, info):\n"
GOOD = "import math\n\n" + SIGNATURE + "    return math.sin(3 * float(next_obs[0]))\n"
# Works for 150 calls, then divides by zero on every call (state lives in the worker).
FAILS_LATER = (
    "CALLS = [0]\n\n"
    + SIGNATURE
    + "    CALLS[0] += 1\n"
    + "    if CALLS[0] > 150:\n"
    + "        return 1 / 0\n"
    + "    return abs(float(next_obs[1]))\n"
)


def write(tmp_path, code, name="reward.py"):
    path = tmp_path / name
    path.write_text(code)
    return str(path)


def test_shaper_adds_its_term_and_keeps_the_spec_serialisable(tmp_path):
    path = write(tmp_path, GOOD)
    env = gym.make(ENV, shaping={"id": "llm_code", "path": path})
    obs, _ = env.reset(seed=0)
    _, reward, _, _, info = env.step(2)
    term = info["reward_terms"]["llm_code"]
    assert term == pytest.approx(__import__("math").sin(3 * float(env.unwrapped.state[0])), 1e-5)
    assert reward == pytest.approx(info["reward_terms"]["extrinsic"] + term)
    assert info["llm_code_failures"] == 0 and "llm_code_error" not in info
    assert path in env.spec.to_json()
    env.close()


def test_failing_code_gives_zero_a_flag_then_disables_itself(tmp_path, caplog):
    path = write(tmp_path, FAILS_LATER)
    env = gym.make(ENV, shaping={"id": "llm_code", "path": path, "max_consecutive_failures": 3})
    env.reset(seed=0)
    with caplog.at_level(logging.WARNING, logger="densegym.rewards.llm.code_shaper"):
        infos = [env.step(env.action_space.sample())[4] for _ in range(160)]
    assert all("llm_code_error" not in info for info in infos[:150])
    failing = infos[150]
    assert failing["reward_terms"]["llm_code"] == 0.0
    assert failing["llm_code_error"].startswith("error: ZeroDivisionError")
    assert failing["llm_code_failures"] == 1
    assert "3 failures in a row" in infos[152]["llm_code_disabled"]
    assert infos[-1]["llm_code_disabled"] and infos[-1]["reward_terms"]["llm_code"] == 0.0
    assert "disabled the reward code" in caplog.text and "ZeroDivisionError" in caplog.text
    env.close()


def test_a_hanging_reward_is_cut_off_and_disabled(tmp_path):
    path = write(tmp_path, SIGNATURE + "    while True:\n        pass\n")
    env = gym.make(
        ENV,
        shaping={"id": "llm_code", "path": path, "timeout": 0.3, "max_consecutive_failures": 2},
    )
    env.reset(seed=0)
    start = time.monotonic()
    infos = [env.step(1)[4] for _ in range(5)]
    assert time.monotonic() - start < 5.0  # two timeouts, one restart, then no more calls
    assert infos[0]["llm_code_error"].startswith("timeout")
    assert infos[-1]["llm_code_disabled"]
    env.close()


def test_bad_path_and_rejected_code_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="no reward code file"):
        gym.make(ENV, shaping={"id": "llm_code", "path": str(tmp_path / "missing.py")})
    path = write(tmp_path, "import os\n" + SIGNATURE + "    return 0.0\n")
    with pytest.raises(ValueError, match="import of 'os' is not allowed"):
        gym.make(ENV, shaping={"id": "llm_code", "path": path})


def test_sub_envs_share_one_worker():
    first = acquire_sandbox(GOOD, timeout=1.0, memory_mb=1024)
    second = acquire_sandbox(GOOD, timeout=1.0, memory_mb=1024)
    assert first is second and first.pid is not None
    release_sandbox(first)
    assert second.pid is not None  # still used
    release_sandbox(second)
    assert second.pid is None


def test_training_run_survives_reward_code_that_starts_failing(tmp_path, caplog):
    from densegym.agents.sb3.training import RunConfig, train

    path = write(tmp_path, FAILS_LATER)
    shaping = {"id": "llm_code", "path": path, "max_consecutive_failures": 5}
    config = RunConfig(ENV, shaping=shaping, steps=512, n_envs=1, logdir=str(tmp_path / "runs"))
    with caplog.at_level(logging.WARNING, logger="densegym.rewards.llm.code_shaper"):
        summary = train(config, progress=False)
    assert summary["timesteps"] >= 512
    assert summary["extrinsic_return"] == summary["extrinsic_return"]  # finite, not NaN
    assert "disabled the reward code" in caplog.text and "5 failures in a row" in caplog.text


# ---- critic -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def transitions():
    return sample_transitions(ENV, n=64, seed=1)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (SIGNATURE + "    return 1 / (float(next_obs[1]) * 0)\n", "error on 64/64"),
        (SIGNATURE + "    return float(next_obs[0]) * float('nan')\n", "bad_value on 64/64"),
        (SIGNATURE + "    return 0.5\n", "constant"),
        ("import os\n" + SIGNATURE + "    return 0.0\n", "allow-list"),
        ("X = 1 / 0\n" + SIGNATURE + "    return X\n", "load:"),
    ],
)
def test_critic_rejects(code, reason, transitions):
    verdict = critique(code, transitions)
    assert not verdict.accepted and reason in verdict.reason


def test_critic_accepts_good_code(transitions):
    verdict = critique(GOOD, transitions)
    assert verdict.accepted and verdict.stats["std"] > 0


# ---- designer -----------------------------------------------------------------------
def test_every_menu_feature_passes_the_allow_list_and_the_critic(transitions):
    menu = feature_menu(gym.make(ENV).unwrapped.task)
    assert {"height", "speed", "energy_gain", "success"} <= {f.name for f in menu}
    code = compose_code({f.name: 1.0 for f in menu}, menu)
    assert check_code(code) == []
    assert critique(code, transitions).accepted


def test_weights_and_code_are_parsed_from_answers():
    menu = feature_menu(gym.make(ENV).unwrapped.task)
    answer = "Sure!\n1. height: 2\n- `speed` = -3.5\nnonsense: 4\nenergy_gain: 99"
    assert parse_weights(answer, menu) == {"height": 2.0, "speed": -3.5, "energy_gain": 10.0}
    assert extract_code("x\n```python\nimport math\n```\ny") == "import math\n"
    fallback = menu_candidate("no idea", menu, random.Random(0))
    assert fallback.source == "fallback" and fallback.weights and check_code(fallback.code) == []


def test_reflection_prompt_carries_the_best_code_and_its_stats():
    task = gym.make(ENV).unwrapped.task
    menu = feature_menu(task)
    best = menu_candidate("height: 2\nspeed: 5", menu, random.Random(0))
    best.fitness = 0.25
    best.stats = {"term_means": {"llm_code": 3.5}, "success_curve": [0.0, 0.25]}
    prompt = menu_prompt(task, menu, best)
    assert task["goal"] in prompt and "- energy_gain:" in prompt
    assert "success rate of 0.25" in prompt and "height: 2, speed: 5" in prompt
    assert "llm_code 3.5" in prompt and "0.00, 0.25" in prompt
    code_best = Candidate(GOOD, "code", fitness=0.5)
    assert GOOD in code_prompt(task, code_best) and "success rate of 0.50" in code_prompt(
        task, code_best
    )
