"""Short SB3 PPO runs on MiniHack with every learned bonus, per-env and batched."""

from __future__ import annotations

import csv

import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import densegym  # noqa: E402, F401
from densegym.agents.sb3.intrinsic_callback import (  # noqa: E402
    IntrinsicUpdateCallback,
    rollout_trainables,
)
from densegym.rewards import find_shapers  # noqa: E402
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus  # noqa: E402

ROOM = "densegym/MiniHack-Room-5x5-v0"
NAMES = ("rnd", "icm", "e3b", "noveld", "global_episodic")
PPO_KWARGS = {"n_steps": 64, "batch_size": 64, "n_epochs": 2, "seed": 0, "device": "cpu"}


class TermSpy(BaseCallback):
    """Collect every sub-env's ``reward_terms`` as the agent sees them."""

    def __init__(self):
        super().__init__()
        self.terms: list[dict[str, float]] = []

    def _on_step(self) -> bool:
        self.terms.extend(dict(info["reward_terms"]) for info in self.locals["infos"])
        return True


def _check_terms(spy: TermSpy, name: str, steps: int) -> None:
    assert len(spy.terms) >= steps
    assert all(set(terms) == {"extrinsic", name} for terms in spy.terms)
    assert any(terms[name] != 0.0 for terms in spy.terms)


@pytest.mark.parametrize("name", NAMES)
def test_ppo_with_per_env_bonus_on_minihack(name):
    venv = DummyVecEnv([lambda: gym.make(ROOM, shaping={"id": name, "update_every": 16})] * 2)
    spy = TermSpy()
    model = PPO("MultiInputPolicy", venv, **PPO_KWARGS)
    model.learn(256, callback=spy)
    _check_terms(spy, name, 256)
    for env in venv.envs:
        (shaper,) = find_shapers(env)
        assert shaper.last_stats  # it trained online


@pytest.mark.parametrize("name", NAMES)
def test_ppo_with_batched_bonus_trains_at_rollout_end(name, tmp_path):
    venv = VecIntrinsicBonus(DummyVecEnv([lambda: gym.make(ROOM)] * 2), {"id": name})
    spy = TermSpy()
    model = PPO("MultiInputPolicy", venv, **PPO_KWARGS)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(128, callback=[spy, IntrinsicUpdateCallback()])
    _check_terms(spy, name, 128)
    assert venv.last_stats and len(venv.log) == 0  # trained on the last rollout, all of it
    stats = set(venv.last_stats)
    with open(tmp_path / "progress.csv") as handle:
        columns = set(next(csv.reader(handle)))
    assert {f"shaping/{name}_{stat}" for stat in stats} <= columns


def test_callback_trains_offline_per_env_shapers_and_skips_online_ones():
    offline = {"id": "e3b", "online": False}
    venv = DummyVecEnv([lambda: gym.make(ROOM, shaping=offline)] * 2)
    assert len(rollout_trainables(venv)) == 2
    model = PPO("MultiInputPolicy", venv, **PPO_KWARGS)
    model.learn(128, callback=IntrinsicUpdateCallback())
    for env in venv.envs:
        (shaper,) = find_shapers(env)
        assert shaper.last_stats["samples"] == 64 and len(shaper.log) == 0
    online = DummyVecEnv([lambda: gym.make(ROOM, shaping="e3b")])
    assert rollout_trainables(VecIntrinsicBonus(online, {"id": "rnd", "online": True})) == []
