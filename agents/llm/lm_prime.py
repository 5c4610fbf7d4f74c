"""PRIME's online implicit PRM: the ``implicit_prm`` shaper's model, updated during LM training.

PRIME (Cui et al. 2025) keeps the implicit PRM ``r(y) = beta * log(pi_phi(y) / pi_ref(y))``
(:mod:`densegym.rewards.progress.implicit`) current with the policy: after each group of
rollouts, ``pi_phi`` takes a gradient step on the rollouts' *outcome* labels with the
cross-entropy ``BCE(sigmoid(beta * sum_i [log pi_phi(step_i | s_i) - log pi_ref(step_i | s_i)]),
success)`` -- no process labels. Here the step rewards of a group are computed while the
group is played (the env's shaper scores each step), so an update shapes the *next*
group's rewards.

:class:`OnlineImplicitPRM` finds the ``implicit_prm`` shapers of the trainer's envs, makes
them share one ``pi_phi`` and one ``pi_ref`` (one copy of each model for the group,
instead of one per env), and owns the optimizer; its ``state_dict`` goes into the LM
trainer's checkpoints (the shaper's own state holds no model weights).

Example:
    >>> import gymnasium as gym, densegym
    >>> envs = [gym.make("densegym/Arithmetic-v0", difficulty=1,
    ...                  shaping={"id": "implicit_prm", "policy": "tiny-random"})
    ...         for _ in range(2)]
    >>> prime = OnlineImplicitPRM(envs, lr=1e-3)
    >>> for env in envs:
    ...     _ = env.reset(seed=0)
    ...     _ = env.step(env.unwrapped.oracle_step())
    >>> stats = prime.update(envs, successes=[True, False])
    >>> stats["examples"], stats["loss"] > 0
    (2, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch

from densegym.rewards import find_shapers
from densegym.rewards.progress.implicit import (
    ImplicitPRMReward,
    OutcomeExample,
    continuation_logprobs,
    step_pairs,
)
from densegym.rewards.progress.state import question_of, reasoning_env


class OnlineImplicitPRM:
    """One shared ``pi_phi`` for the ``implicit_prm`` shapers of a group of envs, and its update.

    Args:
        envs: the trainer's envs (each with an ``implicit_prm`` term in its shaping).
        lr: AdamW learning rate of ``pi_phi`` (PRIME: 1e-6 for 7B models).

    Raises:
        ValueError: the envs have no ``implicit_prm`` shaper, or not one each.
    """

    def __init__(self, envs: Sequence[gym.Env], lr: float):
        shapers = [
            [s for s in find_shapers(env) if isinstance(s, ImplicitPRMReward)] for env in envs
        ]
        if not shapers or any(len(found) != 1 for found in shapers):
            raise ValueError(
                "prime_update needs exactly one implicit_prm term in the run's shaping, "
                'e.g. shaping={"id": "implicit_prm", "checkpoint": ...}'
            )
        first = shapers[0][0].model
        for (shaper,) in shapers[1:]:  # one pi_phi and one pi_ref for the whole group
            shaper.model.policy, shaper.model.reference = first.policy, first.reference
        self.prm = first
        self.model = first.policy.model
        self.reference = first.reference.model.requires_grad_(False)
        self.tokenizer = first.policy.tokenizer
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=float(lr), weight_decay=0.0)
        self.updates = 0

    @staticmethod
    def examples(envs: Sequence[gym.Env], successes: Sequence[bool]) -> list[OutcomeExample]:
        """The finished episodes of ``envs`` as outcome-labelled solutions (empty ones left out)."""
        out = []
        for env, success in zip(envs, successes):
            state = reasoning_env(env).get_state()
            if state.steps:
                out.append(OutcomeExample(question_of(state), tuple(state.steps), float(success)))
        return out

    def loss(self, examples: Sequence[OutcomeExample]) -> torch.Tensor:
        """PRIME's cross-entropy of the outcome labels under the implicit PRM's sequence reward."""
        prompts, conts, owner = [], [], []
        for index, example in enumerate(examples):
            p, c = step_pairs(example.question, example.steps)
            prompts += p
            conts += c
            owner += [index] * len(p)
        with torch.no_grad():
            ref = continuation_logprobs(self.reference, self.tokenizer, prompts, conts).cpu()
        theta = continuation_logprobs(self.model, self.tokenizer, prompts, conts).cpu()
        index = torch.tensor(owner)
        totals = torch.zeros(len(examples)).index_add(0, index, theta - ref)
        labels = torch.tensor([e.label for e in examples], dtype=totals.dtype)
        return torch.nn.functional.binary_cross_entropy_with_logits(self.prm.beta * totals, labels)

    def update(self, envs: Sequence[gym.Env], successes: Sequence[bool]) -> dict[str, float]:
        """One gradient step of ``pi_phi`` on the group's finished episodes.

        Returns:
            ``loss`` (before the step) and ``examples``; no step when no episode wrote one.
        """
        examples = self.examples(envs, successes)
        if not examples:
            return {"loss": 0.0, "examples": 0}
        self.model.train()
        loss = self.loss(examples)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.model.eval()
        self.updates += 1
        return {"loss": float(loss.detach()), "examples": len(examples)}

    def state_dict(self) -> dict[str, Any]:
        """``pi_phi``'s weights, its optimizer state and the update count."""
        weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        return {
            "weights": weights,
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.model.load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
