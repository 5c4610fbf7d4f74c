"""Train SB3 agents on densegym envs: one run directory, TensorBoard, checkpoints, resume."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
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
from densegym.agents.sb3.callbacks import MetricsCallback, RichProgressCallback
from densegym.agents.sb3.checkpoints import (
    latest_checkpoint,
    load_checkpoint,
    load_metrics_state,
    save_checkpoint,
)
from densegym.agents.sb3.extractors import MiniHackExtractor
from densegym.agents.sb3.run_logs import run_logger
from densegym.rewards import normalize_spec, shaping_label

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "a2c": A2C,
    "dqn": DQN,
    "recurrent_ppo": RecurrentPPO,
}
#: Algorithms whose policy carries an LSTM state across an episode's steps.
RECURRENT = frozenset({"recurrent_ppo"})
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
CURVE_FILE = "curve.csv"


@dataclass
class RunConfig:
    """Everything that defines one training run; saved as ``config.json`` in the run dir.

    Attributes:
        env_id: registered densegym id.
        algo: ``"ppo"``, ``"a2c"`` or ``"dqn"``.
        shaping: a shaping spec (data).
        steps: total env steps to train for.
        n_envs: number of sub-envs in the DummyVecEnv.
        seed: run seed (envs are seeded ``seed + i``).
        logdir: root folder; the run goes to ``logdir/<env>/<shaping>/<algo>-seed<seed>``.
        hyperparams: overrides of the algorithm's defaults.
        checkpoint_every: env steps between checkpoints (0: only at the end).
        log_every: env steps between two TensorBoard/curve points.
        device: torch device for the agent (``"cpu"``, ``"cuda"``, ``"auto"``).
        torch_threads: torch intra-op threads (1 is ~10x faster for small nets on 2 cores).
        env_kwargs: extra kwargs for ``gym.make``.
        batched_shaping: one learned-intrinsic spec computed for all sub-envs in one
            batch (:class:`~densegym.rewards.intrinsic.vec.VecIntrinsicBonus`) and trained
            at rollout end; stacked on top of the per-env ``shaping``.
    """

    env_id: str
    algo: str = "ppo"
    shaping: Any = None
    steps: int = 50_000
    n_envs: int = 8
    seed: int = 0
    logdir: str = "runs"
    hyperparams: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 0
    log_every: int = 1000
    device: str = "cpu"
    torch_threads: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    batched_shaping: Any = None

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {sorted(ALGORITHMS)}, got {self.algo!r}")
        if self.env_id not in gym.registry:
            known = ", ".join(densegym.ENV_IDS)
            raise ValueError(f"unknown env id {self.env_id!r}; densegym ids: {known}")
        if self.steps <= 0 or self.n_envs <= 0:
            raise ValueError("steps and n_envs must be positive")
        normalize_spec(self.shaping)  # fail early on a malformed spec
        if len(normalize_spec(self.batched_shaping)) > 1:
            raise ValueError("batched_shaping takes one shaper spec")

    @property
    def label(self) -> str:
        """Short name of the run's shaping (per-env and batched), used in paths and plots."""
        label = shaping_label(self.shaping)
        if normalize_spec(self.batched_shaping):
            batched = f"batched-{shaping_label(self.batched_shaping)}"
            label = batched if label == "none" else f"{label}+{batched}"
        return label

    @property
    def run_dir(self) -> Path:
        """Where this run writes TensorBoard events, checkpoints and summaries."""
        return Path(self.logdir) / names.run_name(self.env_id, self.label, self.algo, self.seed)

    def save(self, path: Path) -> None:
        """Write the config as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a config written by :meth:`save`."""
        return cls(**json.loads(Path(path).read_text()))


def default_hyperparams(env_id: str, algo: str, observation_space: gym.Space) -> dict[str, Any]:
    """Hyperparameters that train in minutes on 2 CPU cores for each env family."""
    minihack = (
        isinstance(observation_space, gym.spaces.Dict) and "glyphs" in observation_space.spaces
    )
    params: dict[str, Any]
    if algo in ("ppo", "recurrent_ppo"):
        params = {
            "n_steps": 128,
            "batch_size": 256,
            "n_epochs": 4,
            "learning_rate": 3e-4,
            "ent_coef": 0.01,
            "gae_lambda": 0.95,
            "gamma": 0.99,
        }
        if env_id.startswith("densegym/MountainCar"):
            # Measured (benchmarks/llm_rewards.py): with lr 3e-4 and no entropy bonus PPO
            # never reached the flag in 120k steps, even with potential shaping.
            params.update(n_steps=256, ent_coef=0.01, learning_rate=1e-3)
        elif not minihack:
            params.update(n_steps=256, ent_coef=0.0)
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
    if minihack:
        arch = [64, 64] if algo == "dqn" else {"pi": [64], "vf": [64]}
        params["policy_kwargs"] = {"features_extractor_class": MiniHackExtractor, "net_arch": arch}
    if algo in RECURRENT:
        # One LSTM shared by actor and critic: half the cost of sb3-contrib's default
        # (a second LSTM for the critic), which matters on a 2-core CPU.
        params.setdefault("policy_kwargs", {}).update(
            lstm_hidden_size=128, shared_lstm=True, enable_critic_lstm=False
        )
    return params


def make_env(config: RunConfig) -> VecEnv:
    """The shaped DummyVecEnv (with SB3's Monitor) for a run."""
    env_kwargs = dict(config.env_kwargs)
    if config.shaping is not None:
        env_kwargs["shaping"] = config.shaping
    venv = make_vec_env(
        config.env_id,
        n_envs=config.n_envs,
        seed=config.seed,
        env_kwargs=env_kwargs,
        vec_env_cls=DummyVecEnv,
    )
    if normalize_spec(config.batched_shaping):
        from densegym.rewards.intrinsic.vec import VecIntrinsicBonus

        venv = VecIntrinsicBonus(venv, config.batched_shaping)
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

    Example:
        >>> import tempfile
        >>> cfg = RunConfig("densegym/MountainCarSparse-v0", shaping="potential", steps=512,
        ...                 n_envs=2, logdir=tempfile.mkdtemp())
        >>> summary = train(cfg, progress=False)
        >>> summary["timesteps"] >= 512
        True
    """
    if config.device == "cpu" or not torch.cuda.is_available():
        torch.set_num_threads(max(1, config.torch_threads))
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    venv = make_env(config)
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise FileNotFoundError(f"no checkpoint to resume from in {run_dir}/checkpoints")
    if checkpoint is not None:
        model = load_checkpoint(checkpoint, ALGORITHMS[config.algo], venv, device=config.device)
    else:
        model = build_model(config, venv)
    config.save(run_dir / CONFIG_FILE)
    model.set_logger(run_logger(run_dir, model.num_timesteps if checkpoint is not None else None))
    metrics = MetricsCallback(
        run_dir / CURVE_FILE,
        log_every=config.log_every,
        initial_state=load_metrics_state(checkpoint) if checkpoint is not None else None,
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
    }
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    venv.close()
    return summary


def resume_run(
    run_dir: str | Path, steps: int | None = None, progress: bool = True
) -> dict[str, Any]:
    """Continue a run from its newest checkpoint, optionally to a new total of steps."""
    config = RunConfig.load(Path(run_dir) / CONFIG_FILE)
    if steps is not None:
        config.steps = steps
    if config.run_dir.resolve() != Path(run_dir).resolve():
        # The run folder was moved: keep writing where it now lives.
        config.logdir = str(Path(run_dir).resolve().parents[2])
    return train(config, resume=True, progress=progress)
