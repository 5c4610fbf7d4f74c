"""Compare shapings: one run per (shaping, seed), a summary CSV and a success-rate plot."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from densegym import logging as names
from densegym.agents.sb3.checkpoints import latest_checkpoint
from densegym.agents.sb3.plotting import plot_success
from densegym.agents.sb3.training import CURVE_FILE, SUMMARY_FILE, RunConfig, train


def train_or_resume(config: RunConfig) -> dict[str, Any]:
    """Train one run, continuing from its last checkpoint when an earlier attempt stopped.

    A run cut short before its first checkpoint starts over (its partial curve is dropped).
    """
    if latest_checkpoint(config.run_dir) is not None:
        return train(config, resume=True, progress=False)
    stale = config.run_dir / CURVE_FILE
    if stale.exists():
        stale.unlink()
    return train(config, progress=False)


def _die_with_parent() -> None:
    """Worker initializer: on Linux, end this worker when the comparing process dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:  # pragma: no cover - no libc: workers then outlive a killed parent
            pass


def finished_summary(config: RunConfig) -> dict[str, Any] | None:
    """The run's ``summary.json`` if it covers the configured budget, else ``None``."""
    summary_path = config.run_dir / SUMMARY_FILE
    if not summary_path.exists():
        return None
    summary = json.loads(summary_path.read_text())
    return summary if summary.get("timesteps", 0) >= config.steps else None


def run_all(
    configs: list[RunConfig], workers: int, on_done: Callable[[dict[str, Any]], None]
) -> None:
    """Train or resume every run, ``workers`` spawned processes at a time.

    ``on_done`` receives each run's summary as it finishes (in completion order).
    """
    if workers <= 1:
        for config in configs:
            on_done(train_or_resume(config))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_die_with_parent
    ) as pool:
        futures = [pool.submit(train_or_resume, config) for config in configs]
        for future in as_completed(futures):
            on_done(future.result())


def compare(
    base: RunConfig,
    shapings: list[Any],
    seeds: list[int],
    workers: int | None = None,
    rerun: bool = False,
    console: Any = None,
) -> dict[str, Path]:
    """Train one run per (shaping, seed), then write ``summary.csv``, ``curves.csv`` and a PNG.

    Finished runs (a ``summary.json`` covering the budget) are skipped unless ``rerun``,
    and unfinished ones continue from their last checkpoint, so an interrupted or
    extended comparison (a larger ``steps``) picks up where it stopped. On Linux the
    worker processes end with the comparing process.

    Args:
        base: the shared run config (env, algo, steps, n_envs, logdir, ...).
        shapings: shaping specs to compare.
        seeds: seeds to run each shaping with.
        workers: parallel training processes (default: one per core, at most the runs).
        rerun: retrain runs that already finished.
        console: a rich Console for progress output (default: a new one).

    Returns:
        Paths of ``summary_csv``, ``curves_csv``, ``plot`` and the TensorBoard ``logdir``.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = console or Console()
    configs = [replace(base, shaping=s, seed=seed) for s in shapings for seed in seeds]
    labels = [config.label for config in configs[:: len(seeds)]]
    summaries: list[dict[str, Any]] = []
    todo = []
    for config in configs:
        done = None if rerun else finished_summary(config)
        (summaries.append(done) if done else todo.append(config))
    workers = workers or min(len(todo), os.cpu_count() or 1) or 1
    with Progress(
        "[bold]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(
            f"{names.env_slug(base.env_id)}: runs", total=len(configs), completed=len(summaries)
        )

        def done(summary: dict[str, Any]) -> None:
            summaries.append(summary)
            progress.advance(task)

        run_all(todo, workers, done)
    out_dir = Path(base.logdir) / names.env_slug(base.env_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(summaries).sort_values(["shaping", "seed"])
    summary_csv = out_dir / "summary.csv"
    summary.to_csv(summary_csv, index=False)
    curve_frames = []
    for config in configs:
        curve_path = config.run_dir / CURVE_FILE
        if curve_path.exists():
            frame = pd.read_csv(curve_path)
            frame.insert(0, "seed", config.seed)
            frame.insert(0, "shaping", config.label)
            curve_frames.append(frame)
    curves = pd.concat(curve_frames, ignore_index=True) if curve_frames else pd.DataFrame()
    curves_csv = out_dir / "curves.csv"
    curves.to_csv(curves_csv, index=False)
    plot = out_dir / "success_rate.png"
    if not curves.empty:
        plot_success(curves, plot, title=f"{base.env_id} — {base.algo.upper()}", order=labels)
    return {
        "summary_csv": summary_csv,
        "curves_csv": curves_csv,
        "plot": plot,
        "logdir": Path(base.logdir),
    }
