"""A short PPO run with ``llm_feedback`` puts LLM cost and annotation counters in TensorBoard."""

import pytest
from stable_baselines3.common.callbacks import BaseCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import densegym.llm
from densegym.agents.sb3.callbacks import EpisodeStats
from densegym.agents.sb3.training import RunConfig, train

pytest.importorskip("transformers")

FAST_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}


def _scalars(run_dir) -> dict[str, list[float]]:
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {
        tag: [event.value for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


class _WaitForLabels(BaseCallback):
    """Lets the annotator catch up at each rollout end, so the short run sees labels."""

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.training_env.env_method("wait_for_labels", 60.0)


def test_llm_feedback_run_logs_llm_cost_and_annotation_counters(tmp_path):
    before = densegym.llm.total_usage().snapshot()
    config = RunConfig(
        "densegym/MountainCarSparse-v0",
        shaping={"id": "llm_feedback", "backend": "tiny-random", "cache": False, "batch_size": 4},
        steps=1024,
        n_envs=2,
        logdir=str(tmp_path),
        log_every=128,
        hyperparams=FAST_PPO,
    )
    summary = train(config, progress=False, callbacks=[_WaitForLabels()])
    spent = densegym.llm.total_usage().since(before)
    scalars = _scalars(summary["run_dir"])
    assert {"llm/calls", "llm/tokens", "reward/llm_feedback"} <= set(scalars)
    counters = {"llm_feedback/labels", "llm_feedback/queue", "llm_feedback/submitted"}
    assert counters <= set(scalars)
    assert scalars["llm_feedback/labels"][-1] > 0
    assert scalars["llm_feedback/submitted"][-1] >= scalars["llm_feedback/labels"][-1]
    # Two sub-envs share one annotator: its calls must be counted once, not per sub-env.
    assert 0 < scalars["llm/calls"][-1] <= spent["calls"]


def test_episode_stats_keeps_the_latest_counters_not_their_sum():
    stats = EpisodeStats(n_envs=2)
    for index in (0, 1):
        info = {"llm_feedback_stats": {"labels": 5, "queue": 2, "note": "x"}}
        stats.add_step(index, info, done=False, reward=0.0)
    stats.add_step(0, {"llm_feedback_stats": {"labels": 7, "queue": float("nan")}}, done=False)
    summary = stats.summary()
    assert summary["llm_feedback/labels"] == 7.0
    assert summary["llm_feedback/queue"] == 2.0
    assert "llm_feedback/note" not in summary
