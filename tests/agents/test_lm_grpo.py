"""The ``lm:grpo`` trainer: process advantages, the clipped loss, a step, a run dir, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

pytest.importorskip("transformers")

from densegym.agents.llm.trainers import (  # noqa: E402
    GRPOTrainer,
    grpo_loss,
    process_advantages,
    train,
)
from densegym.agents.runs import RunConfig, RunRecord  # noqa: E402
from densegym.agents.runs.record import CURVE_COLUMNS  # noqa: E402

ENV = "densegym/Arithmetic-v0"
#: Small enough for a few seconds per run on one thread.
FAST = {"group_size": 2, "max_new_tokens": 6, "max_episode_steps": 2, "learning_rate": 1e-3}


def test_process_advantages_by_hand():
    # Group rewards [0, 1] and [1]: mean 2/3, population std sqrt(2/9); with eps=0 the
    # normalised rewards are -sqrt(2), 1/sqrt(2), 1/sqrt(2). Rollout 0's first step gets
    # its own plus the later one: -sqrt(2) + 1/sqrt(2) = -1/sqrt(2).
    half = 1 / math.sqrt(2)
    got = process_advantages([[0.0, 1.0], [1.0]], eps=0.0, digits=None)
    assert got[0] == pytest.approx([-half, half]) and got[1] == pytest.approx([half])
    # The default eps=1e-4 in the std's denominator shifts the fourth digit only.
    assert process_advantages([[0.0, 1.0], [1.0]]) == [[-0.707, 0.707], [0.707]]
    # A 3-step example: rewards 0, 0, 1 and 0, 0 -> mean 0.2, std 0.4, normalised
    # -0.5, -0.5, 2 and -0.5, -0.5 -> suffix sums 1, 1.5, 2 and -1, -0.5.
    got = process_advantages([[0.0, 0.0, 1.0], [0.0, 0.0]], eps=0.0, digits=None)
    assert got[0] == pytest.approx([1.0, 1.5, 2.0])
    assert got[1] == pytest.approx([-1.0, -0.5])
    # Equal rewards carry no signal; the default eps keeps it finite.
    assert process_advantages([[0.5, 0.5], [0.5]]) == [[0.0, 0.0], [0.0]]


def test_grpo_loss_clips_the_ratio_and_averages_per_rollout():
    # Rollout 0 has one 2-token step with ratio e^0.5 ~ 1.65 (clipped to 1.2) and
    # advantage 1; rollout 1 one token with ratio 1 and advantage -2.
    new = [torch.tensor([0.0, 0.0], requires_grad=True), torch.tensor([-1.0], requires_grad=True)]
    old = [torch.tensor([-0.5, -0.5]), torch.tensor([-1.0])]
    loss, stats = grpo_loss(new, old, [1.0, -2.0], [0, 1], clip_eps=0.2)
    # Per rollout: -min(1.65 * 1, 1.2 * 1) = -1.2 and -(1 * -2) = 2; mean 0.4.
    assert loss.item() == pytest.approx(0.4, abs=1e-6)
    assert stats["clip_fraction"] == pytest.approx(2 / 3)
    loss.backward()
    assert new[0].grad.abs().sum() == 0  # clipped: no gradient
    # d(-ratio * -2)/d logp = 2 * ratio = 2, halved by the mean over the 2 rollouts.
    assert new[1].grad.item() == pytest.approx(1.0)
    # A KL term to a reference: zero when the model equals it, positive otherwise.
    loss, stats = grpo_loss(new, old, [0.0, 0.0], [0, 1], ref=old, kl_coef=0.1)
    assert stats["kl"] > 0 and loss.item() > 0


def test_a_training_step_changes_the_parameters(tmp_path):
    config = RunConfig(
        ENV, trainer="lm:grpo", shaping="pav", steps=4, logdir=str(tmp_path),
        hyperparams={**FAST, "kl_coef": 0.05},
    )  # fmt: skip
    trainer = GRPOTrainer(config)
    try:
        samples, rewards, _ = trainer.rollouts(task_seed=0)
        assert len(samples) == sum(len(r) for r in rewards) and trainer.ref is not None
        assert all(s.action_ids and s.prompt_ids for s in samples)
        for i, sample in enumerate(samples):  # a signal whatever the rewards were
            sample.advantage = 1.0 if i % 2 else -1.0
        before = [p.detach().clone() for p in trainer.model.parameters()]
        stats = trainer.update(samples)
        after = list(trainer.model.parameters())
        assert math.isfinite(stats["loss"]) and math.isfinite(stats["kl"])
        assert stats["tokens"] == sum(len(s.action_ids) for s in samples)
        assert any(not torch.equal(b, a) for b, a in zip(before, after))
    finally:
        trainer.close()


def test_a_two_iteration_run_writes_a_valid_run_dir(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = RunConfig(
        ENV, trainer="lm:grpo", shaping="pav", steps=5, log_every=1, logdir=str(tmp_path),
        hyperparams=FAST,
    )  # fmt: skip
    summary = train(config, progress=False)
    assert summary["iterations"] >= 2 and summary["timesteps"] >= 5
    record = RunRecord.load(config.run_dir, strict=True)
    assert record.config == config and record.finished()
    assert tuple(record.curve.columns) == CURVE_COLUMNS
    assert len(record.curve) == summary["iterations"]
    assert record.curve["success_rate"].between(0, 1).all()
    assert json.loads((config.run_dir / "summary.json").read_text())["trainer"] == "lm:grpo"
    assert (config.run_dir / "final_model" / "config.json").exists()
    events = EventAccumulator(str(config.run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    wanted = {"lm/loss", "lm/kl", "lm/reward", "episode/success_rate", "reward/pav"}
    assert wanted | {"reward/extrinsic"} <= tags
    assert all(math.isfinite(e.value) for e in events.Scalars("lm/loss"))


def test_the_cli_trains_an_lm_grpo_run(tmp_path, capsys):
    from densegym.cli import main

    argv = ["train", "--env", ENV, "--trainer", "lm:grpo", "--steps", "8"]
    argv += ["--hp", 'model="tiny-random"', "--hp", "max_new_tokens=4", "--hp", "group_size=2"]
    argv += ["--hp", "max_episode_steps=4", "--logdir", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["trainer"] == "lm:grpo" and summary["timesteps"] >= 8
    record = RunRecord.load(summary["run_dir"], strict=True)
    assert record.config.hyperparams["model"] == "tiny-random"  # the JSON string, unquoted
    assert record.config.run_dir.name == "lm-grpo-seed0"


def test_unknown_hyperparameters_fail_in_one_sentence(tmp_path):
    config = RunConfig(ENV, trainer="lm:grpo", steps=1, hyperparams={"gruop_size": 2})
    with pytest.raises(ValueError, match="unknown lm:grpo hyperparameters"):
        GRPOTrainer(config)


def test_batched_action_logprobs_match_one_sequence_at_a_time():
    import densegym.llm
    from densegym.agents.llm.trainers import StepSample, action_logprobs

    llm = densegym.llm.load("tiny-random", tokenizer="bytes")
    samples = [StepSample([5, 6, 7, 8, 9, 10], [11, 12], 0), StepSample([5], [8, 9, 13], 1)]
    batched = action_logprobs(llm.model, samples, llm.tokenizer.pad_token_id)
    for sample, got in zip(samples, batched):
        ids = torch.tensor([sample.prompt_ids + sample.action_ids])
        logp = torch.log_softmax(llm.model(input_ids=ids).logits[0].float(), -1)
        start, n = len(sample.prompt_ids), len(sample.action_ids)
        want = logp[start - 1 : start - 1 + n].gather(1, ids[0, start:, None])[:, 0]
        assert got.shape == (n,)  # only the action's tokens: the prompt is not scored
        assert torch.allclose(got, want, atol=1e-5)
