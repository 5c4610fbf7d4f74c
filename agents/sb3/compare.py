"""Compare shapings on one env: a sweep over one env (summary CSV, curves CSV and a plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from densegym import logging as names
from densegym.agents.runs.backends import MAX_FAILURES, run_all, train_or_resume
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.lock import lock_run_dir
from densegym.agents.runs.record import finished_summary
from densegym.agents.runs.sweep import sweep

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
    **engine_options: Any,
) -> dict[str, Path]:
    """Train one run per (shaping, seed), then write ``summary.csv``, ``curves.csv`` and a PNG.

    This is :func:`densegym.agents.runs.sweep.sweep` over one env. Finished runs (a
    ``summary.json`` covering the budget) are skipped unless ``rerun``, and unfinished
    ones continue from their last checkpoint, so an interrupted or extended comparison
    (a larger ``steps``) picks up where it stopped. The worker processes end with the
    comparing process. The comparison holds ``<logdir>/<env>`` for its whole length
    (:func:`~densegym.agents.runs.lock.lock_run_dir`): a second comparison of the same env
    in the same logdir stops at once with
    :class:`~densegym.agents.runs.lock.RunDirBusy` instead of training the same runs again.

    Args:
        base: the shared run config (env, trainer, steps, n_envs, logdir, ...).
        shapings: shaping specs to compare.
        seeds: seeds to run each shaping with.
        workers: parallel training processes (default: one per core, at most the runs).
        rerun: retrain runs that already finished (from scratch).
        console: a rich Console for progress output (default: a new one).
        backend: the engine, ``"local"`` or ``"ray"``.
        **engine_options: ``max_failures``, and for ``ray`` ``address``,
            ``cpus_per_trial``, ``storage`` (see :func:`~densegym.agents.runs.sweep.sweep`).

    Returns:
        Paths of ``summary_csv``, ``curves_csv``, ``plot`` and the TensorBoard ``logdir``.
    """
    engine_options.setdefault("max_failures", MAX_FAILURES)
    with lock_run_dir(Path(base.logdir) / names.env_slug(base.env_id)):
        result = sweep(
            [base.env_id],
            shapings,
            list(seeds),
            base=base,
            engine=backend,
            workers=workers,
            rerun=rerun,
            console=console,
            **engine_options,
        )
    return result.reports[base.env_id]
