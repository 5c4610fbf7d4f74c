"""The VecNormalize trap: normalised observations must not land in an integer buffer."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401  (registers the ids)

torch = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402

torch.set_num_threads(1)


class _RecordObservations(BaseCallback):
    """Keeps, per step, the normalised observation and the raw one it came from."""

    def __init__(self):
        super().__init__()
        self.normalised: list[np.ndarray] = []
        self.renormalised: list[np.ndarray] = []
        self.raw: list[np.ndarray] = []

    def _on_step(self) -> bool:
        vec_env = self.training_env
        raw = vec_env.get_original_obs()
        self.normalised.append(self.locals["new_obs"]["blstats"].copy())
        self.renormalised.append(vec_env.normalize_obs(raw)["blstats"].copy())
        self.raw.append(raw["blstats"].copy())
        return True


def test_vecnormalize_keeps_float_observations_in_the_rollout_buffer():
    vec_env = VecNormalize(
        DummyVecEnv([lambda: gym.make("densegym/MiniHack-Room-5x5-v0")]),
        norm_obs=True,
        norm_reward=False,
    )
    vec_env.seed(0)
    model = sb3.PPO(
        "MultiInputPolicy",
        vec_env,
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
        tensorboard_log=None,
    )
    recorder = _RecordObservations()
    model.learn(64, callback=recorder)

    # After training, SB3 has flattened the buffer to (n_envs * n_steps, 27); n_envs = 1.
    buffer = model.rollout_buffer.observations["blstats"]
    assert buffer.shape == (32, 27)
    assert buffer.dtype == np.float32
    assert model.observation_space["blstats"].dtype == np.float32
    assert len(recorder.normalised) == 64
    # The buffer holds the second rollout: entry k is the observation returned at step 31 + k.
    expected = np.concatenate(recorder.normalised[31:63])
    np.testing.assert_array_equal(buffer, expected)
    # What VecNormalize returned is the normalisation of the raw observation ...
    np.testing.assert_allclose(np.stack(recorder.normalised), np.stack(recorder.renormalised))
    # ... raw blstats are integers, the normalised values kept in the buffer are not.
    raw = np.stack(recorder.raw)
    np.testing.assert_array_equal(raw, np.round(raw))
    assert np.any(buffer != np.round(buffer)), "normalised observations were truncated"
    assert np.abs(buffer).max() <= vec_env.clip_obs
    vec_env.close()
