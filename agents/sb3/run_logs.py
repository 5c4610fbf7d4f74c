"""SB3 loggers for a run directory that stay consistent across ``--resume``.

SB3's own ``configure`` opens ``progress.csv`` afresh (a resumed run loses the rows of
its earlier segments) and starts a new TensorBoard events file beside the old ones (a
run resumed from a checkpoint older than its last log points shows those steps twice).
:func:`run_logger` keeps every row logged up to the resume step and drops the rest;
:func:`truncate_curve` does the same for densegym's own ``curve.csv``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.record_writer import RecordWriter

PROGRESS_FILE = "progress.csv"
STEP_COLUMN = "time/total_timesteps"
EVENTS_PREFIX = "events.out.tfevents."


class AppendingCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV writer that keeps an existing file's rows up to ``last_step``.

    Rows whose ``time/total_timesteps`` exceeds ``last_step`` are dropped; new rows are
    appended under the same header (a new key widens every row, as in SB3).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "progress.csv"
        >>> _ = path.write_text("time/total_timesteps,a" + chr(10) + "100,1" + chr(10)
        ...                     + "200,2" + chr(10))
        >>> writer = AppendingCSVOutputFormat(str(path), last_step=100)
        >>> writer.write({"time/total_timesteps": 300, "a": 3}, {})
        >>> writer.close()
        >>> path.read_text().split()
        ['time/total_timesteps,a', '100,1', '300,3']
    """

    def __init__(self, filename: str, last_step: int):
        header, rows, _ = _rows_up_to(Path(filename), last_step, STEP_COLUMN)
        super().__init__(filename)
        if header:
            self.keys = list(header)
            writer = csv.writer(self.file, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            self.file.flush()


class MonotonicTensorBoardOutputFormat(TensorBoardOutputFormat):
    """SB3's TensorBoard writer that writes each tag at most once per step.

    densegym's metrics callback and SB3's own log dump can both record a tag (e.g.
    ``time/fps``) at the same step; the first value written wins, so every tag's steps
    strictly increase and runs overlay without zigzags.
    """

    def __init__(self, folder: str):
        super().__init__(folder)
        self.last_steps: dict[str, int] = {}

    def write(self, key_values, key_excluded, step: int = 0) -> None:  # type: ignore[override]
        """Write the keys not yet written at ``step`` or later."""
        fresh = [key for key in key_values if self.last_steps.get(key, -1) < step]
        for key in fresh:
            self.last_steps[key] = step
        super().write(
            {key: key_values[key] for key in fresh},
            {key: key_excluded[key] for key in fresh if key in key_excluded},
            step,
        )


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.exists():
        return [], []
    with path.open(newline="") as handle:
        table = [row for row in csv.reader(handle) if row]
    return (table[0], table[1:]) if table else ([], [])


def _step(row: list[str], column: int) -> float:
    try:
        return float(row[column])
    except (IndexError, ValueError):
        return float("inf")  # an unreadable row cannot be placed before the resume step


def _rows_up_to(
    path: Path, last_step: int, step_column: str
) -> tuple[list[str], list[list[str]], int]:
    """A CSV file's header, its rows logged at or before ``last_step``, and how many not."""
    header, rows = _read_rows(path)
    if step_column not in header:
        return header, rows, 0
    column = header.index(step_column)
    kept = [row for row in rows if _step(row, column) <= last_step]
    return header, kept, len(rows) - len(kept)


def truncate_curve(path: Path, last_step: int, fields: tuple[str, ...]) -> int:
    """Keep only the rows of a ``curve.csv`` logged at or before ``last_step``.

    A run resumed from a checkpoint older than its last curve rows (it was killed between
    checkpoints) would otherwise log those steps twice and its curve would run backwards.
    Creates the file with its header ``fields`` (the step first) when missing. Returns
    the number of rows dropped.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "curve.csv"
        >>> with path.open("w") as handle:
        ...     print("timesteps,episodes", "1000,3", "2000,6", "3000,9", sep=chr(10), file=handle)
        >>> truncate_curve(path, 2000, ("timesteps", "episodes")), path.read_text().split()
        (1, ['timesteps,episodes', '1000,3', '2000,6'])
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _, kept, dropped = _rows_up_to(path, last_step, fields[0])
    if path.exists() and not dropped:
        return 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        writer.writerows(kept)
    return dropped


def truncate_event_files(run_dir: str | Path, last_step: int) -> int:
    """Drop the TensorBoard events logged after ``last_step`` from a run's event files.

    Each file is rewritten only when it holds a later event (through a temporary file
    and an atomic rename, so a crash leaves either the old or the new file). Returns the
    number of events dropped.

    Example:
        >>> import tempfile
        >>> from torch.utils.tensorboard import SummaryWriter
        >>> folder = tempfile.mkdtemp()
        >>> with SummaryWriter(folder) as writer:
        ...     for step in (100, 200, 300):
        ...         writer.add_scalar("loss", 1.0, step)
        >>> truncate_event_files(folder, 150)
        2
        >>> truncate_event_files(folder, 150)
        0
    """
    dropped = 0
    for path in sorted(Path(run_dir).glob(EVENTS_PREFIX + "*")):
        kept, late = [], 0
        for record in RawEventFileLoader(str(path)).Load():
            if Event.FromString(record).step > last_step:
                late += 1
            else:
                kept.append(record)  # the bytes as written: no re-encoding
        if not late:
            continue
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            writer = RecordWriter(handle)
            for record in kept:
                writer.write(record)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        dropped += late
    return dropped


def run_logger(run_dir: str | Path, resume_step: int | None = None) -> Logger:
    """The SB3 logger of a run: TensorBoard events and ``progress.csv`` in ``run_dir``.

    Each TensorBoard tag is written at most once per step (see
    :class:`MonotonicTensorBoardOutputFormat`).

    Args:
        run_dir: the run directory.
        resume_step: the step of the checkpoint a resumed run starts from; the logs keep
            what was logged up to it. None starts the CSV afresh (a new run).
    """
    folder = str(run_dir)
    csv_path = os.path.join(folder, PROGRESS_FILE)
    if resume_step is None:
        csv_output: CSVOutputFormat = CSVOutputFormat(csv_path)
    else:
        truncate_event_files(folder, resume_step)
        csv_output = AppendingCSVOutputFormat(csv_path, resume_step)
    return Logger(folder, [MonotonicTensorBoardOutputFormat(folder), csv_output])
