"""The ``ray`` run backend: one Ray Tune trial per run, on this machine or a Ray cluster.

The runs become a Tune grid over their indices (:func:`trial_space`); each trial rebuilds
its :class:`~densegym.agents.runs.config.RunConfig` from plain data
(:func:`config_of_trial`) and calls the same
:func:`~densegym.agents.runs.backends.train_or_resume` as the ``local`` backend, so run
directories, curves and TensorBoard events are the same whichever backend ran them.

What Ray and Tune do here, and nothing is written by hand for it: placing trials on
CPUs (``max_concurrent_trials``, ``cpus_per_trial``), retrying a trial whose worker died
(``FailureConfig(max_failures=...)``) and restoring an interrupted experiment
(``Tuner.restore``). Resuming a *run* is the run layer's job (checkpoints in the run
directory), so a retried or restored trial continues where its run stopped.

Ray is imported only inside the functions that start it; without the ``ray`` extra they
raise ``DependencyNotInstalled`` with the install command. The pure-Python parts (trial
space, names, paths) work without Ray.

Example:
    >>> from densegym.agents.runs.config import RunConfig
    >>> configs = [RunConfig("densegym/MountainCarSparse-v0", seed=s) for s in (0, 1)]
    >>> space = trial_space(configs)
    >>> space
    {'run': {'grid_search': [0, 1]}}
    >>> config_of_trial({"run": 1}, [c.to_dict() for c in configs]) == configs[1]
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from densegym.agents.runs.backends import (
    MAX_FAILURES,
    OnDone,
    Summary,
    failed_row,
    ok_row,
    train_or_resume,
)
from densegym.agents.runs.config import (
    TRAINER_ALGORITHMS,
    TRAINERS,
    RunConfig,
    register_trainer,
)

#: The command that installs what this backend needs.
INSTALL_HINT = 'pip install -e ".[ray]"'
#: Key of a trial's parameters that holds its run's index.
RUN_KEY = "run"
#: Folder under the (first run's) logdir for Tune's experiment state, unless ``storage``.
STORAGE_DIR = "ray_results"
#: Unix socket paths are capped at 107 bytes; Ray puts its sockets under
#: ``<temp dir>/session_<date>_<time>_<pid>/sockets/``, ~60 bytes below the temp dir.
MAX_TEMP_DIR_CHARS = 40
#: Environment variables that name a Ray token; when one is set, the user chose.
_AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")

log = logging.getLogger(__name__)


def require_ray() -> tuple[ModuleType, ModuleType]:
    """Import ``ray`` and ``ray.tune``, or raise ``DependencyNotInstalled`` saying how.

    Example:
        >>> callable(require_ray)  # importing this module does not import Ray
        True
    """
    from gymnasium.error import DependencyNotInstalled

    try:
        import ray
        from ray import tune
    except ImportError as error:
        raise DependencyNotInstalled(
            f"the 'ray' run backend needs Ray Tune ({error}); install it with: {INSTALL_HINT}"
        ) from error
    return ray, tune


def trial_space(configs: Sequence[RunConfig]) -> dict[str, Any]:
    """Tune's ``param_space``: a grid over the runs' indices, one trial per run.

    ``{"grid_search": values}`` is what ``ray.tune.grid_search(values)`` returns, so the
    mapping is built and tested without Ray.

    Example:
        >>> trial_space([])
        {'run': {'grid_search': []}}
    """
    return {RUN_KEY: {"grid_search": list(range(len(configs)))}}


def config_of_trial(params: dict[str, Any], configs: Sequence[dict[str, Any]]) -> RunConfig:
    """The run config of a trial: its index into the runs' data (:meth:`RunConfig.to_dict`).

    Example:
        >>> config_of_trial({"run": 0}, [])
        Traceback (most recent call last):
        ...
        IndexError: trial index 0 is not one of the 0 runs of this sweep
    """
    index = params[RUN_KEY]
    if not 0 <= index < len(configs):
        raise IndexError(f"trial index {index} is not one of the {len(configs)} runs of this sweep")
    return RunConfig.from_dict(configs[index])


def experiment_name(configs: Sequence[RunConfig]) -> str:
    """Tune's experiment name: a hash of the runs, so the same runs restore one experiment.

    Example:
        >>> a = [RunConfig("densegym/MountainCarSparse-v0", seed=s) for s in (0, 1)]
        >>> name = experiment_name(a)
        >>> name.startswith("sweep-"), name == experiment_name(a[:1])
        (True, False)
    """
    data = json.dumps([config.to_dict() for config in configs], sort_keys=True, default=str)
    return "sweep-" + hashlib.sha1(data.encode()).hexdigest()[:12]


def default_storage(configs: Sequence[RunConfig]) -> Path:
    """Where Tune keeps its experiment state by default: ``<logdir>/ray_results`` (absolute).

    Example:
        >>> config = RunConfig("densegym/MountainCarSparse-v0", logdir="/tmp/sweep")
        >>> default_storage([config]).as_posix()
        '/tmp/sweep/ray_results'
    """
    return (Path(configs[0].logdir) / STORAGE_DIR).resolve()


def ray_temp_dir(base: str | None = None) -> Path:
    """A short folder for Ray's session files (its Unix sockets must fit in 107 bytes).

    The system temp dir when its path is short, else ``/tmp``; one folder per user.

    Example:
        >>> ray_temp_dir("/tmp").as_posix().startswith("/tmp/densegym-ray-")
        True
        >>> ray_temp_dir("/a/very/long/temporary/folder/of/some/test/runner/x").parent.as_posix()
        '/tmp'
    """
    base = base or tempfile.gettempdir()
    path = Path(base) / f"densegym-ray-{os.getuid() if hasattr(os, 'getuid') else 0}"
    return path if len(str(path)) <= MAX_TEMP_DIR_CHARS else Path("/tmp") / path.name


@contextlib.contextmanager
def _environ(values: dict[str, str], restore: Sequence[str] = ()) -> Iterator[None]:
    """Set environment variables for the block, then restore them (and ``restore``)."""
    saved = {key: os.environ.get(key) for key in [*values, *restore]}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_TOKEN: list[str] = []


def _process_token() -> str:
    """The Ray token of the clusters this process starts (made on first use)."""
    if not _TOKEN:
        _TOKEN.append(secrets.token_hex(16))
    return _TOKEN[0]


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[bool]:
    """Use the running Ray, connect to a cluster, or start Ray on this machine.

    Yields whether this call started (or connected) Ray; if so Ray is shut down at the
    end. ``address`` (or ``$RAY_ADDRESS``), e.g. ``"auto"`` on a cluster node, connects
    to that cluster. Otherwise Ray starts here with ``num_cpus`` CPUs, no dashboard, its
    node on 127.0.0.1 and a short temp dir (:func:`ray_temp_dir`). Usage statistics are
    off in every case, and a locally started Ray gets a fresh token in its environment
    instead of writing ``~/.ray/auth_token``.
    """
    ray, _ = require_ray()
    if ray.is_initialized():
        yield False
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    if address is None and not any(os.environ.get(key) for key in _AUTH_VARIABLES):
        # A token in the environment (inherited by Ray's processes), not in ~/.ray. One per
        # driver process: Ray caches the token it first saw, so a later start reuses it.
        env["RAY_AUTH_TOKEN"] = _process_token()
    # Ray warns that token authentication is on, which is what we want: keep it quiet.
    quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    # ray.init sets RAY_AUTH_MODE for this process; undone, so a later start is like this one.
    with _environ(env, restore=_AUTH_VARIABLES):
        if address is not None:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                _temp_dir=str(ray_temp_dir()),
                _node_ip_address="127.0.0.1",
                logging_level=logging.WARNING,
            )
        quiet.setLevel(level)
        try:
            yield True
        finally:
            ray.shutdown()


@dataclass
class TrialPayload:
    """What every trial needs from the driver (sent once through ``tune.with_parameters``).

    Attributes:
        configs: the runs as :meth:`RunConfig.to_dict` data.
        cwd: the driver's working directory; a trial works there when the folder exists
            on its node, so relative logdirs mean the same as in the driver.
        trainers: ``kind -> (train function or "module:attr", algorithms)`` of the
            runs' trainers, registered in a worker that lacks them.
    """

    configs: list[dict[str, Any]]
    cwd: str
    trainers: dict[str, tuple[Any, tuple[str, ...]]] = field(default_factory=dict)


def make_payload(configs: Sequence[RunConfig]) -> TrialPayload:
    """The :class:`TrialPayload` of these runs."""
    trainers = {}
    for kind in sorted({config.trainer_kind for config in configs}):
        trainers[kind] = (TRAINERS._entries[kind], tuple(TRAINER_ALGORITHMS.get(kind, ())))
    return TrialPayload([c.to_dict() for c in configs], os.getcwd(), trainers)


def _count_attempt() -> int:
    """The attempt number of this trial (1 for the first), kept in the trial's own folder."""
    from ray import tune

    try:
        folder = Path(tune.get_context().get_trial_dir())
    except Exception:  # no trial folder (e.g. called outside Tune)
        return 1
    marker = folder / ".densegym_attempts"
    attempt = int(marker.read_text() or 0) + 1 if marker.exists() else 1
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(attempt))
    return attempt


def run_trial(params: dict[str, Any], payload: TrialPayload) -> None:
    """Tune's function trainable: train or resume one run, report its summary.

    Reports ``summary`` (the summary as JSON), ``attempt`` and ``run`` (the index).
    """
    from ray import tune

    attempt = _count_attempt()
    if os.path.isdir(payload.cwd):
        os.chdir(payload.cwd)  # Tune starts trials in their own folder
    for kind, (train, algorithms) in payload.trainers.items():
        if kind not in TRAINERS:
            register_trainer(kind, train, algorithms)
    config = config_of_trial(params, payload.configs)
    summary = train_or_resume(config)
    tune.report(
        {"summary": json.dumps(summary, default=str), "attempt": attempt, RUN_KEY: params[RUN_KEY]}
    )


def _row_of(configs: Sequence[RunConfig], index: int, metrics: dict | None, error: Any) -> Summary:
    """A run's row from its trial's last result or error."""
    config = configs[index]
    if error is None and metrics and "summary" in metrics:
        summary = json.loads(metrics["summary"])
        return ok_row(summary, int(metrics.get("attempt", 1)) - 1, config)
    return failed_row(config, error if error is not None else "trial reported no result")


def _reporter(tune: ModuleType, configs: Sequence[RunConfig], on_done: OnDone, seen: set[int]):
    """A Tune callback that hands each finished or failed trial's row to ``on_done``."""

    class Reporter(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ARG002
            index = trial.config[RUN_KEY]
            seen.add(index)
            on_done(_row_of(configs, index, trial.last_result, None))

        def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ARG002
            index = trial.config[RUN_KEY]
            seen.add(index)
            error = getattr(trial, "error_message", None) or "trial failed"
            retries = max(0, int(getattr(trial, "num_failures", 1)) - 1)
            on_done(failed_row(configs[index], _one_line(error), retries))

        def __reduce__(self):  # Tune pickles its callbacks; on_done stays in this process
            return (tune.Callback, ())

    return Reporter()


def _one_line(error: Any) -> str:
    """The last non-empty line of an error text (the exception's own line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else "trial failed"


def run_ray(
    configs: Sequence[RunConfig],
    workers: int,
    on_done: OnDone,
    *,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    storage: str | os.PathLike | None = None,
    max_failures: int = MAX_FAILURES,
    name: str | None = None,
) -> None:
    """The ``ray`` backend: one Tune trial per run, ``workers`` trials at a time.

    Args:
        configs: the runs.
        workers: trials at a time (``max_concurrent_trials``); a locally started Ray
            gets ``workers * cpus_per_trial`` CPUs.
        on_done: receives each run's row as its trial ends.
        address: a Ray cluster to use (``"auto"`` on a cluster node; default
            ``$RAY_ADDRESS``); none: start Ray on this machine (and stop it after).
        cpus_per_trial: CPUs Tune reserves per trial (torch uses the run's
            ``torch_threads``, 1 by default).
        storage: Tune's experiment folder (a path or URI shared by every node on a
            cluster); default ``<logdir>/ray_results``, never ``~/ray_results``.
        max_failures: times a trial whose worker died is started again.
        name: the Tune experiment's name (default: :func:`experiment_name`). An
            experiment of that name in ``storage`` that did not finish is restored
            (``Tuner.restore``), its errored trials included.
    """
    if not configs:
        return
    ray, tune = require_ray()
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    storage_path = str(storage) if storage is not None else str(default_storage(configs))
    if "://" not in storage_path:
        storage_path = str(Path(storage_path).resolve())
    name = name or experiment_name(configs)
    seen: set[int] = set()
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, payload=make_payload(configs)), {"cpu": cpus_per_trial}
    )
    experiment = f"{storage_path.rstrip('/')}/{name}"
    # Tune's own TensorBoard logger is left out: TensorBoard over the logdir shows runs only.
    with (
        ray_session(address, num_cpus=math.ceil(workers * cpus_per_trial)),
        _environ({"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0"}),
    ):
        if tune.Tuner.can_restore(experiment):
            log.warning("restoring the Tune experiment %s", experiment)
            tuner = tune.Tuner.restore(
                experiment, trainable, resume_unfinished=True, resume_errored=True
            )
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=trial_space(configs),
                # Reused actors: a worker process imports torch and SB3 once, not per run.
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=max(1, workers), reuse_actors=True
                ),
                run_config=tune.RunConfig(
                    name=name,
                    storage_path=storage_path,
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    verbose=0,
                    callbacks=[
                        _reporter(tune, configs, on_done, seen),
                        JsonLoggerCallback(),
                        CSVLoggerCallback(),
                    ],
                ),
            )
        results = tuner.fit()
    for result in results:  # trials the callback did not see (a restored experiment)
        index = (result.config or {}).get(RUN_KEY)
        if index is None or index in seen:
            continue
        seen.add(index)
        on_done(_row_of(configs, index, result.metrics, result.error))
