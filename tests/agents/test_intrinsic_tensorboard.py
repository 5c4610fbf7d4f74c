"""A short SB3 PPO run (via ``train``) with each learned bonus logs ``reward/<module>``."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from densegym.agents.sb3.training import RunConfig, train

ROOM = "densegym/MiniHack-Room-5x5-v0"
MODULES = ("rnd", "icm", "e3b", "noveld", "global_episodic")
FAST_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}


def _scalar_tags(run_dir) -> set[str]:
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


def _run(tmp_path, **kwargs) -> dict:
    config = RunConfig(
        ROOM,
        steps=512,
        n_envs=2,
        logdir=str(tmp_path),
        log_every=128,
        hyperparams=FAST_PPO,
        **kwargs,
    )
    return train(config, progress=False)


@pytest.mark.parametrize("module", MODULES)
def test_per_env_module_logs_its_reward_term(tmp_path, module):
    summary = _run(tmp_path, shaping={"id": module, "update_every": 32})
    assert summary["timesteps"] >= 512 and summary["episodes"] > 0
    tags = _scalar_tags(summary["run_dir"])
    assert {f"reward/{module}", "reward/extrinsic", "episode/success_rate"} <= tags
    assert f"shaping/{module}_ms_per_step" in tags


def test_batched_e3b_logs_its_reward_term_and_training_stats(tmp_path):
    summary = _run(tmp_path, batched_shaping="e3b")
    assert summary["shaping"] == "batched-e3b"
    tags = _scalar_tags(summary["run_dir"])
    assert {"reward/e3b", "reward/extrinsic", "shaping/e3b_ms_per_step"} <= tags
    assert any(tag.startswith("shaping/e3b_") and "ms_per_step" not in tag for tag in tags)
