"""Hostile cases of issue 21 for the command line: every bad invocation ends in one line.

A usage error (a bad option or value) is one line on stderr and exit status 2, like
argparse's own errors; a failure while running is one line and status 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from densegym.cli import main

CAR = "densegym/MountainCarSparse-v0"

USAGE_ERRORS = [
    [],
    ["fly"],
    ["train"],
    ["train", "--env", "densegym/Nope-v0"],
    ["train", "--env", CAR, "--steps", "many"],
    ["train", "--env", CAR, "--steps", "-1"],
    ["train", "--env", CAR, "--n-envs", "0"],
    ["train", "--env", CAR, "--shaping", "{not json"],
    ["train", "--env", CAR, "--shaping", "bogus"],
    ["train", "--env", CAR, "--shaping", '{"id": "count", "colour": 1}'],
    ["train", "--env", CAR, "--checkpoint-every", "-5"],
    ["train", "--env", CAR, "--hp", "learning_rate"],
    ["train", "--env", CAR, "--env-kwargs", "[1, 2]"],
    ["train", "--env", CAR, "--algo", "sac"],
    ["train", "--env", CAR, "--trainer", "jax:ppo"],
    ["eval", "--run", "/nonexistent/run"],
    ["eval", "--agent", "random"],
    ["eval", "--agent", "dfs", "--env", CAR],
    ["eval", "--agent", "random", "--env", CAR, "--episodes", "0"],
    ["compare"],
    ["compare", "--env", CAR, "--shaping", "none,bogus"],
    ["compare", "--env", CAR, "--backend", "slurm"],
]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as error:
        return error.code if isinstance(error.code, int) else 1


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda argv: " ".join(argv) or "<none>")
def test_a_usage_error_is_one_line_and_exit_status_2(argv, capsys, tmp_path):
    """Issue 21, low: about 20 bad invocations ended in a Python traceback."""
    code = _run([*argv, "--logdir", str(tmp_path)] if argv[:1] in (["train"],) else argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("densegym")
    assert not (tmp_path / "MountainCarSparse-v0").exists()  # nothing trained first


def test_a_runtime_error_is_one_line_and_exit_status_1(capsys, tmp_path):
    code = main(["train", "--resume", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("densegym train: error: FileNotFoundError: no run to resume")
    assert "--debug" in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        main(["train", "--resume", str(tmp_path), "--debug"])


def test_the_real_command_exits_with_the_status(tmp_path):
    command = [sys.executable, "-m", "densegym.cli"]
    usage = subprocess.run([*command, "train"], capture_output=True, text=True, timeout=120)
    failure = subprocess.run(
        [*command, "train", "--resume", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and usage.stderr.strip() == (
        "densegym train: error: train needs --env (or --resume RUN_DIR)"
    )
    assert failure.returncode == 1 and len(failure.stderr.strip().splitlines()) == 1


def test_device_cuda_without_cuda_is_refused(capsys, tmp_path):
    """Issue 21, low: ``--device cuda`` without CUDA silently trained on the CPU."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["train", "--env", CAR, "--device", "cuda", "--steps", "64", "--logdir", str(tmp_path)]
    assert main(argv) == 1
    assert "CUDA is not available" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was written
