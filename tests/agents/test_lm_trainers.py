"""lm:rloo and lm:grpo's advantage modes in the trainer, and the run's TensorBoard scalars."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("transformers")

from densegym.agents.llm.lm_advantages import step_advantages  # noqa: E402
from densegym.agents.llm.trainers import LMTrainer, train  # noqa: E402
from densegym.agents.runs import RunConfig, RunRecord  # noqa: E402
from densegym.agents.runs.config import trainer_names  # noqa: E402

ENV = "densegym/Arithmetic-v0"
FAST = {"group_size": 3, "max_new_tokens": 5, "max_episode_steps": 3, "save_model": False}


def _config(tmp_path, trainer="lm:grpo", steps=6, **hp) -> RunConfig:
    return RunConfig(
        ENV, trainer=trainer, shaping=[{"id": "pav", "prover": "oracle-0.7"}], steps=steps,
        log_every=1, logdir=str(tmp_path), hyperparams={**FAST, **hp},
    )  # fmt: skip


def test_both_trainer_names_are_registered():
    assert {"lm:grpo", "lm:rloo"} <= set(trainer_names())


@pytest.mark.parametrize(
    ("trainer", "mode"),
    [("lm:grpo", "process"), ("lm:grpo", "outcome"), ("lm:grpo", "pav"), ("lm:rloo", "rloo")],
)
def test_each_mode_feeds_its_advantages_to_the_samples(tmp_path, trainer, mode):
    hp = {"advantage": mode} if trainer == "lm:grpo" else {}
    model = LMTrainer(_config(tmp_path, trainer, **hp))
    try:
        assert model.advantage_mode == mode
        samples, rewards, episode = model.rollouts(task_seed=3)
        outcome = episode["outcome"]
        # The outcome part is the extrinsic term; the rest is what the shaping added.
        for i, terms in enumerate(episode["terms"]):
            assert math.fsum(outcome[i]) == pytest.approx(terms["extrinsic"])
            shaped = math.fsum(rewards[i]) - math.fsum(outcome[i])
            assert shaped == pytest.approx(terms.get("pav", 0.0), abs=1e-9)
        want = step_advantages(mode, rewards, outcome)
        assert model.advantages(rewards, outcome) == want
        stats = model.iteration(task_seed=3)
        assert math.isfinite(stats["loss"])
    finally:
        model.close()


def test_a_trainer_refuses_the_other_trainers_modes(tmp_path):
    with pytest.raises(ValueError, match="lm:rloo takes advantage 'rloo', not 'pav'"):
        LMTrainer(_config(tmp_path, "lm:rloo", advantage="pav"))
    with pytest.raises(ValueError, match="lm:grpo takes advantage 'process' or 'outcome' or"):
        LMTrainer(_config(tmp_path, "lm:grpo", advantage="rloo"))
    with pytest.raises(ValueError, match=r"process_weight must be in \[0, 1\]"):
        LMTrainer(_config(tmp_path, "lm:grpo", process_weight=-0.1))


def test_an_rloo_run_logs_cumulative_tokens_kl_and_per_term_rewards(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = _config(tmp_path, "lm:rloo", steps=12, kl_coef=0.05, learning_rate=1e-2)
    summary = train(config, progress=False)
    assert summary["trainer"] == "lm:rloo" and summary["advantage"] == "rloo"
    assert RunRecord.load(config.run_dir, strict=True).finished()
    events = EventAccumulator(str(config.run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"lm/kl", "lm/tokens", "lm/loss", "reward/extrinsic", "reward/pav"} <= tags
    tokens = [e.value for e in events.Scalars("lm/tokens")]
    assert len(tokens) == summary["iterations"] >= 2
    assert all(b > a for a, b in zip(tokens, tokens[1:]))  # cumulative generated tokens
    assert tokens[-1] == summary["generated_tokens"]
    # Every step generates at least one and at most max_new_tokens tokens.
    assert summary["timesteps"] <= tokens[-1] <= 5 * summary["timesteps"]
    kls = [e.value for e in events.Scalars("lm/kl")]
    assert kls[0] == 0.0 and max(kls) > 0  # the first update starts at the reference


def test_greedy_evaluation_is_unshaped_and_leaves_the_run_unchanged(tmp_path):
    import torch

    runs = []
    for evaluate in (False, True):
        model = LMTrainer(_config(tmp_path, learning_rate=1e-2))
        try:
            model.iteration(task_seed=0)
            if evaluate:
                result = model.evaluate([101, 102, 103], batch=2)
                assert result["episodes"] == 3.0
                assert 0.0 <= result["success_rate"] <= 1.0
                # Greedy decoding is deterministic: the same tasks give the same figures.
                assert model.evaluate([101, 102, 103], batch=3) == result
            model.iteration(task_seed=1)
            runs.append([p.detach().clone() for p in model.model.parameters()])
        finally:
            model.close()
    assert all(torch.equal(a, b) for a, b in zip(*runs))
