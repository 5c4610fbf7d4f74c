"""Train learned intrinsic bonuses at rollout end, from the rollout the agent just collected."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from densegym.rewards import find_shapers
from densegym.rewards.intrinsic.shaper import IntrinsicShaper
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus


def rollout_trainables(venv: VecEnv) -> list[Any]:
    """Everything in ``venv`` that waits for rollout-end training.

    That is every :class:`VecIntrinsicBonus` in the wrapper chain and, for a
    ``DummyVecEnv``, every per-env :class:`IntrinsicShaper` created with
    ``online=False``; frozen ones and online learners are left out.
    """
    found: list[Any] = []
    current: Any = venv
    while isinstance(current, VecEnvWrapper):
        if isinstance(current, VecIntrinsicBonus) and not current.online:
            found.append(current)
        current = current.venv
    for env in getattr(current, "envs", []):
        found.extend(
            shaper
            for shaper in find_shapers(env)
            if isinstance(shaper, IntrinsicShaper) and not shaper.online
        )
    return [item for item in found if not item.frozen]


class IntrinsicUpdateCallback(BaseCallback):
    """At the end of each rollout, train the intrinsic modules on that rollout's transitions.

    The wrappers log each transition as it passes (the observation, the action and
    the true next observation, terminal ones included, exactly as the bonus saw
    them), so training needs no second pass over the env and is unaffected by
    observation wrappers (e.g. ``VecNormalize``) above them. Training statistics go
    to the SB3 logger as ``shaping/<term>_<stat>`` (e.g. ``shaping/e3b_loss``).

    Args:
        verbose: SB3 verbosity.

    Example:
        >>> import gymnasium as gym, densegym
        >>> from stable_baselines3 import PPO
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> from densegym.rewards.intrinsic.vec import VecIntrinsicBonus
        >>> venv = DummyVecEnv([lambda: gym.make("densegym/MountainCarSparse-v0")] * 2)
        >>> venv = VecIntrinsicBonus(venv, "rnd")
        >>> model = PPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1)
        >>> _ = model.learn(64, callback=IntrinsicUpdateCallback())
        >>> venv.last_stats["samples"]
        64.0
    """

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # Per-env shapers of one term are averaged into one scalar per statistic.
        gathered: dict[str, list[float]] = {}
        for target in rollout_trainables(self.training_env):
            for stat, value in target.train_pending().items():
                gathered.setdefault(f"shaping/{target.term_name}_{stat}", []).append(value)
        for key, values in gathered.items():
            self.logger.record(key, float(np.nanmean(values)) if values else float("nan"))
