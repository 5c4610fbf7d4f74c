"""Hostile cases of issue 21 for run persistence: resuming, summaries and run files."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from densegym import logging as names
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.lock import RunDirBusy
from densegym.agents.runs.record import CONFIG_FILE, CURVE_FILE, SUMMARY_FILE
from densegym.agents.sb3.checkpoints import (
    CORRUPT_PREFIX,
    MODEL_FILE,
    SHAPERS_FILE,
    list_checkpoints,
)
from densegym.agents.sb3.compare import compare
from densegym.agents.sb3.training import train
from densegym.cli import main as cli_main


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


# ------------------------------------------------------------- one writer per run dir
HOLD = (
    "import sys, time\n"
    "from densegym.agents.runs.lock import lock_run_dir\n"
    "with lock_run_dir(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


@pytest.fixture
def holder():
    """Hold a folder's lock from another process (SIGKILLed at the end)."""
    started: list[subprocess.Popen] = []

    def hold(folder) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_a_second_process_cannot_train_into_a_held_run_dir(tmp_path, holder, capsys):
    """Issue 21, medium: two trainers of one run dir interleaved their curves."""
    config = _config(tmp_path, steps=256)
    process = holder(config.run_dir)
    start = time.monotonic()
    with pytest.raises(RunDirBusy, match=rf"in use by pid {process.pid}"):
        train(config, progress=False)
    assert time.monotonic() - start < 5  # refused at once, not after training
    assert not (config.run_dir / CURVE_FILE).exists()
    argv = ["train", "--env", config.env_id, "--steps", "256", "--n-envs", "2"]
    assert cli_main([*argv, "--logdir", config.logdir, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "RunDirBusy" in err and "in use by" in err
    process.kill()
    process.wait()  # the lock dies with its process: no stale lock
    assert train(config, progress=False)["timesteps"] >= 256


def test_a_second_compare_of_one_env_stops_before_training(tmp_path, holder):
    config = _config(tmp_path, steps=256)
    holder(Path(config.logdir) / names.env_slug(config.env_id))
    with pytest.raises(RunDirBusy, match="another densegym train or compare"):
        compare(config, ["none"], [0], workers=1)
    assert not config.run_dir.exists()


# ----------------------------------------------------------------- checkpoints
def _trained_with_checkpoints(tmp_path, shaping=None):
    config = _config(tmp_path, steps=768)
    config.checkpoint_every = 256
    config.shaping = shaping
    train(config, progress=False)
    return config, list_checkpoints(config.run_dir)


def test_resume_falls_back_when_the_newest_checkpoint_is_corrupt(tmp_path, caplog):
    """Issue 21, low: a truncated newest checkpoint stopped ``--resume``."""
    config, checkpoints = _trained_with_checkpoints(tmp_path)
    newest = checkpoints[-1]
    model = newest / MODEL_FILE
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # a torn write
    config.steps = 1024
    with caplog.at_level(logging.WARNING):
        summary = train(config, resume=True, progress=False)
    assert summary["timesteps"] >= 1024
    assert "cannot be loaded" in caplog.text and "resuming from the older" in caplog.text
    assert (newest.parent / (CORRUPT_PREFIX + newest.name)).is_dir()  # set aside, not lost
    assert json.loads((config.run_dir / SUMMARY_FILE).read_text())["timesteps"] >= 1024


def test_resume_with_no_loadable_checkpoint_is_one_clear_error(tmp_path):
    config, checkpoints = _trained_with_checkpoints(tmp_path)
    for checkpoint in checkpoints:
        (checkpoint / MODEL_FILE).write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from.*step_256 .*zip"):
        train(config, resume=True, progress=False)


def test_a_checkpoint_without_shaper_state_warns(tmp_path, caplog):
    """Issue 21, low: a missing shaper state silently started the shapers afresh."""
    config, checkpoints = _trained_with_checkpoints(tmp_path, shaping="count")
    (checkpoints[-1] / SHAPERS_FILE).unlink()
    config.steps = 1024
    with caplog.at_level(logging.WARNING):
        train(config, resume=True, progress=False)
    assert "holds no shaper state" in caplog.text


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_what_killed_writers_left_is_removed(tmp_path):
    """Issue 21, low: killed checkpoint writers' temp folders were never removed."""
    config, _ = _trained_with_checkpoints(tmp_path)
    dead = _dead_pid()
    stale_dir = config.run_dir / "checkpoints" / f".tmp-step_999-{dead}"
    stale_dir.mkdir()
    (stale_dir / MODEL_FILE).write_bytes(b"partial")
    stale_file = config.run_dir / f".{SUMMARY_FILE}.{dead}.tmp"
    stale_file.write_text("{")
    live = config.run_dir / "checkpoints" / ".tmp-step_999-1"  # pid 1 is alive
    live.mkdir()
    config.steps = 1024
    train(config, resume=True, progress=False)
    assert not stale_dir.exists() and not stale_file.exists()
    assert live.exists()  # a live writer's work is left alone


def test_compare_reads_past_corrupt_run_files(tmp_path, capsys, caplog):
    """Issue 21, low: a corrupt run file gave a traceback in ``compare`` (held since the
    run-record layer; kept as a guard)."""
    config = _config(tmp_path, steps=256)
    argv = ["compare", "--env", config.env_id, "--shaping", "none", "--seeds", "1"]
    argv += ["--steps", "256", "--n-envs", "2", "--logdir", config.logdir, "--workers", "1"]
    assert cli_main(argv) == 0
    for name in (SUMMARY_FILE, CURVE_FILE, CONFIG_FILE):
        (config.run_dir / name).write_bytes(b'{"timest\x00\xff')
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        code = cli_main(argv)
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err
    assert f"{CURVE_FILE}: " in caplog.text  # the damage is named
