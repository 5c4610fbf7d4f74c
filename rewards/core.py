"""The shaping wrapper contract: one named reward term per step, extrinsic kept intact."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class Transition:
    """What a shaper sees at one step.

    Attributes:
        obs: observation before the action.
        action: the action taken.
        next_obs: observation after the action.
        extrinsic: the task's own reward for this step.
        terminated: whether the episode ended in a terminal state.
        truncated: whether the episode was cut short.
        info: the step's info dict (read-only by convention).
    """

    obs: Any
    action: Any
    next_obs: Any
    extrinsic: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class RunningMeanStd:
    """Running mean and variance (parallel Welford), for per-term normalisation.

    Example:
        >>> rms = RunningMeanStd()
        >>> rms.update(np.array([1.0, 2.0, 3.0]))
        >>> round(rms.mean, 3), round(rms.var, 3)
        (2.0, 0.667)
    """

    def __init__(self, epsilon: float = 1e-4):
        self.mean = 0.0
        self.var = 1.0
        self.count = epsilon

    def update(self, values: np.ndarray) -> None:
        """Fold a batch of scalar values into the running statistics."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        batch_mean, batch_var, n = float(values.mean()), float(values.var()), values.size
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    @property
    def std(self) -> float:
        """Standard deviation, floored to avoid division by zero."""
        return math.sqrt(max(self.var, 1e-8))

    def state_dict(self) -> dict[str, float]:
        """Return the statistics as plain numbers."""
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore statistics saved by :meth:`state_dict`."""
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


def _parse_clip(
    clip: float | tuple[float, float] | list[float] | None,
) -> tuple[float, float] | None:
    if clip is None:
        return None
    if isinstance(clip, (int, float)):
        if clip <= 0:
            raise ValueError(f"clip must be positive, got {clip}")
        return (-float(clip), float(clip))
    low, high = (float(c) for c in clip)
    if low > high:
        raise ValueError(f"clip range must have low <= high, got {clip}")
    return (low, high)


class ShapedReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Base class of every shaper: adds one named term to the step reward.

    Subclasses implement :meth:`reward_term` (and optionally :meth:`on_reset`). The
    wrapper keeps the task's reward in ``info["reward_terms"]["extrinsic"]``, stores
    its weighted term under its name, and returns ``reward + coef * term`` so the
    returned reward always equals ``sum(info["reward_terms"].values())``.

    A non-finite term is replaced by 0, counted in ``info["reward_terms_nonfinite"]``
    and warned about once; the run goes on.

    Args:
        env: the environment to wrap.
        coef: weight of the term in the returned reward.
        normalize: divide the term by its running standard deviation.
        clip: clip the (normalised) term to ``[-clip, clip]`` or ``[low, high]``.
        name: term name in ``info["reward_terms"]`` (defaults to the registry name).

    Example:
        >>> import gymnasium as gym, densegym
        >>> from densegym.rewards.penalty import StepPenalty
        >>> env = StepPenalty(gym.make("densegym/MountainCarSparse-v0"), penalty=0.5)
        >>> _ = env.reset(seed=0)
        >>> _, r, _, _, info = env.step(1)
        >>> r, info["reward_terms"]
        (-0.5, {'extrinsic': 0.0, 'step_penalty': -0.5})
    """

    #: Registry name; also the default term name.
    registry_name: ClassVar[str] = "shaped"

    def __init__(
        self,
        env: gym.Env,
        *,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        gym.Wrapper.__init__(self, env)
        if not hasattr(self, "_saved_kwargs"):
            gym.utils.RecordConstructorArgs.__init__(
                self, coef=coef, normalize=normalize, clip=clip, name=name
            )
        if not isinstance(coef, (int, float)) or not math.isfinite(coef):
            raise ValueError(f"{self.registry_name}: coef must be a finite number, got {coef!r}")
        self.coef = float(coef)
        self.normalize = bool(normalize)
        self.clip = _parse_clip(clip)
        self.term_name = name or self.registry_name
        self.frozen = False
        self.normalizer = RunningMeanStd()
        self.nonfinite_count = 0
        self._warned_nonfinite = False
        self.compute_seconds = 0.0
        self.compute_steps = 0
        self._last_obs: Any = None

    def _record_args(self, local_vars: dict[str, Any]) -> None:
        """Record constructor arguments (data only) so the env spec can rebuild us."""
        kwargs = {k: v for k, v in local_vars.items() if k not in ("self", "env", "__class__")}
        gym.utils.RecordConstructorArgs.__init__(self, **kwargs)

    # -- hooks for subclasses -------------------------------------------------
    def reward_term(self, transition: Transition) -> float:
        """Return this shaper's raw term for one transition."""
        raise NotImplementedError

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Reset per-episode state; called after the inner env resets."""

    def shaping_times(self) -> dict[str, dict[str, float]]:
        """Return the cumulative compute time of every shaper in this stack, innermost first.

        Timing is kept out of ``info`` (wall-clock values there would make seeded steps
        non-reproducible); with SB3, read it with ``vec_env.env_method("shaping_times")``.

        Returns:
            ``{term: {"seconds": total seconds, "steps": steps timed}}``.
        """
        times: dict[str, dict[str, float]] = {}
        current: Any = self
        while current is not None:
            if isinstance(current, ShapedReward):
                times[current.term_name] = {
                    "seconds": current.compute_seconds,
                    "steps": float(current.compute_steps),
                }
            current = getattr(current, "env", None)
        return dict(reversed(list(times.items())))

    # -- learned-module interface (no-ops for stateless shapers) -------------
    def freeze(self) -> None:
        """Stop every update (learned weights, counts and normalisation statistics)."""
        self.frozen = True

    def unfreeze(self) -> None:
        """Resume updates after :meth:`freeze`."""
        self.frozen = False

    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to reproduce this shaper's future terms."""
        return {"normalizer": self.normalizer.state_dict(), "nonfinite_count": self.nonfinite_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        self.normalizer.load_state_dict(state["normalizer"])
        self.nonfinite_count = int(state.get("nonfinite_count", 0))

    # -- gymnasium API --------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the inner env and this shaper's per-episode state."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = obs
        self.on_reset(obs, info)
        return obs, info

    def step(self, action: Any):
        """Step the inner env and add this shaper's weighted term to the reward."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        terms: dict[str, float] = info.setdefault("reward_terms", {"extrinsic": float(reward)})
        start = time.perf_counter()
        raw = self.reward_term(
            Transition(
                obs=self._last_obs,
                action=action,
                next_obs=obs,
                extrinsic=terms["extrinsic"],
                terminated=bool(terminated),
                truncated=bool(truncated),
                info=info,
            )
        )
        elapsed = time.perf_counter() - start
        self.compute_seconds += elapsed
        self.compute_steps += 1
        value = self._postprocess(raw, info)
        contribution = self.coef * value
        # Timing stays on the wrapper (compute_seconds / compute_steps), not in ``info``:
        # wall-clock values in ``info`` would make seeded steps non-reproducible.
        terms[self.term_name] = contribution
        self._last_obs = obs
        return obs, float(reward) + contribution, terminated, truncated, info

    def _postprocess(self, raw: SupportsFloat, info: dict[str, Any]) -> float:
        value = finish_term(self, raw)
        info.setdefault("reward_terms_nonfinite", {})[self.term_name] = self.nonfinite_count
        return value


def finish_term(owner: Any, raw: SupportsFloat) -> float:
    """Apply the core's rules to one raw term: non-finite → 0, then normalise, then clip.

    Shared by the per-env wrapper and batched (VecEnv) shapers. ``owner`` carries
    ``term_name``, ``nonfinite_count``, ``_warned_nonfinite``, ``normalize``,
    ``normalizer``, ``frozen`` and ``clip``; a non-finite value is counted there and
    warned about (and logged) once per owner.
    """
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        owner.nonfinite_count += 1
        if not owner._warned_nonfinite:
            owner._warned_nonfinite = True
            message = (
                f"shaper {owner.term_name!r} produced a non-finite term ({raw!r}); "
                "replaced by 0 (counted in info['reward_terms_nonfinite'])"
            )
            warnings.warn(message, RuntimeWarning, stacklevel=4)
            logger.warning(message)
        value = 0.0
    if owner.normalize:
        if not owner.frozen:
            owner.normalizer.update(np.array([value]))
        value = value / owner.normalizer.std
    if owner.clip is not None:
        value = min(max(value, owner.clip[0]), owner.clip[1])
    return value


class LearnedShaper(ShapedReward):
    """A shaper with state it learns from experience (counts, networks, reward models).

    It trains online from the transitions it sees (``online=True``, the default) or from
    batches handed to :meth:`update` (e.g. by an SB3 callback at rollout end).
    """

    def __init__(self, env: gym.Env, *, online: bool = True, **common: Any):
        super().__init__(env, **common)
        self.online = bool(online)

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Learn from a batch of transitions; return training statistics."""
        raise NotImplementedError

    @property
    def learning(self) -> bool:
        """Whether online updates happen at this step."""
        return self.online and not self.frozen
