"""Runs as data, whatever trains them: configs, run records and the grid scheduler.

* :class:`RunConfig` names env, shaping, trainer (``"sb3:ppo"``, ...), seed and budget;
  :data:`TRAINERS` maps a trainer kind to its train function.
* :class:`RunRecord` reads a run directory back (config, summary, learning curve) and
  answers "steps until the success rate reached X" (:meth:`RunRecord.steps_to_success`).
* :func:`run_all` trains a grid of configs through one backend (``"local"``; ``"ray"``
  comes with the Ray issue).

Importing this package loads neither torch nor SB3 nor pandas.
"""

from densegym.agents.runs.backends import BACKENDS, resume_run, run_all, train, train_or_resume
from densegym.agents.runs.config import (
    TRAINERS,
    RunConfig,
    check_trainer,
    register_trainer,
    trainer_function,
    trainer_names,
)
from densegym.agents.runs.record import (
    CONFIG_FILE,
    CURVE_FILE,
    MIN_EPISODES,
    SUMMARY_FILE,
    RunFileError,
    RunRecord,
    finished_summary,
    steps_to_success,
)

__all__ = [
    "BACKENDS",
    "CONFIG_FILE",
    "CURVE_FILE",
    "MIN_EPISODES",
    "SUMMARY_FILE",
    "TRAINERS",
    "RunConfig",
    "RunFileError",
    "RunRecord",
    "check_trainer",
    "finished_summary",
    "register_trainer",
    "resume_run",
    "run_all",
    "steps_to_success",
    "train",
    "train_or_resume",
    "trainer_function",
    "trainer_names",
]
