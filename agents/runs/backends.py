"""Run a grid of configs through one scheduler interface: :func:`run_all`.

Backends are named in :data:`BACKENDS`: ``"local"`` trains on this machine, one run at a
time in this process or ``workers`` spawned processes at a time; ``"ray"`` (Ray Tune
trials) is reserved for the Ray issue. Every backend trains a run through its config's
trainer (:func:`densegym.agents.runs.config.trainer_function`) and continues it from its
newest checkpoint when an earlier attempt stopped, so the run directories are the same
whichever backend ran them.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from densegym.agents.runs.config import RunConfig, trainer_function
from densegym.agents.runs.record import CONFIG_FILE, CURVE_FILE, list_checkpoints
from densegym.registry import Registry

Summary = dict[str, Any]
OnDone = Callable[[Summary], None]
#: ``backend(configs, workers, on_done)`` trains every config, calling ``on_done`` per run.
Backend = Callable[[Sequence[RunConfig], int, OnDone], None]

BACKENDS: Registry[Backend] = Registry("run backend")
#: Seconds between two checks of a worker that its parent is still alive.
PARENT_POLL_S = 0.5


def train(
    config: RunConfig, *, resume: bool = False, progress: bool = True, **kwargs: Any
) -> Summary:
    """Train (or, with ``resume``, continue) one run with its config's trainer.

    Extra keyword arguments (e.g. SB3 ``callbacks``) go to the trainer.
    """
    return trainer_function(config.trainer)(config, resume=resume, progress=progress, **kwargs)


def resume_run(run_dir: str | Path, steps: int | None = None, progress: bool = True) -> Summary:
    """Continue a run from its newest checkpoint, optionally to a new total of steps.

    Raises:
        FileNotFoundError: the folder has no ``config.json`` or no checkpoint.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise FileNotFoundError(f"no run to resume in {run_dir} (it has no {CONFIG_FILE})")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    if steps is not None:
        config.steps = steps
    if config.run_dir.resolve() != run_dir.resolve():
        # The run folder was moved: keep writing where it now lives
        # (``<logdir>/<env>/<shaping>/<agent>-seed<k>``).
        config.logdir = str(run_dir.resolve().parents[2])
    return train(config, resume=True, progress=progress)


def train_or_resume(config: RunConfig) -> Summary:
    """Train one run, continuing from its last checkpoint when an earlier attempt stopped.

    A run cut short before its first checkpoint starts over (its partial curve is dropped).
    """
    if list_checkpoints(config.run_dir):
        return train(config, resume=True, progress=False)
    stale = config.run_dir / CURVE_FILE
    if stale.exists():
        stale.unlink()
    return train(config, progress=False)


def _exit_when_orphaned(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone: stop at once, like a SIGTERM would
        time.sleep(interval)


def die_with_parent(parent_pid: int, interval: float = PARENT_POLL_S) -> None:
    """Worker initializer: end this process within ``interval`` s of its parent's death.

    A daemon thread polls ``os.getppid()``: when the parent dies the worker is handed
    to another process, its parent id changes, and the thread ends the worker. Plain
    Python, so it works on any OS (Linux's ``prctl`` death signal is Linux only).
    """
    watcher = threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid, interval), daemon=True, name="die-with-parent"
    )
    watcher.start()


def run_local(configs: Sequence[RunConfig], workers: int, on_done: OnDone) -> None:
    """The ``local`` backend: in this process (``workers <= 1``) or a spawned process pool.

    Pool workers end with this process (:func:`die_with_parent`).
    """
    if workers <= 1:
        for config in configs:
            on_done(train_or_resume(config))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = [pool.submit(train_or_resume, config) for config in configs]
        for future in as_completed(futures):
            on_done(future.result())


def run_ray(configs: Sequence[RunConfig], workers: int, on_done: OnDone) -> None:
    """The ``ray`` backend (Ray Tune trials): not available yet."""
    raise NotImplementedError(
        "the 'ray' run backend (Ray Tune trials) comes with the Ray issue; "
        "use backend='local' for now"
    )


BACKENDS.register("local", run_local)
BACKENDS.register("ray", run_ray)


def run_all(
    configs: Sequence[RunConfig],
    backend: str = "local",
    *,
    workers: int | None = None,
    on_done: OnDone | None = None,
) -> list[Summary]:
    """Train or resume every run through one backend.

    Args:
        configs: the runs.
        backend: a name in :data:`BACKENDS` (``"local"``, ``"ray"``).
        workers: runs at a time (default: one per core, at most the runs).
        on_done: receives each run's summary as it finishes (in completion order).

    Returns:
        The summaries, in completion order.

    Example:
        >>> run_all([], "local")
        []
        >>> run_all([], "ray")
        Traceback (most recent call last):
        ...
        NotImplementedError: the 'ray' run backend (Ray Tune trials) comes with the Ray issue; use backend='local' for now
        >>> run_all([], "slurm")
        Traceback (most recent call last):
        ...
        ValueError: unknown run backend 'slurm'; registered run backends: local, ray
    """  # noqa: E501
    if not isinstance(backend, str):
        raise TypeError(
            f"run_all(configs, backend, *, workers, on_done): backend is a name such as "
            f"'local', got {backend!r}"
        )
    run = BACKENDS.get(backend)
    if workers is None:
        workers = min(len(configs), os.cpu_count() or 1)
    summaries: list[Summary] = []

    def done(summary: Summary) -> None:
        summaries.append(summary)
        if on_done is not None:
            on_done(summary)

    run(list(configs), max(1, workers), done)
    return summaries
