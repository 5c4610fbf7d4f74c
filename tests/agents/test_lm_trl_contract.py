"""Contract with TRL 1.16 (the pinned reference, ``lmrl`` extra): our loss is its GRPO loss.

``grpo_loss`` (densegym.agents.llm.trainers) is checked against TRL's own
``trl.GRPOTrainer._compute_loss`` run on a real ``GRPOTrainer`` built around the tiny
random model, with only the per-token log-probability call replaced by given values:

* ``loss_type="grpo"``: per sequence, the mean of the masked per-token losses, then the
  mean over sequences. Ours averages the action tokens of every step of a rollout, then
  the rollouts: the same thing with one rollout per row and observation tokens masked;
* two-sided clip ``epsilon=0.2`` (``epsilon_low == epsilon_high``), token-level ratios,
  no entropy mask, no vLLM correction, and the KL term with ``beta`` = our ``kl_coef``
  (k3 estimator; TRL 1.16 multiplies it by the ratio by default,
  ``use_bias_correction_kl=True``; ours is its ``False`` setting);
* advantages of shape (batch, tokens) reach TRL's loss (its ``advantages.dim() == 1``
  branch is the plain GRPO case) -- per-step advantages are per-token ones.

When TRL moves these internals the tests fail with a message naming the symbol.
"""

from __future__ import annotations

import inspect
import tempfile

import pytest
import torch

trl = pytest.importorskip("trl")
pytest.importorskip("datasets")

from densegym.agents.llm.lm_advantages import step_advantages  # noqa: E402
from densegym.agents.llm.trainers import grpo_loss  # noqa: E402

PINNED = "1.16"
B, T = 3, 6


def _symbol(owner, name: str, where: str):
    value = getattr(owner, name, None)
    if value is None:
        pytest.fail(
            f"TRL {trl.__version__}: {where}.{name} is gone; densegym's LM trainer contract "
            f"is written against TRL {PINNED} (setup.cfg, lmrl extra): re-read TRL's GRPO "
            "loss and update densegym.agents.llm.trainers.grpo_loss and this test"
        )
    return value


def _trl_trainer(beta: float):
    from datasets import Dataset

    import densegym.llm

    grpo_trainer = _symbol(trl, "GRPOTrainer", "trl")
    grpo_config = _symbol(trl, "GRPOConfig", "trl")
    llm = densegym.llm.load("tiny-random", tokenizer="bytes")
    args = grpo_config(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=2, num_generations=2,
        max_completion_length=T, beta=0.0, loss_type="grpo", epsilon=0.2, report_to=[],
        use_cpu=True, use_bias_correction_kl=False,
    )  # fmt: skip
    trainer = grpo_trainer(
        model=llm.model,
        reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": ["1+1=", "2+2="]}),
        processing_class=llm.tokenizer,
    )
    assert (trainer.loss_type, trainer.epsilon_low, trainer.epsilon_high) == ("grpo", 0.2, 0.2)
    # beta > 0 at construction would load a reference model by name (the tiny model has
    # none); the loss reads only ``self.beta`` and the given reference log-probs.
    _symbol(trainer, "beta", "trl.GRPOTrainer")
    trainer.beta = beta
    assert trainer.args.use_bias_correction_kl is False
    return trainer


def _trl_loss(trainer, new, old, advantages, mask, ref=None) -> torch.Tensor:
    """TRL's ``_compute_loss`` on given per-token log-probs (its forward pass replaced)."""
    compute = _symbol(type(trainer), "_compute_loss", "trl.GRPOTrainer")
    source = inspect.getsource(compute)
    for needle in ("_get_per_token_logps_and_entropies", "advantages.dim() == 1", '"grpo"'):
        if needle not in source:
            pytest.fail(f"TRL {trl.__version__}: GRPOTrainer._compute_loss no longer has {needle}")
    _symbol(trainer, "_get_per_token_logps_and_entropies", "trl.GRPOTrainer")
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (new, torch.zeros_like(new), None)
    inputs = {
        "prompt_ids": torch.ones(B, 2, dtype=torch.long),
        "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.ones(B, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": advantages,
        "old_per_token_logps": old,
        "num_items_in_batch": mask.sum(),
    }
    if ref is not None:
        inputs["ref_per_token_logps"] = ref
    trainer.model.eval()  # no gradient-accumulation scaling: the loss of one batch
    return trainer._compute_loss(trainer.model, inputs)


def _as_steps(tensors, mask, cut=2):
    """Each row's masked tokens as two steps of one rollout (our per-sample lists)."""
    out = [[] for _ in tensors]
    rollouts = []
    for row in range(mask.shape[0]):
        idx = mask[row].nonzero()[:, 0]
        for part in (idx[:cut], idx[cut:]):
            if len(part):
                for k, tensor in enumerate(tensors):
                    out[k].append(tensor[row, part] if tensor.dim() == 2 else tensor[row])
                rollouts.append(row)
    return (*out, rollouts)


def _batch(seed: int):
    gen = torch.Generator().manual_seed(seed)
    new = -2 + 0.3 * torch.randn(B, T, generator=gen)
    old = new + 0.3 * torch.randn(B, T, generator=gen)  # ratios both sides of the clip
    ref = new + 0.2 * torch.randn(B, T, generator=gen)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, 4:] = 0  # padding after a short completion
    mask[2, :1] = 0  # an observation token inside a rollout: masked out
    return new, old, ref, mask


@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_our_loss_is_trls_grpo_loss_with_per_token_advantages(beta):
    assert trl.__version__.startswith(PINNED), f"TRL {trl.__version__}, pinned {PINNED}"
    trainer = _trl_trainer(beta)
    new, old, ref, mask = _batch(seed=1)
    advantages = torch.randn(B, T, generator=torch.Generator().manual_seed(2))  # (B, T)
    theirs_new = new.clone().requires_grad_(True)
    theirs = _trl_loss(trainer, theirs_new, old, advantages, mask, ref if beta else None)
    ours_new = new.clone().requires_grad_(True)
    news, olds, refs, advs, rollouts = _as_steps([ours_new, old, ref, advantages], mask)
    ours, _ = grpo_loss(
        news, olds, advs, rollouts, clip_eps=0.2, ref=refs if beta else None, kl_coef=beta
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    theirs.backward()
    ours.backward()
    torch.testing.assert_close(ours_new.grad, theirs_new.grad * mask, rtol=1e-5, atol=1e-7)
    assert ours_new.grad[mask == 0].abs().sum() == 0  # masked tokens get no gradient


def test_zero_step_rewards_reproduce_plain_grpos_loss():
    trainer = _trl_trainer(0.0)
    nanstd = _symbol(
        __import__("trl.trainer.utils", fromlist=["nanstd"]), "nanstd", "trl.trainer.utils"
    )
    new, old, _, mask = _batch(seed=3)
    outcomes = torch.tensor([1.0, 0.0, 0.0])
    # TRL's plain GRPO advantages: one per completion, (r - mean) / (std + 1e-4).
    plain = (outcomes - outcomes.mean()) / (nanstd(outcomes) + 1e-4)
    theirs = _trl_loss(trainer, new.clone(), old, plain, mask)  # shape (B,)
    # Ours with the PAV mode and every step (progress) reward zero: two steps a rollout.
    rewards = [[0.0, float(o)] for o in outcomes]
    per_step = step_advantages("pav", rewards, rewards)
    token_adv = torch.tensor([[row[0]] * 2 + [row[1]] * (T - 2) for row in per_step])
    torch.testing.assert_close(token_adv[:, 0], plain.to(token_adv.dtype), rtol=1e-6, atol=0)
    news, olds, advs, rollouts = _as_steps([new, old, token_adv], mask)
    ours, _ = grpo_loss(news, olds, advs, rollouts, clip_eps=0.2)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-6, atol=1e-7)
