"""implicit_prm: step rewards sum to β times the sequence log-ratio; outcome-only training."""

import json

import gymnasium as gym
import pytest

pytest.importorskip("transformers")

from densegym.rewards.progress import (  # noqa: E402
    ImplicitPRM,
    OutcomeExample,
    collect_outcome_examples,
    train_implicit_prm,
)

ARITH = "densegym/Arithmetic-v0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = collect_outcome_examples(ARITH, "oracle-0.6", n_problems=4, env_kwargs={"difficulty": 1})
    path = tmp_path_factory.mktemp("implicit") / "implicit.pt"
    return train_implicit_prm(
        data, policy="tiny-random", beta=0.5, epochs=3, lr=2e-3, batch_size=4, path=path
    )


def test_training_lowers_outcome_loss(trained):
    assert trained.losses[-1] < trained.losses[0]
    assert trained.n_examples == 8


def test_step_rewards_sum_to_beta_times_sequence_log_ratio(trained):
    spec = {"id": "implicit_prm", "checkpoint": trained.path}
    env = gym.make(ARITH, difficulty=1, shaping=spec)
    env.reset(seed=7)
    terms, done = [], False
    while not done:
        _, _, done, _, info = env.step(env.unwrapped.oracle_step())
        terms.append(info["reward_terms"]["implicit_prm"])
    state = env.unwrapped.get_state()
    model = trained.model
    sequence = model.sequence_log_ratio(state.task.question, state.steps)
    assert sum(terms) == pytest.approx(0.5 * sequence, rel=1e-3, abs=1e-4)
    assert any(abs(t) > 1e-6 for t in terms)
    assert model.step_rewards(state.task.question, state.steps) == pytest.approx(terms, abs=1e-5)
    round_trip = gym.envs.registration.EnvSpec.from_json(env.spec.to_json())
    assert json.loads(env.spec.to_json())["kwargs"]["shaping"]["checkpoint"] == trained.path
    assert round_trip.kwargs["shaping"]["id"] == "implicit_prm"


def test_untrained_model_gives_zero_and_checkpoint_restores_beta(trained):
    fresh = ImplicitPRM("tiny-random")
    assert fresh.step_rewards("q", ["1 + 1 = 2"]).tolist() == [0.0]
    loaded = ImplicitPRM(checkpoint=trained.path)
    assert loaded.beta == 0.5 and loaded.policy_spec == "tiny-random"
    example = OutcomeExample("What is 1 + 1?", ("1 + 1 = 2", "Answer: 2"), 1.0)
    assert 0.0 < loaded.outcome_probability(example.question, example.steps) < 1.0
