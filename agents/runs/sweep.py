"""Sweep a grid of runs (env × trainer × shaping × seed) through one engine: :func:`sweep`.

The grid is a plain list of :class:`~densegym.agents.runs.config.RunConfig`
(:func:`grid`); :func:`sweep_runs` takes any such list (a benchmark's own plan, whose
shaping specs differ by env, or whose order puts whole rows first). Runs whose
``summary.json`` already covers their budget are not trained again; the rest go to
:func:`~densegym.agents.runs.backends.run_all` with the chosen engine (``"local"``: this
machine; ``"ray"``: Ray Tune trials, here or on a cluster), where each continues from its
last checkpoint. Then every env gets the same report whichever engine trained it:
``<logdir>/<env>/summary.csv`` (one row per run, with ``status`` and ``retries``),
``curves.csv`` and ``success_rate.png``.

Example:
    >>> configs = grid(["densegym/MountainCarSparse-v0"], ["none", "potential"], 2, steps=2048)
    >>> [(c.label, c.seed, c.steps) for c in configs]
    [('none', 0, 2048), ('none', 1, 2048), ('potential', 0, 2048), ('potential', 1, 2048)]
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from densegym import logging as names
from densegym.agents.runs.backends import (
    FAILED,
    MAX_FAILURES,
    OK,
    OnDone,
    Summary,
    ok_row,
    run_all,
)
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.record import CONFIG_FILE, RunRecord, finished_summary

#: The engines a sweep can use (names in :data:`~densegym.agents.runs.backends.BACKENDS`).
ENGINES = ("local", "ray")


def grid(
    envs: str | Sequence[str],
    shapings: Sequence[Any] = (None,),
    seeds: int | Sequence[int] = 1,
    *,
    trainers: str | Sequence[str] | None = None,
    base: RunConfig | None = None,
    **fields: Any,
) -> list[RunConfig]:
    """The runs of a sweep, in the order env, trainer, shaping, seed.

    Args:
        envs: env ids.
        shapings: shaping specs (data: a name, ``"a+b"``, a dict, a list, ``None``).
        seeds: a number of seeds (``0 .. n-1``, offset by ``base.seed``) or the seeds.
        trainers: trainer names (default: the base's, ``"sb3:ppo"``).
        base: the shared config (budget, n_envs, logdir, hyperparams, ...).
        fields: :class:`RunConfig` fields that replace the base's (``steps=...``).

    Example:
        >>> configs = grid("densegym/MountainCarSparse-v0", [None], [3, 5],
        ...                trainers=["sb3:ppo", "sb3:a2c"])
        >>> [(c.trainer, c.seed) for c in configs]
        [('sb3:ppo', 3), ('sb3:ppo', 5), ('sb3:a2c', 3), ('sb3:a2c', 5)]
    """
    envs = [envs] if isinstance(envs, str) else list(envs)
    if not envs:
        raise ValueError("a sweep needs at least one env id")
    if base is None:
        base = RunConfig(envs[0], **fields)
    elif fields:
        base = replace(base, **fields)
    if isinstance(seeds, int):
        seeds = [base.seed + k for k in range(seeds)]
    trainers = [trainers] if isinstance(trainers, str) else list(trainers or [base.trainer])
    shapings = list(shapings) or [None]
    return [
        replace(base, env_id=env, trainer=trainer, shaping=shaping, seed=seed)
        for env in envs
        for trainer in trainers
        for shaping in shapings
        for seed in seeds
    ]


@dataclass
class SweepResult:
    """What a sweep did and where its reports are.

    Attributes:
        rows: one row per run, in grid order: the run's summary plus ``status``
            (``"ok"``/``"failed"``) and ``retries``; ``error`` for a failed run.
        trained: run folders trained or continued by this sweep (finished ones are not).
        reports: per env id, the paths ``summary_csv``, ``curves_csv``, ``plot``, ``logdir``.
        engine: the engine that trained the runs.
        wall_s: the sweep's wall time, reports included.
    """

    rows: list[Summary]
    trained: list[Path] = field(default_factory=list)
    reports: dict[str, dict[str, Path]] = field(default_factory=dict)
    engine: str = "local"
    wall_s: float = 0.0

    @property
    def failed(self) -> list[Summary]:
        """The rows of runs that did not finish."""
        return [row for row in self.rows if row.get("status") == FAILED]


def write_report(
    configs: Sequence[RunConfig], rows: Sequence[Summary], out_dir: str | Path
) -> dict[str, Path]:
    """Write ``summary.csv``, ``curves.csv`` and ``success_rate.png`` for one env's runs.

    Args:
        configs: the runs (one env), in grid order.
        rows: their rows (summary, status, retries), in the same order.
        out_dir: the folder of the three files.

    Returns:
        Paths of ``summary_csv``, ``curves_csv``, ``plot`` and the TensorBoard ``logdir``.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(list(rows))  # in the caller's (grid) order, like the legend
    summary_csv = out_dir / "summary.csv"
    summary.to_csv(summary_csv, index=False)
    several = len({config.trainer for config in configs}) > 1
    frames, order = [], []
    for config in configs:
        label = f"{config.label} ({config.algo})" if several else config.label
        order.append(label)
        if not config.run_dir.is_dir():
            continue
        frame = RunRecord.load(config.run_dir).curve  # header-only curves keep their columns
        frame.insert(0, "seed", config.seed)
        frame.insert(0, "shaping", label)
        if several:
            frame.insert(0, "trainer", config.trainer)
        frames.append(frame)
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    curves_csv = out_dir / "curves.csv"
    curves.to_csv(curves_csv, index=False)
    plot = out_dir / "success_rate.png"
    if not curves.empty:
        from densegym.agents.sb3.plotting import plot_success

        first = configs[0]
        title = first.env_id if several else f"{first.env_id} — {first.algo.upper()}"
        plot_success(curves, plot, title=title, order=list(dict.fromkeys(order)))
    return {
        "summary_csv": summary_csv,
        "curves_csv": curves_csv,
        "plot": plot,
        "logdir": Path(configs[0].logdir),
    }


def _discard(config: RunConfig) -> None:
    """Remove a finished run's folder before training it again (``rerun``)."""
    if (config.run_dir / CONFIG_FILE).exists():
        shutil.rmtree(config.run_dir)


def sweep(
    envs: str | Sequence[str],
    shapings: Sequence[Any] = (None,),
    seeds: int | Sequence[int] = 1,
    *,
    trainers: str | Sequence[str] | None = None,
    base: RunConfig | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    storage: str | Path | None = None,
    max_failures: int = MAX_FAILURES,
    rerun: bool = False,
    console: Any = None,
    progress: bool = True,
    on_done: OnDone | None = None,
    **fields: Any,
) -> SweepResult:
    """Train a grid of runs through one engine, then write one report per env.

    This is :func:`sweep_runs` over :func:`grid`'s runs.

    Args:
        envs: env ids (see :func:`grid`).
        shapings: shaping specs.
        seeds: a number of seeds or the seeds.
        trainers: trainer names (default: the base's).
        base: the shared config.
        engine: ``"local"`` (this machine) or ``"ray"`` (Ray Tune; the ``ray`` extra).
        workers: runs at a time (default: one per core, at most the runs to train).
        address: ``ray`` only: a cluster to use (``"auto"`` on a cluster node; default
            ``$RAY_ADDRESS``, else Ray starts on this machine and stops after).
        cpus_per_trial: ``ray`` only: CPUs reserved per run.
        storage: ``ray`` only: Tune's experiment folder (default ``<logdir>/ray_results``;
            shared by every node on a cluster).
        max_failures: times a run whose process died is started again.
        rerun: train finished runs again from scratch (their folders are replaced).
        console: a rich Console for the progress bar (default: a new one).
        progress: show a progress bar.
        on_done: receives the row of each run this sweep trains, as it ends.
        **fields: :class:`RunConfig` fields that replace the base's (``steps=...``).

    Returns:
        A :class:`SweepResult`.

    Example:
        >>> sweep("densegym/MountainCarSparse-v0", engine="slurm")
        Traceback (most recent call last):
        ...
        ValueError: unknown engine 'slurm'; engines: local, ray
    """
    check_engine(engine)
    return sweep_runs(
        grid(envs, shapings, seeds, trainers=trainers, base=base, **fields),
        engine=engine,
        workers=workers,
        address=address,
        cpus_per_trial=cpus_per_trial,
        storage=storage,
        max_failures=max_failures,
        rerun=rerun,
        console=console,
        progress=progress,
        on_done=on_done,
    )


def check_engine(engine: str) -> str:
    """``engine`` if it is one of :data:`ENGINES`, else a one-sentence ``ValueError``.

    Example:
        >>> check_engine("ray")
        'ray'
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    return engine


def sweep_runs(
    configs: Sequence[RunConfig],
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    storage: str | Path | None = None,
    max_failures: int = MAX_FAILURES,
    rerun: bool = False,
    console: Any = None,
    progress: bool = True,
    on_done: OnDone | None = None,
) -> SweepResult:
    """Train a list of runs through one engine, then write one report per env.

    The runs train in the list's order (as far as ``workers`` allow). A repeated sweep
    trains nothing that finished and continues what did not, on either engine. A run
    that fails is reported (``status="failed"``, ``error``) and the others go on; a run
    whose process died is started again up to ``max_failures`` times (``retries``
    counts the deaths). The options are :func:`sweep`'s.

    Returns:
        A :class:`SweepResult`; its rows are in the list's order.

    Example:
        >>> sweep_runs([], progress=False).rows
        []
        >>> config = RunConfig("densegym/MountainCarSparse-v0")
        >>> sweep_runs([config, config])
        Traceback (most recent call last):
        ...
        ValueError: two runs of the sweep share a run folder (a duplicated env, shaping or seed)
    """
    check_engine(engine)
    start = time.perf_counter()
    configs = list(configs)
    keys = [str(config.run_dir) for config in configs]
    if len(set(keys)) != len(keys):
        raise ValueError(
            "two runs of the sweep share a run folder (a duplicated env, shaping or seed)"
        )
    rows: dict[str, Summary] = {}
    todo = []
    for config, key in zip(configs, keys):
        done = None if rerun else finished_summary(config)
        if done is not None:
            rows[key] = ok_row(done, config=config)
        else:
            if rerun:
                _discard(config)
            todo.append(config)
    options: dict[str, Any] = {"max_failures": max_failures}
    if engine == "ray":
        options.update(address=address, cpus_per_trial=cpus_per_trial, storage=storage)

    def record(row: Summary) -> None:
        rows[str(Path(row["run_dir"]))] = row
        if on_done is not None:
            on_done(row)

    _train(todo, engine, workers, options, record, len(configs), len(rows), console, progress)
    reports = {}
    for env in dict.fromkeys(config.env_id for config in configs):
        mine = [config for config in configs if config.env_id == env]
        out_dir = Path(mine[0].logdir) / names.env_slug(env)
        reports[env] = write_report(mine, [rows[str(c.run_dir)] for c in mine], out_dir)
    return SweepResult(
        rows=[rows[key] for key in keys],
        trained=[config.run_dir for config in todo],
        reports=reports,
        engine=engine,
        wall_s=time.perf_counter() - start,
    )


def add_engine_arguments(parser: Any) -> None:
    """Add the engine options of a sweep to a script's ``argparse`` parser.

    They are ``--engine``, ``--address``, ``--cpus-per-trial``, ``--storage`` and
    ``--max-failures``, read back by :func:`engine_options`. Every benchmark that trains
    a grid takes them, so its grid goes to a Ray cluster unchanged.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser()
        >>> add_engine_arguments(parser)
        >>> engine_options(parser.parse_args([]))
        {'engine': 'local', 'max_failures': 2}
        >>> options = engine_options(parser.parse_args(["--engine", "ray", "--address", "auto"]))
        >>> options["engine"], options["address"], options["cpus_per_trial"], options["storage"]
        ('ray', 'auto', 1.0, None)
    """
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where the runs train: local (this machine) or ray (Ray Tune trials, here or on "
        "a cluster; the ray extra)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="ray: the cluster to use, e.g. auto on a node of a cluster started with "
        "`ray start` (default: $RAY_ADDRESS, else Ray starts on this machine)",
    )
    parser.add_argument(
        "--cpus-per-trial", type=float, default=1.0, help="ray: CPUs reserved per run"
    )
    parser.add_argument(
        "--storage",
        default=None,
        help="ray: Tune's experiment folder, shared by every node of a cluster "
        "(default: LOGDIR/ray_results)",
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=MAX_FAILURES,
        help="times a run whose process died (killed, out of memory) is started again",
    )


def engine_options(args: Any) -> dict[str, Any]:
    """The :func:`sweep_runs` keywords of :func:`add_engine_arguments`' options.

    The Ray options are passed for the ``ray`` engine only.
    """
    options: dict[str, Any] = {"engine": args.engine, "max_failures": args.max_failures}
    if args.engine == "ray":
        options.update(
            address=args.address, cpus_per_trial=args.cpus_per_trial, storage=args.storage
        )
    return options


def _train(
    todo: list[RunConfig],
    engine: str,
    workers: int | None,
    options: dict[str, Any],
    record: Any,
    total: int,
    finished: int,
    console: Any,
    progress: bool,
) -> None:
    """Hand the runs to the engine, with a progress bar over the whole grid."""
    import os

    if workers is None:
        workers = min(len(todo), os.cpu_count() or 1) or 1
    if not progress:
        run_all(todo, engine, workers=workers, on_done=record, **options)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[bold]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(),
    ) as bar:
        task = bar.add_task(f"runs ({engine})", total=total, completed=finished)

        def done(row: Summary) -> None:
            record(row)
            bar.advance(task)

        run_all(todo, engine, workers=workers, on_done=done, **options)


__all__ = [
    "ENGINES",
    "FAILED",
    "OK",
    "SweepResult",
    "add_engine_arguments",
    "check_engine",
    "engine_options",
    "grid",
    "sweep",
    "sweep_runs",
    "write_report",
]
