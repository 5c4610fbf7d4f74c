"""Building blocks of the learned intrinsic bonuses: schedules, batches, encoders, E3B algebra."""

from __future__ import annotations

import math

import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium import spaces  # noqa: E402

from densegym.rewards.intrinsic.batches import (  # noqa: E402
    TransitionLog,
    batch_of_one,
    concat,
    finite_rows,
    take,
)
from densegym.rewards.intrinsic.counts import CountModule  # noqa: E402
from densegym.rewards.intrinsic.e3b import E3BModule, sherman_morrison  # noqa: E402
from densegym.rewards.intrinsic.networks import (  # noqa: E402
    ActionCodec,
    ObsEncoder,
    ObsPreprocessor,
)
from densegym.rewards.intrinsic.schedule import CoefSchedule  # noqa: E402
from densegym.spaces import CategoricalBox  # noqa: E402

MINIHACK_SPACE = spaces.Dict(
    {
        "glyphs": CategoricalBox(0, 5976, (9, 9), np.float32),
        "blstats": spaces.Box(-np.inf, np.inf, (27,), np.float32),
    }
)


# -- coef schedules ---------------------------------------------------------------------
def test_linear_and_exponential_schedules():
    linear = CoefSchedule(0.5, {"kind": "linear", "steps": 10, "final": 0.1})
    assert [linear(t) for t in (0, 5, 10, 100)] == pytest.approx([0.5, 0.3, 0.1, 0.1])
    halving = CoefSchedule(1.0, {"kind": "exponential", "half_life": 4})
    assert [halving(t) for t in (0, 4, 8)] == pytest.approx([1.0, 0.5, 0.25])
    assert CoefSchedule(0.2, None)(10**9) == 0.2


@pytest.mark.parametrize(
    "decay",
    [
        "linear",
        {"kind": "cosine", "steps": 3},
        {"kind": "linear"},
        {"kind": "linear", "steps": 0},
        {"kind": "exponential", "half_life": 5, "extra": 1},
        {"kind": "linear", "steps": 5, "final": math.nan},
    ],
)
def test_malformed_schedules_are_rejected(decay):
    with pytest.raises(ValueError, match="rnd"):
        CoefSchedule(1.0, decay, owner="rnd")


# -- batches ------------------------------------------------------------------------------
def test_batches_of_dicts_and_arrays():
    obs = {"a": np.arange(3.0), "b": np.ones((2, 2))}
    one = batch_of_one(obs)
    obs["a"][0] = 99.0  # the batch is a copy
    assert one["a"].shape == (1, 3) and one["a"][0, 0] == 0.0
    both = concat([one, one])
    assert both["b"].shape == (2, 2, 2)
    assert take(both, [1])["a"].shape == (1, 3)
    bad = {"a": np.array([[0.0], [np.inf]]), "b": np.array([[np.nan], [0.0]])}
    assert finite_rows(bad).tolist() == [False, False]
    assert finite_rows(np.array([[1, 2]])).tolist() == [True]


def test_transition_log_keeps_order_and_drops_oldest_beyond_capacity():
    log = TransitionLog(capacity=4)
    for t in range(3):
        log.add(np.full((2, 1), t), np.array([t, t]), np.full((2, 1), t + 1))
    assert len(log) == 4  # the oldest chunk of 2 was dropped
    restored = TransitionLog(capacity=4)
    restored.load_state_dict(log.state_dict())
    batch = restored.pop_all()
    assert batch["actions"].tolist() == [1, 1, 2, 2]
    assert len(restored) == 0 and restored.pop_all() == {}


# -- preprocessing and encoders ----------------------------------------------------------
def test_preprocessor_scales_bounded_squashes_unbounded_and_flags_non_finite():
    low, high = np.array([0.0, -np.inf], np.float32), np.array([10.0, np.inf], np.float32)
    space = spaces.Box(low, high, dtype=np.float32)
    inputs, ok = ObsPreprocessor(space)(np.array([[5.0, math.e - 1], [np.inf, -3.0]]))
    np.testing.assert_allclose(inputs[""].numpy(), [[0.0, 1.0], [-1.0, -math.log(4.0)]], 1e-6)
    assert ok.tolist() == [True, False]


def test_glyphs_are_embedded_as_ids_and_out_of_range_ids_are_clipped():
    prepare = ObsPreprocessor(MINIHACK_SPACE)
    glyphs = np.zeros((2, 9, 9), np.float32)
    glyphs[0, 0, 0], glyphs[1, 0, 0] = 2359.0, 1e9
    blstats = np.zeros((2, 27), np.float32)
    blstats[1, 3] = np.nan
    inputs, ok = prepare({"glyphs": glyphs, "blstats": blstats})
    assert inputs["glyphs"].dtype == torch.int64
    assert inputs["glyphs"][:, 0].tolist() == [2359, 5976]
    assert ok.tolist() == [True, False]
    encoder = ObsEncoder(prepare, out_dim=8, hidden_dim=16)
    assert tuple(encoder(inputs).shape) == (2, 8)


def test_only_leaves_the_env_declares_categorical_are_embedded():
    # The name does not matter: a plain Box called "glyphs" is scaled, a CategoricalBox
    # under any name is embedded.
    named = ObsPreprocessor(spaces.Dict({"glyphs": spaces.Box(0, 9, (2,), np.float32)}))
    declared = ObsPreprocessor(spaces.Dict({"tiles": CategoricalBox(0, 9, (2,), np.float32)}))
    assert [leaf.kind for leaf in named.leaves] == ["vector"]
    assert [leaf.kind for leaf in declared.leaves] == ["ids"]


def test_minihack_leaves_encode_as_before():
    """MiniHack's crop is embedded and ``blstats``/``map`` are scaled (pinned numbers)."""
    pytest.importorskip("minihack")
    import gymnasium as gym

    import densegym  # noqa: F401

    env = gym.make("densegym/MiniHack-Room-5x5-v0", full_map=True)
    prepare = ObsPreprocessor(env.observation_space)
    kinds = {leaf.key: (leaf.kind, leaf.size) for leaf in prepare.leaves}
    assert kinds == {"blstats": ("vector", 27), "glyphs": ("ids", 81), "map": ("vector", 1659)}
    assert prepare.leaves[1].num_ids == 5977
    env.close()


@pytest.mark.parametrize(
    "space",
    [
        spaces.Discrete(5, start=2),
        spaces.MultiBinary(4),
        spaces.MultiDiscrete([3, 4]),
        spaces.Box(0, 255, (3, 4), np.uint8),
    ],
)
def test_other_observation_spaces_encode(space):
    prepare = ObsPreprocessor(space)
    samples = np.stack([space.sample() for _ in range(3)])
    inputs, ok = prepare(samples)
    assert ok.all()
    assert tuple(ObsEncoder(prepare, 4, 8)(inputs).shape) == (3, 4)


def test_unsupported_spaces_raise_value_error():
    with pytest.raises(ValueError, match="unsupported"):
        ObsPreprocessor(spaces.Tuple([spaces.Discrete(2)]))
    with pytest.raises(ValueError, match="Discrete or Box"):
        ActionCodec(spaces.MultiDiscrete([2, 2]), owner="icm")


def test_action_codec_box_actions():
    codec = ActionCodec(spaces.Box(-1, 1, (2,)))
    actions, ok = codec.to_tensor(np.array([[0.5, -0.5], [np.nan, 0.0]]))
    assert ok.tolist() == [True, False] and codec.dim == 2
    loss = codec.inverse_loss(torch.zeros(2, 2), actions)
    assert loss.tolist() == pytest.approx([0.25, 0.0])


# -- E3B algebra ------------------------------------------------------------------------------
def test_sherman_morrison_matches_numpy_inverse_over_a_sequence():
    rng = np.random.default_rng(0)
    ridge, d = 0.1, 6
    inverse = np.repeat(np.eye(d)[None] / ridge, 3, axis=0)
    phis = rng.normal(size=(40, 3, d))
    for phi in phis:
        before = inverse.copy()
        quad = sherman_morrison(inverse, phi)
        expected = np.einsum("ni,nij,nj->n", phi, before, phi)
        np.testing.assert_allclose(quad, expected, rtol=1e-10)
    for env in range(3):
        covariance = ridge * np.eye(d) + phis[:, env].T @ phis[:, env]
        np.testing.assert_allclose(inverse[env], np.linalg.inv(covariance), rtol=1e-5, atol=1e-5)


def test_e3b_episodic_inverse_equals_numpy_inverse_of_the_episode_covariance():
    env = gym.make("densegym/MiniHack-Room-5x5-v0")
    module = E3BModule(
        env.observation_space,
        env.action_space,
        feature_dim=32,
        hidden_dim=64,
        ridge=0.1,
        lr=1e-3,
        batch_size=64,
        epochs=1,
        seed=0,
    )
    obs, _ = env.reset(seed=0)
    episodic = module.new_episodic(1)
    module.reset_episodic(episodic, np.array([0]), batch_of_one(obs))
    seen = [batch_of_one(obs)]
    rng = np.random.default_rng(0)
    for _ in range(60):
        previous = obs
        action = int(rng.integers(env.action_space.n))
        obs, *_ = env.step(action)
        module.bonus(batch_of_one(previous), np.array([action]), batch_of_one(obs), episodic)
        seen.append(batch_of_one(obs))
    reference = module.covariance_inverse(concat(seen))
    np.testing.assert_allclose(episodic[0], reference, rtol=1e-5, atol=1e-5)
    # A reset goes back to (λI + φ(s0)φ(s0)ᵀ)⁻¹.
    module.reset_episodic(episodic, np.array([0]), seen[0])
    np.testing.assert_allclose(episodic[0], module.covariance_inverse(seen[0]), atol=1e-8)


# -- counts ---------------------------------------------------------------------------------------
def test_count_module_global_counts_in_observe_and_episodic_in_bonus():
    space = spaces.Box(0, 9, (1,), np.float32)
    key = lambda obs: int(obs[0])  # noqa: E731
    global_counts = CountModule(space, spaces.Discrete(2), mode="global", state_key=key)
    states = np.array([[1.0], [1.0], [np.nan]])
    global_counts.observe(states)
    bonus = global_counts.bonus(None, None, states, None)
    np.testing.assert_allclose(bonus[:2], [1 / math.sqrt(2)] * 2)
    assert math.isnan(bonus[2])
    episodic = CountModule(space, spaces.Discrete(2), mode="episodic", state_key=key)
    slots = episodic.new_episodic(2)
    episodic.reset_episodic(slots, np.array([0, 1]), np.array([[1.0], [2.0]]))
    first = episodic.bonus(None, None, np.array([[1.0], [1.0]]), slots)
    np.testing.assert_allclose(first, [1 / math.sqrt(2), 1.0])
    with pytest.raises(ValueError, match="mode"):
        CountModule(space, spaces.Discrete(2), mode="lifetime", state_key=key)
