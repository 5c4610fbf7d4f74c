"""Hostile cases of issue 21 for run persistence: resuming, summaries and run files."""

from __future__ import annotations

import json
import math

from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.record import SUMMARY_FILE
from densegym.agents.sb3.training import train


def _config(tmp_path, steps: int = 512) -> RunConfig:
    return RunConfig(
        "densegym/MountainCarSparse-v0",
        steps=steps,
        n_envs=2,
        logdir=str(tmp_path / "runs"),
        hyperparams={"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    )


def test_resuming_a_finished_run_keeps_its_summary(tmp_path):
    """Issue 21, medium: ``--resume`` with no steps left wrote 0 episodes and NaN success."""
    config = _config(tmp_path)
    first = train(config, progress=False)
    assert first["episodes"] > 0 and not math.isnan(first["success_rate"])
    path = config.run_dir / SUMMARY_FILE
    written = path.read_bytes()
    again = train(config, resume=True, progress=False)
    assert again == first
    assert path.read_bytes() == written
    assert not list(config.run_dir.glob(f".{SUMMARY_FILE}.*"))  # no partial file left


def test_resuming_a_finished_run_without_a_readable_summary_writes_one(tmp_path):
    config = _config(tmp_path)
    train(config, progress=False)
    path = config.run_dir / SUMMARY_FILE
    path.write_text("{truncated")
    summary = train(config, resume=True, progress=False)
    assert json.loads(path.read_text())["timesteps"] == summary["timesteps"] >= config.steps
