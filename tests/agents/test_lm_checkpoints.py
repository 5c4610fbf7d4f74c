"""LM trainer checkpoints: a resumed run continues the uninterrupted one exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from densegym.agents.llm.lm_checkpoint import (  # noqa: E402
    STATE_FILE,
    list_checkpoints,
    load_checkpoint,
)
from densegym.agents.llm.trainers import train  # noqa: E402
from densegym.agents.runs import RunConfig, RunRecord, resume_run  # noqa: E402

ENV = "densegym/Arithmetic-v0"
FAST = {
    "group_size": 2,
    "max_new_tokens": 5,
    "max_episode_steps": 2,
    "learning_rate": 1e-3,
    "kl_coef": 0.05,
    "save_model": False,
}


def _config(logdir: Path, steps: int, **hp) -> RunConfig:
    return RunConfig(
        ENV, trainer="lm:grpo", shaping="pav", steps=steps, log_every=1, logdir=str(logdir),
        hyperparams={**FAST, **hp},
    )  # fmt: skip


def _weights(run_dir: Path) -> tuple[int, dict[str, torch.Tensor]]:
    newest = list_checkpoints(run_dir)[-1]
    state = load_checkpoint(newest)
    return state["env_steps"], state["weights"]


def _losses(run_dir: Path) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    # A resumed run writes a second event file; the order files are read in follows their
    # names (timestamp, host, pid), so order by step as TensorBoard's charts do.
    return sorted((e.step, e.value) for e in events.Scalars("lm/loss"))


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted run: 16 env steps (it does change the weights)."""
    import densegym.llm

    config = _config(tmp_path_factory.mktemp("straight"), 16)
    train(config, progress=False)
    initial = dict(densegym.llm.load("tiny-random").model.named_parameters())
    _, trained = _weights(config.run_dir)
    assert trained.keys() <= initial.keys()
    assert any(not torch.equal(initial[k].detach(), v) for k, v in trained.items())
    assert len(_losses(config.run_dir)) >= 4
    return config.run_dir


def _assert_same_run(run_dir: Path, reference: Path) -> None:
    step, weights = _weights(run_dir)
    ref_step, ref_weights = _weights(reference)
    assert step == ref_step >= 16
    assert weights.keys() == ref_weights.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(tensor, ref_weights[name], rtol=0, atol=1e-6, msg=name)
    # The loss of every iteration, the one right after the resume included, and the curve.
    got, want = _losses(run_dir), _losses(reference)
    assert [s for s, _ in got] == [s for s, _ in want]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-6)
    curve, ref_curve = RunRecord.load(run_dir).curve, RunRecord.load(reference).curve
    assert curve.values.tolist() == ref_curve.values.tolist()


def test_stop_and_resume_matches_the_uninterrupted_run(straight, tmp_path):
    first = train(_config(tmp_path, 6), progress=False)
    assert first["timesteps"] < 16 and "resumed_from" not in first
    assert [p.name for p in list_checkpoints(_config(tmp_path, 6).run_dir)] == [
        f"step_{first['timesteps']}"
    ]
    summary = resume_run(_config(tmp_path, 6).run_dir, steps=16, progress=False)
    assert summary["resumed_from"] == f"step_{first['timesteps']}"
    assert summary["checkpoints_set_aside"] == []
    _assert_same_run(Path(summary["run_dir"]), straight)
    # A finished run with nothing left to train keeps its summary.
    again = resume_run(summary["run_dir"], progress=False)
    assert again == json.loads((Path(summary["run_dir"]) / "summary.json").read_text())


def test_a_run_killed_after_a_checkpoint_resumes_from_it(straight, tmp_path):
    # Checkpoints every iteration; the run "dies" at 16 steps, then the newest
    # checkpoints are removed as if it had been killed right after an early one.
    config = _config(tmp_path, 16, checkpoint_iterations=1, keep_checkpoints=20)
    train(config, progress=False)
    checkpoints = list_checkpoints(config.run_dir)
    assert len(checkpoints) >= 3
    for later in checkpoints[2:]:
        for path in later.iterdir():
            path.unlink()
        later.rmdir()
    (config.run_dir / "summary.json").unlink()
    summary = train(config, resume=True, progress=False)
    assert summary["resumed_from"] == checkpoints[1].name
    _assert_same_run(config.run_dir, straight)


def test_a_corrupt_checkpoint_falls_back_to_the_previous_one_flagged(straight, tmp_path):
    config = _config(tmp_path, 6, checkpoint_iterations=1)
    train(config, progress=False)
    older, newest = list_checkpoints(config.run_dir)[-2:]
    state_file = newest / STATE_FILE
    state_file.write_bytes(state_file.read_bytes()[:100])  # a truncated write
    summary = resume_run(config.run_dir, steps=16, progress=False)
    assert summary["resumed_from"] == older.name
    [problem] = summary["checkpoints_set_aside"]
    assert newest.name in problem and "checksum" in problem
    assert (newest.parent / f"corrupt-{newest.name}").is_dir()
    _assert_same_run(config.run_dir, straight)  # the older checkpoint continues the same run


def test_resume_without_a_usable_checkpoint_fails_clearly(tmp_path):
    config = _config(tmp_path, 4)
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(config, resume=True, progress=False)
    train(config, progress=False)
    [only] = list_checkpoints(config.run_dir)
    (only / "meta.json").write_text("{not json")
    with pytest.raises(FileNotFoundError, match=r"step_\d+: unreadable meta.json"):
        train(config, resume=True, progress=False)


def test_a_checkpoint_of_another_trainer_is_refused(tmp_path):
    config = _config(tmp_path, 4)
    train(config, progress=False)
    rloo = RunConfig(
        ENV, trainer="lm:rloo", shaping="pav", steps=8, logdir=str(tmp_path),
        hyperparams=FAST,
    )  # fmt: skip
    target = rloo.run_dir
    target.mkdir(parents=True)
    (target / "checkpoints").symlink_to(config.run_dir / "checkpoints")
    with pytest.raises(ValueError, match="checkpoint of 'lm:grpo', this run is 'lm:rloo'"):
        train(rloo, resume=True, progress=False)


def test_the_cli_resumes_an_lm_run(tmp_path, capsys):
    from densegym.cli import main

    argv = ["train", "--env", ENV, "--trainer", "lm:rloo", "--steps", "4"]
    argv += ["--hp", "max_new_tokens=4", "--hp", "group_size=2", "--hp", "save_model=false"]
    argv += ["--hp", "max_episode_steps=2", "--logdir", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    run_dir = json.loads(out[: out.rindex("}") + 1])["run_dir"]
    assert main(["train", "--resume", run_dir, "--steps", "8", "--no-progress"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["trainer"] == "lm:rloo" and summary["advantage"] == "rloo"
    assert summary["timesteps"] >= 8 and summary["resumed_from"].startswith("step_")


def test_saving_removes_partials_of_dead_writers_only(tmp_path):
    import os
    import subprocess
    import sys

    from densegym.agents.llm.lm_checkpoint import save_checkpoint

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "checkpoints"
    stale, live = root / f".tmp-step_5-{dead.pid}", root / f".tmp-step_6-{os.getppid()}"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "trainer.pt").write_bytes(b"half")
    save_checkpoint(tmp_path, 7, {"iteration": 1})
    assert not stale.exists() and live.exists()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_7"]
