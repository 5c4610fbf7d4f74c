"""E3B (Henaff et al., 2022): an elliptical episodic bonus over inverse-dynamics features."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch
from densegym.rewards.intrinsic.module import TorchIntrinsicModule
from densegym.rewards.intrinsic.networks import (
    ActionCodec,
    ObsEncoder,
    cat_tensors,
    mlp,
)
from densegym.rewards.intrinsic.shaper import IntrinsicShaper


def sherman_morrison(inverse: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Fold ``φφᵀ`` into a batch of inverse covariances in place; return ``φᵀC⁻¹φ`` (before).

    With ``u = C⁻¹φ`` and symmetric ``C⁻¹``, ``(C + φφᵀ)⁻¹ = C⁻¹ − uuᵀ / (1 + φᵀu)``:
    a rank-one update, no matrix inversion.

    Args:
        inverse: ``(n, d, d)`` inverse covariances, updated in place.
        phi: ``(n, d)`` feature vectors.

    Example:
        >>> inverse = np.eye(2)[None] / 0.5
        >>> phi = np.array([[1.0, 0.0]])
        >>> sherman_morrison(inverse, phi).tolist()
        [2.0]
        >>> np.allclose(inverse[0], np.linalg.inv(0.5 * np.eye(2) + np.outer(phi, phi)))
        True
    """
    u = np.einsum("nij,nj->ni", inverse, phi)
    quad = np.einsum("ni,ni->n", phi, u)
    inverse -= u[:, :, None] * u[:, None, :] / (1.0 + quad)[:, None, None]
    return quad


class E3BModule(TorchIntrinsicModule):
    """Bonus ``φ(s′)ᵀ C⁻¹ φ(s′)``, where C = λI + Σ φφᵀ over the episode so far.

    The episodic state is one ``(d, d)`` float64 inverse per environment: reset to
    ``I/λ`` at the start of an episode, then updated by a rank-one Sherman–Morrison
    step for the episode's first observation and for every ``s′`` after its bonus is
    read. φ is an :class:`ObsEncoder` trained by inverse dynamics (which action led
    from s to s′), so it keeps what the agent controls.

    Args:
        observation_space: the environment's observation space.
        action_space: a Discrete or Box action space.
        feature_dim: size of φ (the covariance is ``feature_dim²``).
        hidden_dim: hidden width.
        ridge: λ, the covariance's initial diagonal.
        **training: lr, batch_size, epochs, seed, normalize_bonus, obs_keys: see
            :class:`~densegym.rewards.intrinsic.module.TorchIntrinsicModule`.

    Example:
        >>> from gymnasium import spaces
        >>> module = E3BModule(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), feature_dim=8,
        ...                    hidden_dim=16, ridge=0.1, lr=1e-3, batch_size=32, epochs=1,
        ...                    seed=0)
        >>> episodic = module.new_episodic(1)
        >>> state = np.full((1, 3), 0.5, np.float32)
        >>> first, second = (module.bonus(state, np.zeros(1), state, episodic)[0]
        ...                  for _ in range(2))
        >>> bool(second < first)
        True
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        feature_dim: int,
        hidden_dim: int,
        ridge: float,
        **training: Any,
    ):
        super().__init__(observation_space, action_space, **training)
        if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge > 0):
            raise ValueError(f"ridge must be a positive number, got {ridge!r}")
        self.ridge = float(ridge)
        self.feature_dim = feature_dim
        self.codec = ActionCodec(action_space, owner="e3b")
        self.nets["embed"] = ObsEncoder(self.prepare, feature_dim, hidden_dim)
        self.nets["inverse_model"] = mlp(2 * feature_dim, hidden_dim, self.codec.dim)
        self._setup()

    def features(self, obs: Batch) -> tuple[np.ndarray, np.ndarray]:
        """φ of each row as float64, and the mask of finite rows."""
        tensors, ok = self.prepare(obs)
        with torch.no_grad():
            return self.nets["embed"](tensors).double().numpy(), ok

    def new_episodic(self, n: int) -> np.ndarray:
        """``n`` inverse covariances ``I/λ``."""
        return np.repeat(np.eye(self.feature_dim)[None] / self.ridge, n, axis=0)

    def reset_episodic(self, episodic: np.ndarray, indices: np.ndarray, obs: Batch) -> None:
        """Reset the slots to ``I/λ`` and fold in each episode's first observation."""
        indices = np.asarray(indices, dtype=np.int64)
        episodic[indices] = np.eye(self.feature_dim) / self.ridge
        phi, ok = self.features(obs)
        slots = indices[ok]
        if slots.size:
            block = episodic[slots]
            sherman_morrison(block, phi[ok])
            episodic[slots] = block

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """``φ(s′)ᵀC⁻¹φ(s′)`` per row, then fold ``φ(s′)`` into that row's ``C⁻¹``."""
        phi, ok = self.features(next_obs)
        out = np.full(len(ok), math.nan)
        if ok.all():
            out[:] = sherman_morrison(episodic, phi)
        elif ok.any():
            block = episodic[ok]
            out[ok] = sherman_morrison(block, phi[ok])
            episodic[ok] = block
        return out

    def loss(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, None]:
        """Inverse-dynamics loss that trains φ."""
        assert self.codec is not None
        obs, next_obs, actions = inputs["obs"], inputs["next_obs"], inputs["actions"]
        assert isinstance(actions, torch.Tensor)
        phi = self.nets["embed"](cat_tensors(obs, next_obs))
        half = len(phi) // 2
        logits = self.nets["inverse_model"](torch.cat([phi[:half], phi[half:]], dim=1))
        return self.codec.inverse_loss(logits, actions).mean(), None

    def covariance_inverse(self, obs_sequence: Batch) -> np.ndarray:
        """``(λI + Σ φφᵀ)⁻¹`` over the finite rows of ``obs_sequence``, by ``numpy.linalg.inv``.

        The reference the incremental updates are checked against.
        """
        phi, ok = self.features(obs_sequence)
        phi = phi[ok]
        return np.linalg.inv(self.ridge * np.eye(self.feature_dim) + phi.T @ phi)


class E3BBonus(IntrinsicShaper):
    """Exploration via elliptical episodic bonuses: novelty of s′ relative to this episode.

    The raw bonus is about ``‖φ‖²/λ`` for a state unlike any in the episode and falls
    like ``1/k`` on the k-th visit to the same state. The E3B paper normalises the
    intrinsic reward; ``normalize=True`` does that with the shaping core's running
    statistics.

    Args:
        env: environment to wrap (Box, Discrete or Dict observation; Discrete or Box
            actions).
        feature_dim: size of the embedding φ.
        hidden_dim: hidden width.
        ridge: λ, the initial diagonal of each episode's covariance.
        lr: Adam learning rate of the inverse-dynamics model.
        batch_size: minibatch size.
        epochs: passes over each batch of logged transitions.
        seed: seeds the networks and minibatch order.
        obs_keys: the Dict observation leaves the networks see (default: all), e.g.
            ``["glyphs", "blstats"]`` to leave out MiniHack's ``map`` leaf.
        update_every, coef_decay, online, coef, normalize, clip, name: see
            :class:`~densegym.rewards.intrinsic.shaper.IntrinsicShaper`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0", shaping={"id": "e3b", "coef": 0.01})
        >>> _ = env.reset(seed=0)
        >>> first = env.step(1)[4]["reward_terms"]["e3b"]
        >>> again = env.step(1)[4]["reward_terms"]["e3b"]  # nearly the same state
        >>> again < first
        True
    """

    registry_name = "e3b"
    requires = ("ArrayObservations",)
    module_cls = E3BModule

    def __init__(
        self,
        env: gym.Env,
        *,
        feature_dim: int = 64,
        hidden_dim: int = 128,
        ridge: float = 0.1,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 1,
        seed: int = 0,
        obs_keys: list[str] | None = None,
        update_every: int = 64,
        coef_decay: dict[str, Any] | None = None,
        online: bool = True,
        coef: float = 0.05,
        normalize: bool = True,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, **self._saved_kwargs)
