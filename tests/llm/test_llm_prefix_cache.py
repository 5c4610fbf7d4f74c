"""The shared-prefix KV cache of the transformers backend changes speed, never outputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import densegym.llm
from densegym.agents.llm.prompts import chat_messages, render_observation
from densegym.llm.prefix_cache import common_prefix_length, layout_rows

QUESTIONS = [
    ("Tom has 3 boxes of 5 pens. He gives away 4. How many are left?", []),
    ("What is (2 + 9) * 3?", ["2 + 9 = 11"]),
    ("A car drives 40 miles per hour for 2 hours.", []),
]


def conversations() -> list[list[dict[str, str]]]:
    return [chat_messages(render_observation(q, s), shots=1) for q, s in QUESTIONS]


def texts(llm, cached: bool, **kwargs) -> list[str]:
    saved = llm.prefix_cache
    if not cached:
        llm.prefix_cache = None
    try:
        return [c.text for c in llm.chat(conversations(), **kwargs)]
    finally:
        llm.prefix_cache = saved


rows = st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=8), min_size=1, max_size=5)


@given(rows)
def test_common_prefix_is_shared_and_maximal(batch):
    n = common_prefix_length(batch)
    assert all(row[:n] == batch[0][:n] for row in batch)
    if all(len(row) > n for row in batch):
        assert len({row[n] for row in batch}) > 1


@given(rows, st.integers(0, 3))
def test_layout_keeps_every_row_and_masks_only_padding(batch, want):
    prefix = min(want, common_prefix_length(batch), min(map(len, batch)) - 1)
    prefix = max(prefix, 0)
    ids, mask = layout_rows(batch, prefix, pad_id=-1)
    assert len({len(r) for r in ids}) == 1
    for row, laid, m in zip(batch, ids, mask):
        assert [t for t, keep in zip(laid, m) if keep] == row
        assert laid[:prefix] == row[:prefix] and all(m[:prefix])
        assert all(t == -1 for t, keep in zip(laid, m) if not keep)


@pytest.fixture(scope="module")
def tiny():
    return densegym.llm.load("tiny-random")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 0.0, "max_tokens": 16},
        {"temperature": 0.9, "n": 3, "seed": 11, "max_tokens": 16},
    ],
)
def test_tiny_outputs_identical_with_and_without_the_cache(tiny, kwargs):
    assert texts(tiny, cached=False, **kwargs) == texts(tiny, cached=True, **kwargs)


def test_second_call_reuses_the_head_instead_of_recomputing_it(tiny):
    tiny.prefix_cache.ids = ()  # start empty
    before = tiny.prefix_cache.computed_tokens
    tiny.chat(conversations(), temperature=0.0, max_tokens=4)
    first = tiny.prefix_cache.computed_tokens - before
    assert first >= 100  # the system prompt and the worked example
    tiny.chat(conversations()[::-1], temperature=0.0, max_tokens=4)
    assert tiny.prefix_cache.computed_tokens - before == first
    assert tiny.prefix_cache.reused_tokens >= first


def test_prompts_without_a_long_shared_head_are_generated_plainly(tiny):
    tiny.prefix_cache.ids = ()
    out = tiny.generate(["a b c", "x y z"], temperature=0.0, max_tokens=3)
    assert len(out) == 2 and tiny.prefix_cache.ids == ()


def test_smollm2_greedy_steps_identical_with_and_without_the_cache():
    llm = densegym.llm.load("smollm2")
    assert texts(llm, cached=False, temperature=0.0, max_tokens=12) == texts(
        llm, cached=True, temperature=0.0, max_tokens=12
    )
