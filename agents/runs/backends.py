"""Run a grid of configs through one scheduler interface: :func:`run_all`.

Backends are named in :data:`BACKENDS`: ``"local"`` trains on this machine, one run at a
time in this process or ``workers`` spawned processes at a time; ``"ray"`` hands the runs
to Ray Tune, one trial per run (:mod:`densegym.agents.runs.ray_engine`, needs the ``ray``
extra). Every backend trains a run with :func:`train_or_resume` (its config's trainer,
continued from its newest checkpoint when an earlier attempt stopped), so the run
directories are the same whichever backend ran them.

A backend is ``backend(configs, workers, on_done, **options)``; it calls ``on_done`` with
one row per run: the run's summary plus ``status`` (``"ok"`` or ``"failed"``) and
``retries`` (attempts that died before the last one), and ``error`` for a failed run. A
run that raises or whose process dies never stops the other runs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from densegym.agents.runs.config import RunConfig, trainer_function
from densegym.agents.runs.lock import lock_run_dir
from densegym.agents.runs.record import CONFIG_FILE, CURVE_FILE, list_checkpoints
from densegym.registry import Registry

Summary = dict[str, Any]
OnDone = Callable[[Summary], None]
#: ``backend(configs, workers, on_done, **options)`` trains every config, calling
#: ``on_done`` once per run.
Backend = Callable[..., None]

BACKENDS: Registry[Backend] = Registry("run backend")
#: Seconds between two checks of a worker that its parent is still alive.
PARENT_POLL_S = 0.5
#: ``status`` of a run row: trained (or already finished), or given up on.
OK, FAILED = "ok", "failed"
#: Times a run whose process died is started again before it is reported failed.
MAX_FAILURES = 2

log = logging.getLogger(__name__)


def ok_row(summary: Summary, retries: int = 0, config: RunConfig | None = None) -> Summary:
    """A finished run's row: its summary, ``status="ok"`` and ``retries``.

    With ``config``, a summary without ``run_dir`` gets the config's.

    Example:
        >>> ok_row({"seed": 1}, retries=1)
        {'seed': 1, 'status': 'ok', 'retries': 1}
    """
    row = dict(summary)
    if config is not None:
        row.setdefault("run_dir", str(config.run_dir))
    return {**row, "status": OK, "retries": int(retries)}


def failed_row(config: RunConfig, error: BaseException | str, retries: int = 0) -> Summary:
    """The row of a run that did not finish: who it was, ``status="failed"`` and why.

    Example:
        >>> row = failed_row(RunConfig("densegym/MountainCarSparse-v0", seed=2), "killed", 2)
        >>> row["shaping"], row["seed"], row["status"], row["retries"], row["error"]
        ('none', 2, 'failed', 2, 'killed')
    """
    if isinstance(error, BaseException):
        first = (str(error).strip().splitlines() or [""])[0]
        error = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return {
        "env_id": config.env_id,
        "trainer": config.trainer,
        "algo": config.algo,
        "shaping": config.label,
        "seed": config.seed,
        "run_dir": str(config.run_dir),
        "status": FAILED,
        "retries": int(retries),
        "error": str(error),
    }


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
    # Held across the check and the clean-up too: another process must not drop this
    # run's curve between them (the lock is re-entrant, so ``train`` takes it again).
    with lock_run_dir(config.run_dir):
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


def _attempt(config: RunConfig) -> Summary:
    """:func:`train_or_resume` in this process; an exception becomes a failed row."""
    try:
        return ok_row(train_or_resume(config), config=config)
    except Exception as error:  # one broken run never stops the others
        log.exception("run %s failed", config.run_dir)
        return failed_row(config, error)


def run_local(
    configs: Sequence[RunConfig], workers: int, on_done: OnDone, *, max_failures: int = MAX_FAILURES
) -> None:
    """The ``local`` backend: in this process (``workers <= 1``) or a spawned process pool.

    A run that raises is reported failed and the others go on. Pool workers end with
    this process (:func:`die_with_parent`). A worker that dies (killed, out of memory)
    breaks the whole pool, and which run it was cannot be told apart: every run that
    had not finished is charged one failure and handed to a fresh pool, up to
    ``max_failures`` times; each continues from its last checkpoint. In this process
    (``workers <= 1``) a dying run takes the sweep with it (nothing can retry it).
    """
    if workers <= 1:
        for config in configs:
            on_done(_attempt(config))
        return
    context = multiprocessing.get_context("spawn")
    pending, failures = list(configs), 0
    while pending:
        died: list[RunConfig] = []
        with ProcessPoolExecutor(
            max_workers=min(workers, len(pending)),
            mp_context=context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures = {pool.submit(_attempt, config): config for config in pending}
            for future in as_completed(futures):
                try:
                    row = future.result()
                except BrokenProcessPool:
                    died.append(futures[future])
                    continue
                on_done({**row, "retries": failures})
        if died:
            failures += 1
            log.warning("a worker process died; %d unfinished runs start again", len(died))
        if died and failures > max_failures:
            reason = "worker process died (killed or out of memory)"
            for config in died:
                on_done(failed_row(config, reason, failures - 1))
            return
        pending = died


BACKENDS.register("local", run_local)
# Ray is imported only when its backend is asked for.
BACKENDS.register("ray", "densegym.agents.runs.ray_engine:run_ray")


def run_all(
    configs: Sequence[RunConfig],
    backend: str = "local",
    *,
    workers: int | None = None,
    on_done: OnDone | None = None,
    **options: Any,
) -> list[Summary]:
    """Train or resume every run through one backend.

    Args:
        configs: the runs.
        backend: a name in :data:`BACKENDS` (``"local"``, ``"ray"``).
        workers: runs at a time (default: one per core, at most the runs).
        on_done: receives each run's row as it finishes (in completion order).
        options: the backend's own options, e.g. ``max_failures`` (both), ``address``,
            ``cpus_per_trial``, ``storage`` (``ray``, see
            :func:`densegym.agents.runs.ray_engine.run_ray`).

    Returns:
        One row per run (summary, ``status``, ``retries``), in completion order.

    Example:
        >>> run_all([], "local"), run_all([], "ray")  # nothing to run: Ray is not started
        ([], [])
        >>> run_all([], "slurm")
        Traceback (most recent call last):
        ...
        ValueError: unknown run backend 'slurm'; registered run backends: local, ray
    """
    if not isinstance(backend, str):
        raise TypeError(
            f"run_all(configs, backend, *, workers, on_done): backend is a name such as "
            f"'local', got {backend!r}"
        )
    run = BACKENDS.get(backend)
    if workers is None:
        workers = min(len(configs), os.cpu_count() or 1)
    summaries: list[Summary] = []
    if not configs:
        return summaries

    def done(summary: Summary) -> None:
        summaries.append(summary)
        if on_done is not None:
            on_done(summary)

    run(list(configs), max(1, workers), done, **options)
    return summaries
