"""Torch-based intrinsic modules: networks trained by Adam on minibatches.

:class:`~densegym.rewards.intrinsic.base.IntrinsicModule` (the interface every module
implements, shared by both wrapper forms) lives in the torch-free ``base`` module and
is re-exported here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from densegym.rewards.core import RunningMeanStd
from densegym.rewards.intrinsic.base import IntrinsicModule
from densegym.rewards.intrinsic.networks import ActionCodec, ObsPreprocessor, init_weights

#: Gradient-norm clip of every training step.
MAX_GRAD_NORM = 10.0
#: Random observations used to set the bonus scale before the first training batch.
CALIBRATION_SAMPLES = 64


class TorchIntrinsicModule(IntrinsicModule):
    """An intrinsic module with torch networks trained by Adam on minibatches.

    Subclasses put their networks in ``self.nets``, call :meth:`_setup` and implement
    :meth:`loss`. Rows with non-finite values in any of :attr:`train_inputs` are left
    out of training, so a bad observation never reaches the weights.

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space.
        lr: Adam learning rate.
        batch_size: minibatch size of :meth:`train`.
        epochs: passes over each batch handed to :meth:`train`.
        seed: seeds weight initialisation and minibatch shuffling.
        normalize_bonus: divide the bonus by the running RMS of the raw bonus, whose
            statistics start from random samples of the spaces and are updated from
            the training batches.
        obs_keys: the Dict observation leaves the networks see (default: all).

    Example:
        >>> from gymnasium import spaces
        >>> from densegym.rewards.intrinsic.rnd import RNDModule
        >>> module = RNDModule(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), feature_dim=8,
        ...                    hidden_dim=16, lr=1e-3, batch_size=16, epochs=2,
        ...                    normalize_bonus=True, seed=0)
        >>> stats = module.train({"next_obs": np.zeros((40, 3), np.float32)})
        >>> stats["samples"], stats["skipped_nonfinite"]
        (40.0, 0.0)
    """

    #: Batch entries that training reads.
    train_inputs: ClassVar[tuple[str, ...]] = ("obs", "actions", "next_obs")

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        lr: float,
        batch_size: int,
        epochs: int,
        seed: int,
        normalize_bonus: bool = False,
        obs_keys: Sequence[str] | None = None,
    ):
        super().__init__(observation_space, action_space)
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        for arg, value in (("batch_size", batch_size), ("epochs", epochs)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        if not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.lr = float(lr)
        self.batch_size = batch_size
        self.epochs = epochs
        self.normalize_bonus = bool(normalize_bonus)
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.bonus_stats = RunningMeanStd()
        self.prepare = ObsPreprocessor(observation_space, keys=obs_keys)
        self.nets = nn.ModuleDict()
        self.codec: ActionCodec | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def _setup(self, fixed: tuple[str, ...] = ()) -> None:
        """Initialise ``self.nets`` from the seed, freeze ``fixed`` nets, build Adam."""
        init_weights(self.nets, self.generator)
        for name in fixed:
            self.nets[name].requires_grad_(False)
        self._params = [p for p in self.nets.parameters() if p.requires_grad]
        try:  # the fused CPU kernel is several times faster for these small nets
            self.optimizer = torch.optim.Adam(self._params, lr=self.lr, fused=True)
        except (RuntimeError, TypeError):  # pragma: no cover - older torch or exotic dtypes
            self.optimizer = torch.optim.Adam(self._params, lr=self.lr)
        if self.normalize_bonus:
            self._calibrate()

    def _calibrate(self, samples: int = CALIBRATION_SAMPLES) -> None:
        """Seed the bonus statistics with the raw bonus of random samples of the spaces.

        Without it the first bonuses (before any training batch) would be raw, orders of
        magnitude off the normalised ones that follow.
        """
        spaces_ = {"obs": self.observation_space, "next_obs": self.observation_space}
        spaces_["actions"] = self.action_space
        batch: dict[str, Any] = {}
        for offset, name in enumerate(self.train_inputs):
            space = copy.deepcopy(spaces_[name])
            space.seed(int(self.rng.integers(2**31)) + offset)
            drawn = [space.sample() for _ in range(samples)]
            if isinstance(space, spaces.Dict):
                batch[name] = {key: np.stack([d[key] for d in drawn]) for key in space.spaces}
            else:
                batch[name] = np.stack(drawn)
        tensors, ok = self._inputs(batch)
        with torch.no_grad():
            _, raw = self.loss(tensors)
        if raw is not None:
            self.bonus_stats.update(raw.double().numpy()[ok])

    def scale(self, raw: np.ndarray) -> np.ndarray:
        """Apply bonus normalisation (if on) to raw bonuses."""
        if not self.normalize_bonus:
            return raw
        rms = math.sqrt(max(self.bonus_stats.mean**2 + self.bonus_stats.var, 1e-12))
        return raw / rms

    def loss(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the training loss of a minibatch and its per-sample raw bonus (or ``None``)."""
        raise NotImplementedError

    def _inputs(self, batch: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
        tensors: dict[str, Any] = {}
        ok: np.ndarray | None = None
        for name in self.train_inputs:
            if name == "actions":
                assert self.codec is not None
                tensors[name], mask = self.codec.to_tensor(batch["actions"])
            else:
                tensors[name], mask = self.prepare(batch[name])
            ok = mask if ok is None else ok & mask
        assert ok is not None
        return tensors, ok

    def train(self, batch: dict[str, Any]) -> dict[str, float]:
        """Run ``epochs`` shuffled passes of Adam steps over the finite rows of ``batch``.

        Returns:
            ``loss`` (mean over steps), ``samples`` (rows used) and
            ``skipped_nonfinite`` (rows left out because a value was not finite).
        """
        if not batch:
            return {}
        assert self.optimizer is not None
        tensors, ok = self._inputs(batch)
        keep = np.flatnonzero(ok)
        losses: list[float] = []
        for epoch in range(self.epochs):
            order = self.rng.permutation(keep)
            for start in range(0, len(order), self.batch_size):
                index = torch.from_numpy(order[start : start + self.batch_size])
                minibatch = {name: _index(value, index) for name, value in tensors.items()}
                loss, raw = self.loss(minibatch)
                if not torch.isfinite(loss):
                    continue
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self._params, MAX_GRAD_NORM)
                self.optimizer.step()
                losses.append(float(loss.detach()))
                if epoch == 0 and raw is not None:
                    self.bonus_stats.update(raw.detach().double().numpy())
        return {
            "loss": float(np.mean(losses)) if losses else math.nan,
            "samples": float(keep.size),
            "skipped_nonfinite": float(len(ok) - keep.size),
        }

    def state_dict(self) -> dict[str, Any]:
        """Weights, optimiser state, bonus statistics and the shuffling RNG (copies)."""
        assert self.optimizer is not None
        return {
            "nets": {k: v.detach().clone() for k, v in self.nets.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "bonus_stats": self.bonus_stats.state_dict(),
            "rng": copy.deepcopy(self.rng.bit_generator.state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        assert self.optimizer is not None
        self.nets.load_state_dict(state["nets"])
        # Adam keeps the tensors it is given: copy so the saved state stays untouched.
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.bonus_stats.load_state_dict(state["bonus_stats"])
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])


def _index(value: Any, index: torch.Tensor) -> Any:
    if isinstance(value, dict):
        return {key: tensor[index] for key, tensor in value.items()}
    return value[index]


def nan_where(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values`` as float64 with NaN in the rows where ``ok`` is False."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~ok] = math.nan
    return out
