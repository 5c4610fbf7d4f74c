"""Chaos test of issue 21: SIGKILL a real ``densegym train`` at random moments, then resume.

Whatever moment the kill lands on (importing, building, training, writing a checkpoint
or a run file), ``densegym train --resume`` afterwards finishes the run, and the run's
files are whole: ``summary.json`` and ``config.json`` parse, the curve's steps only grow
(nothing double-counted), the newest checkpoint loads, no partial files or locks are
left behind. The default run kills twice (about 20 s); ``-m slow`` kills more often.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.lock import LOCK_FILE, lock_run_dir
from densegym.agents.runs.record import CONFIG_FILE, SUMMARY_FILE, RunRecord
from densegym.agents.sb3.checkpoints import MODEL_FILE, list_checkpoints

ENV = "densegym/MountainCarSparse-v0"
STEPS = 3072
#: Seconds the test may spend on kills; each process also needs ~2-3 s to import torch.
BUDGET_S = 45.0


def _command(logdir: Path, run_dir: Path) -> list[str]:
    base = [sys.executable, "-m", "densegym.cli", "train", "--no-progress"]
    if list_checkpoints(run_dir):
        return [*base, "--resume", str(run_dir)]
    return [
        *base,
        *("--env", ENV, "--steps", str(STEPS), "--n-envs", "2", "--logdir", str(logdir)),
        *("--checkpoint-every", "256", "--log-every", "128"),
        *("--hp", "n_steps=128", "--hp", "batch_size=64", "--hp", "n_epochs=1"),
    ]


def _training_started(run_dir: Path, since: float) -> bool:
    try:
        return (run_dir / CONFIG_FILE).stat().st_mtime >= since  # written just before learn
    except FileNotFoundError:
        return False


def _kill_at_random(logdir: Path, run_dir: Path, rng: random.Random) -> None:
    """Start a trainer and SIGKILL it at a random moment.

    One kill in four lands anywhere from the start (imports, model building); the others
    land in the first two seconds of training, where checkpoints and run files are written.
    """
    since = time.time() - 1.0  # file times are coarse
    process = subprocess.Popen(
        _command(logdir, run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if rng.random() < 0.25:
            process.wait(timeout=rng.uniform(0.2, 4.0))
        else:
            deadline = time.monotonic() + 30
            while not _training_started(run_dir, since) and time.monotonic() < deadline:
                if process.poll() is not None:
                    return
                time.sleep(0.05)
            process.wait(timeout=rng.uniform(0.0, 2.0))
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def _check_run(run_dir: Path) -> None:
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    assert summary["timesteps"] >= STEPS and summary["episodes"] >= 0
    RunConfig.load(run_dir / CONFIG_FILE)  # whole and valid
    record = RunRecord.load(run_dir, strict=True)
    steps = list(record.curve["timesteps"])
    assert steps and steps == sorted(set(steps)), "curve steps repeat or run backwards"
    assert steps[-1] <= summary["timesteps"]
    newest = list_checkpoints(run_dir)[-1]
    assert (newest / MODEL_FILE).stat().st_size > 0
    from stable_baselines3 import PPO

    PPO.load(newest / MODEL_FILE, device="cpu")  # the newest checkpoint loads
    leftovers = [p.name for p in run_dir.rglob(".*") if p.name != LOCK_FILE]
    assert not leftovers, f"partial files left: {leftovers}"
    with lock_run_dir(run_dir):  # nobody holds the run any more
        pass


def _chaos(tmp_path: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    logdir = tmp_path / "runs"
    run_dir = RunConfig(ENV, steps=STEPS, n_envs=2, logdir=str(logdir)).run_dir
    start = time.monotonic()
    for _ in range(kills):
        if time.monotonic() - start > BUDGET_S:
            break
        _kill_at_random(logdir, run_dir, rng)
    done = subprocess.run(
        _command(logdir, run_dir), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    _check_run(run_dir)


@pytest.mark.timeout(240)
def test_sigkilled_training_resumes_to_whole_run_files(tmp_path):
    """Issue 21: a chaos test that SIGKILLs training at random points."""
    _chaos(tmp_path, kills=2, seed=int(os.environ.get("DENSEGYM_CHAOS_SEED", "21")))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", range(5))
def test_sigkilled_training_resumes_many_times(tmp_path, seed):
    _chaos(tmp_path, kills=6, seed=seed)
