"""Fine-tune a language model on densegym's text envs with dense step rewards.

Two trainers share one rollout loop, one loss and one run loop and differ only in the
advantage function (:mod:`densegym.agents.llm.lm_advantages`):

* ``lm:grpo`` -- GRPO with ``advantage="process"`` (DeepSeekMath's process supervision,
  the default; ``process_weight`` mixes in the outcome advantage), ``"outcome"`` (plain
  GRPO) or ``"pav"`` (PAV: the outcome advantage plus the later step progress);
* ``lm:rloo`` -- the leave-one-out baseline (RLOO / LOOP).

Each iteration resets the env on one task and samples ``group_size`` rollouts with the
policy being trained, one generated line per env step. Each step's reward is the env's
shaped reward (``info["reward_terms"]``: the ``extrinsic`` outcome plus whatever the
run's ``shaping`` adds, ``pav``, ``prm``, ``potential``, guards... -- the same shapers SB3
runs use); every token of a step gets its step's advantage. The loss is GRPO's clipped
ratio with an optional KL term (k3 estimator) to the frozen initial model
(:func:`grpo_loss`); with ``lora_r > 0`` only LoRA adapters (``peft``) train and the
reference is the base model with the adapters switched off. With ``prime_update`` the
``implicit_prm`` term's model learns from each group's outcomes (PRIME,
:mod:`densegym.agents.llm.lm_prime`).

The loop is plain torch on the ``transformers`` model of a :mod:`densegym.llm`
backend, not TRL: TRL's ``GRPOTrainer`` samples single-turn completions from a
dataset and has no env loop, and it has removed its PPO/PRM trainers (process
supervision), so the multi-step rollout, the per-step advantages and the loss would
all have to be fed around its internals. The loss is checked against TRL's own
(``tests/agents/test_lm_trl_contract.py``). Observation tokens are never in the loss:
each step is scored as (prompt = chat turn built from the observation, completion =
the generated line), and only completion tokens carry log-probabilities.

Runs checkpoint every ``checkpoint_iterations`` iterations (and every
``RunConfig.checkpoint_every`` env steps when set, and at the end) into
``checkpoints/step_<N>`` (:mod:`densegym.agents.llm.lm_checkpoint`) and resume with
``train(config, resume=True)`` / ``densegym train --resume RUN_DIR``, continuing the
uninterrupted run's random streams.

Example:
    >>> process_advantages([[0.0, 1.0], [1.0]], digits=3)  # std 0.4714: r~ = -1.414, .707
    [[-0.707, 0.707], [0.707]]
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import densegym  # noqa: F401  (registers the env ids)
from densegym import logging as names
from densegym.agents.llm.lm_advantages import GRPO_MODES, process_advantages, step_advantages
from densegym.agents.llm.lm_checkpoint import (
    load_latest_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from densegym.agents.llm.lm_loss import StepSample, action_logprobs, grpo_loss
from densegym.agents.llm.prompts import chat_messages, completion_prompt
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.lock import lock_run_dir, write_text_atomically
from densegym.agents.runs.record import CONFIG_FILE, CURVE_COLUMNS, CURVE_FILE, SUMMARY_FILE

__all__ = [
    "DEFAULTS",
    "GRPOTrainer",
    "LMTrainer",
    "StepSample",
    "action_logprobs",
    "grpo_loss",
    "process_advantages",
    "train",
]

#: Hyperparameters of ``lm:grpo`` / ``lm:rloo`` and their defaults
#: (``RunConfig.hyperparams`` overrides).
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
    "advantage": None,  # lm:grpo: process (default), outcome, pav; lm:rloo: rloo
    "process_weight": 1.0,  # advantage="process": weight of process vs outcome advantage
    "checkpoint_iterations": 10,  # iterations between checkpoints (0: only at the end)
    "keep_checkpoints": 2,  # complete checkpoints kept in <run_dir>/checkpoints
    "lora_r": 0,  # LoRA rank (peft); 0: full fine-tune
    "lora_alpha": None,  # None: 2 * lora_r
    "lora_dropout": 0.0,
    "prime_update": False,  # PRIME: update the implicit_prm shaper's model from outcomes
    "prime_lr": 1e-6,  # its AdamW learning rate
}

#: The trainer names this module trains, and their advantage modes.
ALGORITHMS: dict[str, tuple[str, ...]] = {"grpo": GRPO_MODES, "rloo": ("rloo",)}

LORA_INSTALL = 'pip install -e ".[lmrl]"'


def _apply_lora(model: Any, hp: dict[str, Any]) -> Any:
    """Wrap ``model`` in LoRA adapters on every linear layer (``peft``); base weights frozen."""
    try:
        import peft
    except ImportError as error:
        raise gym.error.DependencyNotInstalled(
            f"lora_r > 0 needs peft ({error}); install the lmrl extra with: {LORA_INSTALL}"
        ) from error
    rank = int(hp["lora_r"])
    config = peft.LoraConfig(
        r=rank,
        lora_alpha=float(hp["lora_alpha"] or 2 * rank),
        lora_dropout=float(hp["lora_dropout"]),
        target_modules="all-linear",
        bias="none",
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, config)


class LMTrainer:
    """GRPO or RLOO with step rewards on one densegym text env (used by :func:`train`).

    Args:
        config: the run (env, shaping, seed, ``trainer`` ``"lm:grpo"`` or ``"lm:rloo"``,
            ``hyperparams`` over :data:`DEFAULTS`).

    Example:
        >>> import tempfile
        >>> cfg = RunConfig("densegym/Arithmetic-v0", trainer="lm:grpo", steps=4,
        ...                 logdir=tempfile.mkdtemp(),
        ...                 hyperparams={"group_size": 2, "max_new_tokens": 4,
        ...                              "max_episode_steps": 2})
        >>> trainer = LMTrainer(cfg)
        >>> stats = trainer.iteration(task_seed=0)
        >>> stats["env_steps"], math.isfinite(stats["loss"])
        (4, True)
    """

    def __init__(self, config: RunConfig):
        import densegym.llm

        algo = config.algo
        if config.trainer_kind != "lm" or algo not in ALGORITHMS:
            raise ValueError(f"LMTrainer trains lm:grpo or lm:rloo, not {config.trainer!r}")
        unknown = sorted(set(config.hyperparams) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown {config.trainer} hyperparameters {unknown}; known: {sorted(DEFAULTS)}"
            )
        self.config = config
        self.hp = {**DEFAULTS, **config.hyperparams}
        modes = ALGORITHMS[algo]
        self.advantage_mode = self.hp["advantage"] or modes[0]
        if self.advantage_mode not in modes:
            raise ValueError(
                f"{config.trainer} takes advantage {' or '.join(map(repr, modes))}, "
                f"not {self.advantage_mode!r}"
            )
        weight = float(self.hp["process_weight"])
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"process_weight must be in [0, 1], got {self.hp['process_weight']!r}")
        group = int(self.hp["group_size"])
        if group < 2:
            raise ValueError(f"group_size must be at least 2, got {group}")
        spec = self.hp["model"]
        options = {} if isinstance(spec, dict) else {"device": config.device}
        self.llm = densegym.llm.load(spec, **options)
        if not hasattr(self.llm, "model") or not hasattr(self.llm, "tokenizer"):
            raise ValueError(f"{config.trainer} needs a transformers backend, got {spec!r}")
        self.model = self.llm.model
        self.lora = int(self.hp["lora_r"]) > 0
        if self.lora:
            self.model = _apply_lora(self.model, self.hp)
        self.tokenizer = self.llm.tokenizer
        self.device = next(self.model.parameters()).device
        self.pad_id = self.tokenizer.pad_token_id
        self.ref = None
        if float(self.hp["kl_coef"]) > 0 and not self.lora:  # LoRA: the adapter-free base
            self.ref = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=float(self.hp["learning_rate"]),
            weight_decay=0.0,
        )
        env_kwargs = dict(config.env_kwargs)
        if config.shaping is not None:
            env_kwargs["shaping"] = config.shaping
        self.envs = [gym.make(config.env_id, **env_kwargs) for _ in range(group)]
        limit = self.hp["max_episode_steps"] or self.envs[0].spec.max_episode_steps or 16
        self.max_steps = int(limit)
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.env_steps = 0
        self.episodes = 0
        self.generated_tokens = 0
        self.window: deque[dict[str, float]] = deque(maxlen=30)
        self.prime = None
        if self.hp["prime_update"]:
            from densegym.agents.llm.lm_prime import OnlineImplicitPRM

            self.prime = OnlineImplicitPRM(self.envs, lr=float(self.hp["prime_lr"]))

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
    def _generate(self, prompts: list[list[int]], greedy: bool = False) -> list[list[int]]:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):  # left padding for generation
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        sampling: dict[str, Any] = {"do_sample": False}
        if not greedy:
            sampling = {
                "do_sample": True,
                "temperature": float(self.hp["temperature"]),
                "top_p": float(self.hp["top_p"]),
                "top_k": 0,
            }
        # Greedy decoding draws nothing: the sampling stream stays where it was.
        seed = 0 if greedy else int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                **sampling,
                max_new_tokens=int(self.hp["max_new_tokens"]),
                pad_token_id=self.pad_id,
            )
        return [row[width:].tolist() for row in out.cpu()]

    def rollouts(self, task_seed: int) -> tuple[list[StepSample], list[list[float]], dict]:
        """Sample one group on the task drawn by ``task_seed``.

        Returns:
            The step samples, each rollout's step rewards (whole shaped reward), and
            episode statistics: ``success`` (the group's success rate), ``outcome`` (per
            rollout, each step's ``extrinsic`` term) and ``terms`` (per rollout, each
            term's episode sum).
        """
        self.model.eval()
        observations = [env.reset(seed=task_seed)[0] for env in self.envs]
        active = list(range(len(self.envs)))
        samples: list[StepSample] = []
        rewards: list[list[float]] = [[] for _ in self.envs]
        outcome: list[list[float]] = [[] for _ in self.envs]
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
                self.generated_tokens += len(action_ids)
                samples.append(StepSample(prompt, action_ids, i))
                step_terms = info.get("reward_terms", {names.EXTRINSIC: reward})
                rewards[i].append(float(reward))
                outcome[i].append(float(step_terms.get(names.EXTRINSIC, 0.0)))
                for name, value in step_terms.items():
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
        stats = {
            "success": sum(success) / len(success),
            "successes": success,
            "outcome": outcome,
            "terms": terms,
        }
        return samples, rewards, stats

    @torch.no_grad()
    def evaluate(self, task_seeds: list[int], batch: int = 16) -> dict[str, float]:
        """Greedy episodes of the current model on the tasks ``task_seeds``, unshaped.

        The envs are built like the run's but without ``shaping``, so the figures are
        the task's own: success (``info["is_success"]``) and the extrinsic return.
        Greedy decoding draws nothing from the sampling generator, so evaluating does
        not change the training run's course.

        Returns:
            ``success_rate``, ``extrinsic_return`` (means) and ``episodes``.
        """
        self.model.eval()
        successes: list[bool] = []
        returns: list[float] = []
        for start in range(0, len(task_seeds), batch):
            seeds = task_seeds[start : start + batch]
            envs = [gym.make(self.config.env_id, **self.config.env_kwargs) for _ in seeds]
            try:
                observations = [env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)]
                done, won = [False] * len(envs), [False] * len(envs)
                total = [0.0] * len(envs)
                for _ in range(self.max_steps):
                    active = [i for i, d in enumerate(done) if not d]
                    if not active:
                        break
                    prompts = [self._prompt_ids(observations[i]) for i in active]
                    for i, tokens in zip(active, self._generate(prompts, greedy=True)):
                        _, text = self._cut(tokens)
                        obs, reward, terminated, truncated, info = envs[i].step(text)
                        observations[i], total[i] = obs, total[i] + float(reward)
                        won[i] = bool(info.get("is_success", False))
                        done[i] = bool(terminated or truncated)
            finally:
                for env in envs:
                    env.close()
            successes += won
            returns += total
        n = max(len(successes), 1)
        return {
            "success_rate": sum(successes) / n,
            "extrinsic_return": sum(returns) / n,
            "episodes": float(len(successes)),
        }

    def advantages(
        self, rewards: list[list[float]], outcome: list[list[float]]
    ) -> list[list[float]]:
        """Each step's advantage under this trainer's mode (:func:`step_advantages`)."""
        return step_advantages(
            self.advantage_mode,
            rewards,
            outcome,
            process_weight=float(self.hp["process_weight"]),
        )

    # -- update -------------------------------------------------------------------
    def _logprobs(self, model: Any, samples: list[StepSample]) -> list[torch.Tensor]:
        size = int(self.hp["micro_batch"])
        out: list[torch.Tensor] = []
        for start in range(0, len(samples), size):
            out += action_logprobs(model, samples[start : start + size], self.pad_id)
        return out

    def _ref_logprobs(self, samples: list[StepSample]) -> list[torch.Tensor] | None:
        if float(self.hp["kl_coef"]) <= 0:
            return None
        if self.lora:  # the reference is the base model: the adapters switched off
            with self.model.disable_adapter():
                return [lp.detach() for lp in self._logprobs(self.model, samples)]
        return [lp.detach() for lp in self._logprobs(self.ref, samples)]

    def update(self, samples: list[StepSample]) -> dict[str, float]:
        """Take ``epochs`` gradient steps on one group's samples; returns loss statistics."""
        with torch.no_grad():
            self.model.eval()
            old = [lp.detach() for lp in self._logprobs(self.model, samples)]
            ref = self._ref_logprobs(samples)
        self.model.train()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
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
                torch.nn.utils.clip_grad_norm_(trainable, self.hp["max_grad_norm"])
            self.optimizer.step()
            stats = {**stats, "loss": float(loss.detach())}
        self.model.eval()
        return stats

    def iteration(self, task_seed: int) -> dict[str, float]:
        """One group: rollouts, advantages and an update; returns the iteration's scalars."""
        samples, rewards, episode = self.rollouts(task_seed)
        advantages = self.advantages(rewards, episode["outcome"])
        position = [0] * len(rewards)
        for sample in samples:  # samples are in step order within each rollout
            sample.advantage = advantages[sample.rollout][position[sample.rollout]]
            position[sample.rollout] += 1
        stats = self.update(samples)
        if self.prime is not None:  # PRIME: pi_phi learns from this group's outcomes
            stats["prime_loss"] = self.prime.update(self.envs, episode["successes"])["loss"]
        n_steps = sum(len(r) for r in rewards)
        return {
            **stats,
            "reward": sum(map(sum, rewards)) / len(rewards),
            "outcome_return": sum(map(sum, episode["outcome"])) / len(rewards),
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

    # -- checkpoints ----------------------------------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The weights that train (all of them, or the LoRA adapters), by name."""
        return {
            name: p.detach().cpu().clone()
            for name, p in self.model.named_parameters()
            if p.requires_grad
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue this one's streams exactly."""
        from densegym.rewards import find_shapers

        return {
            "trainer": self.config.trainer,
            "weights": self.trainable_state(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "rng": rng_state(),
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "generated_tokens": self.generated_tokens,
            "window": list(self.window),
            "shapers": [[s.state_dict() for s in find_shapers(env)] for env in self.envs],
            "prime": self.prime.state_dict() if self.prime is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output into a trainer built from the same config.

        Raises:
            ValueError: the state belongs to another trainer, model or shaping.
        """
        from densegym.rewards import find_shapers

        if state.get("trainer") != self.config.trainer:
            raise ValueError(
                f"checkpoint of {state.get('trainer')!r}, this run is {self.config.trainer!r}"
            )
        params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        weights = state["weights"]
        if set(weights) != set(params):
            diff = sorted(set(weights) ^ set(params))[:3]
            raise ValueError(f"checkpoint weights do not fit this model (e.g. {diff})")
        with torch.no_grad():
            for name, tensor in weights.items():
                if params[name].shape != tensor.shape:
                    raise ValueError(f"checkpoint weight {name} has shape {tuple(tensor.shape)}")
                params[name].copy_(tensor)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        shapers = state.get("shapers") or []
        for env, saved in zip(self.envs, shapers):
            found = find_shapers(env)
            if len(found) != len(saved):
                raise ValueError("checkpoint's shaping stack differs from this run's")
            for shaper, shaper_state in zip(found, saved):
                shaper.load_state_dict(shaper_state)
        self.env_steps = int(state["env_steps"])
        self.episodes = int(state["episodes"])
        self.generated_tokens = int(state.get("generated_tokens", 0))
        self.window = deque(state["window"], maxlen=self.window.maxlen)
        if self.prime is not None:
            if not state.get("prime"):
                raise ValueError("checkpoint holds no implicit PRM state (prime_update was off)")
            self.prime.load_state_dict(state["prime"])
        set_rng_state(state["rng"])

    def final_model(self) -> Any:
        """The trained model as a plain ``transformers`` model (LoRA adapters merged)."""
        return self.model.merge_and_unload() if self.lora else self.model

    def close(self) -> None:
        """Close the group's envs."""
        for env in self.envs:
            env.close()


#: The older name of :class:`LMTrainer` (it trains ``lm:rloo`` too).
GRPOTrainer = LMTrainer


def train(
    config: RunConfig, *, resume: bool = False, progress: bool = True, **_: Any
) -> dict[str, Any]:
    """Train (or continue) an ``lm:grpo`` / ``lm:rloo`` run and return its summary.

    ``config.steps`` counts env steps (generated lines), as for every trainer; one
    iteration is one group of ``group_size`` rollouts on one task. The run dir gets
    ``config.json``, ``curve.csv`` (:data:`~densegym.agents.runs.record.CURVE_COLUMNS`,
    a row per iteration once ``log_every`` steps passed), ``summary.json``, TensorBoard
    scalars (``lm/*``, ``episode/*``, ``reward/<term>``), ``checkpoints/step_<N>`` and
    ``final_model/``.

    Args:
        config: the run; ``config.trainer`` is ``"lm:grpo"`` or ``"lm:rloo"``.
        resume: continue from the newest checkpoint that loads (a damaged newer one is
            set aside and named in the summary's ``checkpoints_set_aside``).
        progress: print one line per logged iteration.

    Raises:
        FileNotFoundError: ``resume`` and no checkpoint loads.

    Example:
        >>> import tempfile
        >>> cfg = RunConfig("densegym/Arithmetic-v0", trainer="lm:grpo", steps=4,
        ...                 logdir=tempfile.mkdtemp(),
        ...                 hyperparams={"group_size": 2, "max_new_tokens": 4,
        ...                              "max_episode_steps": 2, "save_model": False})
        >>> train(cfg, progress=False)["timesteps"] >= 4
        True
    """
    if config.trainer_kind != "lm" or config.algo not in ALGORITHMS:
        raise ValueError(f"the lm train function got a config for {config.trainer!r}")
    if str(config.device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {config.device!r}: CUDA is not available here")
    with lock_run_dir(config.run_dir):
        return _train(config, resume=resume, progress=progress)


def _finished_summary(run_dir: Path, timesteps: int) -> dict[str, Any] | None:
    try:
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("timesteps") == timesteps else None


def _train(config: RunConfig, *, resume: bool, progress: bool) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, config.torch_threads))
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    curve_path = run_dir / CURVE_FILE
    state: dict[str, Any] = {}
    checkpoint, set_aside = None, []
    if resume:  # fail before building anything when there is nothing to resume
        state, checkpoint, set_aside = load_latest_checkpoint(run_dir)
    torch.manual_seed(config.seed)
    trainer = LMTrainer(config)
    iteration, last_log, last_checkpoint = 0, -math.inf, 0
    try:
        if checkpoint is not None:
            trainer.load_state_dict(state)
            iteration, last_log = int(state["iteration"]), float(state["last_log"])
            last_checkpoint = trainer.env_steps
            if trainer.env_steps >= config.steps and not set_aside:
                finished = _finished_summary(run_dir, trainer.env_steps)
                if finished is not None:  # nothing left to train: keep the run's summary
                    trainer.close()
                    torch.set_num_threads(threads_before)
                    return finished
            write_text_atomically(curve_path, state["curve_text"])
        else:
            with curve_path.open("w", newline="") as handle:
                csv.writer(handle).writerow(CURVE_COLUMNS)
    except BaseException:
        trainer.close()
        torch.set_num_threads(threads_before)
        raise
    config.save(run_dir / CONFIG_FILE)
    # A resumed run drops the events logged after its checkpoint (they are redone).
    purge = trainer.env_steps + 1 if checkpoint is not None else None
    writer = SummaryWriter(str(run_dir), purge_step=purge)
    every_iterations = int(trainer.hp["checkpoint_iterations"])
    keep = int(trainer.hp["keep_checkpoints"])
    # A resumed run that trains no further still reports its window (restored with it).
    latest = trainer.window_means() if trainer.window else {}
    start, start_steps = time.perf_counter(), trainer.env_steps
    stopped = False

    def checkpoint_now() -> None:
        snapshot = trainer.state_dict()
        snapshot.update(iteration=iteration, last_log=last_log)
        save_checkpoint(
            run_dir, trainer.env_steps, snapshot, curve_text=curve_path.read_text(), keep=keep
        )

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
                    names.LM_TOKENS: trainer.generated_tokens,
                    names.LM_CLIP_FRACTION: stats["clip_fraction"],
                    names.FPS: (step - start_steps) / max(time.perf_counter() - start, 1e-9),
                    **latest,
                }
                if "prime_loss" in stats:
                    scalars["lm/prime_loss"] = stats["prime_loss"]
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
                if progress:
                    print(
                        f"{config.trainer} iter {iteration} step {step}/{config.steps} "
                        f"loss {stats['loss']:.4f} reward {stats['reward']:.3f} "
                        f"success {latest[names.SUCCESS_RATE]:.2f}",
                        flush=True,
                    )
            due = every_iterations > 0 and iteration % every_iterations == 0
            due |= config.checkpoint_every > 0 and step - last_checkpoint >= config.checkpoint_every
            if due and not finished:
                writer.flush()
                checkpoint_now()
                last_checkpoint = step
            if config.time_limit_s and time.perf_counter() - start >= config.time_limit_s:
                stopped = True
                break
        writer.flush()
        checkpoint_now()
    finally:
        writer.close()
        trainer.close()
        torch.set_num_threads(threads_before)
    wall = time.perf_counter() - start
    if trainer.hp["save_model"]:
        trainer.final_model().save_pretrained(run_dir / "final_model")
        trainer.tokenizer.save_pretrained(run_dir / "final_model")
    summary = {
        "env_id": config.env_id,
        "trainer": config.trainer,
        "algo": config.algo,
        "advantage": trainer.advantage_mode,
        "shaping": config.label,
        "seed": config.seed,
        "timesteps": int(trainer.env_steps),
        "episodes": int(trainer.episodes),
        "iterations": iteration,
        "generated_tokens": int(trainer.generated_tokens),
        "success_rate": latest.get(names.SUCCESS_RATE, float("nan")),
        "extrinsic_return": latest.get(names.reward_tag(names.EXTRINSIC), float("nan")),
        "wall_time_s": wall,
        "env_steps_per_s": (trainer.env_steps - start_steps) / wall if wall > 0 else 0.0,
        "run_dir": str(run_dir),
        "stopped_at_time_limit": stopped,
    }
    if checkpoint is not None:
        summary["resumed_from"] = checkpoint.name
        summary["checkpoints_set_aside"] = set_aside
    write_text_atomically(Path(run_dir) / SUMMARY_FILE, json.dumps(summary, indent=2))
    return summary
