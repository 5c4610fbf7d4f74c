"""Intrinsic Curiosity Module (Pathak et al., 2017): surprise of a learned forward model."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch, concat
from densegym.rewards.intrinsic.module import TorchIntrinsicModule, nan_where
from densegym.rewards.intrinsic.networks import (
    ActionCodec,
    ObsEncoder,
    Tensors,
    cat_tensors,
    mlp,
)
from densegym.rewards.intrinsic.shaper import IntrinsicShaper


class ICMModule(TorchIntrinsicModule):
    """An embedding φ with an inverse head (φ(s), φ(s′) → a) and a forward head (φ(s), a → φ(s′)).

    φ is trained by the inverse loss only (it learns what the agent controls); the
    forward head regresses onto the detached φ(s′). The raw bonus is the forward
    error ``½‖f(φ(s), a) − φ(s′)‖²``, optionally divided by its running RMS.

    Args:
        observation_space: the environment's observation space.
        action_space: a Discrete or Box action space.
        feature_dim: size of φ.
        hidden_dim: hidden width.
        forward_weight: β in ``(1 − β)·inverse + β·forward``.
        **training: lr, batch_size, epochs, seed, normalize_bonus, obs_keys: see
            :class:`~densegym.rewards.intrinsic.module.TorchIntrinsicModule`.

    Example:
        >>> from gymnasium import spaces
        >>> module = ICMModule(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), feature_dim=8,
        ...                    hidden_dim=16, forward_weight=0.2, lr=1e-3, batch_size=32,
        ...                    epochs=1, normalize_bonus=False, seed=0)
        >>> obs = np.zeros((2, 3), np.float32)
        >>> module.bonus(obs, np.array([0, 1]), obs + 0.5, None).shape
        (2,)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        feature_dim: int,
        hidden_dim: int,
        forward_weight: float,
        **training: Any,
    ):
        super().__init__(observation_space, action_space, **training)
        if not 0.0 <= forward_weight <= 1.0:
            raise ValueError(f"forward_weight must be in [0, 1], got {forward_weight!r}")
        self.forward_weight = float(forward_weight)
        self.codec = ActionCodec(action_space, owner="icm")
        self.nets["embed"] = ObsEncoder(self.prepare, feature_dim, hidden_dim)
        self.nets["inverse_model"] = mlp(2 * feature_dim, hidden_dim, self.codec.dim)
        self.nets["forward_model"] = mlp(feature_dim + self.codec.dim, hidden_dim, feature_dim)
        self._setup()

    def _embed_pair(self, obs: Tensors, next_obs: Tensors) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.nets["embed"](cat_tensors(obs, next_obs))
        return phi[: len(phi) // 2], phi[len(phi) // 2 :]

    def _forward_error(
        self, phi: torch.Tensor, actions: torch.Tensor, phi_next: torch.Tensor
    ) -> torch.Tensor:
        assert self.codec is not None
        predicted = self.nets["forward_model"](
            torch.cat([phi, self.codec.features(actions)], dim=1)
        )
        return 0.5 * ((predicted - phi_next) ** 2).sum(dim=1)

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """Return the forward-model error of each transition."""
        assert self.codec is not None
        tensors, ok = self.prepare(concat([obs, next_obs]))
        n = len(ok) // 2
        action_tensor, action_ok = self.codec.to_tensor(actions)
        with torch.no_grad():
            phi = self.nets["embed"](tensors)
            raw = self._forward_error(phi[:n], action_tensor, phi[n:]).double().numpy()
        return self.scale(nan_where(raw, ok[:n] & ok[n:] & action_ok))

    def loss(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(1 − β)·inverse + β·forward``; the forward error is the raw bonus."""
        assert self.codec is not None
        actions = inputs["actions"]
        assert isinstance(actions, torch.Tensor)
        phi, phi_next = self._embed_pair(inputs["obs"], inputs["next_obs"])
        inverse = self.codec.inverse_loss(
            self.nets["inverse_model"](torch.cat([phi, phi_next], dim=1)), actions
        )
        forward = self._forward_error(phi.detach(), actions, phi_next.detach())
        beta = self.forward_weight
        return (1.0 - beta) * inverse.mean() + beta * forward.mean(), forward


class ICMBonus(IntrinsicShaper):
    """Curiosity bonus: the error of a forward model in a self-supervised feature space.

    Args:
        env: environment to wrap (Box, Discrete or Dict observation; Discrete or Box
            actions).
        feature_dim: size of the embedding φ.
        hidden_dim: hidden width.
        forward_weight: β, the forward loss weight (the inverse loss gets 1 − β).
        lr: Adam learning rate.
        batch_size: minibatch size.
        epochs: passes over each batch of logged transitions.
        normalize_bonus: divide by the running RMS of the raw forward error.
        seed: seeds the networks and minibatch order.
        obs_keys: the Dict observation leaves the networks see (default: all), e.g.
            ``["glyphs", "blstats"]`` to leave out MiniHack's ``map`` leaf.
        update_every, coef_decay, online, coef, normalize, clip, name: see
            :class:`~densegym.rewards.intrinsic.shaper.IntrinsicShaper`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0", shaping={"id": "icm", "coef": 0.1})
        >>> _ = env.reset(seed=0)
        >>> terms = env.step(2)[4]["reward_terms"]
        >>> sorted(terms), terms["icm"] > 0
        (['extrinsic', 'icm'], True)
    """

    registry_name = "icm"
    requires = ("ArrayObservations", "ArrayActions")
    module_cls = ICMModule

    def __init__(
        self,
        env: gym.Env,
        *,
        feature_dim: int = 64,
        hidden_dim: int = 128,
        forward_weight: float = 0.2,
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
