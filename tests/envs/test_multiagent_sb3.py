"""SB3 with parameter sharing through ParallelVecEnv: seeding, truncation, closing, PPO."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from stable_baselines3 import PPO  # noqa: E402

from densegym.agents.sb3.multiagent import (  # noqa: E402
    ParallelVecEnv,
    make_parallel_vec_env,
    train_parallel,
)
from densegym.envs.multiagent.grid import SwitchDoorEnv  # noqa: E402

ENV_ID = "densegym/MA-SwitchDoor-N2-S7-v0"


def test_rows_seed_and_reset():
    venv = make_parallel_vec_env(ENV_ID, n_envs=3, seed=5)
    first = venv.reset()
    assert first.shape == (6, 17) and venv.num_envs == 6
    venv.seed(5)
    assert np.array_equal(first, venv.reset())
    venv.seed(6)
    assert not np.array_equal(first, venv.reset())
    # Row c * n_agents + i is agent i of copy c: its one-hot index says so.
    assert [int(np.argmax(row[5:7])) for row in first] == [0, 1, 0, 1, 0, 1]
    venv.close()


def test_ppo_with_a_seed_runs_and_is_reproducible():
    params = []
    for _ in range(2):
        venv = make_parallel_vec_env(ENV_ID, n_envs=2)
        model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=3, device="cpu")
        model.learn(256)
        params.append(
            np.concatenate([p.detach().numpy().ravel() for p in model.policy.parameters()])
        )
        venv.close()
    np.testing.assert_allclose(params[0], params[1])


def test_time_limit_is_flagged_truncated_with_the_terminal_observation():
    venv = make_parallel_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs={"max_cycles": 3})
    venv.reset()
    for _ in range(3):
        obs, rewards, dones, infos = venv.step(np.zeros(venv.num_envs, dtype=np.int64))
    assert dones.all()
    for info in infos:
        assert info["TimeLimit.truncated"] is True
        assert info["terminal_observation"].shape == (17,)
        assert info["episode"]["l"] == 3 and "reward_terms" in info
    venv.close()


def test_success_is_terminal_not_truncated():
    venv = ParallelVecEnv([lambda: SwitchDoorEnv(max_cycles=50)])
    venv.seed(1)
    venv.reset()
    env = venv.envs[0]
    while True:
        joint = env.oracle_step()
        obs, rewards, dones, infos = venv.step(np.array([joint[a] for a in venv.agents]))
        if dones.any():
            break
    assert dones.all() and set(rewards) == {1.0}
    assert all(info["TimeLimit.truncated"] is False and info["is_success"] for info in infos)
    assert env.agents == list(env.possible_agents)  # the copy was reset for the next episode
    venv.close()


def test_close_closes_every_copy_once(monkeypatch):
    closed = []
    monkeypatch.setattr(SwitchDoorEnv, "close", lambda self: closed.append(id(self)))
    venv = ParallelVecEnv([SwitchDoorEnv, SwitchDoorEnv])
    venv.close()
    venv.close()
    assert len(closed) == 2 and len(set(closed)) == 2


def test_ppo_trains_and_shaping_changes_the_reward():
    rewards = {}
    for label, shaping in (("none", None), ("count", {"id": "count", "coef": 0.1})):
        venv = make_parallel_vec_env(ENV_ID, n_envs=4, seed=0, shaping=shaping)
        model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=2, seed=0)
        model.learn(2048)  # a few thousand agent-steps: 8 rows x 256
        assert model.num_timesteps >= 2048
        rewards[label] = model.rollout_buffer.rewards.copy()
        terms = venv.env_method("shaping_times") if shaping else []
        assert all("count" in t for t in terms)
        venv.close()
    assert rewards["count"].sum() > rewards["none"].sum()
    assert (rewards["count"] > 0).mean() > 0.9


def test_train_parallel_writes_a_run_directory(tmp_path):
    summary = train_parallel(
        ENV_ID, shaping={"id": "potential", "scope": "team"}, steps=1024, n_envs=2, logdir=tmp_path
    )
    run_dir = tmp_path / "MA-SwitchDoor-N2-S7-v0" / "potential(scope=team)" / "ppo-seed0"
    assert summary["run_dir"] == str(run_dir)
    for name in ("config.json", "curve.csv", "summary.json", "final_model.zip"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "config.json").read_text())["shaping"]["scope"] == "team"
    assert any(p.name.startswith("events.out.tfevents") for p in run_dir.iterdir())
    assert summary["timesteps"] >= 1024
