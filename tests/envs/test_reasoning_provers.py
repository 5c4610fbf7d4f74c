import math
import random

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.reasoning.provers import (
    LLMProver,
    NoisyOracleProver,
    Prover,
    Rollout,
    make_prover,
)

N = 600  # rollouts per estimate: standard error <= 0.02


def within(estimate, p, n=N, sigmas=4.0):
    return abs(estimate - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-4) / n) + 1e-9


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("densegym/Arithmetic-v0", {"difficulty": 3}),
        ("densegym/WordProblems-v0", {"difficulty": 4}),
        ("densegym/Countdown-v0", {"difficulty": 2}),
    ],
)
@pytest.mark.parametrize("q", [0.6, 0.9])
def test_success_rate_matches_stated_competence(env_id, kwargs, q):
    env = gym.make(env_id, **kwargs)
    env.reset(seed=11)
    prover = make_prover(f"oracle-{q}", seed=0)
    steps_needed = env.unwrapped.oracle_remaining()
    closed_form = prover.success_probability(env)
    assert closed_form == pytest.approx(q**steps_needed)
    rate = prover.estimate_value(env, n=N)
    assert within(rate, closed_form), (rate, closed_form)


def test_closed_form_follows_the_state():
    env = gym.make("densegym/WordProblems-v0", n_steps=4)
    env.reset(seed=2)
    prover = NoisyOracleProver(p_error=0.25, seed=1)
    assert prover.success_probability(env) == pytest.approx(0.75**5)
    env.step(env.unwrapped.oracle_step())
    assert prover.success_probability(env) == pytest.approx(0.75**4)
    assert within(prover.estimate_value(env, n=N), 0.75**4)
    env.step(env.unwrapped.wrong_step(random.Random(3)))
    assert prover.success_probability(env) == 0.0
    assert prover.estimate_value(env, n=200) == 0.0
    assert prover.success_probability(env, max_steps=1) == 0.0


def test_exact_oracle_always_succeeds_and_leaves_the_env_untouched():
    env = gym.make("densegym/Arithmetic-v0", difficulty=5)
    env.reset(seed=0)
    env.step(env.unwrapped.oracle_step())
    before = env.unwrapped.get_state()
    results = make_prover("oracle").rollouts(env, n=5)
    assert all(isinstance(r, Rollout) and r.success and r.finished for r in results)
    assert env.unwrapped.steps == before.steps
    assert make_prover("oracle-1").success_probability(env) == 1.0
    assert make_prover("oracle-0").estimate_value(env, n=20) == 0.0


def test_rollout_from_a_state_and_seeding():
    env = gym.make("densegym/Countdown-v0", difficulty=3)
    env.reset(seed=4)
    state = env.unwrapped.get_state()
    prover = make_prover("oracle-0.5")
    first = [r.steps for r in prover.rollouts(state, n=20, seed=7)]
    second = [r.steps for r in prover.rollouts(state, n=20, seed=7)]
    assert first == second
    assert prover.rollout(state, seed=1).finished


def test_rollouts_respect_the_step_budget():
    env = gym.make("densegym/WordProblems-v0", n_steps=8)
    env.reset(seed=0)
    for _ in range(env.spec.max_episode_steps - 3):
        env.step("thinking")
    prover = make_prover("oracle")
    assert prover.success_probability(env) == 0.0
    (result,) = prover.rollouts(env, n=1)
    assert not result.finished and len(result.steps) == 3


def test_make_prover_specs():
    assert make_prover("oracle-0.7").p_error == pytest.approx(0.3)
    assert make_prover("oracle").p_error == 0.0
    custom = NoisyOracleProver(0.1)
    assert make_prover(custom) is custom
    assert isinstance(make_prover("llm:tiny-random"), LLMProver)  # loaded lazily
    for bad in ["oracle-1.5", "oracle-x", "random", "llm:"]:
        with pytest.raises(ValueError):
            make_prover(bad)
    with pytest.raises(TypeError):
        make_prover(0.7)
    with pytest.raises(ValueError):
        NoisyOracleProver(-0.1)


class FakeModel:
    """Duck-typed stand-in for a densegym.llm backend: replays the oracle's steps."""

    def __init__(self, envs_by_prompt=None, shape="objects"):
        self.calls = []
        self.shape = shape

    def generate(
        self, prompts, n=1, max_tokens=64, temperature=1.0, top_p=1.0, stop=None, seed=None
    ):
        self.calls.append({"prompts": list(prompts), "seed": seed, "stop": stop, "n": n})
        texts = [" Step 2: " + self.reply(prompt) + "\nand more text" for prompt in prompts]
        if self.shape == "strings":
            return texts
        if self.shape == "lists":
            return [[type("R", (), {"text": t})()] for t in texts]
        return [type("R", (), {"text": t, "tokens": 3})() for t in texts]

    @staticmethod
    def reply(prompt):
        return "Answer: 42" if "Steps so far:\n(none)" not in prompt else "1 + 1 = 2"


@pytest.mark.parametrize("shape", ["objects", "strings", "lists"])
def test_llm_prover_is_duck_typed_and_batched(shape):
    model = FakeModel(shape=shape)
    prover = LLMProver(model, seed=0)
    env = gym.make("densegym/Arithmetic-v0")
    env.reset(seed=0)
    results = prover.rollouts(env, n=4)
    assert all(r.finished and r.steps == ("1 + 1 = 2", "Answer: 42") for r in results)
    assert len(model.calls) == 2 and len(model.calls[0]["prompts"]) == 4
    assert "Question: Compute" in model.calls[0]["prompts"][0]
    assert model.calls[0]["seed"] != model.calls[1]["seed"]


def test_llm_prover_only_passes_accepted_arguments():
    class Minimal:
        def generate(self, prompts, max_tokens=16):
            return ["Answer: 1" for _ in prompts]

    assert LLMProver(Minimal()).act("Question: ?", None) == "Answer: 1"
    with pytest.raises(ValueError, match="observation"):
        LLMProver(Minimal(), prompt="no field")


def test_custom_prover_subclass():
    class AlwaysAnswer(Prover):
        def act(self, observation, env):
            return "Answer: 0"

    env = gym.make("densegym/Arithmetic-v0")
    env.reset(seed=0)
    assert AlwaysAnswer().estimate_value(env, n=3) == 0.0
