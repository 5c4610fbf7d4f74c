"""Random Network Distillation (Burda et al., 2019): novelty = error predicting a random net."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch
from densegym.rewards.intrinsic.module import TorchIntrinsicModule, nan_where
from densegym.rewards.intrinsic.networks import ObsEncoder, Tensors
from densegym.rewards.intrinsic.shaper import IntrinsicShaper


class RNDModule(TorchIntrinsicModule):
    """A fixed random *target* encoder and a trained *predictor*; bonus = squared error.

    The raw novelty of ``s′`` is ``mean((predictor(s′) − target(s′))²)``; with
    ``normalize_bonus`` it is divided by the running RMS of the raw novelty seen in
    training, so its scale is about 1 whatever the observation.

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space (unused).
        feature_dim: output size of both nets.
        hidden_dim: hidden width.
        **training: lr, batch_size, epochs, seed, normalize_bonus, obs_keys: see
            :class:`~densegym.rewards.intrinsic.module.TorchIntrinsicModule`.

    Example:
        >>> from gymnasium import spaces
        >>> module = RNDModule(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), feature_dim=8,
        ...                    hidden_dim=32, lr=1e-2, batch_size=32, epochs=1,
        ...                    normalize_bonus=False, seed=0)
        >>> seen, unseen = np.full((1, 3), 0.5, np.float32), np.full((1, 3), -0.5, np.float32)
        >>> before = module.novelty(seen)[0]
        >>> for _ in range(100):
        ...     _ = module.train({"next_obs": np.repeat(seen, 32, axis=0)})
        >>> after = module.novelty(seen)[0]
        >>> bool(after < 0.01 * before), bool(module.novelty(unseen)[0] > 10 * after)
        (True, True)
    """

    train_inputs = ("next_obs",)

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        feature_dim: int,
        hidden_dim: int,
        **training: Any,
    ):
        super().__init__(observation_space, action_space, **training)
        self.nets["target"] = ObsEncoder(self.prepare, feature_dim, hidden_dim)
        self.nets["predictor"] = ObsEncoder(self.prepare, feature_dim, hidden_dim)
        self._setup(fixed=("target",))

    def _error(self, x: Tensors) -> torch.Tensor:
        return ((self.nets["predictor"](x) - self.nets["target"](x)) ** 2).mean(dim=1)

    def novelty(self, obs: Batch) -> np.ndarray:
        """Scaled novelty of each row (NaN where a value is not finite)."""
        tensors, ok = self.prepare(obs)
        with torch.no_grad():
            raw = self._error(tensors).double().numpy()
        return self.scale(nan_where(raw, ok))

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """Novelty of ``s′``."""
        return self.novelty(next_obs)

    def loss(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictor regression loss; the per-sample error is the raw bonus."""
        error = self._error(inputs["next_obs"])
        return error.mean(), error


class RNDBonus(IntrinsicShaper):
    """Random Network Distillation bonus: high where the predictor has not caught up.

    Args:
        env: environment to wrap (any Box, Discrete or Dict observation).
        feature_dim: output size of target and predictor.
        hidden_dim: hidden width.
        lr: Adam learning rate of the predictor.
        batch_size: minibatch size.
        epochs: passes over each batch of logged transitions.
        normalize_bonus: divide by the running RMS of the raw prediction error.
        seed: seeds both networks and minibatch order.
        obs_keys: the Dict observation leaves the networks see (default: all), e.g.
            ``["glyphs", "blstats"]`` to leave out MiniHack's ``map`` leaf.
        update_every, coef_decay, online, coef, normalize, clip, name: see
            :class:`~densegym.rewards.intrinsic.shaper.IntrinsicShaper`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0", shaping={"id": "rnd", "coef": 0.1})
        >>> _ = env.reset(seed=0)
        >>> terms = env.step(1)[4]["reward_terms"]
        >>> sorted(terms), terms["rnd"] > 0
        (['extrinsic', 'rnd'], True)
    """

    registry_name = "rnd"
    requires = ("ArrayObservations",)
    module_cls = RNDModule

    def __init__(
        self,
        env: gym.Env,
        *,
        feature_dim: int = 64,
        hidden_dim: int = 128,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 1,
        normalize_bonus: bool = True,
        seed: int = 0,
        obs_keys: list[str] | None = None,
        update_every: int = 64,
        coef_decay: dict[str, Any] | None = None,
        online: bool = True,
        coef: float = 0.05,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, **self._saved_kwargs)
