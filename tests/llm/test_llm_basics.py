"""The light parts of densegym.llm: usage counters, sampling params, stop strings, specs."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
import threading

import pytest

import densegym.llm
from densegym.llm import SamplingParams, Usage, parse_spec, total_usage
from densegym.llm.stops import find_stop, tokens_until_stop, truncate

LIGHT_MODULES = [
    "densegym.llm.usage",
    "densegym.llm.results",
    "densegym.llm.stops",
    "densegym.llm.errors",
    "densegym.llm.cache",
    "densegym.llm.loading",
    "densegym.llm.http",
    "densegym.llm.openai_backend",
]
MODEL_MODULES = [
    "densegym.llm",
    "densegym.llm.base",
    "densegym.llm.transformers_backend",
    "densegym.llm.tiny",
    "densegym.llm.server",
]


@pytest.mark.parametrize("name", LIGHT_MODULES + MODEL_MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in MODEL_MODULES:
        pytest.importorskip("transformers")
    monkeypatch.setenv("DENSEGYM_CACHE", str(tmp_path))  # tiny-random: byte tokenizer
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_import_is_light():
    code = "import sys, densegym.llm; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_usage_reads_like_a_dict_and_diffs():
    usage = Usage()
    search = {"steps_generated": 0, "scorer_calls": 0}
    zero = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}
    assert dict(usage) == {**zero, **search}
    usage.add(prompt_tokens=10, completion_tokens=3, seconds=0.5)
    snap = usage.snapshot()
    usage.add(prompt_tokens=1, completion_tokens=2, seconds=0.25, steps_generated=4)
    assert dict(usage - snap) == {
        "calls": 1,
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "seconds": 0.25,
        "steps_generated": 4,
        "scorer_calls": 0,
    }
    assert dict(snap) == {
        "calls": 1,
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "seconds": 0.5,
        **search,
    }
    assert usage.tokens == 16 and (snap + snap)["calls"] == 2
    # A plain mapping with only the four call keys (an older snapshot) diffs too.
    older = {"calls": 1, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0}
    assert usage.since(older)["steps_generated"] == 4
    assert usage.as_dict()["tokens"] == 16
    usage.reset()
    assert usage.calls == 0 and usage.steps_generated == 0


def test_usage_feeds_parent_and_is_thread_safe():
    before = total_usage().snapshot()
    usage = Usage(parent=total_usage())

    def work():
        for _ in range(1000):
            usage.add(completion_tokens=1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert usage.calls == 4000 and usage.completion_tokens == 4000
    assert total_usage().since(before)["completion_tokens"] >= 4000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"max_tokens": 0},
        {"temperature": -1.0},
        {"top_p": 0.0},
        {"stop": [""]},
        {"seed": 1.5},
    ],
)
def test_sampling_params_reject_bad_values(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)


def test_stop_helpers():
    assert find_stop("ab\ncd###", ["###", "\n"]) == 2
    assert truncate("Answer: 8.\nQ:", ["\n"]) == ("Answer: 8.", True)
    assert truncate("Answer: 8.", ["\n"]) == ("Answer: 8.", False)
    pieces = ["An", "swer", ":", " 8", "\n", "Q", ":"]
    decode = lambda ids: "".join(pieces[i] for i in ids)  # noqa: E731
    assert tokens_until_stop(list(range(7)), decode, ["\n"]) == 5
    assert tokens_until_stop(list(range(7)), decode, [" 8\nQ"]) == 6
    assert tokens_until_stop(list(range(4)), decode, ["\n"]) == 4


def test_parse_spec_forms():
    assert parse_spec("smollm2") == ("smollm2", "", {})
    assert parse_spec("gguf:/a/b.gguf") == ("gguf", "/a/b.gguf", {})
    assert parse_spec("openai:m@http://h:1/v1") == ("openai", "m@http://h:1/v1", {})
    assert parse_spec({"id": "tiny-random", "seed": 3}) == ("tiny-random", "", {"seed": 3})
    with pytest.raises(ValueError):
        parse_spec({"seed": 3})
    with pytest.raises(ValueError):
        parse_spec("")


@pytest.mark.parametrize(
    "spec", ["nope", "smollm2:extra", "hf:", "openai:nomodel", "openai:@http://x"]
)
def test_unknown_or_malformed_specs_are_rejected(spec):
    with pytest.raises(ValueError):
        densegym.llm.load(spec)


def test_openai_base_url_must_be_http():
    with pytest.raises(ValueError, match="base_url"):
        densegym.llm.load("openai:m@ftp://x")
