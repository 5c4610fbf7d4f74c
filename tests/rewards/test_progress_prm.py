"""prm: Monte-Carlo labels, training lowers the loss, held-out ranking, shaper by path."""

import json
import random

import gymnasium as gym
import pytest

from densegym.rewards.progress import PRM, collect_step_labels, rank_accuracy, train_prm

WORD = "densegym/WordProblems-v0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("prm") / "prm.pt"
    result = train_prm(
        env=WORD,
        env_kwargs={"difficulty": 2},
        policy="oracle-0.7",
        n_problems=24,
        n_rollouts=4,
        dim=256,
        epochs=120,
        path=path,
    )
    return result


def _held_out_pairs(n=40):
    env = gym.make(WORD, difficulty=2)
    rng = random.Random(0)
    pairs = []
    for seed in range(10_000, 10_000 + n):
        env.reset(seed=seed)
        base = env.unwrapped
        for _ in range(rng.randrange(3)):
            base.step(base.oracle_step())
        pairs.append(
            (base.problem.question, base.steps, base.oracle_step(True), base.wrong_step(rng))
        )
    return pairs


def test_training_lowers_loss_and_ranks_held_out_steps(trained):
    assert trained.losses[-1] < 0.7 * trained.losses[0]
    assert 0.0 < trained.positive_rate < 1.0
    assert rank_accuracy(trained.model, _held_out_pairs()) >= 0.8


@pytest.mark.parametrize("labels", ["hard", "soft", "outcome"])
def test_label_kinds(labels):
    data = collect_step_labels(
        "densegym/Arithmetic-v0",
        "oracle-0.6",
        n_problems=4,
        n_rollouts=4,
        labels=labels,
        env_kwargs={"difficulty": 1},
    )
    values = {d.label for d in data}
    assert all(0.0 <= v <= 1.0 for v in values)
    if labels != "soft":
        assert values <= {0.0, 1.0}
    if labels == "outcome":
        by_problem = {}
        for d in data:
            by_problem.setdefault(d.problem, set()).add(d.label)
        assert all(len(v) == 1 for v in by_problem.values())


def test_shaper_loads_by_path_and_spec_round_trips(trained):
    spec = {"id": "prm", "path": trained.path}
    env = gym.make(WORD, difficulty=2, shaping=spec)
    again = gym.make(gym.envs.registration.EnvSpec.from_json(env.spec.to_json()))
    assert json.loads(env.spec.to_json())["kwargs"]["shaping"]["path"] == trained.path
    for e in (env, again):
        e.reset(seed=3)
    good = env.step(env.unwrapped.oracle_step())[4]
    assert good["reward_terms"]["prm"] == pytest.approx(good["prm_score"])
    assert again.step(again.unwrapped.oracle_step())[4]["reward_terms"]["prm"] == pytest.approx(
        good["reward_terms"]["prm"]
    )
    model = PRM.load(trained.path)
    assert model.score("q", ["1 + 1 = 2"]) == pytest.approx(trained.model.score("q", ["1 + 1 = 2"]))


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="path"):
        gym.make(WORD, shaping="prm")
    with pytest.raises(FileNotFoundError, match="train_prm"):
        gym.make(WORD, shaping={"id": "prm", "path": str(tmp_path / "none.pt")})
