"""Property tests of the term pipeline: any raw value gives a finite, bounded contribution."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from densegym.rewards.terms import TERM_BOUND, TermPipeline  # noqa: E402

#: Every float64, the non-finite ones and the huge finite ones included.
RAW = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e39, -1e39, 1e200, -1e308, math.nan, math.inf, -math.inf, 0.0]),
)
KWARGS = st.fixed_dictionaries(
    {
        "coef": st.floats(-10, 10),
        "normalize": st.booleans(),
        "clip": st.one_of(st.none(), st.floats(0.01, 100)),
    }
)


def _process(pipeline: TermPipeline, raw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pipeline.process(raw)


@settings(max_examples=200, deadline=None, database=None)
@given(kwargs=KWARGS, values=st.lists(RAW, min_size=1, max_size=12))
def test_any_raw_value_gives_a_finite_bounded_float32_safe_contribution(kwargs, values):
    pipeline = TermPipeline("t", **kwargs)
    out = np.array([_process(pipeline, v) for v in values])
    assert np.isfinite(out.astype(np.float32)).all()
    # Normalisation divides by a standard deviation floored at 1e-4.
    limit = abs(kwargs["coef"]) * TERM_BOUND * (1e4 if kwargs["normalize"] else 1.0)
    assert (np.abs(out) <= limit * (1 + 1e-12)).all()
    if kwargs["clip"] is not None:
        assert (np.abs(out) <= abs(kwargs["coef"]) * kwargs["clip"] * (1 + 1e-12)).all()
    flagged = sum(not math.isfinite(v) for v in values)
    assert pipeline.nonfinite_count == flagged
    raw_clamped = sum(math.isfinite(v) and abs(v) > TERM_BOUND for v in values)
    # A weighted contribution beyond the bound is clamped (and counted) once more.
    weighted_clamped = int((np.abs(out) == TERM_BOUND).sum())
    assert raw_clamped <= pipeline.clamped_count <= raw_clamped + weighted_clamped
    assert (np.abs(out) <= TERM_BOUND).all()
    stats = pipeline.normalizer.state_dict()
    assert all(math.isfinite(x) for x in stats.values())


@settings(max_examples=200, deadline=None, database=None)
@given(kwargs=KWARGS, values=st.lists(RAW, min_size=1, max_size=12))
def test_the_array_path_equals_the_scalar_path(kwargs, values):
    scalars, batched = TermPipeline("t", **kwargs), TermPipeline("t", **kwargs)
    one_by_one = [_process(scalars, v) for v in values]
    together = _process(batched, np.array(values))
    np.testing.assert_array_equal(together, one_by_one)
    assert scalars.normalizer.state_dict() == batched.normalizer.state_dict()
    assert (scalars.nonfinite_count, scalars.clamped_count) == (
        batched.nonfinite_count,
        batched.clamped_count,
    )
