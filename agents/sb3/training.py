"""Train SB3 agents on densegym envs: one run directory, TensorBoard, checkpoints, resume."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

import densegym  # noqa: F401  (registers the env ids)
from densegym import logging as names
from densegym.agents.runs.backends import resume_run
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.lock import lock_run_dir
from densegym.agents.runs.record import CONFIG_FILE, CURVE_FILE, SUMMARY_FILE
from densegym.agents.sb3.callbacks import MetricsCallback, RichProgressCallback, WallClockLimit
from densegym.agents.sb3.checkpoints import (
    latest_checkpoint,
    load_latest_checkpoint,
    remove_stale_partials,
    save_checkpoint,
)
from densegym.agents.sb3.run_logs import run_logger
from densegym.llm.usage import total_usage
from densegym.registration import entry_for
from densegym.registry import load_entry_point
from densegym.rewards.batching import fold_batched, split_batched

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "a2c": A2C,
    "dqn": DQN,
    "recurrent_ppo": RecurrentPPO,
}
#: Algorithms whose policy carries an LSTM state across an episode's steps.
RECURRENT = frozenset({"recurrent_ppo"})
# The run layer (trainer-agnostic) owns the config and the run files; kept importable from
# here for scripts and notebooks written before it.
__all__ = [
    "ALGORITHMS",
    "CONFIG_FILE",
    "CURVE_FILE",
    "RECURRENT",
    "SUMMARY_FILE",
    "RunConfig",
    "build_model",
    "default_hyperparams",
    "make_env",
    "resume_run",
    "train",
]


def default_hyperparams(
    env_id: str, algo: str, observation_space: gym.Space | None = None
) -> dict[str, Any]:
    """Hyperparameters that train in minutes on 2 CPU cores.

    The trainer's defaults, overridden by the env's registered ``train_defaults``
    (:class:`~densegym.registration.EnvEntry`), e.g. MiniHack's glyph extractor or
    MountainCar's entropy bonus. Ids densegym does not register get the defaults alone.

    Args:
        env_id: a Gymnasium id.
        algo: a key of :data:`ALGORITHMS`.
        observation_space: unused (the env's entry decides); kept for callers.

    Example:
        >>> default_hyperparams("densegym/MountainCarSparse-v0", "ppo")["learning_rate"]
        0.001
        >>> kwargs = default_hyperparams("densegym/MiniHack-Room-5x5-v0", "dqn")["policy_kwargs"]
        >>> kwargs["features_extractor_class"].__name__, kwargs["net_arch"]
        ('MiniHackExtractor', [64, 64])
    """
    params: dict[str, Any]
    if algo in ("ppo", "recurrent_ppo"):
        params = {
            "n_steps": 256,
            "batch_size": 256,
            "n_epochs": 4,
            "learning_rate": 3e-4,
            "ent_coef": 0.0,
            "gae_lambda": 0.95,
            "gamma": 0.99,
        }
    elif algo == "a2c":
        params = {"n_steps": 16, "learning_rate": 7e-4, "ent_coef": 0.01, "gamma": 0.99}
    else:
        params = {
            "buffer_size": 50_000,
            "learning_starts": 1000,
            "batch_size": 64,
            "train_freq": 4,
            "target_update_interval": 1000,
            "exploration_fraction": 0.3,
            "exploration_final_eps": 0.05,
            "learning_rate": 1e-4,
            "gamma": 0.99,
        }
    entry = entry_for(env_id)
    overrides = copy.deepcopy(entry.train_defaults.get(algo, {})) if entry is not None else {}
    policy_kwargs = overrides.get("policy_kwargs", {})
    extractor = policy_kwargs.get("features_extractor_class")
    if isinstance(extractor, str):
        policy_kwargs["features_extractor_class"] = load_entry_point(extractor)
    params.update(overrides)
    if algo in RECURRENT:
        # One LSTM shared by actor and critic: half the cost of sb3-contrib's default
        # (a second LSTM for the critic), which matters on a 2-core CPU.
        params.setdefault("policy_kwargs", {}).update(
            lstm_hidden_size=128, shared_lstm=True, enable_critic_lstm=False
        )
    return params


def is_parallel(env_id: str) -> bool:
    """Whether ``env_id`` is a multi-agent (PettingZoo parallel) densegym id.

    Example:
        >>> is_parallel("densegym/MA-SwitchDoor-N2-S7-v0"), is_parallel("CartPole-v1")
        (True, False)
    """
    entry = entry_for(env_id)
    return entry is not None and entry.kind == "parallel"


def make_env(config: RunConfig) -> VecEnv:
    """The shaped DummyVecEnv (with SB3's Monitor) for a run.

    Shaping entries marked ``"batched": true`` (and the older ``batched_shaping``
    field) wrap the VecEnv, one
    :class:`~densegym.rewards.intrinsic.vec.VecIntrinsicBonus` each, in spec order;
    the other entries wrap every sub-env. A multi-agent id gives a
    :class:`~densegym.agents.sb3.multiagent.ParallelVecEnv` instead: ``n_envs`` copies
    of the team, one row per agent (parameter sharing); a batched entry then holds one
    module for every agent's row.
    """
    env_kwargs = dict(config.env_kwargs)
    shaping = fold_batched(config.shaping, getattr(config, "batched_shaping", None))
    per_env, batched = split_batched(shaping)
    if batched:
        shaping = per_env or None
    if is_parallel(config.env_id):
        from densegym.agents.sb3.multiagent import make_parallel_vec_env

        venv: VecEnv = make_parallel_vec_env(
            config.env_id, config.n_envs, config.seed, shaping, env_kwargs
        )
    else:
        if shaping is not None:
            env_kwargs["shaping"] = shaping
        venv = make_vec_env(
            config.env_id,
            n_envs=config.n_envs,
            seed=config.seed,
            env_kwargs=env_kwargs,
            vec_env_cls=DummyVecEnv,
        )
    if batched:
        from densegym.rewards.intrinsic.vec import VecIntrinsicBonus

        for spec in batched:
            venv = VecIntrinsicBonus(venv, spec)
    return venv


def _policy_name(space: gym.Space, algo: str) -> str:
    recurrent = "Lstm" if algo in RECURRENT else ""
    if isinstance(space, gym.spaces.Dict):
        return f"MultiInput{recurrent}Policy"
    return f"Mlp{recurrent}Policy"


def build_model(config: RunConfig, venv: VecEnv) -> BaseAlgorithm:
    """A fresh SB3 model with densegym's defaults and the run's overrides."""
    params = default_hyperparams(config.env_id, config.algo, venv.observation_space)
    params.update(config.hyperparams)
    algo_cls = ALGORITHMS[config.algo]
    return algo_cls(
        _policy_name(venv.observation_space, config.algo),
        venv,
        seed=config.seed,
        device=config.device,
        verbose=0,
        **params,
    )


class _CheckpointCallback(BaseCallback):
    def __init__(self, run_dir: Path, every: int, metrics: MetricsCallback):
        super().__init__()
        self.run_dir = run_dir
        self.every = every
        self.metrics = metrics
        self.last = 0

    def _on_training_start(self) -> None:
        self.last = self.num_timesteps

    def _on_step(self) -> bool:
        if self.every and self.num_timesteps - self.last >= self.every:
            save_checkpoint(self.run_dir, self.model, metrics=self.metrics.state_dict())
            self.last = self.num_timesteps
        return True


def train(
    config: RunConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: list[BaseCallback] | None = None,
) -> dict[str, Any]:
    """Train (or continue) one run and return its summary.

    Args:
        config: the run's configuration.
        resume: continue from the run's newest checkpoint (model, shaper states, replay
            buffer and step counter) instead of starting afresh.
        progress: show a rich progress bar.
        callbacks: extra SB3 callbacks.

    Returns:
        The run summary (also written to ``summary.json``): final success rate and
        returns over the last episodes, env steps, wall time and env-steps/s.

    Raises:
        RunDirBusy: another process is training into the same run directory
            (:func:`~densegym.agents.runs.lock.lock_run_dir`); nothing was changed.

    Example:
        >>> import tempfile
        >>> cfg = RunConfig("densegym/MountainCarSparse-v0", shaping="potential", steps=512,
        ...                 n_envs=2, logdir=tempfile.mkdtemp())
        >>> summary = train(cfg, progress=False)
        >>> summary["timesteps"] >= 512
        True
    """
    if config.trainer_kind != "sb3":
        raise ValueError(f"the SB3 train function got a config for trainer {config.trainer!r}")
    if str(config.device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {config.device!r}: CUDA is not available here; use device 'cpu' or 'auto'"
        )
    with lock_run_dir(config.run_dir):
        return _train(config, resume=resume, progress=progress, callbacks=callbacks)


def _train(
    config: RunConfig, *, resume: bool, progress: bool, callbacks: list[BaseCallback] | None
) -> dict[str, Any]:
    """:func:`train` with the run directory locked."""
    llm_before = total_usage().snapshot()  # LLM work of this call, env building included
    if config.device == "cpu" or not torch.cuda.is_available():
        torch.set_num_threads(max(1, config.torch_threads))
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(run_dir)  # what killed writers left
    venv = make_env(config)
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        venv.close()
        raise FileNotFoundError(f"no checkpoint to resume from in {run_dir}/checkpoints")
    metrics_state = None
    if checkpoint is not None:
        try:  # the newest checkpoint that loads whole; corrupt ones are set aside
            model, checkpoint, metrics_state = load_latest_checkpoint(
                run_dir, ALGORITHMS[config.algo], venv, device=config.device
            )
        except BaseException:
            venv.close()
            raise
    else:
        model = build_model(config, venv)
    if checkpoint is not None and model.num_timesteps >= config.steps:
        finished = _finished_summary(run_dir, model.num_timesteps)
        if finished is not None:  # nothing left to train: keep the run's own summary
            venv.close()
            return finished
    config.save(run_dir / CONFIG_FILE)
    model.set_logger(run_logger(run_dir, model.num_timesteps if checkpoint is not None else None))
    metrics = MetricsCallback(
        run_dir / CURVE_FILE,
        log_every=config.log_every,
        initial_state=metrics_state,
    )
    chain: list[BaseCallback] = [
        metrics,
        _CheckpointCallback(run_dir, config.checkpoint_every, metrics),
    ]
    if progress:
        label = f"{names.env_slug(config.env_id)} {config.label} s{config.seed}"
        chain.append(RichProgressCallback(config.steps, metrics, label=label))
    from densegym.agents.sb3.intrinsic_callback import IntrinsicUpdateCallback

    chain.append(IntrinsicUpdateCallback())  # trains batched/offline shapers at rollout end
    limit = WallClockLimit(config.time_limit_s)
    chain.append(limit)
    chain.extend(callbacks or [])
    remaining = config.steps - model.num_timesteps
    start_steps, start = model.num_timesteps, time.perf_counter()
    if remaining > 0:
        model.learn(remaining, callback=CallbackList(chain), reset_num_timesteps=checkpoint is None)
    wall = time.perf_counter() - start
    save_checkpoint(run_dir, model, metrics=metrics.state_dict())
    model.save(run_dir / "final_model.zip")
    summary = {
        "env_id": config.env_id,
        "trainer": config.trainer,
        "algo": config.algo,
        "shaping": config.label,
        "seed": config.seed,
        "timesteps": int(model.num_timesteps),
        "episodes": int(metrics.latest.get(names.EPISODES, 0)),
        "success_rate": metrics.latest.get(names.SUCCESS_RATE, float("nan")),
        "extrinsic_return": metrics.latest.get(names.reward_tag(names.EXTRINSIC), float("nan")),
        "wall_time_s": wall,
        "env_steps_per_s": (model.num_timesteps - start_steps) / wall if wall > 0 else 0.0,
        "run_dir": str(run_dir),
        "stopped_at_time_limit": limit.stopped,
        **_llm_spent(llm_before),
    }
    if is_parallel(config.env_id):  # team and per-agent success (rows are agents)
        from densegym.agents.sb3.multiagent import team_summary

        summary.update(team_summary(metrics.latest, venv.unwrapped.n_agents))
    partial = run_dir / f".{SUMMARY_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(summary, indent=2))
    os.replace(partial, run_dir / SUMMARY_FILE)  # atomic: a reader sees old or new, whole
    venv.close()
    return summary


def _llm_spent(before: Any) -> dict[str, Any]:
    """``llm_calls``, ``llm_tokens`` and ``llm_seconds`` this process spent since ``before``.

    A run trains alone in its process (on every backend), so this is the run's own LLM
    work: shapers, annotators and judges, whichever backend they called.
    """
    spent = total_usage().since(before)
    return {
        "llm_calls": int(spent["calls"]),
        "llm_tokens": int(spent["prompt_tokens"] + spent["completion_tokens"]),
        "llm_seconds": float(spent["seconds"]),
    }


def _finished_summary(run_dir: Path, timesteps: int) -> dict[str, Any] | None:
    """The run's ``summary.json`` when it describes ``timesteps`` steps, else ``None``.

    A resumed run with no steps left returns it unchanged (rewriting it would report the
    episodes of an empty segment: 0 episodes and a NaN success rate).
    """
    try:
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(summary, dict) and summary.get("timesteps") == timesteps:
        return summary
    return None
