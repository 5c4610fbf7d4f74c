"""Fine-tune a language model on densegym's text envs with dense step rewards (``lm:grpo``).

Process-supervised GRPO (DeepSeekMath, Shao et al. 2024, section 4.1.3) over multi-step
envs: each iteration resets the env on one task and samples ``group_size`` rollouts
with the policy being trained, one generated line per env step. Each step's reward is
the env's shaped reward (``sum(info["reward_terms"].values())``: the outcome plus
whatever the run's ``shaping`` adds, ``pav``, ``potential``, guards... -- the same
shapers SB3 runs use). All step rewards of the group are normalised together and
every token of a step gets the sum of the normalised rewards of that step and the
steps after it (:func:`process_advantages`). The loss is GRPO's clipped ratio with an
optional KL term (k3 estimator) to the frozen initial model (:func:`grpo_loss`).

The loop is plain torch on the ``transformers`` model of a :mod:`densegym.llm`
backend, not TRL: TRL's ``GRPOTrainer`` samples single-turn completions from a
dataset and has no env loop, and it has removed its PPO/PRM trainers (process
supervision), so the multi-step rollout, the per-step advantages and the loss would
all have to be fed around its internals; the whole algorithm is ~100 lines here.
Observation tokens are never in the loss: each step is scored as (prompt = chat turn
built from the observation, completion = the generated line), and only completion
tokens carry log-probabilities.

Example:
    >>> process_advantages([[0.0, 1.0], [1.0]], digits=3)  # std 0.4714: r~ = -1.414, .707
    [[-0.707, 0.707], [0.707]]
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import densegym  # noqa: F401  (registers the env ids)
from densegym import logging as names
from densegym.agents.llm.prompts import chat_messages, completion_prompt
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.lock import lock_run_dir
from densegym.agents.runs.record import CONFIG_FILE, CURVE_COLUMNS, CURVE_FILE, SUMMARY_FILE

#: Hyperparameters of ``lm:grpo`` and their defaults (``RunConfig.hyperparams`` overrides).
DEFAULTS: dict[str, Any] = {
    "model": "tiny-random",  # a densegym.llm spec with a transformers backend
    "group_size": 4,  # rollouts per task (G)
    "learning_rate": 1e-5,
    "max_new_tokens": 32,  # per step (one line)
    "max_episode_steps": None,  # None: the env's registered limit
    "temperature": 1.0,
    "top_p": 1.0,
    "clip_eps": 0.2,
    "kl_coef": 0.0,  # > 0 keeps a frozen copy of the initial model as reference
    "epochs": 1,  # gradient passes over one group's samples
    "micro_batch": 16,  # step samples per forward pass
    "max_grad_norm": 1.0,
    "shots": 0,  # worked examples in the prompt
    "save_model": True,  # save_pretrained into <run_dir>/final_model at the end
}

_EPS = 1e-4


def process_advantages(
    rewards: list[list[float]], eps: float = _EPS, digits: int | None = 4
) -> list[list[float]]:
    """Process-supervised GRPO advantages of one group, one value per step.

    All step rewards of the group (every rollout, every step) are normalised together,
    ``(r - mean) / (std + eps)`` with the population std; the advantage of step ``j``
    of a rollout is the sum of its normalised rewards from step ``j`` on. Every token
    of a step shares its step's advantage.

    Args:
        rewards: per rollout, its step rewards in order.
        eps: added to the std (a group of equal rewards gets zero advantages).
        digits: round the result (``None``: keep full precision).

    Returns:
        The advantages, shaped like ``rewards``.

    Example:
        >>> process_advantages([[1.0, 1.0], [1.0]])
        [[0.0, 0.0], [0.0]]
        >>> process_advantages([[0.0, 0.0, 1.0], [0.0, 0.0]], digits=3)
        [[1.0, 1.5, 2.0], [-1.0, -0.5]]
    """
    flat = torch.tensor([r for rollout in rewards for r in rollout], dtype=torch.float64)
    if flat.numel() == 0:
        return [[] for _ in rewards]
    normed = ((flat - flat.mean()) / (flat.std(unbiased=False) + eps)).tolist()
    out, start = [], 0
    for rollout in rewards:
        part = normed[start : start + len(rollout)]
        start += len(rollout)
        # Reverse cumulative sum: the step's reward plus every later one.
        acc, suffix = 0.0, []
        for value in reversed(part):
            acc += value
            suffix.append(acc)
        suffix.reverse()
        out.append([round(v, digits) if digits is not None else v for v in suffix])
    return out


@dataclass
class StepSample:
    """One generated step: what the model saw, what it wrote and how it scored.

    Attributes:
        prompt_ids: token ids of the prompt (masked out of the loss).
        action_ids: token ids of the generated step (the only tokens in the loss).
        rollout: index of the rollout in its group.
        advantage: the step's process advantage (set after the group finished).
    """

    prompt_ids: list[int]
    action_ids: list[int]
    rollout: int
    advantage: float = 0.0


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
    import inspect

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
    accepted = inspect.signature(model.forward).parameters
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
    advantages: list[float],
    rollouts: list[int],
    *,
    clip_eps: float = 0.2,
    ref: list[torch.Tensor] | None = None,
    kl_coef: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO's clipped objective over step samples, averaged per rollout then over rollouts.

    Per token: ``-min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) + kl_coef * KL``
    with ``KL = exp(ref - new) - (ref - new) - 1`` (the k3 estimator, as DeepSeekMath);
    a rollout's loss is the mean over all its action tokens (every step).

    Args:
        new: per sample, token log-probs under the model being trained (with grad).
        old: per sample, token log-probs when the rollout was sampled.
        advantages: per sample, its step's advantage.
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
        adv = float(advantages[i])
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


class GRPOTrainer:
    """Process-supervised GRPO on one densegym text env (used by :func:`train`).

    Args:
        config: the run (env, shaping, seed, ``hyperparams`` over :data:`DEFAULTS`).

    Example:
        >>> import tempfile
        >>> cfg = RunConfig("densegym/Arithmetic-v0", trainer="lm:grpo", steps=4,
        ...                 logdir=tempfile.mkdtemp(),
        ...                 hyperparams={"group_size": 2, "max_new_tokens": 4,
        ...                              "max_episode_steps": 2})
        >>> trainer = GRPOTrainer(cfg)
        >>> stats = trainer.iteration(task_seed=0)
        >>> stats["env_steps"], math.isfinite(stats["loss"])
        (4, True)
    """

    def __init__(self, config: RunConfig):
        import densegym.llm

        unknown = sorted(set(config.hyperparams) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown lm:grpo hyperparameters {unknown}; known: {sorted(DEFAULTS)}"
            )
        self.config = config
        self.hp = {**DEFAULTS, **config.hyperparams}
        spec = self.hp["model"]
        options = {} if isinstance(spec, dict) else {"device": config.device}
        self.llm = densegym.llm.load(spec, **options)
        if not hasattr(self.llm, "model") or not hasattr(self.llm, "tokenizer"):
            raise ValueError(f"lm:grpo needs a transformers backend, got {spec!r}")
        self.model = self.llm.model
        self.tokenizer = self.llm.tokenizer
        self.device = next(self.model.parameters()).device
        self.pad_id = self.tokenizer.pad_token_id
        self.ref = None
        if float(self.hp["kl_coef"]) > 0:
            self.ref = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=float(self.hp["learning_rate"]), weight_decay=0.0
        )
        env_kwargs = dict(config.env_kwargs)
        if config.shaping is not None:
            env_kwargs["shaping"] = config.shaping
        group = int(self.hp["group_size"])
        if group < 2:
            raise ValueError(f"group_size must be at least 2, got {group}")
        self.envs = [gym.make(config.env_id, **env_kwargs) for _ in range(group)]
        limit = self.hp["max_episode_steps"] or self.envs[0].spec.max_episode_steps or 16
        self.max_steps = int(limit)
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.env_steps = 0
        self.episodes = 0
        self.window: deque[dict[str, float]] = deque(maxlen=30)

    # -- rollouts ---------------------------------------------------------------
    def _prompt_ids(self, observation: str) -> list[int]:
        shots = int(self.hp["shots"])
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                chat_messages(observation, shots=shots), add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return list(ids)
        return self.tokenizer(completion_prompt(observation, shots=shots))["input_ids"]

    def _cut(self, generated: list[int]) -> tuple[list[int], str]:
        """The generated tokens up to the first end token or newline, and the step text."""
        eos = {self.tokenizer.eos_token_id, self.pad_id} - {None}
        kept: list[int] = []
        for token in generated:
            if token in eos:
                kept.append(token)  # the model chose to end its step: part of the action
                break
            kept.append(token)
            if "\n" in self.tokenizer.decode([token]):
                break
        text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        return kept, text.split("\n")[0] if text else ""

    @torch.no_grad()
    def _generate(self, prompts: list[list[int]]) -> list[list[int]]:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):  # left padding for generation
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                do_sample=True,
                temperature=float(self.hp["temperature"]),
                top_p=float(self.hp["top_p"]),
                top_k=0,
                max_new_tokens=int(self.hp["max_new_tokens"]),
                pad_token_id=self.pad_id,
            )
        return [row[width:].tolist() for row in out.cpu()]

    def rollouts(self, task_seed: int) -> tuple[list[StepSample], list[list[float]], dict]:
        """Sample one group on the task drawn by ``task_seed``.

        Returns:
            The step samples, each rollout's step rewards, and episode statistics.
        """
        self.model.eval()
        observations = [env.reset(seed=task_seed)[0] for env in self.envs]
        active = list(range(len(self.envs)))
        samples: list[StepSample] = []
        rewards: list[list[float]] = [[] for _ in self.envs]
        terms: list[dict[str, float]] = [{} for _ in self.envs]
        success = [False] * len(self.envs)
        for _ in range(self.max_steps):
            if not active:
                break
            prompts = [self._prompt_ids(observations[i]) for i in active]
            generated = self._generate(prompts)
            still = []
            for i, prompt, tokens in zip(active, prompts, generated):
                action_ids, text = self._cut(tokens)
                if not action_ids:  # nothing generated: score the end token
                    action_ids = [self.tokenizer.eos_token_id]
                obs, reward, terminated, truncated, info = self.envs[i].step(text)
                self.env_steps += 1
                samples.append(StepSample(prompt, action_ids, i))
                rewards[i].append(float(reward))
                for name, value in info.get("reward_terms", {"extrinsic": reward}).items():
                    terms[i][name] = terms[i].get(name, 0.0) + float(value)
                success[i] = bool(info.get("is_success", False))
                observations[i] = obs
                if not (terminated or truncated):
                    still.append(i)
            active = still
        for i in range(len(self.envs)):
            episode = {names.SUCCESS_RATE: float(success[i]), "length": len(rewards[i])}
            episode.update({names.reward_tag(k): v for k, v in terms[i].items()})
            self.window.append(episode)
            self.episodes += 1
        return samples, rewards, {"success": sum(success) / len(success)}

    # -- update -------------------------------------------------------------------
    def _logprobs(self, model: Any, samples: list[StepSample]) -> list[torch.Tensor]:
        size = int(self.hp["micro_batch"])
        out: list[torch.Tensor] = []
        for start in range(0, len(samples), size):
            out += action_logprobs(model, samples[start : start + size], self.pad_id)
        return out

    def update(self, samples: list[StepSample]) -> dict[str, float]:
        """Take ``epochs`` gradient steps on one group's samples; returns loss statistics."""
        with torch.no_grad():
            self.model.eval()
            old = [lp.detach() for lp in self._logprobs(self.model, samples)]
            ref = [lp.detach() for lp in self._logprobs(self.ref, samples)] if self.ref else None
        self.model.train()
        stats: dict[str, float] = {}
        for _ in range(int(self.hp["epochs"])):
            self.optimizer.zero_grad(set_to_none=True)
            new = self._logprobs(self.model, samples)
            loss, stats = grpo_loss(
                new,
                old,
                [s.advantage for s in samples],
                [s.rollout for s in samples],
                clip_eps=float(self.hp["clip_eps"]),
                ref=ref,
                kl_coef=float(self.hp["kl_coef"]),
            )
            loss.backward()
            if self.hp["max_grad_norm"]:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp["max_grad_norm"])
            self.optimizer.step()
            stats = {**stats, "loss": float(loss.detach())}
        self.model.eval()
        return stats

    def iteration(self, task_seed: int) -> dict[str, float]:
        """One group: rollouts, advantages and an update; returns the iteration's scalars."""
        samples, rewards, episode = self.rollouts(task_seed)
        advantages = process_advantages(rewards, digits=None)
        position = [0] * len(rewards)
        for sample in samples:  # samples are in step order within each rollout
            sample.advantage = advantages[sample.rollout][position[sample.rollout]]
            position[sample.rollout] += 1
        stats = self.update(samples)
        n_steps = sum(len(r) for r in rewards)
        return {
            **stats,
            "reward": sum(map(sum, rewards)) / len(rewards),
            "success": episode["success"],
            "env_steps": n_steps,
        }

    def window_means(self) -> dict[str, float]:
        """Means over the last 30 episodes, under the shared TensorBoard names."""
        keys = {k for episode in self.window for k in episode}
        means = {k: sum(e.get(k, 0.0) for e in self.window) / len(self.window) for k in keys}
        means[names.EPISODE_LENGTH] = means.pop("length", 0.0)
        means[names.EPISODES] = float(self.episodes)
        return means

    def close(self) -> None:
        """Close the group's envs."""
        for env in self.envs:
            env.close()


def train(
    config: RunConfig, *, resume: bool = False, progress: bool = True, **_: Any
) -> dict[str, Any]:
    """Train an ``lm:grpo`` run into its run directory and return its summary.

    ``config.steps`` counts env steps (generated lines), as for every trainer; one
    iteration is one group of ``group_size`` rollouts on one task. The run dir gets
    ``config.json``, ``curve.csv`` (:data:`~densegym.agents.runs.record.CURVE_COLUMNS`,
    a row per iteration once ``log_every`` steps passed), ``summary.json``, TensorBoard
    scalars (``lm/*``, ``episode/*``, ``reward/<term>``) and ``final_model/``.

    Args:
        config: the run; ``config.trainer`` is ``"lm:grpo"``.
        resume: not supported yet (raises).
        progress: unused (no progress bar yet).

    Example:
        >>> import tempfile
        >>> cfg = RunConfig("densegym/Arithmetic-v0", trainer="lm:grpo", steps=4,
        ...                 logdir=tempfile.mkdtemp(),
        ...                 hyperparams={"group_size": 2, "max_new_tokens": 4,
        ...                              "max_episode_steps": 2, "save_model": False})
        >>> train(cfg, progress=False)["timesteps"] >= 4
        True
    """
    if config.trainer != "lm:grpo":
        raise ValueError(f"the lm:grpo train function got a config for {config.trainer!r}")
    if resume:
        raise NotImplementedError("lm:grpo runs cannot be resumed yet (no checkpoints)")
    if str(config.device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {config.device!r}: CUDA is not available here")
    with lock_run_dir(config.run_dir):
        return _train(config)


def _train(config: RunConfig) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, config.torch_threads))
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    trainer = GRPOTrainer(config)
    config.save(run_dir / CONFIG_FILE)
    curve_path = run_dir / CURVE_FILE
    with curve_path.open("w", newline="") as handle:
        csv.writer(handle).writerow(CURVE_COLUMNS)
    writer = SummaryWriter(str(run_dir))
    start, last_log, iteration, latest = time.perf_counter(), -math.inf, 0, {}
    stopped = False
    try:
        while trainer.env_steps < config.steps:
            # Task seeds run far from the eval seeds a benchmark would hold out.
            stats = trainer.iteration(task_seed=config.seed * 1_000_003 + iteration)
            iteration += 1
            step = trainer.env_steps
            finished = step >= config.steps
            if step - last_log >= config.log_every or finished or iteration == 1:
                latest = trainer.window_means()
                scalars = {
                    names.LM_LOSS: stats["loss"],
                    names.LM_KL: stats["kl"],
                    names.LM_REWARD: stats["reward"],
                    names.LM_TOKENS: stats["tokens"],
                    names.LM_CLIP_FRACTION: stats["clip_fraction"],
                    names.FPS: step / max(time.perf_counter() - start, 1e-9),
                    **latest,
                }
                for key, value in scalars.items():
                    writer.add_scalar(key, value, step)
                shaped = sum(v for k, v in latest.items() if k.startswith("reward/"))
                row = (
                    step,
                    int(latest[names.EPISODES]),
                    latest[names.SUCCESS_RATE],
                    latest.get(names.reward_tag(names.EXTRINSIC), 0.0),
                    shaped,
                )
                with curve_path.open("a", newline="") as handle:
                    csv.writer(handle).writerow(row)
                last_log = step
            if config.time_limit_s and time.perf_counter() - start >= config.time_limit_s:
                stopped = True
                break
    finally:
        writer.close()
        trainer.close()
        torch.set_num_threads(threads_before)
    wall = time.perf_counter() - start
    if trainer.hp["save_model"]:
        trainer.model.save_pretrained(run_dir / "final_model")
        trainer.tokenizer.save_pretrained(run_dir / "final_model")
    summary = {
        "env_id": config.env_id,
        "trainer": config.trainer,
        "algo": config.algo,
        "shaping": config.label,
        "seed": config.seed,
        "timesteps": int(trainer.env_steps),
        "episodes": int(trainer.episodes),
        "iterations": iteration,
        "success_rate": latest.get(names.SUCCESS_RATE, float("nan")),
        "extrinsic_return": latest.get(names.reward_tag(names.EXTRINSIC), float("nan")),
        "wall_time_s": wall,
        "env_steps_per_s": trainer.env_steps / wall if wall > 0 else 0.0,
        "run_dir": str(run_dir),
        "stopped_at_time_limit": stopped,
    }
    partial = run_dir / f".{SUMMARY_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(summary, indent=2))
    os.replace(partial, Path(run_dir) / SUMMARY_FILE)
    return summary
