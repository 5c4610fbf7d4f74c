"""The term pipeline: one set of rules for the per-env and the batched form of every term."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401
from densegym.rewards import ShapedReward, find_shapers
from densegym.rewards.terms import TERM_BOUND, TermPipeline

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
DECAY = {"kind": "linear", "steps": 6, "final": 0.2}


def _quiet(pipeline: TermPipeline, raw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pipeline.process(raw)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("clip", [None, 0.5, (-1.0, 3.0)])
def test_an_array_gives_what_the_same_values_give_as_scalars(normalize, clip):
    values = [0.3, -2.0, math.nan, 1e39, 0.7, -1e200, math.inf, 4.0, 0.0]
    kwargs = {"coef": 0.7, "normalize": normalize, "clip": clip}
    scalars, batched = TermPipeline("t", **kwargs), TermPipeline("t", **kwargs)
    one_by_one = [_quiet(scalars, v) for v in values]
    together = _quiet(batched, np.array(values))
    assert isinstance(one_by_one[0], float) and together.dtype == np.float64
    assert together.tolist() == one_by_one  # bit-identical
    assert scalars.state_dict()["normalizer"] == batched.state_dict()["normalizer"]
    assert (scalars.nonfinite_count, scalars.clamped_count) == (2, 2)
    assert (batched.nonfinite_count, batched.clamped_count) == (2, 2)
    # One call is one env step: n scalars are n steps, an array of n values is one.
    assert (scalars.steps, batched.steps) == (len(values), 1)


def test_a_size_one_array_is_the_scalar_path_step_for_step():
    scalar, batched = TermPipeline("t", coef_decay=DECAY), TermPipeline("t", coef_decay=DECAY)
    for value in [1.0, 2.0, -3.0, 0.5, 7.0, 1.0, 1.0, 1.0]:
        assert [scalar.process(value)] == batched.process([value]).tolist()
    assert scalar.coef == batched.coef == pytest.approx(0.2)


def test_schedule_counts_steps_and_stops_while_frozen():
    pipeline = TermPipeline("t", coef=1.0, coef_decay={"kind": "linear", "steps": 4})
    got = [pipeline.process(1.0) for _ in range(3)]
    assert got == [1.0, 0.75, 0.5] and pipeline.coef == 0.25
    pipeline.frozen = True
    assert [pipeline.process(1.0) for _ in range(3)] == [0.25] * 3
    assert pipeline.steps == 3
    # The decay never touches the coefficient the user gave.
    assert pipeline.base_coef == 1.0 and pipeline.schedule.coef == 1.0


def test_huge_finite_values_are_clamped_counted_and_warned_once(caplog):
    pipeline = TermPipeline("big", coef=1.0, normalize=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = [pipeline.process(v) for v in (1e39, -1e200, 1e308, 2.0)]
        out.append(pipeline.process(np.array([1e39, 1.0])))
    assert pipeline.clamped_count == 4 and pipeline.nonfinite_count == 0
    assert all(np.isfinite(np.float32(v)).all() for v in out)
    assert math.isfinite(pipeline.normalizer.mean) and math.isfinite(pipeline.normalizer.var)
    assert abs(pipeline.normalizer.mean) <= TERM_BOUND
    clamped = [w for w in caught if "clamped" in str(w.message)]
    assert len(clamped) == 1 and "'big'" in str(clamped[0].message)


def test_nan_is_replaced_counted_and_warned_once():
    pipeline = TermPipeline("t", coef=2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [pipeline.process(v) for v in (math.nan, "oops", None, 1.0, -math.inf)]
        got += pipeline.process([math.nan, 3.0, "x"]).tolist()
    assert got == [0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 6.0, 0.0]
    assert pipeline.nonfinite_count == 6
    assert len([w for w in caught if "non-finite" in str(w.message)]) == 1


def test_bad_arguments_name_the_owner():
    with pytest.raises(ValueError, match="rnd: coef"):
        TermPipeline("t", coef=math.nan, owner="rnd")
    with pytest.raises(ValueError, match="e3b.*steps"):
        TermPipeline("t", coef_decay={"kind": "linear"}, owner="e3b")
    with pytest.raises(ValueError, match="clip"):
        TermPipeline("t", clip=-1.0)
    with pytest.raises(ValueError, match="bound"):
        TermPipeline("t", bound=math.inf)


def test_state_dict_round_trip_keeps_schedule_statistics_and_counters():
    kwargs = {"coef": 1.0, "coef_decay": DECAY, "normalize": True, "clip": 5.0}
    first = TermPipeline("t", **kwargs)
    for value in (1.0, math.nan, 1e40, 3.0):
        _quiet(first, value)
    state = pickle.loads(pickle.dumps(first.state_dict()))
    assert state["steps"] == 4 and state["nonfinite_count"] == 1 and state["clamped_count"] == 1
    second = TermPipeline("t", **kwargs)
    second.load_state_dict(state)
    assert second.coef == first.coef
    future = [0.5, -2.0, 8.0, 1.0]
    assert [second.process(v) for v in future] == [first.process(v) for v in future]


def test_states_saved_before_the_pipeline_still_load():
    # ShapedReward's state had no schedule position nor clamped counter.
    pipeline = TermPipeline("t", coef_decay=DECAY)
    pipeline.load_state_dict({"normalizer": {"mean": 1.0, "var": 4.0, "count": 9.0}})
    assert (pipeline.steps, pipeline.nonfinite_count, pipeline.clamped_count) == (0, 0, 0)
    assert pipeline.normalizer.std == 2.0
    pipeline.load_state_dict({"normalizer": pipeline.normalizer.state_dict(), "steps": 3})
    assert pipeline.coef == pytest.approx(1.0 + (0.2 - 1.0) * 0.5)


class _Huge(ShapedReward):
    """Raw terms 1e39, NaN, 2.0 in turn."""

    def __init__(self, env, *, coef=1.0, normalize=False, clip=None, name=None):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        self.calls = 0

    def reward_term(self, transition):
        self.calls += 1
        return (1e39, math.nan, 2.0)[(self.calls - 1) % 3]


def test_the_wrapper_reports_clamped_and_nonfinite_terms_in_info():
    env = _Huge(gym.make(MOUNTAIN_CAR), name="huge")
    env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        steps = [env.step(1) for _ in range(6)]
    for i, (_, reward, _, _, info) in enumerate(steps):
        assert np.isfinite(np.float32(reward))
        assert info["reward_terms"]["huge"] == [TERM_BOUND, 0.0, 2.0][i % 3]
        assert info["reward_terms_clamped"] == {"huge": i // 3 + 1}
        assert info["reward_terms_nonfinite"] == {"huge": (i + 2) // 3}
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert env.clamped_count == 2 and env.nonfinite_count == 2 and env.steps == 6


def test_coef_is_read_only_and_follows_the_schedule():
    env = gym.make(MOUNTAIN_CAR, shaping={"id": "count", "coef": 1.0, "coef_decay": DECAY})
    (shaper,) = find_shapers(env)
    env.reset(seed=0)
    for _ in range(3):
        env.step(1)
    assert shaper.coef == pytest.approx(0.6) and shaper.pipeline.base_coef == 1.0
    with pytest.raises(AttributeError):
        shaper.coef = 2.0
    clone = copy.deepcopy(shaper.pipeline)
    assert clone.coef == shaper.coef
