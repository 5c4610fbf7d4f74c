"""Guards that keep the episode sum of a learned step reward bounded (Clip and Delta).

"On Designing Effective RL Reward at Training Time for LLM Reasoning" shows that a
policy trained on a learned per-step reward learns to *farm* it: repeating steps that
the reward model likes makes the return grow with the episode length. Two mechanisms
bound the episode sum:

* ``"clip"``: ``r ← min(r − threshold, 0)``. Every step reward is at most 0, so
  writing more steps can never add reward.
* ``"delta"``: ``r_t ← r_t − r_{t+1}`` (and ``r_T`` unchanged), whose episode sum
  telescopes to ``r_1``. A step's reward needs the *next* step's raw reward, so it is
  paid with a one-step delay: step 1 returns 0, step ``t > 1`` returns
  ``r_{t−1} − r_t``, and the last step (terminated or truncated) additionally returns
  ``r_T``. The episode sum is exactly ``r_1``; only the credit of each difference moves
  one step later.

  Registered ids apply their time limit *outside* the shapers, so a shaper cannot see a
  truncation: on an episode cut by the time limit the last raw reward is never paid
  back and the sum is ``r_1 − r_T``. Either way the sum is bounded by twice the largest
  raw reward, whatever the episode length.
"""

from __future__ import annotations

import math

#: Accepted guard names (``None`` and ``"none"`` mean no guard).
GUARDS = ("none", "clip", "delta")


class StepGuard:
    """Apply a Clip or Delta guard to a stream of step rewards, one episode at a time.

    Args:
        mode: ``None``/``"none"``, ``"clip"`` or ``"delta"``.
        threshold: the Clip threshold (ignored by the other modes).

    Example:
        >>> guard = StepGuard("delta")
        >>> [guard(0.5, done=False), guard(0.5, done=False), guard(0.5, done=True)]
        [0.0, 0.0, 0.5]
        >>> clip = StepGuard("clip", threshold=0.6)
        >>> [round(clip(r, done=False), 2) for r in (0.9, 0.2)]
        [0.0, -0.4]
    """

    def __init__(self, mode: str | None = None, threshold: float = 0.0):
        mode = "none" if mode is None else str(mode).lower()
        if mode not in GUARDS:
            raise ValueError(f"guard must be None, 'clip' or 'delta', got {mode!r}")
        if not math.isfinite(float(threshold)):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        self.mode = mode
        self.threshold = float(threshold)
        self._pending: float | None = None

    def reset(self) -> None:
        """Forget the delayed reward of the previous episode."""
        self._pending = None

    def __call__(self, reward: float, done: bool) -> float:
        """Return the guarded reward for this step.

        Args:
            reward: the raw step reward (a non-finite value passes through unchanged
                and is stored as 0, so one bad value cannot poison the next step).
            done: whether this step ends the episode.
        """
        if self.mode == "none":
            return reward
        finite = math.isfinite(reward)
        if self.mode == "clip":
            return min(reward - self.threshold, 0.0) if finite else reward
        current = reward if finite else 0.0
        out = 0.0 if self._pending is None else self._pending - current
        self._pending = current
        if done:
            out += current
            self._pending = None
        return out if finite else math.nan
