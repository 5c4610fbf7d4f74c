"""SB3 callbacks: densegym's TensorBoard scalars, learning curves and a progress bar."""

from __future__ import annotations

import csv
import math
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from densegym import logging as names
from densegym.agents.sb3.run_logs import truncate_curve

#: A shaper reports its counters (annotations, queue length, ...) as ``info["<term>_stats"]``.
STATS_SUFFIX = "_stats"


class EpisodeStats:
    """Per-episode sums of every reward term, success and length, for K sub-envs.

    Shaper counters (``info["<term>_stats"]``, a dict of numbers such as ``llm_feedback``'s
    label counts and queue length) are kept as their latest values, ``<term>/<stat>``.

    Example:
        >>> stats = EpisodeStats(n_envs=1, window=10)
        >>> stats.add_step(0, {"reward_terms": {"extrinsic": 0.0, "count": 1.0}}, done=False)
        >>> stats.add_step(0, {"reward_terms": {"extrinsic": 1.0, "count": 0.5},
        ...                    "is_success": True}, done=True)
        >>> stats.summary()["reward/count"], stats.summary()["episode/success_rate"]
        (1.5, 1.0)
    """

    def __init__(self, n_envs: int, window: int = 30):
        self.window = window
        self.running: list[defaultdict[str, float]] = [defaultdict(float) for _ in range(n_envs)]
        self.lengths = [0] * n_envs
        self.episodes: deque[dict[str, float]] = deque(maxlen=window)
        self.total_episodes = 0
        self.llm = {"tokens": 0.0, "calls": 0.0}
        self.counters: dict[str, float] = {}

    def add_step(
        self, env_index: int, info: dict[str, Any], done: bool, reward: float | None = None
    ) -> None:
        """Fold one sub-env step into the running sums; close the episode on ``done``.

        An unshaped env has no ``reward_terms``; its ``reward`` is the extrinsic term.
        """
        sums = self.running[env_index]
        terms = info.get("reward_terms")
        if terms is None:
            terms = {names.EXTRINSIC: 0.0 if reward is None else float(reward)}
        for term, value in terms.items():
            sums[term] += float(value)
        usage = info.get("llm_usage")
        if usage:
            # Either {"tokens", "calls"} or densegym.llm.Usage's four keys.
            tokens = usage.get("tokens")
            if tokens is None:
                tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
            self.llm["tokens"] += float(tokens)
            self.llm["calls"] += float(usage.get("calls", 0))
        for key, value in info.items():
            if isinstance(value, dict) and key.endswith(STATS_SUFFIX):
                self._add_counters(key[: -len(STATS_SUFFIX)], value)
        self.lengths[env_index] += 1
        if done:
            record = {names.reward_tag(term): value for term, value in sums.items()}
            record[names.SUCCESS_RATE] = float(bool(info.get("is_success", False)))
            record[names.EPISODE_LENGTH] = float(self.lengths[env_index])
            self.episodes.append(record)
            self.total_episodes += 1
            self.running[env_index] = defaultdict(float)
            self.lengths[env_index] = 0

    def _add_counters(self, term: str, values: dict[str, Any]) -> None:
        # Latest value, not a sum: sub-envs of one process may share one counter source
        # (llm_feedback's annotator), so each reports the same totals.
        for stat, number in values.items():
            if isinstance(number, (int, float)) and math.isfinite(number):
                self.counters[f"{term}/{stat}"] = float(number)

    def state_dict(self) -> dict[str, Any]:
        """The finished-episode window, episode total, LLM usage and counters.

        Episodes still running are left out: a resumed run starts them afresh.
        """
        return {
            "episodes": [dict(record) for record in self.episodes],
            "total_episodes": self.total_episodes,
            "llm": dict(self.llm),
            "counters": dict(self.counters),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (the window keeps its newest episodes).

        Example:
            >>> before = EpisodeStats(n_envs=1, window=2)
            >>> for won in (True, False, True):
            ...     before.add_step(0, {"is_success": won}, done=True, reward=float(won))
            >>> after = EpisodeStats(n_envs=1, window=2)
            >>> after.load_state_dict(before.state_dict())
            >>> after.summary() == before.summary()
            True
        """
        self.episodes.clear()
        self.episodes.extend(dict(record) for record in state.get("episodes", []))
        self.total_episodes = int(state.get("total_episodes", len(self.episodes)))
        self.llm.update(state.get("llm", {}))
        self.counters.update(state.get("counters", {}))

    def summary(self) -> dict[str, float]:
        """Means over the last ``window`` episodes, LLM usage and the latest shaper counters."""
        out: dict[str, float] = {}
        if self.episodes:
            keys = {key for record in self.episodes for key in record}
            for key in sorted(keys):
                out[key] = float(np.mean([record.get(key, 0.0) for record in self.episodes]))
        out[names.EPISODES] = float(self.total_episodes)
        if self.llm["calls"]:
            out[names.LLM_TOKENS] = self.llm["tokens"]
            out[names.LLM_CALLS] = self.llm["calls"]
        out.update(self.counters)
        return out


def shaping_times(venv: Any) -> dict[str, tuple[float, float]]:
    """Total (seconds, steps) each shaping term has cost across a VecEnv's sub-envs.

    Reads ``shaping_times()`` from every sub-env's shaper stack and from any batched
    VecEnv wrapper that offers it; unshaped envs contribute nothing.
    """
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    try:
        per_env = venv.env_method("shaping_times")
    except AttributeError:
        per_env = []
    current = venv
    while current is not None:
        if callable(getattr(type(current), "shaping_times", None)):
            per_env.append(current.shaping_times())
        current = getattr(current, "venv", None)
    for times in per_env:
        for term, entry in times.items():
            totals[term][0] += float(entry["seconds"])
            totals[term][1] += float(entry["steps"])
    return {term: (seconds, steps) for term, (seconds, steps) in totals.items()}


class MetricsCallback(BaseCallback):
    """Writes densegym's scalar names to the SB3 logger and a ``curve.csv`` learning curve.

    Scalars: ``reward/extrinsic``, ``reward/<term>`` (per-episode sums),
    ``episode/success_rate``, ``episode/length``, ``shaping/<term>_ms_per_step``,
    ``llm/tokens``, ``llm/calls``, ``time/fps`` and the latest shaper counters
    ``<term>/<stat>`` (e.g. ``llm_feedback/labels``, ``llm_feedback/queue``).

    Args:
        curve_path: CSV file that receives one row per log point (appended on resume).
        log_every: minimum env steps between two log points.
        window: number of recent episodes the means cover.
        initial_state: an :meth:`EpisodeStats.state_dict` to continue from (a resumed run
            keeps its success window and episode count).
    """

    CURVE_FIELDS = ("timesteps", "episodes", "success_rate", "extrinsic_return", "shaped_return")

    def __init__(
        self,
        curve_path: str | Path | None = None,
        log_every: int = 1000,
        window: int = 30,
        initial_state: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.initial_state = initial_state
        self.curve_path = Path(curve_path) if curve_path else None
        self.log_every = log_every
        self.window = window
        self.stats: EpisodeStats | None = None
        self.last_log = -1
        self.latest: dict[str, float] = {}
        self._fps_start = (0.0, 0)
        self._times: dict[str, tuple[float, float]] = {}

    def _on_training_start(self) -> None:
        self.stats = EpisodeStats(self.training_env.num_envs, self.window)
        if self.initial_state is not None:
            self.stats.load_state_dict(self.initial_state)
        self.last_log = self.num_timesteps
        self._fps_start = (time.perf_counter(), self.num_timesteps)
        self._times = shaping_times(self.training_env)
        if self.curve_path is not None:
            truncate_curve(self.curve_path, self.num_timesteps, self.CURVE_FIELDS)

    def _on_step(self) -> bool:
        assert self.stats is not None
        infos = self.locals.get("infos", [])
        dones = self.locals.get("dones", np.zeros(len(infos), dtype=bool))
        rewards = self.locals.get("rewards", np.zeros(len(infos)))
        for index, (info, done, reward) in enumerate(zip(infos, dones, rewards)):
            self.stats.add_step(index, info, bool(done), float(reward))
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps - self.last_log >= self.log_every:
            self.log_now()

    def _on_training_end(self) -> None:
        if self.num_timesteps > self.last_log or not self.latest:
            self.log_now()

    def state_dict(self) -> dict[str, Any]:
        """The episode statistics to save in a checkpoint (empty before training starts)."""
        return self.stats.state_dict() if self.stats is not None else {}

    def log_now(self) -> None:
        """Record the current means and append a learning-curve row."""
        assert self.stats is not None
        summary = self.stats.summary()
        start_time, start_steps = self._fps_start
        elapsed = time.perf_counter() - start_time
        if elapsed > 0:
            summary[names.FPS] = (self.num_timesteps - start_steps) / elapsed
        times = shaping_times(self.training_env)
        for term, (seconds, steps) in times.items():
            seconds_before, steps_before = self._times.get(term, (0.0, 0.0))
            if steps > steps_before:
                ms = 1e3 * (seconds - seconds_before) / (steps - steps_before)
                summary[names.shaping_time_tag(term)] = ms
        self._times = times
        for key, value in summary.items():
            self.logger.record(key, value)
        # Every progress.csv row carries its step (a resume keeps the rows up to it).
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        # SB3 dumps on its own schedule (A2C every 100 rollouts, DQN every 4 episodes);
        # dumping here puts every log point in TensorBoard at its own step.
        self.logger.dump(self.num_timesteps)
        self.latest = summary
        self.last_log = self.num_timesteps
        if self.curve_path is not None and names.SUCCESS_RATE in summary:
            shaped = sum(v for k, v in summary.items() if k.startswith("reward/"))
            row = (
                self.num_timesteps,
                int(summary[names.EPISODES]),
                summary[names.SUCCESS_RATE],
                summary.get(names.reward_tag(names.EXTRINSIC), 0.0),
                shaped,
            )
            with self.curve_path.open("a", newline="") as handle:
                csv.writer(handle).writerow(row)


class RichProgressCallback(BaseCallback):
    """A rich progress bar over env steps that shows the recent success rate."""

    def __init__(
        self, total_timesteps: int, metrics: MetricsCallback | None = None, label: str = ""
    ):
        super().__init__()
        self.total = total_timesteps
        self.metrics = metrics
        self.label = label
        self._progress: Any = None
        self._task: Any = None

    def _on_training_start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.label or "training", total=self.total, completed=self.num_timesteps, status=""
        )

    def _on_step(self) -> bool:
        if self._progress is not None and self.n_calls % 16 == 0:
            status = ""
            if self.metrics is not None and names.SUCCESS_RATE in self.metrics.latest:
                status = f"success {self.metrics.latest[names.SUCCESS_RATE]:.2f}"
            self._progress.update(self._task, completed=self.num_timesteps, status=status)
        return True

    def _on_training_end(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.num_timesteps)
            self._progress.stop()
            self._progress = None


class WallClockLimit(BaseCallback):
    """Stops training after ``seconds`` of wall-clock time (``0``: no limit).

    ``stopped`` says whether it did. The clock starts when training starts.

    Example:
        >>> limit = WallClockLimit(0.0)
        >>> limit.seconds, limit.stopped
        (0.0, False)
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = float(seconds)
        self.start = 0.0
        self.stopped = False

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_step(self) -> bool:
        if self.seconds > 0 and time.perf_counter() - self.start > self.seconds:
            self.stopped = True
            return False
        return True
