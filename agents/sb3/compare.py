"""Compare shapings: one run per (shaping, seed), a summary CSV and a success-rate plot."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from densegym import logging as names
from densegym.agents.runs.backends import run_all, train_or_resume
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.record import RunRecord, finished_summary
from densegym.agents.sb3.plotting import plot_success

# The grid scheduler moved to the run layer (any trainer); importable from here as before.
__all__ = ["compare", "finished_summary", "run_all", "train_or_resume"]


def compare(
    base: RunConfig,
    shapings: list[Any],
    seeds: list[int],
    workers: int | None = None,
    rerun: bool = False,
    console: Any = None,
    backend: str = "local",
) -> dict[str, Path]:
    """Train one run per (shaping, seed), then write ``summary.csv``, ``curves.csv`` and a PNG.

    Finished runs (a ``summary.json`` covering the budget) are skipped unless ``rerun``,
    and unfinished ones continue from their last checkpoint, so an interrupted or
    extended comparison (a larger ``steps``) picks up where it stopped. The worker
    processes end with the comparing process.

    Args:
        base: the shared run config (env, trainer, steps, n_envs, logdir, ...).
        shapings: shaping specs to compare.
        seeds: seeds to run each shaping with.
        workers: parallel training processes (default: one per core, at most the runs).
        rerun: retrain runs that already finished.
        console: a rich Console for progress output (default: a new one).
        backend: the :func:`~densegym.agents.runs.backends.run_all` backend.

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

        run_all(todo, backend, workers=workers, on_done=done)
    out_dir = Path(base.logdir) / names.env_slug(base.env_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(summaries).sort_values(["shaping", "seed"])
    summary_csv = out_dir / "summary.csv"
    summary.to_csv(summary_csv, index=False)
    curve_frames = []
    for config in configs:
        frame = RunRecord.load(config.run_dir).curve if config.run_dir.is_dir() else None
        if frame is not None:  # a header-only curve keeps its columns in curves.csv
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
