"""Checkpoints of the LM trainers: written atomically, verified on load, older ones as fallback.

A checkpoint is the folder ``<run_dir>/checkpoints/step_<env steps>/`` with

* ``trainer.pt`` -- :func:`torch.save` of the trainer's state: trainable weights,
  optimizer state, counters, RNG states (python, numpy, torch, the sampling generator),
  the success window and the shapers' states;
* ``curve.csv`` -- the run's curve up to this checkpoint (a resumed run starts from it);
* ``meta.json`` -- written last: the step, the iteration and the SHA-256 of every other
  file, so a truncated or altered file is detected on load instead of being read as
  something else.

The folder is written under a temporary name (``.tmp-step_<N>-<pid>``, the pattern the
SB3 checkpoints use, so the same stale-partial clean-up applies) and renamed into place;
only then are checkpoints beyond the newest ``keep`` removed, so a crash at any moment
leaves at least one complete checkpoint.

Example:
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> path = save_checkpoint(run, 12, {"iteration": 3}, curve_text="step,12")
    >>> state, where, problems = load_latest_checkpoint(run)
    >>> state["iteration"], where.name, problems
    (3, 'step_12', [])
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from densegym.agents.runs.lock import process_alive

STATE_FILE = "trainer.pt"
CURVE_COPY = "curve.csv"
META_FILE = "meta.json"
#: Prefix a checkpoint that cannot be loaded is renamed to (kept for a post-mortem).
CORRUPT_PREFIX = "corrupt-"
_STEP_DIR = re.compile(r"^step_(\d+)$")
_PARTIAL = re.compile(r"^\.tmp-step_\d+-(\d+)$")
log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint folder that cannot be used (missing file, checksum mismatch, bad state)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rng_state() -> dict[str, Any]:
    """The global RNG states: python's ``random``, numpy's and torch's (CPU, and CUDA if any).

    Example:
        >>> state = rng_state(); a = torch.rand(1); set_rng_state(state)
        >>> torch.equal(a, torch.rand(1))
        True
    """
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint folders of a run that hold a ``meta.json``, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found) if (p / META_FILE).exists()]


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    state: dict[str, Any],
    *,
    curve_text: str = "",
    keep: int = 2,
) -> Path:
    """Write ``checkpoints/step_<step>`` atomically and keep the newest ``keep``.

    Args:
        run_dir: the run directory.
        step: env steps trained so far (the folder's name).
        state: the trainer state (anything :func:`torch.save` takes).
        curve_text: the run's ``curve.csv`` so far.
        keep: complete checkpoints to keep (at least 1).

    Returns:
        The checkpoint folder.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(run_dir)
    final = root / f"step_{int(step)}"
    tmp = root / f".tmp-step_{int(step)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(state, tmp / STATE_FILE)
    (tmp / CURVE_COPY).write_text(curve_text)
    files = {name: _sha256(tmp / name) for name in (STATE_FILE, CURVE_COPY)}
    meta = {"step": int(step), "iteration": state.get("iteration"), "sha256": files}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[: -max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale_partials(run_dir: str | Path) -> list[Path]:
    """Remove checkpoint folders left half-written by writers that are gone.

    A partial ``.tmp-step_<N>-<pid>`` belongs to process ``pid``; a live writer's is kept.

    Returns:
        The removed folders.
    """
    root = Path(run_dir) / "checkpoints"
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        match = _PARTIAL.match(path.name)
        if match is None:
            continue
        owner = int(match.group(1))
        if owner == os.getpid() or process_alive(owner):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def load_checkpoint(folder: str | Path) -> dict[str, Any]:
    """The state saved in one checkpoint folder, its files checked against ``meta.json``.

    The curve copy is returned as ``state["curve_text"]``.

    Raises:
        CheckpointError: a file is missing, altered or unreadable.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text())
        expected = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{folder.name}: unreadable {META_FILE} ({error})") from None
    for name, digest in expected.items():
        path = folder / name
        if not path.exists():
            raise CheckpointError(f"{folder.name}: {name} is missing")
        if _sha256(path) != digest:
            raise CheckpointError(f"{folder.name}: {name} does not match its checksum")
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a damaged file
        raise CheckpointError(f"{folder.name}: {STATE_FILE} cannot be read ({error})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{folder.name}: {STATE_FILE} holds no trainer state")
    state["curve_text"] = (folder / CURVE_COPY).read_text()
    return state


def load_latest_checkpoint(run_dir: str | Path) -> tuple[dict[str, Any], Path, list[str]]:
    """Load the newest checkpoint that verifies; set damaged ones aside.

    A checkpoint that fails :func:`load_checkpoint` is renamed ``corrupt-step_<N>``, a
    warning is logged and the previous one is tried. The caller gets the reasons, so
    the fallback is flagged (a resumed run's summary lists them), never silent.

    Returns:
        The state, the folder it came from, and one line per checkpoint set aside.

    Raises:
        FileNotFoundError: no checkpoint loads (the message says why each failed).
    """
    problems: list[str] = []
    candidates = list_checkpoints(run_dir)
    root = Path(run_dir) / "checkpoints"
    if root.is_dir():  # a step folder without meta.json is a damaged one too
        seen = set(candidates)
        for path in sorted(root.iterdir()):
            if _STEP_DIR.match(path.name) and path.is_dir() and path not in seen:
                problems.append(f"{path.name}: {META_FILE} is missing")
                _set_aside(path)
    for folder in reversed(candidates):
        try:
            state = load_checkpoint(folder)
        except CheckpointError as error:
            problems.append(str(error))
            _set_aside(folder)
            log.warning("checkpoint %s cannot be loaded (%s); set aside", folder, error)
            continue
        if problems:
            log.warning("resuming from the older checkpoint %s", folder)
        return state, folder, problems
    found = "; ".join(problems) if problems else "none found"
    raise FileNotFoundError(
        f"no checkpoint to resume from in {Path(run_dir) / 'checkpoints'}: {found}"
    )


def _set_aside(folder: Path) -> None:
    aside = folder.with_name(CORRUPT_PREFIX + folder.name)
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(folder, aside)
