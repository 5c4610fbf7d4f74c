import json
import random

import gymnasium as gym
import numpy as np
import pytest

import densegym
from densegym.envs.reasoning.arithmetic import LEVELS as ARITHMETIC_LEVELS
from densegym.envs.reasoning.base import ReasoningEnv
from densegym.envs.reasoning.countdown import LEVELS as COUNTDOWN_LEVELS
from densegym.envs.reasoning.word_problems import STEP_RANGES, generate_word_problem
from densegym.envs.reasoning.word_templates import TEMPLATES
from densegym.registration import ENTRIES

GSM8K_RECORDS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as "
        "many clips in May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes "
        "of babysitting. How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\n"
        "Working 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
    },
    {
        "question": "James writes a 3-page letter to 2 different friends twice a week. "
        "How many pages does he write a year?",
        "answer": "He writes each friend\n3*2=<<3*2=6>>6 pages a week\nSo he writes\n"
        "6*2=<<6*2=12>>12 pages every week\nThat means he writes\n"
        "12*52=<<12*52=624>>624 pages a year\n#### 624",
    },
    {
        "question": "A store has 1,200 apples and sells 450 of them. How many are left?",
        "answer": "It has <<1200-450=750>>750 left.\n#### 750",
    },
]

REASONING_IDS = [entry.id for entry in ENTRIES if entry.world == "reasoning"]
FAMILIES = {
    "densegym/Arithmetic-v0": tuple(ARITHMETIC_LEVELS),
    "densegym/WordProblems-v0": tuple(STEP_RANGES),
    "densegym/Countdown-v0": tuple(COUNTDOWN_LEVELS),
}


@pytest.fixture(scope="module")
def gsm8k_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("gsm8k") / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in GSM8K_RECORDS), encoding="utf-8")
    return str(path)


def make(env_id, gsm8k_path, **kwargs):
    if env_id == "densegym/GSM8K-v0":
        kwargs.setdefault("path", gsm8k_path)
    return gym.make(env_id, **kwargs)


def solve_with_oracle(env, seed=None, options=None):
    obs, info = env.reset(seed=seed, options=options)
    assert info["is_success"] is False
    for _ in range(env.spec.max_episode_steps):
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
        assert isinstance(obs, str) and "is_success" in info
        if terminated or truncated:
            return reward, terminated, truncated, info
    raise AssertionError("the episode did not end within the step budget")


def test_every_reasoning_id_is_registered():
    assert set(REASONING_IDS) == {*FAMILIES, "densegym/GSM8K-v0"}
    assert all(env_id in densegym.ENV_IDS and env_id in gym.registry for env_id in REASONING_IDS)
    assert all(gym.spec(env_id).max_episode_steps for env_id in REASONING_IDS)


# Gymnasium's checker, the spec round trip, shaping and seeded determinism run on every
# reasoning id (with its default kwargs) in tests/test_contract.py.


@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_oracle_solves_every_difficulty(env_id, gsm8k_path):
    for difficulty in FAMILIES[env_id]:
        env = make(env_id, gsm8k_path, difficulty=difficulty)
        for seed in range(60):
            reward, terminated, truncated, info = solve_with_oracle(env, seed=seed)
            assert (reward, terminated, truncated) == (1.0, True, False), (difficulty, seed)
            assert info["is_success"] and info["progress"] == 1.0
            assert info["n_invalid_steps"] == 0 and info["n_arithmetic_errors"] == 0


def test_oracle_solves_every_gsm8k_record(gsm8k_path):
    env = make("densegym/GSM8K-v0", gsm8k_path)
    for index in range(len(GSM8K_RECORDS)):
        reward, terminated, truncated, info = solve_with_oracle(env, options={"index": index})
        assert (reward, terminated, truncated) == (1.0, True, False), index


@pytest.mark.parametrize("n_steps", range(2, 9))
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_word_problem_templates_make_exact_integer_problems(template, n_steps):
    for seed in range(15):
        task = generate_word_problem(random.Random(seed), 3, n_steps, (template,))
        assert len(task.plan) == n_steps
        assert all(v.denominator == 1 and v > 0 for v in task.values)
        assert task.answer.denominator == 1 and task.answer == task.values[-1]
        steps, solved = task.simulate(task.new_tracker())
        assert solved and len(steps) == n_steps + 1


@pytest.mark.parametrize("env_id", REASONING_IDS)
def test_same_seed_same_problem(env_id, gsm8k_path):
    a, b = make(env_id, gsm8k_path), make(env_id, gsm8k_path)
    for seed in range(5):
        obs_a, _ = a.reset(seed=seed)
        obs_b, _ = b.reset(seed=seed)
        assert obs_a == obs_b
        assert a.unwrapped.task == b.unwrapped.task
    if env_id != "densegym/GSM8K-v0":
        questions = {a.reset(seed=s)[0] for s in range(20)}
        assert len(questions) > 15


@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_generators_are_driven_by_a_task_seed(env_id, gsm8k_path):
    base = make(env_id, gsm8k_path).unwrapped
    assert base.make_task(7) == base.make_task(7)
    assert base.make_task(7).question != base.make_task(8).question


@pytest.mark.parametrize("env_id", REASONING_IDS)
def test_task_description_is_json_and_complete(env_id, gsm8k_path):
    env = make(env_id, gsm8k_path)
    env.reset(seed=2)
    task = env.unwrapped.task
    json.dumps(task)
    for key in ("id", "question", "answer", "solution_steps", "intermediate_values", "info"):
        assert key in task, key
    assert task["solution_steps"][-1].startswith("Answer: ")
    assert task["question"] in env.unwrapped.observation()


@pytest.mark.parametrize("env_id", REASONING_IDS)
def test_invalid_steps_are_flagged_never_raise(env_id, gsm8k_path):
    env = make(env_id, gsm8k_path, max_episode_steps=50)
    env.reset(seed=0)
    bad = [
        "",
        "   ",
        None,
        42,
        b"",
        np.str_(""),
        "Answer: no idea",
        "5 / 0 = 1",
        "\n \n\t\n",
    ]
    for count, action in enumerate(bad, start=1):
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["invalid_step"] and info["invalid_reason"], action
        assert info["n_invalid_steps"] == count
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert env.observation_space.contains(obs)
    # junk and multi-line steps never crash either
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step(env.action_space.sample())
        env.step("".join(map(chr, rng.integers(32, 0x2FFF, size=50))))
    _, _, _, _, info = env.step("3 * 4 = 12\nAnswer: 12")
    assert info["step_truncated"]
    solve = env.unwrapped.oracle_step()
    assert isinstance(solve, str) and solve


def test_wrong_answer_ends_the_episode_with_zero():
    env = gym.make("densegym/Arithmetic-v0")
    env.reset(seed=0)
    answer = env.unwrapped.problem.answer
    _, reward, terminated, truncated, info = env.step(f"The answer is {answer + 1}.")
    assert (reward, terminated, truncated, info["is_success"]) == (0.0, True, False, False)
    with pytest.raises(RuntimeError, match="reset"):
        env.step("Answer: 1")


def test_answer_formats_are_accepted():
    env = gym.make("densegym/Arithmetic-v0", difficulty=4)
    for seed, template in enumerate(
        ["Answer: {}", "The answer is {}.", "#### {}", "\\boxed{{{}}}"]
    ):
        env.reset(seed=seed)
        answer = int(env.unwrapped.problem.answer)
        _, reward, *_ = env.step(template.format(f"{answer:,}"))
        assert reward == 1.0, template


def test_truncation_by_the_step_budget():
    env = gym.make("densegym/WordProblems-v0")
    env.reset(seed=0)
    for step in range(env.spec.max_episode_steps):
        _, _, terminated, truncated, info = env.step("Let me think.")
        assert not terminated and truncated == (step == env.spec.max_episode_steps - 1)
    assert info["is_success"] is False and info["step_kind"] == "text"


def test_progress_and_arithmetic_errors_are_tracked():
    env = gym.make("densegym/Arithmetic-v0", difficulty=3)
    env.reset(seed=4)
    wrong = env.unwrapped.wrong_step(random.Random(0))
    _, _, _, _, info = env.step(wrong)
    assert info["arithmetic_error"] and info["n_arithmetic_errors"] == 1
    assert info["progress"] == 0.0
    committed = env.unwrapped.committed()
    assert committed["wrong"] == ["s1"] and not committed["consistent"]
    json.dumps(committed)
    _, _, _, _, info = env.step(env.unwrapped.oracle_step())
    assert info["progress"] > 0.0
    assert env.unwrapped.committed()["consistent"]


@pytest.mark.parametrize("env_id", ["densegym/Arithmetic-v0", "densegym/WordProblems-v0"])
def test_oracle_repairs_wrong_prefixes(env_id):
    env = gym.make(env_id, difficulty=4, max_episode_steps=40)
    rng = random.Random(0)
    for seed in range(40):
        env.reset(seed=seed)
        base = env.unwrapped
        for _ in range(3):
            step = base.wrong_step(rng) if rng.random() < 0.6 else base.oracle_step(True)
            if not step.startswith("Answer"):
                env.step(step)
        for _ in range(30):
            _, reward, terminated, truncated, _ = env.step(base.oracle_step())
            if terminated or truncated:
                break
        assert reward == 1.0, (seed, base.steps)


def test_trusting_oracle_builds_on_written_values():
    env = gym.make("densegym/Arithmetic-v0", difficulty=2)
    env.reset(seed=1)
    base = env.unwrapped
    env.step(base.wrong_step(random.Random(0)))
    assert base.oracle_remaining(trust_written=True) is None
    assert base.oracle_remaining(trust_written=False) is not None


def test_countdown_rules():
    env = gym.make("densegym/Countdown-v0", difficulty=1)
    env.reset(seed=0)
    numbers = sorted(env.unwrapped.problem.numbers)
    a, b = numbers[-1], numbers[0]
    cases = {
        f"{a} + {a} + {b} = {2 * a + b}": "one operation",
        f"{a} + 1000 = {a + 1000}": "not an available number",
        "Let me think": "expected a step",
    }
    for step, reason in cases.items():
        _, _, _, _, info = env.step(step)
        assert info["invalid_step"] and reason in info["invalid_reason"], step
    assert env.unwrapped.observation().endswith(
        "Numbers available: " + ", ".join(map(str, numbers))
    )
    _, _, _, _, info = env.step(f"{a} + {b} = {a + b + 1}")  # a wrong result is committed
    assert info["arithmetic_error"] and not info["invalid_step"]
    assert env.unwrapped.committed() == {
        "numbers": sorted([*numbers[1:-1], a + b + 1]),
        "tainted": True,
    }
    assert env.unwrapped.oracle_remaining() is None
    target = int(env.unwrapped.problem.answer)
    _, reward, terminated, _, _ = env.step(f"Answer: {target}")
    assert (reward, terminated) == (0.0, True)


def test_countdown_answer_needs_a_derivation():
    env = gym.make("densegym/Countdown-v0")
    env.reset(seed=3)
    _, reward, terminated, _, info = env.step(f"Answer: {int(env.unwrapped.problem.answer)}")
    assert (reward, terminated, info["is_success"]) == (0.0, True, False)


@pytest.mark.parametrize("env_id", REASONING_IDS)
def test_clone_and_state_are_independent(env_id, gsm8k_path):
    env = make(env_id, gsm8k_path)
    env.reset(seed=5)
    base = env.unwrapped
    env.step(base.oracle_step())
    state = base.get_state()
    copy = base.clone()
    while not copy.get_state().done:
        copy.step(copy.oracle_step())
    assert copy.get_state().success
    assert base.steps == state.steps and not base.get_state().done
    env.step("Answer: 0.123")
    base.set_state(state)
    assert base.steps == state.steps and not base.get_state().done
    standalone = ReasoningEnv.from_state(state)
    while not standalone.get_state().done:
        standalone.step(standalone.oracle_step())
    assert standalone.get_state().success


@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_curriculum_moves_up_on_success(env_id, gsm8k_path):
    env = make(env_id, gsm8k_path, curriculum={"window": 3, "promote": 1.0})
    levels = []
    for seed in range(12):
        solve_with_oracle(env, seed=seed)
        levels.append(env.unwrapped.problem.meta["difficulty"])
    assert levels[0] == 1 and levels[-1] > levels[0]
    assert levels == sorted(levels)


def test_curriculum_counts_truncated_episodes_as_failures():
    env = gym.make("densegym/WordProblems-v0", curriculum={"window": 2, "promote": 0.5, "start": 2})
    for _ in range(3):
        env.reset()
        env.step("thinking")
    env.reset()
    assert env.unwrapped.difficulty == 1


def test_bad_constructor_arguments_raise_clearly():
    with pytest.raises(ValueError, match="difficulty"):
        gym.make("densegym/Arithmetic-v0", difficulty=9)
    with pytest.raises(ValueError, match="n_steps"):
        gym.make("densegym/WordProblems-v0", n_steps=12)
    with pytest.raises(ValueError, match="templates"):
        gym.make("densegym/WordProblems-v0", templates=["poetry"])
    with pytest.raises(TypeError, match="curriculum"):
        gym.make("densegym/Countdown-v0", curriculum="yes")


def test_word_problem_knobs():
    env = gym.make("densegym/WordProblems-v0", n_steps=6, templates=["ages", "units"])
    for seed in range(10):
        env.reset(seed=seed)
        problem = env.unwrapped.problem
        assert len(problem.plan) == 6 and problem.meta["template"] in ("ages", "units")


def test_render_ansi():
    env = gym.make("densegym/Arithmetic-v0", render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs
