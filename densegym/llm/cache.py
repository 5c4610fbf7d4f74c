"""Where densegym keeps downloaded and converted models, and how it writes them safely.

Writes go to a temporary sibling first and are renamed into place, so a reader never
sees a half-written model and two processes building the same entry at once both end
up with one complete copy. A best-effort file lock stops them doing the work twice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def cache_dir() -> Path:
    """Return densegym's cache folder (created if missing).

    ``$DENSEGYM_CACHE`` when set, else ``$XDG_CACHE_HOME/densegym``, else
    ``~/.cache/densegym``.

    Example:
        >>> import os, tempfile
        >>> os.environ["DENSEGYM_CACHE"] = tempfile.mkdtemp()
        >>> cache_dir() == Path(os.environ.pop("DENSEGYM_CACHE"))
        True
    """
    explicit = os.environ.get("DENSEGYM_CACHE")
    if explicit:
        root = Path(explicit).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base).expanduser() / "densegym"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (no-op where ``fcntl`` is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps entries consistent.
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_dir_atomically(final: Path, build: Callable[[Path], None]) -> Path:
    """Create folder ``final`` by calling ``build(tmp)`` on a temporary sibling, then renaming.

    If another process finished ``final`` first, its copy wins and ours is discarded.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> out = build_dir_atomically(root / "entry", lambda d: (d / "x.txt").write_text("1"))
        >>> (out / "x.txt").read_text()
        '1'
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def move_file_atomically(source: Path, final: Path) -> Path:
    """Move ``source`` to ``final`` through a temporary name in ``final``'s folder."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    try:
        shutil.move(str(source), tmp_name)
        os.replace(tmp_name, final)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return final
