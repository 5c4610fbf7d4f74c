"""Checkpoints that hold the agent *and* every shaper's state, written atomically."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

from densegym.agents.runs.lock import process_alive
from densegym.rewards import find_shapers

_STEP_DIR = re.compile(r"^step_(\d+)$")
#: A checkpoint being written (``.tmp-step_<N>-<pid>``) or a run file being replaced
#: (``.<name>.<pid>.tmp``), by the process ``pid``.
_PARTIAL = re.compile(r"^\.(?:tmp-step_\d+-(\d+)|.+\.(\d+)\.tmp)$")
#: Prefix a checkpoint that cannot be loaded is renamed to (kept for a post-mortem).
CORRUPT_PREFIX = "corrupt-"
log = logging.getLogger(__name__)
MODEL_FILE = "model.zip"
SHAPERS_FILE = "shapers.pt"
REPLAY_FILE = "replay_buffer.pkl"
METRICS_FILE = "metrics.json"


def _vec_chain(venv: VecEnv) -> list[VecEnv]:
    chain = [venv]
    while isinstance(chain[-1], VecEnvWrapper):
        chain.append(chain[-1].venv)
    return chain


def _base_envs(venv: VecEnv) -> list[Any]:
    base = _vec_chain(venv)[-1]
    if not isinstance(base, DummyVecEnv) and callable(getattr(base, "load_state_dict", None)):
        return []  # a VecEnv that saves its own envs' shapers (multi-agent ParallelVecEnv)
    if not isinstance(base, DummyVecEnv):
        raise TypeError(
            f"shaper state is saved from DummyVecEnv sub-envs; got {type(base).__name__}"
        )
    return list(base.envs)


def collect_shaper_states(venv: VecEnv) -> dict[str, Any]:
    """Gather the state of every shaper: per sub-env wrappers and batched VecEnv wrappers."""
    per_env = [[s.state_dict() for s in find_shapers(env)] for env in _base_envs(venv)]
    vec = [w.state_dict() for w in _vec_chain(venv) if hasattr(w, "state_dict")]
    return {"per_env": per_env, "vec": vec}


def restore_shaper_states(venv: VecEnv, states: dict[str, Any]) -> None:
    """Load states saved by :func:`collect_shaper_states` into a VecEnv built the same way."""
    envs = _base_envs(venv)
    if len(states["per_env"]) != len(envs):
        raise ValueError(
            f"checkpoint has shaper state for {len(states['per_env'])} envs, "
            f"this run has {len(envs)}"
        )
    for env, env_states in zip(envs, states["per_env"]):
        shapers = find_shapers(env)
        if len(shapers) != len(env_states):
            raise ValueError("checkpoint's shaping stack differs from this run's")
        for shaper, state in zip(shapers, env_states):
            shaper.load_state_dict(state)
    vec_wrappers = [w for w in _vec_chain(venv) if hasattr(w, "load_state_dict")]
    for wrapper, state in zip(vec_wrappers, states["vec"]):
        wrapper.load_state_dict(state)


def save_checkpoint(
    run_dir: str | Path,
    model: BaseAlgorithm,
    keep: int = 3,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write ``checkpoints/step_<N>`` (model, shapers, replay buffer, metrics) atomically.

    ``metrics`` (a :class:`~densegym.agents.sb3.callbacks.MetricsCallback` state) is
    saved as JSON so that a resumed run keeps its success window and episode count.

    The new checkpoint is written to a temporary folder and renamed into place, and
    only then are checkpoints beyond the newest ``keep`` removed, so a crash at any
    moment leaves at least one complete checkpoint.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(run_dir)
    final = root / f"step_{model.num_timesteps}"
    tmp = root / f".tmp-step_{model.num_timesteps}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save(tmp / MODEL_FILE)
    venv = model.get_env()
    if venv is not None:
        torch.save(collect_shaper_states(venv), tmp / SHAPERS_FILE)
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        model.save_replay_buffer(tmp / REPLAY_FILE)
    if metrics:
        (tmp / METRICS_FILE).write_text(json.dumps(metrics))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found) if (p / MODEL_FILE).exists()]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or ``None``."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def _has_shapers(venv: VecEnv) -> bool:
    try:
        envs = _base_envs(venv)
    except TypeError:
        return False
    vec = any(hasattr(w, "load_state_dict") for w in _vec_chain(venv))
    return vec or any(find_shapers(env) for env in envs)


def load_checkpoint(checkpoint: Path, algo_cls: type[BaseAlgorithm], venv: VecEnv, **kwargs: Any):
    """Load model, shaper states and replay buffer from a checkpoint folder.

    A checkpoint without shaper state (written before shapers were saved, or by hand)
    loads with a warning: the run's shapers start afresh.
    """
    model = algo_cls.load(checkpoint / MODEL_FILE, env=venv, **kwargs)
    shapers_file = checkpoint / SHAPERS_FILE
    if shapers_file.exists():
        restore_shaper_states(venv, torch.load(shapers_file, weights_only=False))
    elif _has_shapers(venv):
        log.warning(
            "checkpoint %s holds no shaper state (%s); the shapers start afresh",
            checkpoint,
            SHAPERS_FILE,
        )
    replay = checkpoint / REPLAY_FILE
    if replay.exists() and isinstance(model, OffPolicyAlgorithm):
        model.load_replay_buffer(replay)
    return model


def load_latest_checkpoint(
    run_dir: str | Path, algo_cls: type[BaseAlgorithm], venv: VecEnv, **kwargs: Any
) -> tuple[BaseAlgorithm, Path, dict[str, Any] | None]:
    """Load the newest checkpoint that loads whole; skip (and set aside) corrupt ones.

    A checkpoint that fails to load (a truncated model, a damaged pickle) is renamed
    ``corrupt-step_<N>`` and the previous one is tried, with a log line each.

    Returns:
        The model, the checkpoint it came from, and its episode statistics.

    Raises:
        FileNotFoundError: the run has no checkpoint that loads (the message names why
            each one failed).
    """
    problems: list[str] = []
    for checkpoint in reversed(list_checkpoints(run_dir)):
        try:
            model = load_checkpoint(checkpoint, algo_cls, venv, **kwargs)
            metrics = load_metrics_state(checkpoint)
        except Exception as error:  # noqa: BLE001 - any damage: fall back to an older one
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            problems.append(f"{checkpoint.name} ({reason})")
            aside = checkpoint.with_name(CORRUPT_PREFIX + checkpoint.name)
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(checkpoint, aside)
            log.warning(
                "checkpoint %s cannot be loaded (%s); set aside as %s",
                checkpoint,
                reason,
                aside.name,
            )
            continue
        if problems:
            log.warning("resuming from the older checkpoint %s", checkpoint)
        return model, checkpoint, metrics
    found = "; ".join(problems) if problems else "none found"
    raise FileNotFoundError(
        f"no checkpoint to resume from in {Path(run_dir) / 'checkpoints'}: {found}"
    )


def remove_stale_partials(run_dir: str | Path) -> list[Path]:
    """Remove what killed writers left: temporary checkpoint folders and run files.

    A partial belongs to the process named in its name; it is removed only when that
    process is gone (a live writer's work is left alone).

    Returns:
        The removed paths.
    """
    removed = []
    run_dir = Path(run_dir)
    for folder in (run_dir, run_dir / "checkpoints"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = _PARTIAL.match(path.name)
            if match is None:
                continue
            pid = int(match.group(1) or match.group(2))
            if pid == os.getpid() or process_alive(pid):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def load_metrics_state(checkpoint: Path) -> dict[str, Any] | None:
    """The episode statistics saved with a checkpoint; ``None`` for older checkpoints."""
    path = Path(checkpoint) / METRICS_FILE
    return json.loads(path.read_text()) if path.exists() else None
