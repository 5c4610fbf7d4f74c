"""Read any run directory back: its config, summary and learning curve.

A run directory holds ``config.json`` (the :class:`~densegym.agents.runs.config.RunConfig`),
``curve.csv`` (one row per log point: ``timesteps, episodes, success_rate,
extrinsic_return, shaped_return``), ``summary.json`` once a training segment finished,
``checkpoints/step_<N>/`` and TensorBoard events. :class:`RunRecord` reads the first three
whatever trainer wrote them and answers the question every benchmark asks, "after how
many env steps did the success rate reach X?" (:meth:`RunRecord.steps_to_success`).

A file that cannot be read (a run killed mid-write, a disk that filled up) never raises
from deep inside pandas: :meth:`RunRecord.load` keeps what it could read, names each
problem in :attr:`RunRecord.problems` and logs it; ``strict=True`` raises
:class:`RunFileError` instead.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from densegym.agents.runs.config import RunConfig

if TYPE_CHECKING:
    import pandas as pd

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
CURVE_FILE = "curve.csv"
CHECKPOINTS_DIR = "checkpoints"
#: Columns of ``curve.csv``, in order.
CURVE_COLUMNS = ("timesteps", "episodes", "success_rate", "extrinsic_return", "shaped_return")
#: Episodes a success window must hold before its rate counts (1 of 1 is not a 100 % rate).
MIN_EPISODES = 10

_STEP_DIR = re.compile(r"^step_(\d+)$")
log = logging.getLogger(__name__)


class RunFileError(ValueError):
    """A run file exists but cannot be read (corrupt, truncated or of the wrong shape)."""


def steps_to_success(
    curve: pd.DataFrame,
    threshold: float,
    *,
    min_episodes: int = 0,
    column: str = "success_rate",
    tolerance: float = 0.0,
) -> float | None:
    """First env step at which a learning curve's ``column`` reaches ``threshold``.

    Rows are taken in the curve's order. Only rows whose success window holds at least
    ``min_episodes`` episodes count (when the curve has an ``episodes`` column), and
    rows whose value is missing never count.

    Args:
        curve: rows with ``timesteps`` and ``column``.
        threshold: the success rate to reach.
        min_episodes: the fewest episodes a row's window must hold.
        column: the column compared with the threshold (``"mean"`` for a mean over seeds).
        tolerance: a value within ``tolerance`` below the threshold counts (for means
            whose float sum can fall a hair short).

    Returns:
        The step as a float, or ``None`` when the curve never gets there.

    Example:
        >>> import pandas as pd
        >>> curve = pd.DataFrame({"timesteps": [100, 200, 300], "success_rate": [0, 0.6, 1],
        ...                       "episodes": [20, 20, 20]})
        >>> steps_to_success(curve, 0.5), steps_to_success(curve.iloc[:2], 0.9)
        (200.0, None)
        >>> steps_to_success(curve.assign(episodes=[20, 1, 20]), 0.5, min_episodes=10)
        300.0
    """
    if min_episodes > 0 and "episodes" in curve:
        curve = curve[curve["episodes"] >= min_episodes]
    reached = curve.loc[curve[column] >= threshold - tolerance, "timesteps"]
    return float(reached.iloc[0]) if len(reached) else None


def _empty_curve() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype=float) for name in CURVE_COLUMNS})


def read_curve(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A ``curve.csv`` as a table, one row per logged step, and the problems met.

    Rows that cannot be read (a wrong number of fields, text where a number belongs)
    are dropped and named in the problems; so is a missing ``timesteps`` or
    ``success_rate`` column (the table is then empty). A step logged twice (a run
    resumed before densegym truncated curves on resume) keeps its newest row; rows are
    sorted by step.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "curve.csv"
        >>> _ = path.write_text("timesteps,episodes,success_rate" + chr(10) + "100,5,0.2"
        ...                     + chr(10) + "200,9,0.5" + chr(10) + "300,1")
        >>> curve, problems = read_curve(path)
        >>> curve["timesteps"].tolist(), problems
        ([100, 200], ['curve.csv line 4: expected 3 fields, got 2 (row dropped)'])
    """
    import pandas as pd

    if not path.exists():
        return _empty_curve(), []
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        return _empty_curve(), [f"{path.name}: cannot be read ({error})"]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return _empty_curve(), [f"{path.name}: empty file"]
    header, problems, kept = rows[0], [], []
    missing = [name for name in ("timesteps", "success_rate") if name not in header]
    if missing:
        return _empty_curve(), [f"{path.name}: no {' or '.join(missing)} column"]
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            problems.append(
                f"{path.name} line {number}: expected {len(header)} fields, got {len(row)} "
                "(row dropped)"
            )
            continue
        try:
            values = [float(cell) if cell.strip() else math.nan for cell in row]
        except ValueError:
            problems.append(f"{path.name} line {number}: not a number (row dropped)")
            continue
        if math.isnan(values[header.index("timesteps")]):
            problems.append(f"{path.name} line {number}: no timesteps (row dropped)")
            continue
        kept.append(row)
    clean = io.StringIO()
    writer = csv.writer(clean, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    # pandas reads the clean text as it reads a whole file (same column types).
    curve = pd.read_csv(io.StringIO(clean.getvalue()))
    curve = curve.drop_duplicates("timesteps", keep="last").sort_values("timesteps")
    return curve.reset_index(drop=True), problems


def read_summary(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """A ``summary.json`` (``None`` when missing or unreadable) and the problems met.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "summary.json"
        >>> _ = path.write_text('{"timesteps": 10')
        >>> read_summary(path)[0], read_summary(path)[1][0].split(":")[0]
        (None, 'summary.json')
    """
    if not path.exists():
        return None, []
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [f"{path.name}: not readable JSON ({error}); treated as missing"]
    if not isinstance(summary, dict):
        return None, [f"{path.name}: not a JSON object; treated as missing"]
    steps = summary.get("timesteps", 0)
    if not isinstance(steps, (int, float)) or isinstance(steps, bool):
        return None, [f"{path.name}: timesteps is {steps!r}, not a number; treated as missing"]
    return summary, []


def finished_summary(config: RunConfig) -> dict[str, Any] | None:
    """The run's ``summary.json`` if it covers the configured budget, else ``None``.

    An unreadable summary counts as missing (the run is trained or resumed again) and
    is logged.
    """
    summary, problems = read_summary(config.run_dir / SUMMARY_FILE)
    for problem in problems:
        log.warning("%s: %s", config.run_dir, problem)
    if summary is None:
        return None
    return summary if summary.get("timesteps", 0) >= config.steps else None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """A run's checkpoint folders ``checkpoints/step_<N>``, oldest first.

    Trainers write each one to a temporary name and rename it into place, so a folder
    with this name is complete; an empty one is skipped.
    """
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found) if p.is_dir() and any(p.iterdir())]


@dataclass
class RunRecord:
    """A run directory read back: config, summary and learning curve.

    Attributes:
        run_dir: the folder.
        config: its ``config.json`` (``None`` when missing or unreadable).
        summary: its ``summary.json``, written when a training segment ends (``None``
            while the run is unfinished, or when unreadable).
        curve: its ``curve.csv``, one row per logged step, sorted (empty when missing).
        problems: one line per file or row that could not be read.

    Example:
        >>> import tempfile
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> _ = (run_dir / CURVE_FILE).write_text(
        ...     "timesteps,episodes,success_rate" + chr(10) + "1000,12,0.25" + chr(10)
        ...     + "2000,30,0.6" + chr(10) + "3000,55,0.95" + chr(10) + "4000,7")
        >>> record = RunRecord.load(run_dir)
        >>> record.steps_to_success(0.5), record.steps_to_success(0.99), record.timesteps
        (2000.0, None, 3000)
        >>> record.problems
        ['curve.csv line 5: expected 3 fields, got 2 (row dropped)']
        >>> RunRecord.load(run_dir, strict=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        densegym.agents.runs.record.RunFileError: ...: curve.csv line 5: expected 3 fields, ...
    """

    run_dir: Path
    config: RunConfig | None
    summary: dict[str, Any] | None
    curve: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: str | Path, *, strict: bool = False) -> RunRecord:
        """Read a run directory.

        Args:
            run_dir: the run's folder.
            strict: raise :class:`RunFileError` on the first unreadable file or row
                instead of keeping what could be read.

        Raises:
            FileNotFoundError: ``run_dir`` is not a folder.
            RunFileError: with ``strict``, a run file could not be read.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"no run directory {run_dir}")
        problems: list[str] = []
        config = None
        config_path = run_dir / CONFIG_FILE
        if config_path.exists():
            try:
                config = RunConfig.load(config_path)
            except (OSError, TypeError, ValueError) as error:
                problems.append(f"{CONFIG_FILE}: {error}")
        summary, summary_problems = read_summary(run_dir / SUMMARY_FILE)
        curve, curve_problems = read_curve(run_dir / CURVE_FILE)
        problems += summary_problems + curve_problems
        if problems and strict:
            raise RunFileError(f"{run_dir}: {problems[0]}")
        for problem in problems:
            log.warning("%s: %s", run_dir, problem)
        return cls(run_dir, config, summary, curve, problems)

    @property
    def timesteps(self) -> int:
        """The newest env step the run has reached (summary or curve; 0 before any log)."""
        steps = [int(self.summary.get("timesteps", 0))] if self.summary else [0]
        if len(self.curve):
            steps.append(int(self.curve["timesteps"].iloc[-1]))
        return max(steps)

    def finished(self, steps: int | None = None) -> bool:
        """Whether the summary covers ``steps`` (default: the config's budget)."""
        budget = steps if steps is not None else (self.config.steps if self.config else None)
        if self.summary is None or budget is None:
            return False
        return self.summary.get("timesteps", 0) >= budget

    def steps_to_success(self, threshold: float, min_episodes: int = MIN_EPISODES) -> float | None:
        """First env step at which the run's success rate reached ``threshold`` (None: never).

        Only log points whose success window holds at least ``min_episodes`` episodes
        count: 1 of 1 episodes is not a 100 % rate. ``min_episodes=0`` counts every
        logged point.
        """
        return steps_to_success(self.curve, threshold, min_episodes=min_episodes)

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint folder, or ``None``."""
        checkpoints = list_checkpoints(self.run_dir)
        return checkpoints[-1] if checkpoints else None
