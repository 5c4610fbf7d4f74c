"""One writer per run directory: an advisory file lock that dies with its process.

Two processes training into one run directory (two ``densegym train`` of the same run, two
``densegym compare`` on one runs folder) would interleave their learning curves and
checkpoints. :func:`lock_run_dir` takes an exclusive ``fcntl`` lock on
``<run dir>/.densegym.lock`` without waiting: the second process gets :class:`RunDirBusy`,
a one-line error naming the folder and the process that holds it, and changes nothing.
The operating system drops the lock when its process ends, however it ends (a SIGKILLed
trainer leaves no stale lock). Within one process the lock is re-entrant, so a comparison
that holds its folder can train the runs inside it. Where ``fcntl`` is missing (Windows)
it locks nothing. :func:`write_text_atomically` is the other half of run-file safety: a
reader sees a file's old content or its new one, never a part.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: The lock file's name inside a locked folder.
LOCK_FILE = ".densegym.lock"

_HELD: dict[Path, list[Any]] = {}  # resolved lock file -> [open handle, depth]
_HELD_LOCK = threading.Lock()


class RunDirBusy(RuntimeError):
    """Another process is training into this run directory."""


def _owner(handle: IO[str]) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f"pid {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def lock_run_dir(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir`` for this process, or fail at once if another process holds it.

    Args:
        run_dir: the folder (created if missing).

    Yields:
        The lock file's path.

    Raises:
        RunDirBusy: another process holds the folder.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with lock_run_dir(folder), lock_run_dir(folder):  # re-entrant in one process
        ...     print("mine")
        mine
    """
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    key = path.resolve()
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks
        yield path
        return
    with _HELD_LOCK:
        entry = _HELD.get(key)
        if entry is None:
            handle = open(path, "a+")  # noqa: SIM115 - held until the outermost exit
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = _owner(handle)
                handle.close()
                raise RunDirBusy(
                    f"run directory {folder} is in use by {owner} (another densegym train or "
                    "compare); wait for it to finish, or use another --logdir"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            entry = _HELD[key] = [handle, 0]
        entry[1] += 1
    try:
        yield path
    finally:
        with _HELD_LOCK:
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[key]
                fcntl.flock(entry[0], fcntl.LOCK_UN)
                entry[0].close()


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through ``.<name>.<pid>.tmp`` and a rename.

    A process killed mid-write leaves the old file whole (and a partial file that
    :func:`~densegym.agents.sb3.checkpoints.remove_stale_partials` removes later).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "summary.json"
        >>> write_text_atomically(target, "{}").read_text()
        '{}'
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)
    return path


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (another user's counts as alive).

    Example:
        >>> import os
        >>> process_alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
