"""The batched choice is part of the spec; ``count`` runs per-env and batched alike."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium.envs.registration import EnvSpec  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import densegym  # noqa: E402, F401
from densegym.rewards import find_shapers, shaping_label  # noqa: E402
from densegym.rewards.batching import (  # noqa: E402
    fold_batched,
    run_shaping_label,
    split_batched,
)
from densegym.rewards.intrinsic import CountBonus  # noqa: E402
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus  # noqa: E402

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
ROOM = "densegym/MiniHack-Room-5x5-v0"


def _venv(env_id: str, n: int, shaping=None, max_steps: int = 12) -> DummyVecEnv:
    venv = DummyVecEnv([lambda: gym.make(env_id, shaping=shaping, max_episode_steps=max_steps)] * n)
    venv.seed(0)
    return venv


def _terms(venv, actions, name) -> tuple[list[list[float]], list[bool]]:
    out, ended = [], []
    for row in actions:
        _, rewards, dones, infos = venv.step(row)
        out.append([info["reward_terms"][name] for info in infos])
        for reward, info in zip(rewards, infos):
            assert reward == pytest.approx(sum(info["reward_terms"].values()), abs=1e-5)
        ended.append(bool(dones.any()))
    return out, ended


# -- count: one implementation, both forms ------------------------------------------------
@pytest.mark.parametrize("env_id", [MOUNTAIN_CAR, ROOM], ids=["mountaincar", "minihack"])
@pytest.mark.parametrize(
    "mode, n_envs", [("episodic", 3), ("first_visit", 3), ("global", 1)], ids=str
)
def test_count_batched_equals_count_per_env(env_id, mode, n_envs):
    # Global counts are one table per wrapper: shared by all sub-envs when batched, one per
    # sub-env per-env, so they agree for a single sub-env; episodic tables always agree.
    spec = {"id": "count", "coef": 1.0, "mode": mode, "normalize": True, "clip": 2.0}
    per_env = _venv(env_id, n_envs, shaping=spec)
    batched = VecIntrinsicBonus(_venv(env_id, n_envs), {**spec, "batched": True})
    assert batched.online  # counts have nothing to train: they count as they go
    per_env.reset()
    batched.reset()
    n_actions = per_env.action_space.n
    actions = np.random.default_rng(0).integers(n_actions, size=(40, n_envs))
    want, ended = _terms(per_env, actions, "count")
    got, _ = _terms(batched, actions, "count")
    assert any(ended)  # episode resets happened inside the compared window
    if n_envs == 1:
        assert got == want  # same rules, same order: bit-identical
    else:
        # Normalisation statistics are one per wrapper: compare a count without it.
        raw = {**spec, "normalize": False}
        per_env, batched = (
            _venv(env_id, n_envs, shaping=raw),
            VecIntrinsicBonus(_venv(env_id, n_envs), raw),
        )
        per_env.reset()
        batched.reset()
        assert _terms(batched, actions, "count")[0] == _terms(per_env, actions, "count")[0]
    assert len(set(np.ravel(want))) > 1


def test_batched_global_count_shares_one_table():
    venv = VecIntrinsicBonus(_venv(ROOM, 2), {"id": "count", "coef": 1.0})
    venv.reset()
    west = gym.make(ROOM).unwrapped.action_names.index("W")
    for _ in range(3):
        venv.step(np.array([west, west]))
    # Both sub-envs start in the same cell: every visit of either one is counted once.
    assert sum(venv.module.counts.values()) == 2 * 4


def test_batched_count_state_round_trip_and_old_per_env_checkpoints():
    venv = VecIntrinsicBonus(_venv(MOUNTAIN_CAR, 2), {"id": "count", "coef": 1.0})
    venv.reset()
    actions = np.random.default_rng(1).integers(3, size=(30, 2))
    _terms(venv, actions[:15], "count")
    buffer = io.BytesIO()
    torch.save(venv.state_dict(), buffer)
    expected = _terms(venv, actions[15:], "count")[0]
    other = VecIntrinsicBonus(_venv(MOUNTAIN_CAR, 2), {"id": "count", "coef": 1.0})
    other.reset()
    _terms(other, actions[:15], "count")
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=False))
    assert _terms(other, actions[15:], "count")[0] == expected


@pytest.mark.parametrize("mode", ["global", "episodic"])
def test_count_checkpoints_from_before_the_merge_load(mode):
    # The count shaper used to save its table, the term statistics and ``steps`` only.
    old = {
        "normalizer": {"mean": 0.5, "var": 0.25, "count": 10.0},
        "nonfinite_count": 2,
        "counts": {"cell": 3},
        "steps": 5,
    }
    env = gym.make(MOUNTAIN_CAR, shaping={"id": "count", "mode": mode})
    (shaper,) = find_shapers(env)
    env.reset(seed=0)
    shaper.load_state_dict(old)
    assert shaper.counts == {"cell": 3} and shaper.counts is not old["counts"]
    assert shaper.steps == 5 and shaper.nonfinite_count == 2 and shaper.normalizer.std == 0.5
    state = shaper.state_dict()
    assert state["counts"] == {"cell": 3}  # the key old readers look for stays
    env.step(1)


def test_count_update_and_offline_training_at_rollout_end():
    env = CountBonus(gym.make(MOUNTAIN_CAR), coef=1.0, online=False)
    env.reset(seed=0)
    for _ in range(5):
        env.step(2)
    assert env.counts == {} and len(env.log) == 5
    stats = env.train_pending()  # what the SB3 callback calls at rollout end
    assert stats["new_states"] >= 1 and sum(env.counts.values()) == 5
    online = CountBonus(gym.make(MOUNTAIN_CAR), coef=1.0)
    online.reset(seed=0)
    online.step(2)
    assert len(online.log) == 0  # counting online keeps no transitions


# -- the batched choice in the spec -----------------------------------------------------
def test_split_batched_and_fold_batched():
    spec = ["potential", {"id": "e3b", "coef": 0.1, "batched": True}, {"id": "count"}]
    per_env, batched = split_batched(spec)
    assert per_env == [{"id": "potential"}, {"id": "count"}]
    assert batched == [{"id": "e3b", "coef": 0.1}]
    assert split_batched(json.dumps(spec)) == (per_env, batched)
    assert split_batched({"id": "rnd", "batched": False}) == ([{"id": "rnd"}], [])
    assert split_batched(None) == ([], [])
    with pytest.raises(TypeError, match="batched"):
        split_batched({"id": "rnd", "batched": "yes"})
    with pytest.raises(ValueError, match="'count'"):
        split_batched(["count", {"id": "count", "batched": True}])
    assert fold_batched(None, "e3b") == [{"id": "e3b", "batched": True}]
    assert fold_batched("count", None) == "count"
    assert split_batched(fold_batched("count", {"id": "rnd", "seed": 1})) == (
        [{"id": "count"}],
        [{"id": "rnd", "seed": 1}],
    )


def _legacy_label(shaping, batched_shaping) -> str:
    """RunConfig.label as it was with a separate ``batched_shaping`` field."""
    label = shaping_label(shaping)
    if batched_shaping:
        batched = f"batched-{shaping_label(batched_shaping)}"
        label = batched if label == "none" else f"{label}+{batched}"
    return label


@pytest.mark.parametrize(
    "shaping, batched_shaping",
    [
        (None, "e3b"),
        (None, {"id": "rnd", "coef": 0.1}),
        ("count", "e3b"),
        ("count+potential", {"id": "noveld", "key": "env"}),
        ({"id": "count", "mode": "episodic"}, None),
        (None, None),
    ],
)
def test_folded_specs_keep_the_labels_of_run_directories(shaping, batched_shaping):
    folded = fold_batched(shaping, batched_shaping)
    assert run_shaping_label(folded) == _legacy_label(shaping, batched_shaping)
    assert json.loads(json.dumps(folded)) == folded  # data: config.json round-trips


def test_a_batched_spec_on_one_env_is_the_per_env_form_and_round_trips():
    spec = {"id": "count", "coef": 0.5, "mode": "episodic", "batched": True}
    env = gym.make(MOUNTAIN_CAR, shaping=spec)
    (shaper,) = find_shapers(env)
    assert isinstance(shaper, CountBonus) and shaper.mode == "episodic"
    assert env.spec.kwargs["shaping"] == spec
    rebuilt = gym.make(EnvSpec.from_json(env.spec.to_json()))
    assert rebuilt.spec.kwargs["shaping"] == spec
    env.reset(seed=0)
    rebuilt.reset(seed=0)
    assert [env.step(1)[1] for _ in range(5)] == [rebuilt.step(1)[1] for _ in range(5)]


def test_make_env_builds_batched_entries_around_the_vec_env():
    from densegym.agents.sb3.training import make_env

    config = SimpleNamespace(
        env_id=MOUNTAIN_CAR,
        env_kwargs={},
        n_envs=2,
        seed=0,
        shaping=["potential", {"id": "count", "mode": "episodic", "batched": True}],
    )
    venv = make_env(config)
    assert isinstance(venv, VecIntrinsicBonus) and venv.term_name == "count"
    for env in venv.venv.envs:
        assert [s.term_name for s in find_shapers(env)] == ["potential"]
    venv.reset()
    infos = venv.step(np.array([1, 2]))[3]
    assert sorted(infos[0]["reward_terms"]) == ["count", "extrinsic", "potential"]
    # The older separate field still works, stacked outside the spec's own entries.
    legacy = SimpleNamespace(**{**vars(config), "shaping": "potential"}, batched_shaping="count")
    venv = make_env(legacy)
    assert isinstance(venv, VecIntrinsicBonus) and venv.module.mode == "global"
