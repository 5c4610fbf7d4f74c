"""The torch-free base of the learned intrinsic rewards: the module interface and state keys.

An :class:`IntrinsicModule` owns the learned state (network weights, optimiser,
normaliser, counts) and computes the bonus of a *batch* of transitions as a function
of that state and of an explicit *episodic state* (one slot per environment). The
per-env shaper (:class:`~densegym.rewards.intrinsic.shaper.IntrinsicShaper`) calls it
with batches of one; the vectorised wrapper
(:class:`~densegym.rewards.intrinsic.vec.VecIntrinsicBonus`) with one row per
sub-environment. Same inputs and state, same numbers. Torch-based modules build on
:class:`~densegym.rewards.intrinsic.module.TorchIntrinsicModule`; this file needs only
numpy, so ``count`` stays cheap to import.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Hashable
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch


def default_state_key(obs: Any) -> Hashable:
    """A hashable key for any array, Dict or scalar observation (a digest of its bytes).

    Example:
        >>> default_state_key(np.zeros(3)) == default_state_key(np.zeros(3))
        True
    """
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(obs, dict):
        for key in sorted(obs):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(obs[key]).tobytes())
    elif isinstance(obs, str):
        digest.update(obs.encode())
    else:
        digest.update(np.ascontiguousarray(obs).tobytes())
    return digest.digest()


class IntrinsicModule:
    """Learned state plus a batched bonus ``f(state, obs, actions, next_obs, episodic)``.

    Subclasses implement :meth:`bonus` and, when they learn, :meth:`observe` (cheap
    online statistics such as counts) and/or :meth:`train` (gradient steps).

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space.

    Example:
        >>> from gymnasium import spaces
        >>> class Constant(IntrinsicModule):
        ...     def bonus(self, obs, actions, next_obs, episodic):
        ...         return np.ones(len(next_obs))
        >>> module = Constant(spaces.Box(0, 1, (2,)), spaces.Discrete(2))
        >>> module.bonus(None, None, np.zeros((3, 2)), module.new_episodic(3))
        array([1., 1., 1.])
    """

    #: Whether the constructor takes a ``state_key`` callable (count-style modules).
    needs_state_key: ClassVar[bool] = False
    #: Whether :meth:`train` learns anything; wrappers of a module that does not (counts)
    #: keep no transition log while learning online.
    trains: ClassVar[bool] = True

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space):
        self.observation_space = observation_space
        self.action_space = action_space

    # -- episodic state -----------------------------------------------------------
    def new_episodic(self, n: int) -> Any:
        """Fresh episodic state for ``n`` environments (``None`` when there is none)."""
        return None

    def reset_episodic(self, episodic: Any, indices: np.ndarray, obs: Batch) -> None:
        """Start new episodes in slots ``indices``, whose first observations are ``obs``."""

    def episodic_state_dict(self, episodic: Any) -> Any:
        """Return a copy of the episodic state, for checkpoints."""
        return copy.deepcopy(episodic)

    def load_episodic_state(self, state: Any) -> Any:
        """Episodic state rebuilt from :meth:`episodic_state_dict`."""
        return copy.deepcopy(state)

    # -- bonus and learning -----------------------------------------------------
    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """Return raw bonuses (float64, one per row); advance ``episodic`` in place.

        Rows with a non-finite input give NaN (the shaping core turns that into a
        flagged 0) and leave their episodic slot untouched.
        """
        raise NotImplementedError

    def observe(self, next_obs: Batch) -> None:
        """Fold states into online statistics (e.g. global counts); no-op by default."""

    def train(self, batch: dict[str, Any]) -> dict[str, float]:
        """Gradient steps on ``{"obs", "actions", "next_obs"}``; no-op by default."""
        return {}

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Learn everything from a batch gathered elsewhere: :meth:`observe` + :meth:`train`."""
        if not batch:
            return {}
        self.observe(batch["next_obs"])
        return self.train(batch)

    # -- checkpoints --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything learned, as copies."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
