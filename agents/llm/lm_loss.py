"""The LM trainers' loss: per-token log-probabilities of generated steps and GRPO's clipped loss.

Observation tokens are never in the loss: a step is scored as (prompt = the chat turn
built from the observation, completion = the generated line) and only completion tokens
carry log-probabilities. :func:`grpo_loss` is the quantity TRL 1.16's GRPO computes with
``loss_type="grpo"`` (``tests/agents/test_lm_trl_contract.py`` checks it against TRL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["StepSample", "action_logprobs", "grpo_loss"]


@dataclass
class StepSample:
    """One generated step: what the model saw, what it wrote and how it scored.

    Attributes:
        prompt_ids: token ids of the prompt (masked out of the loss).
        action_ids: token ids of the generated step (the only tokens in the loss).
        rollout: index of the rollout in its group.
        advantage: the step's advantage (set after the group finished).
    """

    prompt_ids: list[int]
    action_ids: list[int]
    rollout: int
    advantage: float = 0.0


def _forward_parameters(model: Any) -> Any:
    """The keyword arguments the underlying causal LM's ``forward`` takes (through peft)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inspect.signature(base.forward).parameters


def action_logprobs(model: Any, samples: list[StepSample], pad_id: int) -> list[torch.Tensor]:
    """Per-token log-probabilities of each sample's action under ``model`` (one forward).

    Sequences are left-padded so every action ends at the last position; logits are
    computed only for the last ``max(action length) + 1`` positions (a vocabulary-wide
    logit row per prompt token would dominate memory), and only action positions are
    gathered, so observation (prompt) tokens get no gradient.

    Example:
        >>> import densegym.llm
        >>> llm = densegym.llm.load("tiny-random", tokenizer="bytes")
        >>> [lp.shape[0] for lp in action_logprobs(llm.model, [StepSample([5, 6], [7], 0),
        ...                                         StepSample([5], [8, 9], 0)], 0)]
        [1, 2]
    """
    device = next(model.parameters()).device
    seqs = [s.prompt_ids + s.action_ids for s in samples]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq) :] = torch.tensor(seq, device=device)
        mask[row, width - len(seq) :] = 1
    keep = min(width, max(len(s.action_ids) for s in samples) + 1)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    accepted = _forward_parameters(model)
    if "position_ids" in accepted:  # left padding: count positions from each row's start
        kwargs["position_ids"] = (mask.cumsum(1) - 1).clamp(min=0)
    if "logits_to_keep" in accepted:
        kwargs["logits_to_keep"] = keep
    logits = model(**kwargs).logits[:, -keep:].float()
    out = []
    for row, sample in enumerate(samples):
        n = len(sample.action_ids)
        # Logits at position t predict token t + 1: the last n + 1 positions but one.
        step_logits = logits[row, keep - n - 1 : keep - 1]
        targets = ids[row, width - n :]
        out.append(torch.log_softmax(step_logits, dim=-1).gather(1, targets[:, None])[:, 0])
    return out


def grpo_loss(
    new: list[torch.Tensor],
    old: list[torch.Tensor],
    advantages: list[float] | list[torch.Tensor],
    rollouts: list[int],
    *,
    clip_eps: float = 0.2,
    ref: list[torch.Tensor] | None = None,
    kl_coef: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO's clipped objective over step samples, averaged per rollout then over rollouts.

    Per token: ``-min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) + kl_coef * KL``
    with ``KL = exp(ref - new) - (ref - new) - 1`` (the k3 estimator, as DeepSeekMath);
    a rollout's loss is the mean over all its action tokens (every step). Seen as a
    (rollouts, tokens) batch with a mask over action tokens, this is TRL's
    ``loss_type="grpo"`` aggregation (``tests/agents/test_lm_trl_contract.py``).

    Args:
        new: per sample, token log-probs under the model being trained (with grad).
        old: per sample, token log-probs when the rollout was sampled.
        advantages: per sample, its step's advantage (a float), or one per token (a
            tensor shaped like the sample's log-probs).
        rollouts: per sample, its rollout index (tokens of one rollout are averaged).
        clip_eps: the ratio clip.
        ref: per sample, token log-probs under the reference model (for the KL).
        kl_coef: weight of the KL term.

    Returns:
        The loss and its statistics (``kl``, ``clip_fraction``, ``tokens``).

    Example:
        >>> lp = [torch.tensor([-1.0, -2.0], requires_grad=True)]
        >>> loss, stats = grpo_loss(lp, [lp[0].detach()], [0.5], [0])
        >>> round(loss.item(), 3), stats["clip_fraction"]
        (-0.5, 0.0)
    """
    per_rollout: dict[int, list[torch.Tensor]] = {}
    kls, clipped, tokens = [], 0, 0
    for i, (lp_new, lp_old) in enumerate(zip(new, old)):
        ratio = torch.exp(lp_new - lp_old)
        adv = advantages[i]
        if isinstance(adv, torch.Tensor):
            adv = adv.to(ratio.dtype)
            if adv.dim() and adv.shape != ratio.shape:
                raise ValueError(
                    f"sample {i}: {tuple(adv.shape)} advantages for {tuple(ratio.shape)} tokens"
                )
        else:
            adv = float(adv)
        surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
        token_loss = -surrogate
        if ref is not None:
            delta = ref[i] - lp_new
            kl = torch.exp(delta) - delta - 1
            kls.append(kl.detach())
            token_loss = token_loss + kl_coef * kl
        clipped += int(((ratio - 1).abs() > clip_eps).sum())
        tokens += int(lp_new.numel())
        per_rollout.setdefault(rollouts[i], []).append(token_loss)
    losses = [torch.cat(parts).mean() for parts in per_rollout.values()]
    loss = torch.stack(losses).mean()
    kl_mean = float(torch.cat(kls).mean()) if kls else 0.0
    return loss, {"kl": kl_mean, "clip_fraction": clipped / max(tokens, 1), "tokens": tokens}
