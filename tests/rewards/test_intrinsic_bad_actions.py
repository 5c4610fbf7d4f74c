"""Action shapers (ICM, E3B) take a malformed action an env flagged without crashing."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from hypothesis import given
from hypothesis import strategies as st

from densegym.rewards.intrinsic.networks import ActionCodec

junk = st.one_of(
    st.text(max_size=8),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10),
)


@given(st.lists(junk, min_size=1, max_size=6))
def test_discrete_codec_masks_every_value_that_is_not_an_action(values):
    codec = ActionCodec(spaces.Discrete(4, start=1))
    ids, ok = codec.to_tensor(np.array(values, dtype=object))
    assert ids.shape == (len(values),) and ((ids >= 0) & (ids < 4)).all()
    for value, usable, index in zip(values, ok, ids.tolist()):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        valid = np.isfinite(number) and number == round(number) and 1 <= number <= 4
        assert usable == valid
        if valid:
            assert index == int(number) - 1


def test_box_codec_masks_text_rows():
    codec = ActionCodec(spaces.Box(-1, 1, (2,)))
    flat, ok = codec.to_tensor(np.array([[0.5, "x"], [0.1, 0.2]], dtype=object))
    assert ok.tolist() == [False, True] and flat[1].tolist() == [
        0.10000000149011612,
        0.20000000298023224,
    ]
