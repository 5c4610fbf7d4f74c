"""The term pipeline: every rule that turns a shaper's raw term into its reward contribution.

A shaper computes a *raw* term per step; :class:`TermPipeline` owns everything that
happens to it afterwards, so the per-env wrapper
(:class:`~densegym.rewards.core.ShapedReward`) and the batched VecEnv form
(:class:`~densegym.rewards.intrinsic.vec.VecIntrinsicBonus`) give the same numbers:

1. a non-finite value (NaN, ±inf, something that is not a number) becomes 0, is
   counted (``info["reward_terms_nonfinite"]``) and warned about once;
2. a finite value beyond ``±bound`` (:data:`TERM_BOUND` by default) is clamped to the
   bound, counted (``info["reward_terms_clamped"]``) and warned about once, so that no
   huge value reaches a float32 buffer or the running statistics (the weighted
   contribution of step 5 is held to the same bound, counted the same way);
3. optional normalisation by the running standard deviation (:class:`RunningMeanStd`);
4. optional clipping to ``[low, high]``;
5. weighting by the coefficient of the current step (:class:`CoefSchedule`; the step
   counter belongs to the pipeline and stops while frozen).

The pipeline also keeps the compute time of its term and saves/loads all of that
state (:meth:`TermPipeline.state_dict`).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Largest magnitude a finite raw term keeps; beyond it the term is clamped to ``±TERM_BOUND``.
TERM_BOUND = 1e6

_DECAY_KINDS = ("linear", "exponential")


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


class CoefSchedule:
    """The weight of a term after ``step`` steps: constant, linear or exponential decay.

    ``decay`` is ``None`` (constant), ``{"kind": "linear", "steps": N, "final": f}``
    (straight line from ``coef`` to ``f`` over N steps, then flat) or
    ``{"kind": "exponential", "half_life": H, "final": f}`` (the gap to ``f`` halves
    every H steps). ``final`` defaults to 0. The schedule is a pure function of the
    step; :class:`TermPipeline` owns the step counter.

    Args:
        coef: the weight at step 0.
        decay: the schedule spec, or ``None``.
        owner: shaper name used in error messages.

    Raises:
        ValueError: a malformed spec (the message names the owner and the key).

    Example:
        >>> schedule = CoefSchedule(1.0, {"kind": "linear", "steps": 100})
        >>> schedule(0), schedule(50), schedule(500)
        (1.0, 0.5, 0.0)
        >>> halving = CoefSchedule(0.8, {"kind": "exponential", "half_life": 10})
        >>> round(halving(10), 6), CoefSchedule(0.3, None)(10**6)
        (0.4, 0.3)
    """

    def __init__(self, coef: float, decay: dict[str, Any] | None, owner: str = "shaper"):
        self.coef = float(coef)
        self.kind = "constant"
        self.final = self.coef
        self.length = 1.0
        if decay is None:
            return
        if not isinstance(decay, dict):
            raise ValueError(f"{owner}: coef_decay must be a dict or None, got {decay!r}")
        decay = dict(decay)
        kind = decay.pop("kind", None)
        if kind not in _DECAY_KINDS:
            raise ValueError(
                f"{owner}: coef_decay['kind'] must be one of {_DECAY_KINDS}, got {kind!r}"
            )
        length_key = "steps" if kind == "linear" else "half_life"
        if length_key not in decay:
            raise ValueError(f"{owner}: coef_decay of kind {kind!r} needs {length_key!r}")
        length = decay.pop(length_key)
        final = decay.pop("final", 0.0)
        if decay:
            raise ValueError(f"{owner}: coef_decay got unexpected keys {sorted(decay)}")
        if not isinstance(length, (int, float)) or not length > 0:
            raise ValueError(f"{owner}: coef_decay[{length_key!r}] must be > 0, got {length!r}")
        if not isinstance(final, (int, float)) or not math.isfinite(final):
            raise ValueError(f"{owner}: coef_decay['final'] must be a finite number")
        self.kind, self.length, self.final = kind, float(length), float(final)

    def __call__(self, step: int) -> float:
        """Return the weight after ``step`` steps."""
        if self.kind == "constant":
            return self.coef
        if self.kind == "linear":
            fraction = min(step / self.length, 1.0)
            return self.coef + (self.final - self.coef) * fraction
        return self.final + (self.coef - self.final) * 0.5 ** (step / self.length)


def parse_clip(
    clip: float | tuple[float, float] | list[float] | None,
) -> tuple[float, float] | None:
    """Return ``clip`` as a ``(low, high)`` pair (``c`` means ``(-c, c)``), or ``None``.

    Raises:
        ValueError: a non-positive or NaN bound, ``low > high``, or not a number or pair.

    Example:
        >>> parse_clip(2), parse_clip([-1, 3]), parse_clip(None)
        ((-2.0, 2.0), (-1.0, 3.0), None)
    """
    if clip is None:
        return None
    if isinstance(clip, (int, float, np.integer, np.floating)) and not isinstance(clip, bool):
        if not clip > 0:  # NaN included: it would disable clipping silently
            raise ValueError(f"clip must be positive, got {clip}")
        return (-float(clip), float(clip))
    if isinstance(clip, (str, bytes, dict)) or not hasattr(clip, "__len__") or len(clip) != 2:
        raise ValueError(f"clip must be a positive number or a [low, high] pair, got {clip!r}")
    if not all(isinstance(c, (int, float, np.integer, np.floating)) for c in clip) or any(
        isinstance(c, bool) for c in clip
    ):
        raise ValueError(f"clip bounds must be numbers, got {clip!r}")
    low, high = (float(c) for c in clip)
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"clip range must have low <= high (no NaN), got {clip}")
    return (low, high)


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _as_floats(raw: Any) -> np.ndarray:
    """A 1-D float64 copy of ``raw``; entries that are not numbers become NaN."""
    try:
        return np.array(raw, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return np.array([_to_float(v) for v in np.asarray(raw, dtype=object).ravel()])


class TermPipeline:
    """The rules of one reward term, for one value (per-env) or one per sub-env (batched).

    One call of :meth:`process` is one env step: a scalar for a per-env wrapper, an
    array with one value per sub-environment for a batched one. Every value goes
    through the same rules in the same order (see the module docstring), values of
    an array one after the other, so an array gives exactly what the same values
    passed as scalars would give — except that the schedule advances one step per
    call (each sub-env takes one step), not one per value.

    Args:
        name: the term's name (in ``info`` and in warnings).
        coef: weight of the term at step 0.
        coef_decay: optional schedule of the weight, see :class:`CoefSchedule`.
        normalize: divide the term by its running standard deviation.
        clip: clip the (normalised) term to ``[-clip, clip]`` or ``[low, high]``.
        bound: largest magnitude a finite raw term keeps (default :data:`TERM_BOUND`).
        owner: the shaper named in error messages (defaults to ``name``).

    Attributes:
        steps: steps processed while not frozen (the schedule's position).
        frozen: when True, neither the statistics nor the schedule move.
        nonfinite_count: non-finite values replaced by 0 so far.
        clamped_count: finite values clamped to the bound so far.
        compute_seconds: total time spent in :meth:`timed` blocks.
        compute_steps: env-steps those blocks covered.

    Raises:
        ValueError: a coefficient that is not a finite number, a bad clip or schedule.

    Example:
        >>> pipeline = TermPipeline("bonus", coef=0.5, coef_decay={"kind": "linear", "steps": 2})
        >>> pipeline.process(2.0), pipeline.process(float("nan")), pipeline.process(1e300)
        (1.0, 0.0, 0.0)
        >>> pipeline.nonfinite_count, pipeline.clamped_count, pipeline.steps
        (1, 1, 3)
        >>> TermPipeline("bonus", coef=2.0).process([1.0, 1e9, float("inf")])
        array([2.e+00, 1.e+06, 0.e+00])
    """

    def __init__(
        self,
        name: str,
        *,
        coef: float = 1.0,
        coef_decay: dict[str, Any] | None = None,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        bound: float = TERM_BOUND,
        owner: str | None = None,
    ):
        label = owner or name
        if not isinstance(coef, (int, float)) or not math.isfinite(coef):
            raise ValueError(f"{label}: coef must be a finite number, got {coef!r}")
        if not (isinstance(bound, (int, float)) and 0 < bound < math.inf):
            raise ValueError(f"{label}: bound must be a positive finite number, got {bound!r}")
        self.name = name
        self.base_coef = float(coef)
        self.schedule = CoefSchedule(coef, coef_decay, owner=label)
        if not isinstance(normalize, (bool, np.bool_)):  # "no" would otherwise mean True
            raise ValueError(f"{label}: normalize must be true or false, got {normalize!r}")
        self.normalize = bool(normalize)
        try:
            self.clip = parse_clip(clip)
        except ValueError as error:
            raise ValueError(f"{label}: {error}") from error
        self.bound = float(bound)
        self.normalizer = RunningMeanStd()
        self.frozen = False
        self.steps = 0
        self.nonfinite_count = 0
        self.clamped_count = 0
        self.compute_seconds = 0.0
        self.compute_steps = 0
        self._warned: set[str] = set()

    @property
    def coef(self) -> float:
        """The weight the next step gets (the schedule at :attr:`steps`)."""
        return self.schedule(self.steps)

    # -- the rules -----------------------------------------------------------------------
    def process(self, raw: Any) -> float | np.ndarray:
        """Apply every rule to one step's raw term(s); return the weighted contribution(s).

        Args:
            raw: a number (per-env) or a sequence of numbers, one per sub-env (batched).
                Anything that is not a finite number counts as non-finite.

        Returns:
            A float for a scalar ``raw``, else a float64 array of the same length.
        """
        if type(raw) in (float, int) or isinstance(raw, np.floating):
            return self._process_number(float(raw))
        scalar = np.ndim(raw) == 0
        values = np.array([_to_float(raw)]) if scalar else _as_floats(raw)
        coef = self.coef
        bad = ~np.isfinite(values)
        if bad.any():
            self.nonfinite_count += int(bad.sum())
            example = raw if scalar else float(values[bad][0])
            self._warn_once(
                "nonfinite",
                f"shaper {self.name!r} produced a non-finite term ({example!r}); "
                "replaced by 0 (counted in info['reward_terms_nonfinite'])",
            )
            values[bad] = 0.0
        huge = np.abs(values) > self.bound
        if huge.any():
            self.clamped_count += int(huge.sum())
            self._warn_once(
                "clamped",
                f"shaper {self.name!r} produced a term beyond ±{self.bound:g} "
                f"({float(values[huge][0])!r}); clamped to the bound (counted in "
                "info['reward_terms_clamped'])",
            )
            np.clip(values, -self.bound, self.bound, out=values)
        if self.normalize:
            # One value after the other, so an array matches the same values as scalars.
            for i in range(values.size):
                if not self.frozen:
                    self.normalizer.update(values[i : i + 1])
                values[i] = values[i] / self.normalizer.std
        if self.clip is not None:
            np.clip(values, self.clip[0], self.clip[1], out=values)
        contributions = coef * values
        # The same guard once more where the term is weighted: a large coefficient (or a
        # normalised value) must not push a contribution past the bound or to ±inf.
        weighted = ~(np.abs(contributions) <= self.bound)
        if weighted.any():
            self.clamped_count += int((weighted & ~huge).sum())
            self._warn_once(
                "weighted",
                f"shaper {self.name!r}: coef {coef:g} times its term goes beyond "
                f"±{self.bound:g}; clamped to the bound (counted in info['reward_terms_clamped'])",
            )
            np.clip(contributions, -self.bound, self.bound, out=contributions)
        if not self.frozen:
            self.steps += 1
        return float(contributions[0]) if scalar else contributions

    def _process_number(self, value: float) -> float:
        """:meth:`process` for one plain number, in Python floats (the per-env hot path).

        The same rules in the same order as the array path, so both give the same numbers
        (``tests/rewards/test_terms_property.py`` checks it); only the per-step cost differs.
        """
        schedule = self.schedule
        coef = schedule.coef if schedule.kind == "constant" else schedule(self.steps)
        huge = False
        if not math.isfinite(value):
            self.nonfinite_count += 1
            self._warn_once(
                "nonfinite",
                f"shaper {self.name!r} produced a non-finite term ({value!r}); "
                "replaced by 0 (counted in info['reward_terms_nonfinite'])",
            )
            value = 0.0
        elif abs(value) > self.bound:
            huge = True
            self.clamped_count += 1
            self._warn_once(
                "clamped",
                f"shaper {self.name!r} produced a term beyond ±{self.bound:g} "
                f"({value!r}); clamped to the bound (counted in info['reward_terms_clamped'])",
            )
            value = math.copysign(self.bound, value)
        if self.normalize:
            if not self.frozen:
                self.normalizer.update(np.array([value]))
            value = value / self.normalizer.std
        if self.clip is not None:
            value = min(max(value, self.clip[0]), self.clip[1])
        contribution = coef * value
        if not abs(contribution) <= self.bound:
            if not huge:
                self.clamped_count += 1
            self._warn_once(
                "weighted",
                f"shaper {self.name!r}: coef {coef:g} times its term goes beyond "
                f"±{self.bound:g}; clamped to the bound (counted in info['reward_terms_clamped'])",
            )
            contribution = min(max(contribution, -self.bound), self.bound)
        if not self.frozen:
            self.steps += 1
        return contribution

    def _warn_once(self, kind: str, message: str) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        logger.warning(message)

    def write_info(self, info: dict[str, Any], contribution: float) -> None:
        """Record a step's contribution and the running counters in one ``info`` dict.

        ``info["reward_terms"]`` must already hold the ``extrinsic`` entry.
        """
        name = self.name
        info["reward_terms"][name] = float(contribution)
        nonfinite = info.get("reward_terms_nonfinite")
        if nonfinite is None:
            nonfinite = info["reward_terms_nonfinite"] = {}
        nonfinite[name] = self.nonfinite_count
        clamped = info.get("reward_terms_clamped")
        if clamped is None:
            clamped = info["reward_terms_clamped"] = {}
        clamped[name] = self.clamped_count

    @contextmanager
    def timed(self, steps: int = 1) -> Iterator[None]:
        """Add the wall-clock time of the block (covering ``steps`` env-steps) to the totals.

        Timing stays here, never in ``info``: wall-clock values there would make seeded
        steps non-reproducible.
        """
        start = time.perf_counter()
        try:
            yield
        finally:
            self.compute_seconds += time.perf_counter() - start
            self.compute_steps += steps

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The statistics, the schedule's position and the counters, as plain data.

        Example:
            >>> pipeline = TermPipeline("t", coef_decay={"kind": "linear", "steps": 4})
            >>> _ = pipeline.process(1.0)
            >>> sorted(pipeline.state_dict())
            ['clamped_count', 'nonfinite_count', 'normalizer', 'steps']
        """
        return {
            "normalizer": self.normalizer.state_dict(),
            "nonfinite_count": self.nonfinite_count,
            "clamped_count": self.clamped_count,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (or by a shaper before the pipeline).

        Keys absent from older checkpoints (``steps``, ``clamped_count``) start at 0.
        """
        if "normalizer" in state:
            self.normalizer.load_state_dict(state["normalizer"])
        self.nonfinite_count = int(state.get("nonfinite_count", 0))
        self.clamped_count = int(state.get("clamped_count", 0))
        self.steps = int(state.get("steps", 0))


class PipelineOwner:
    """Mixin for a wrapper whose term goes through ``self.pipeline`` (a :class:`TermPipeline`).

    It exposes the pipeline's state under the names shapers have always had
    (``coef``, ``normalizer``, ``nonfinite_count``, ...) and implements freezing.
    """

    pipeline: TermPipeline

    @property
    def coef(self) -> float:
        """The weight of the next step's term (follows ``coef_decay``; read-only)."""
        return self.pipeline.coef

    @property
    def schedule(self) -> CoefSchedule:
        """The coefficient's schedule."""
        return self.pipeline.schedule

    @property
    def steps(self) -> int:
        """Steps this term has taken while not frozen (the schedule's position)."""
        return self.pipeline.steps

    @property
    def normalize(self) -> bool:
        """Whether the term is divided by its running standard deviation."""
        return self.pipeline.normalize

    @property
    def clip(self) -> tuple[float, float] | None:
        """The ``(low, high)`` clip of the (normalised) term, or ``None``."""
        return self.pipeline.clip

    @property
    def normalizer(self) -> RunningMeanStd:
        """The running statistics used by ``normalize``."""
        return self.pipeline.normalizer

    @property
    def nonfinite_count(self) -> int:
        """Non-finite terms replaced by 0 so far."""
        return self.pipeline.nonfinite_count

    @property
    def clamped_count(self) -> int:
        """Finite terms clamped to the bound so far."""
        return self.pipeline.clamped_count

    @property
    def compute_seconds(self) -> float:
        """Total seconds spent computing the term."""
        return self.pipeline.compute_seconds

    @property
    def compute_steps(self) -> int:
        """Env-steps whose term was timed."""
        return self.pipeline.compute_steps

    @property
    def frozen(self) -> bool:
        """Whether every update (learned state, statistics, schedule) is stopped."""
        return self.pipeline.frozen

    @frozen.setter
    def frozen(self, value: bool) -> None:
        self.pipeline.frozen = bool(value)

    def freeze(self) -> None:
        """Stop every update (learned state, normalisation statistics, coef schedule)."""
        self.frozen = True

    def unfreeze(self) -> None:
        """Resume updates after :meth:`freeze`."""
        self.frozen = False
