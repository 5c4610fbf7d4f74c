"""Batched learned bonuses per agent: one shared module, one row per agent, same numbers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from densegym.agents.runs.config import RunConfig  # noqa: E402
from densegym.agents.sb3.multiagent import ParallelVecEnv, make_parallel_vec_env  # noqa: E402
from densegym.agents.sb3.training import make_env  # noqa: E402
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus  # noqa: E402

ENV_ID = "densegym/MA-SwitchDoor-N2-S7-v0"
N_COPIES = 2


def _venv(shaping=None):
    return make_parallel_vec_env(
        ENV_ID, n_envs=N_COPIES, seed=0, shaping=shaping, env_kwargs={"max_cycles": 6}
    )


def _step_both(per_agent, batched, actions, name):
    _, r1, d1, i1 = per_agent.step(actions)
    _, r2, d2, i2 = batched.step(actions)
    assert d1.tolist() == d2.tolist()
    want = [info["reward_terms"][name] for info in i1]
    got = [info["reward_terms"][name] for info in i2]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(r2, r1, rtol=1e-5, atol=1e-8)
    return bool(d1.any())


@pytest.mark.parametrize("name", ["e3b", "rnd", "icm", "noveld"])
def test_batched_bonus_equals_the_per_agent_form_on_the_same_inputs(name):
    # One module per agent (ParallelShaping, agent scope) vs one module with a row per
    # agent (VecIntrinsicBonus over the ParallelVecEnv): equal before and after training.
    # Term normalisation keeps running statistics per pipeline (one per agent here, one
    # shared by every row in the batched form), so the bonuses are compared before it.
    spec = {"id": name, "online": False, "coef": 1.0, "normalize": False}
    per_agent = _venv(spec)
    batched = VecIntrinsicBonus(_venv(), spec)
    assert batched.num_envs == N_COPIES * 2
    per_agent.reset()
    batched.reset()
    rng = np.random.default_rng(0)
    ended = False
    for _ in range(14):
        ended |= _step_both(per_agent, batched, rng.integers(5, size=batched.num_envs), name)
    assert ended  # episodes ended and copies reset inside the compared window
    assert batched.train_pending()
    state = batched.module.state_dict()
    for env in per_agent.envs:
        for owner, (shaper,) in env.shapers().items():
            assert owner.startswith("agent_")
            shaper.module.load_state_dict(state)
    for _ in range(8):
        _step_both(per_agent, batched, rng.integers(5, size=batched.num_envs), name)
    per_agent.close()
    batched.close()


def test_a_run_config_builds_the_batched_form_over_the_agents_rows():
    config = RunConfig(
        ENV_ID,
        shaping=[{"id": "potential", "scope": "team"}, {"id": "e3b", "batched": True}],
        n_envs=2,
        steps=64,
    )
    venv = make_env(config)
    assert isinstance(venv, VecIntrinsicBonus) and isinstance(venv.venv, ParallelVecEnv)
    assert venv.num_envs == 4
    venv.reset()
    _, rewards, _, infos = venv.step(np.zeros(4, dtype=np.int64))
    for reward, info in zip(rewards, infos):
        assert list(info["reward_terms"]) == ["extrinsic", "potential", "e3b"]
        assert reward == pytest.approx(sum(info["reward_terms"].values()), abs=1e-6)
    # A state saved by the shared module and the per-copy shapers loads back.
    state = venv.venv.state_dict()
    venv.venv.load_state_dict(state)
    venv.load_state_dict(venv.state_dict())
    venv.close()
