"""LoRA fine-tuning through peft (``lora_r > 0``): only adapters train, the base stays put."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from densegym.agents.llm.lm_checkpoint import list_checkpoints, load_checkpoint  # noqa: E402
from densegym.agents.llm.trainers import LMTrainer, train  # noqa: E402
from densegym.agents.runs import RunConfig  # noqa: E402

ENV = "densegym/Arithmetic-v0"
FAST = {
    "group_size": 2,
    "max_new_tokens": 5,
    "max_episode_steps": 2,
    "learning_rate": 1e-2,
    "lora_r": 4,
    "kl_coef": 0.1,
}


def _config(tmp_path, steps=4, **hp) -> RunConfig:
    return RunConfig(
        ENV, trainer="lm:grpo", shaping="pav", steps=steps, log_every=1, logdir=str(tmp_path),
        hyperparams={**FAST, **hp},
    )  # fmt: skip


def test_a_lora_step_changes_only_adapter_weights(tmp_path):
    trainer = LMTrainer(_config(tmp_path))
    try:
        trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
        assert trainable and all(".lora_" in n for n in trainable)
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        for _ in range(2):  # lora_B starts at zero: the second step moves lora_A too
            samples, _, _ = trainer.rollouts(task_seed=0)
            for i, sample in enumerate(samples):
                sample.advantage = 1.0 if sample.rollout == 0 else -0.5 * (i + 1)
            stats = trainer.update(samples)
            assert torch.isfinite(torch.tensor(stats["loss"]))
        changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p)}
        assert changed and changed <= trainable
        assert any(".lora_A." in n for n in changed) and any(".lora_B." in n for n in changed)
        base = [n for n in before if n not in trainable]
        assert base and all(torch.equal(before[n], dict(trainer.model.named_parameters())[n])
                            for n in base)  # fmt: skip
        # The KL reference is the base model (adapters off); after the steps it differs.
        assert trainer.ref is None and stats["kl"] > 0
    finally:
        trainer.close()


def test_a_lora_run_checkpoints_adapters_only_and_resumes_exactly(tmp_path):
    straight = _config(tmp_path / "a", steps=10)
    train(straight, progress=False)
    split = _config(tmp_path / "b", steps=5)
    train(split, progress=False)
    summary = train(_config(tmp_path / "b", steps=10), resume=True, progress=False)
    assert summary["resumed_from"].startswith("step_")
    got = load_checkpoint(list_checkpoints(split.run_dir)[-1])
    want = load_checkpoint(list_checkpoints(straight.run_dir)[-1])
    assert got["env_steps"] == want["env_steps"] >= 10
    assert got["weights"].keys() == want["weights"].keys()
    assert all(".lora_" in n for n in got["weights"])  # the base is rebuilt from the spec
    for name, tensor in got["weights"].items():
        torch.testing.assert_close(tensor, want["weights"][name], rtol=0, atol=1e-6)
    # The final model has the adapters merged: a plain transformers model.
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(split.run_dir / "final_model")
    assert not any("lora" in n for n, _ in merged.named_parameters())
