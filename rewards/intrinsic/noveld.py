"""NovelD (Zhang et al., 2021): reward crossing into more novel territory, once per episode."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from densegym.rewards.intrinsic.batches import Batch, concat
from densegym.rewards.intrinsic.counts import CountModule
from densegym.rewards.intrinsic.module import IntrinsicModule
from densegym.rewards.intrinsic.rnd import RNDModule
from densegym.rewards.intrinsic.shaper import IntrinsicShaper


class NovelDModule(IntrinsicModule):
    """``max(n(s′) − α·n(s), 0)`` when s′ is visited for the first time this episode, else 0.

    Novelty ``n`` is an :class:`~densegym.rewards.intrinsic.rnd.RNDModule`'s (scaled)
    prediction error; the first-visit gate is an episodic
    :class:`~densegym.rewards.intrinsic.counts.CountModule` over the state key.

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space.
        alpha: α, how much of the previous state's novelty is subtracted.
        state_key: maps one observation to the hashable key of the first-visit gate.
        **rnd_kwargs: the RND module's hyper-parameters.

    Example:
        >>> from gymnasium import spaces
        >>> module = NovelDModule(spaces.Box(-1, 1, (1,)), spaces.Discrete(2), alpha=0.5,
        ...                       state_key=lambda obs: float(obs[0]), feature_dim=8,
        ...                       hidden_dim=16, lr=1e-3, batch_size=32, epochs=1,
        ...                       normalize_bonus=True, seed=0)
        >>> episodic = module.new_episodic(1)
        >>> module.reset_episodic(episodic, np.array([0]), np.zeros((1, 1)))
        >>> start, there = np.zeros((1, 1)), np.ones((1, 1))
        >>> again = module.bonus(there, np.zeros(1), there, episodic)  # first visit to 1.0
        >>> module.bonus(start, np.zeros(1), start, episodic)  # 0.0 was visited at reset
        array([0.])
    """

    needs_state_key = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        alpha: float,
        state_key: Callable[[Any], Hashable],
        **rnd_kwargs: Any,
    ):
        super().__init__(observation_space, action_space)
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a non-negative number, got {alpha!r}")
        self.alpha = float(alpha)
        self.rnd = RNDModule(observation_space, action_space, **rnd_kwargs)
        self.visits = CountModule(
            observation_space, action_space, mode="episodic", state_key=state_key
        )

    def new_episodic(self, n: int) -> Any:
        """Per-environment visit tables."""
        return self.visits.new_episodic(n)

    def reset_episodic(self, episodic: Any, indices: np.ndarray, obs: Batch) -> None:
        """Clear the slots' visit tables and mark each first observation visited."""
        self.visits.reset_episodic(episodic, indices, obs)

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """Return the gated novelty difference per row (both novelties in one forward pass)."""
        novelty = self.rnd.novelty(concat([obs, next_obs]))
        n = len(novelty) // 2
        first_visit = self.visits.count_next(episodic, next_obs) == 1
        difference = np.maximum(novelty[n:] - self.alpha * novelty[:n], 0.0)
        return np.where(first_visit | np.isnan(difference), difference, 0.0)

    def train(self, batch: dict[str, Any]) -> dict[str, float]:
        """Train the RND predictor."""
        return self.rnd.train(batch)

    def state_dict(self) -> dict[str, Any]:
        """Return the RND state."""
        return {"rnd": self.rnd.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the RND state."""
        self.rnd.load_state_dict(state["rnd"])


class NovelDBonus(IntrinsicShaper):
    """NovelD bonus: positive novelty differences, only on a state's first visit per episode.

    Args:
        env: environment to wrap (any Box, Discrete or Dict observation).
        alpha: α in ``max(n(s′) − α·n(s), 0)``.
        key: first-visit key: ``"env"`` (the env's ``state_key``, e.g. MiniHack's
            position) or ``"observation"`` (a digest of the observation bytes).
        feature_dim, hidden_dim, lr, batch_size, epochs, normalize_bonus, seed, obs_keys: the
            RND novelty's settings, see :class:`~densegym.rewards.intrinsic.rnd.RNDBonus`.
        update_every, coef_decay, online, coef, normalize, clip, name: see
            :class:`~densegym.rewards.intrinsic.shaper.IntrinsicShaper`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MiniHack-Room-5x5-v0", shaping="noveld")
        >>> _ = env.reset(seed=0)
        >>> terms = env.step(1)[4]["reward_terms"]
        >>> sorted(terms), terms["noveld"] >= 0
        (['extrinsic', 'noveld'], True)
    """

    registry_name = "noveld"
    requires = ("ArrayObservations",)
    module_cls = NovelDModule

    def __init__(
        self,
        env: gym.Env,
        *,
        alpha: float = 0.5,
        key: str = "env",
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
