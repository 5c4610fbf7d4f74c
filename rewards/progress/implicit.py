r"""``implicit_prm``: process rewards from an outcome model parameterised as a log-ratio.

"Free Process Rewards without Process Labels" (Yuan et al., 2024) and PRIME: train an
*outcome* reward model of the form ``r(y) = β · log(π_θ(y) / π_ref(y))`` with a
cross-entropy loss on outcome labels only; the same model then gives every step the
reward ``β · (log π_θ(step | s) − log π_ref(step | s))``, and these step rewards sum to
the sequence-level reward ``r(y)``.

A solution is scored step by step: step ``i`` is the continuation ``"<step>\\n"`` of the
prompt :func:`~densegym.rewards.progress.state.solution_prompt` (question and the steps
before it). :class:`ImplicitPRM` holds the two ``densegym.llm`` models,
:func:`train_implicit_prm` fits π_θ (any local transformers backend, e.g.
``tiny-random`` in tests or ``smollm2``), and :class:`ImplicitPRMReward` is the shaper.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from densegym.envs.reasoning.base import ReasoningState
from densegym.envs.reasoning.provers import Prover, make_prover
from densegym.rewards.core import Transition
from densegym.rewards.progress.base import StepRewardShaper
from densegym.rewards.progress.state import question_of, solution_prompt, step_continuation

#: The β of PRIME's implicit PRM.
DEFAULT_BETA = 0.05


@dataclass(frozen=True)
class OutcomeExample:
    """A whole solution and whether its final answer was right.

    Attributes:
        question: the task's question.
        steps: the solution's steps.
        label: 1.0 for a correct final answer, else 0.0.
    """

    question: str
    steps: tuple[str, ...]
    label: float


def step_pairs(question: str, steps: Sequence[str]) -> tuple[list[str], list[str]]:
    r"""Return the (prompt, continuation) pair of every step.

    Example:
        >>> prompts, conts = step_pairs("Q?", ["1 + 1 = 2", "Answer: 2"])
        >>> conts, prompts[1].endswith("1 + 1 = 2\n")
        (['1 + 1 = 2\n', 'Answer: 2\n'], True)
    """
    steps = list(steps)
    prompts = [solution_prompt(question, steps[:i]) for i in range(len(steps))]
    return prompts, [step_continuation(s) for s in steps]


def _encode(tokenizer: Any, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """Tokenise like the backends' ``logprobs``: prompt with special tokens, target without."""
    context = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    if not context:
        context = [tokenizer.bos_token_id]
    return context, list(tokenizer(continuation, add_special_tokens=False)["input_ids"])


def continuation_logprobs(
    model: Any, tokenizer: Any, prompts: Sequence[str], continuations: Sequence[str]
) -> torch.Tensor:
    """Sum of ``log p(continuation | prompt)`` per pair, differentiable (one padded batch).

    Logits are computed only at the continuation's positions, so a large vocabulary does
    not blow up memory. Written by hand because the backends score without gradients.
    """
    pairs = [_encode(tokenizer, p, c) for p, c in zip(prompts, continuations)]
    width = max(len(c) + len(t) for c, t in pairs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    ids = torch.full((len(pairs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    rows, cols, targets, owner = [], [], [], []
    for row, (context, target) in enumerate(pairs):
        ids[row, : len(context) + len(target)] = torch.tensor(context + target)
        mask[row, : len(context) + len(target)] = 1
        for j, token in enumerate(target):
            rows.append(row)
            cols.append(len(context) + j - 1)  # the position that predicts this token
            targets.append(token)
            owner.append(row)
    hidden = model.get_decoder()(input_ids=ids.to(device), attention_mask=mask.to(device))
    states = hidden.last_hidden_state[torch.tensor(rows), torch.tensor(cols)]
    logits = model.get_output_embeddings()(states).float()
    picked = torch.log_softmax(logits, dim=-1).gather(
        1, torch.tensor(targets, device=logits.device)[:, None]
    )[:, 0]
    totals = torch.zeros(len(pairs), device=logits.device, dtype=picked.dtype)
    return totals.index_add(0, torch.tensor(owner, device=logits.device), picked)


class ImplicitPRM:
    """Two language models whose log-ratio scores steps: ``β · log(π_θ / π_ref)``.

    Args:
        policy: backend spec of π_θ (``"tiny-random"``, ``"smollm2"``, ``"hf:<path>"``).
        reference: backend spec of π_ref (default: the same as ``policy``).
        checkpoint: π_θ weights saved by :func:`train_implicit_prm` (its policy and
            reference specs and β are used unless given here). Without one, π_θ = π_ref
            and every reward is 0.
        beta: the β scale (default: the checkpoint's, else :data:`DEFAULT_BETA`).

    Example:
        >>> prm = ImplicitPRM("tiny-random")
        >>> prm.step_rewards("What is 1 + 1?", ["1 + 1 = 2", "Answer: 2"]).tolist()
        [0.0, 0.0]
    """

    def __init__(
        self,
        policy: str | None = None,
        reference: str | None = None,
        checkpoint: str | Path | None = None,
        beta: float | None = None,
    ):
        import densegym.llm

        saved: dict[str, Any] = {}
        if checkpoint is not None:
            if not Path(checkpoint).exists():
                raise FileNotFoundError(
                    f"no implicit PRM at {checkpoint}; train one with train_implicit_prm(path=...)"
                )
            saved = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
        self.policy_spec = policy or saved.get("policy") or "smollm2"
        self.reference_spec = reference or saved.get("reference") or self.policy_spec
        self.beta = float(beta if beta is not None else saved.get("beta", DEFAULT_BETA))
        self.policy = densegym.llm.load(self.policy_spec)
        self.reference = densegym.llm.load(self.reference_spec)
        if saved:
            self.policy.model.load_state_dict(saved["state_dict"])

    def step_log_ratios(self, question: str, steps: Sequence[str]) -> np.ndarray:
        """Return ``log π_θ(step_i | s_i) − log π_ref(step_i | s_i)`` for every step."""
        if not steps:
            return np.zeros(0)
        prompts, conts = step_pairs(question, steps)
        return self._ratios(prompts, conts)

    def last_step_log_ratio(self, question: str, steps: Sequence[str]) -> float:
        """Return the log-ratio of the newest step only (one scoring call per model)."""
        steps = list(steps)
        prompt = solution_prompt(question, steps[:-1])
        return float(self._ratios([prompt], [step_continuation(steps[-1])])[0])

    def _ratios(self, prompts: list[str], conts: list[str]) -> np.ndarray:
        theta = self.policy.logprobs(prompts, conts)
        ref = self.reference.logprobs(prompts, conts)
        return np.array([a.total - b.total for a, b in zip(theta, ref)], dtype=np.float64)

    def step_rewards(self, question: str, steps: Sequence[str]) -> np.ndarray:
        """Return ``β · log-ratio`` for every step."""
        return self.beta * self.step_log_ratios(question, steps)

    def sequence_log_ratio(self, question: str, steps: Sequence[str]) -> float:
        """Return ``log π_θ(y) − log π_ref(y)`` of a whole solution.

        It is computed the way :func:`train_implicit_prm` computes it (one padded batch
        through the models), independently of the backends' ``logprobs``.
        """
        if not steps:
            return 0.0
        prompts, conts = step_pairs(question, steps)
        with torch.no_grad():
            theta = continuation_logprobs(
                self.policy.model, self.policy.tokenizer, prompts, conts
            ).sum()
            ref = continuation_logprobs(
                self.reference.model, self.reference.tokenizer, prompts, conts
            ).sum()
        return float(theta - ref)

    def outcome_probability(self, question: str, steps: Sequence[str]) -> float:
        """Return σ(β · sequence log-ratio): the implicit outcome model's P(correct)."""
        return float(
            torch.sigmoid(torch.tensor(self.beta * self.sequence_log_ratio(question, steps)))
        )


def collect_outcome_examples(
    env: str | gym.Env = "densegym/WordProblems-v0",
    policy: str | Prover = "oracle-0.7",
    n_problems: int = 32,
    samples_per_problem: int = 2,
    seed: int = 0,
    max_steps: int = 16,
    env_kwargs: dict[str, Any] | None = None,
) -> list[OutcomeExample]:
    """Sample whole solutions from ``policy`` and keep only their final outcome.

    Example:
        >>> data = collect_outcome_examples("densegym/Arithmetic-v0", n_problems=2,
        ...                                 env_kwargs={"difficulty": 1})
        >>> len(data), {d.label for d in data} <= {0.0, 1.0}
        (4, True)
    """
    own = isinstance(env, str)
    environment = gym.make(env, **(env_kwargs or {})) if own else env
    prover = make_prover(policy, seed=seed)
    out = []
    try:
        for problem in range(n_problems):
            environment.reset(seed=seed + problem)
            question = question_of(environment.unwrapped.get_state())
            for rollout in prover.rollouts(environment, samples_per_problem, max_steps=max_steps):
                out.append(OutcomeExample(question, rollout.steps, float(rollout.success)))
    finally:
        if own:
            environment.close()
    return out


@dataclass
class ImplicitTrainResult:
    """What :func:`train_implicit_prm` returns.

    Attributes:
        model: the trained :class:`ImplicitPRM`.
        losses: mean cross-entropy per epoch (the first entry is before training).
        n_examples: solutions trained on.
        path: where π_θ was saved (``None`` if not saved).
    """

    model: ImplicitPRM
    losses: list[float] = field(default_factory=list)
    n_examples: int = 0
    path: str | None = None


def _epoch_loss(prm: ImplicitPRM, examples: Sequence[OutcomeExample], ref: list[float]) -> float:
    with torch.no_grad():
        return float(_batch_loss(prm, examples, ref))


def _batch_loss(
    prm: ImplicitPRM, examples: Sequence[OutcomeExample], ref_totals: Sequence[float]
) -> torch.Tensor:
    prompts, conts, owner = [], [], []
    for index, example in enumerate(examples):
        p, c = step_pairs(example.question, example.steps)
        prompts += p
        conts += c
        owner += [index] * len(p)
    per_step = continuation_logprobs(prm.policy.model, prm.policy.tokenizer, prompts, conts)
    theta = torch.zeros(len(examples)).index_add(0, torch.tensor(owner), per_step.cpu())
    reward = prm.beta * (theta - torch.tensor(ref_totals, dtype=theta.dtype))
    labels = torch.tensor([e.label for e in examples], dtype=theta.dtype)
    return torch.nn.functional.binary_cross_entropy_with_logits(reward, labels)


def train_implicit_prm(
    examples: Sequence[OutcomeExample] | None = None,
    *,
    env: str | gym.Env = "densegym/WordProblems-v0",
    data_policy: str | Prover = "oracle-0.7",
    n_problems: int = 32,
    samples_per_problem: int = 2,
    env_kwargs: dict[str, Any] | None = None,
    policy: str = "smollm2",
    reference: str | None = None,
    beta: float = DEFAULT_BETA,
    epochs: int = 2,
    lr: float = 1e-4,
    batch_size: int = 8,
    seed: int = 0,
    path: str | Path | None = None,
) -> ImplicitTrainResult:
    """Fit π_θ from outcome labels only, with PRIME's cross-entropy objective.

    ``loss = BCE(σ(β · Σ_i [log π_θ(step_i|s_i) − log π_ref(step_i|s_i)]), outcome)``.

    Args:
        examples: labelled solutions (skips the data collection).
        env: reasoning env id or instance the solutions are written on.
        data_policy: the prover that writes the solutions.
        n_problems: problems sampled.
        samples_per_problem: solutions per problem.
        env_kwargs: kwargs for ``gym.make``.
        policy: backend spec of π_θ, initialised from it (a local transformers model).
        reference: backend spec of π_ref (default: ``policy``), kept frozen.
        beta: β.
        epochs: passes over the data.
        lr: AdamW learning rate.
        batch_size: solutions per gradient step.
        seed: data and shuffling seed.
        path: save π_θ here (load it with ``ImplicitPRM(checkpoint=path)`` or the
            ``implicit_prm`` shaper).

    Example:
        >>> data = [OutcomeExample("What is 1 + 1?", ("1 + 1 = 2", "Answer: 2"), 1.0),
        ...         OutcomeExample("What is 1 + 1?", ("1 + 1 = 3", "Answer: 3"), 0.0)]
        >>> result = train_implicit_prm(data, policy="tiny-random", beta=0.5, epochs=3,
        ...                             lr=1e-3)
        >>> result.losses[-1] < result.losses[0]
        True
    """
    if examples is None:
        examples = collect_outcome_examples(
            env, data_policy, n_problems, samples_per_problem, seed, env_kwargs=env_kwargs
        )
    examples = list(examples)
    if not examples:
        raise ValueError("no examples to train an implicit PRM on")
    prm = ImplicitPRM(policy, reference, beta=beta)
    if prm.policy is prm.reference:
        raise ValueError("π_θ and π_ref must be two model instances")
    with torch.no_grad():
        ref_totals = []
        for example in examples:
            p, c = step_pairs(example.question, example.steps)
            totals = continuation_logprobs(prm.reference.model, prm.reference.tokenizer, p, c)
            ref_totals.append(float(totals.sum()))
    torch.manual_seed(seed)
    order = list(range(len(examples)))
    rng = random.Random(seed)
    model = prm.policy.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = [_epoch_loss(prm, examples, ref_totals)]
    model.train()
    for _ in range(int(epochs)):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = _batch_loss(prm, [examples[i] for i in batch], [ref_totals[i] for i in batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        losses.append(_epoch_loss(prm, examples, ref_totals))
        model.train()
    model.eval()
    result = ImplicitTrainResult(prm, losses, len(examples))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": model.state_dict(),
                "policy": prm.policy_spec,
                "reference": prm.reference_spec,
                "beta": prm.beta,
            },
            str(path),
        )
        result.path = str(path)
    return result


class ImplicitPRMReward(StepRewardShaper):
    """Implicit PRM step reward: β times the log-ratio of π_θ to π_ref on each new step.

    The reward of step ``a`` from state ``s`` is ``β · (log π_θ(a|s) − log π_ref(a|s))``.

    Args:
        env: a reasoning env or a view of one.
        checkpoint: π_θ saved by :func:`train_implicit_prm`.
        policy: π_θ backend spec (default: the checkpoint's, else ``"smollm2"``).
        reference: π_ref backend spec (default: the checkpoint's, else ``policy``).
        beta: β (default: the checkpoint's).
        guard, threshold: ``"clip"``/``"delta"`` guards against reward farming.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Over an episode the (unguarded) terms sum to β times the sequence log-ratio.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1,
        ...                shaping={"id": "implicit_prm", "policy": "tiny-random"})
        >>> _ = env.reset(seed=0)
        >>> env.step(env.unwrapped.oracle_step())[4]["reward_terms"]["implicit_prm"]
        0.0
    """

    registry_name = "implicit_prm"
    requires = ("Snapshotable", "HasStepChain")

    def __init__(
        self,
        env: gym.Env,
        *,
        checkpoint: str | None = None,
        policy: str | None = None,
        reference: str | None = None,
        beta: float | None = None,
        guard: str | None = None,
        threshold: float = 0.0,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(
            env,
            guard=guard,
            threshold=threshold,
            coef=coef,
            normalize=normalize,
            clip=clip,
            name=name,
        )
        self.model = ImplicitPRM(policy, reference, checkpoint, beta)

    def step_reward(
        self, before: ReasoningState, after: ReasoningState, transition: Transition
    ) -> float:
        """Return β times the newest step's log-ratio."""
        if not after.steps:
            return 0.0
        ratio = self.model.last_step_log_ratio(question_of(after), after.steps)
        return self.model.beta * ratio
