"""Mechanics of the transformers backend, through the tiny-random model (fast, offline)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

import densegym.llm  # noqa: E402
from densegym.llm.tiny import byte_tokenizer  # noqa: E402

PROMPTS = ["Hello", "Hi there, how are you doing today my friend", "x", "The quick brown fox"]


@pytest.fixture(scope="module", params=["bytes", "auto"])
def llm(request):
    return densegym.llm.load("tiny-random", tokenizer=request.param)


def test_byte_tokenizer_round_trips_and_has_chatml_specials():
    tok = byte_tokenizer()
    text = "Größe: 3 + 5 = 8 ✓"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [0, 1, 2]
    assert tok.eos_token == "<|im_end|>"


def test_same_seed_same_weights():
    a = densegym.llm.load("tiny-random", tokenizer="bytes")
    b = densegym.llm.load("tiny-random", tokenizer="bytes")
    c = densegym.llm.load("tiny-random", tokenizer="bytes", seed=1)
    wa, wb, wc = (m.model.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_generate_shapes_and_counts(llm):
    out = llm.generate(PROMPTS, max_tokens=7)
    assert [c.prompt_index for c in out] == [0, 1, 2, 3]
    assert all(c.sample_index == 0 for c in out)
    for c, prompt in zip(out, PROMPTS):
        assert c.prompt_tokens == len(llm.tokenizer(prompt)["input_ids"])
        assert 1 <= c.completion_tokens <= 7
        assert c.completion_tokens == len(c.token_ids)
        assert c.finish_reason == ("length" if c.completion_tokens == 7 else "stop")
        assert c.text == llm.tokenizer.decode(list(c.token_ids), skip_special_tokens=True)


def test_single_prompt_and_n_samples(llm):
    out = llm.generate("Hello", n=3, max_tokens=5, temperature=1.0, seed=0)
    assert [(c.prompt_index, c.sample_index) for c in out] == [(0, 0), (0, 1), (0, 2)]
    assert len({c.token_ids for c in out}) > 1  # samples differ
    greedy = llm.generate(["a", "b"], n=2, max_tokens=5)
    assert [(c.prompt_index, c.sample_index) for c in greedy] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert greedy[0].text == greedy[1].text and greedy[2].text == greedy[3].text


def test_batched_greedy_equals_one_by_one(llm):
    batch = llm.generate(PROMPTS, max_tokens=10)
    single = [llm.generate(p, max_tokens=10)[0] for p in PROMPTS]
    assert [c.token_ids for c in batch] == [c.token_ids for c in single]


def test_batch_size_chunks_give_the_same_answers(llm):
    full = llm.generate(PROMPTS, max_tokens=6, n=2, temperature=0)
    before = llm.batch_size
    llm.batch_size = 1
    try:
        chunked = llm.generate(PROMPTS, max_tokens=6, n=2, temperature=0)
    finally:
        llm.batch_size = before
    assert [c.text for c in full] == [c.text for c in chunked]


def test_seeds_make_sampling_reproducible(llm):
    kwargs = {"n": 2, "max_tokens": 8, "temperature": 1.0, "top_p": 0.9}
    a = llm.generate(PROMPTS[:2], seed=123, **kwargs)
    b = llm.generate(PROMPTS[:2], seed=123, **kwargs)
    c = llm.generate(PROMPTS[:2], seed=124, **kwargs)
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    assert [x.token_ids for x in a] != [x.token_ids for x in c]
    # Seeding does not disturb the caller's global RNG stream.
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    llm.generate("Hello", seed=5, temperature=1.0, max_tokens=3)
    assert torch.equal(torch.rand(3), expected)


def _stop_from(text: str) -> str:
    """A short stop string that occurs in the middle of ``text`` (avoiding replacement chars)."""
    for start in range(len(text) // 3, len(text) - 1):
        candidate = text[start : start + 2]
        if "\ufffd" not in candidate and candidate.strip():
            return candidate
    pytest.skip(f"no usable stop string in {text!r}")


def test_stop_strings_truncate_and_count_honestly(llm):
    free = llm.generate(PROMPTS, max_tokens=24)
    for prompt, done in zip(PROMPTS, free):
        stop = _stop_from(done.text)
        cut = llm.generate(prompt, max_tokens=24, stop=[stop, "\x00never"])[0]
        assert cut.text == done.text[: done.text.find(stop)]
        assert cut.finish_reason == "stop"
        # Tokens up to and including the one that completed the stop string.
        n = cut.completion_tokens
        assert stop in llm.tokenizer.decode(list(done.token_ids[:n]), skip_special_tokens=True)
        assert stop not in llm.tokenizer.decode(
            list(done.token_ids[: n - 1]), skip_special_tokens=True
        )
        assert cut.token_ids == done.token_ids[:n]


def test_stop_string_in_prompt_does_not_stop_at_once(llm):
    out = llm.generate("line one\n", max_tokens=6, stop="\n")[0]
    assert out.completion_tokens >= 1
    assert "\n" not in out.text


def test_logprobs_match_a_manual_forward_pass(llm):
    prompts = ["The cat", "A much longer prompt here, with words and more words", "Hi"]
    continuations = [" sat on the mat", " ok", " there, friend"]
    scored = llm.logprobs(prompts, continuations)
    tok = llm.tokenizer
    for prompt, continuation, got in zip(prompts, continuations, scored):
        context = tok(prompt)["input_ids"]
        target = tok(continuation, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = llm.model(torch.tensor([context + target])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        manual = [logp[len(context) - 1 + j, t].item() for j, t in enumerate(target)]
        assert list(got.token_ids) == target
        assert got.logprobs == pytest.approx(manual, abs=1e-4)
        assert "".join(got.tokens) == continuation
        assert got.offsets[0] == 0 and list(got.offsets) == sorted(got.offsets)
        assert got.total == pytest.approx(sum(manual), abs=1e-3)


def test_logprobs_small_score_batches_agree(llm):
    prompts, conts = ["a b c", "d", "e f"], [" x y", " z", " w"]
    together = llm.logprobs(prompts, conts)
    before = llm.score_tokens
    llm.score_tokens = 1  # one pair per forward pass
    try:
        apart = llm.logprobs(prompts, conts)
    finally:
        llm.score_tokens = before
    for a, b in zip(together, apart):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_logprobs_edge_cases(llm):
    empty = llm.logprobs(["Hello"], [""])[0]
    assert len(empty) == 0 and empty.total == 0.0
    no_context = llm.logprobs([""], ["Hello"])[0]  # conditioned on the BOS token
    assert len(no_context) >= 1
    with pytest.raises(ValueError):
        llm.logprobs(["a", "b"], ["c"])


def test_chat_applies_the_template(llm):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    prompt = llm.format_chat(messages)
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")
    via_chat = llm.chat(messages, max_tokens=6)[0]
    ids = llm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert via_chat.prompt_tokens == len(ids)
    assert ids[0] == llm.tokenizer.convert_tokens_to_ids("<|im_start|>")
    via_generate = llm.generate(prompt, max_tokens=6)[0]
    assert via_chat.token_ids == via_generate.token_ids
    batch = llm.chat(
        [messages, [{"role": "user", "content": "Yo"}]], max_tokens=3, n=2, temperature=1, seed=0
    )
    assert [(c.prompt_index, c.sample_index) for c in batch] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_chat_rejects_malformed_messages(llm):
    with pytest.raises((TypeError, ValueError)):
        llm.chat(["just a string"])
    with pytest.raises(ValueError):
        llm.chat([])


def test_usage_counters_add_up(llm):
    before = llm.usage.snapshot()
    total_before = densegym.llm.total_usage().snapshot()
    out = llm.generate(PROMPTS, n=2, max_tokens=5, temperature=1.0, seed=1)
    chat = llm.chat([{"role": "user", "content": "Hi"}], max_tokens=4)
    scored = llm.logprobs(["The cat"], [" sat"])
    spent = llm.usage.since(before)
    assert spent["calls"] == 3
    prompts_read = sum(c.prompt_tokens for c in out if c.sample_index == 0) + chat[0].prompt_tokens
    scored_read = len(llm.tokenizer("The cat")["input_ids"]) + len(scored[0])
    assert spent["prompt_tokens"] == prompts_read + scored_read
    assert spent["completion_tokens"] == sum(c.completion_tokens for c in out + chat)
    assert spent["seconds"] > 0
    assert dict(densegym.llm.total_usage().since(total_before))["calls"] >= 3


def test_shared_instances():
    a = densegym.llm.load("tiny-random", shared=True, tokenizer="bytes")
    b = densegym.llm.load({"id": "tiny-random", "tokenizer": "bytes"}, shared=True)
    c = densegym.llm.load("tiny-random", tokenizer="bytes")
    assert a is b and a is not c
    assert densegym.llm.load(a) is a


def test_prompt_logprobs_score_every_token_after_the_first(llm):
    text = "The cat sat on the mat"
    scored = llm.prompt_logprobs(text)[0]
    ids = llm.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert list(scored.token_ids) == ids
    assert math.isnan(scored.logprobs[0])
    rest = llm.logprobs(llm.tokenizer.decode(ids[:1]), llm.tokenizer.decode(ids[1:]))[0]
    assert scored.logprobs[1:] == pytest.approx(rest.logprobs, abs=1e-4)
    assert "".join(scored.tokens) == text
    assert [text[o:].startswith(t) for o, t in zip(scored.offsets, scored.tokens)] == [True] * len(
        ids
    )
    assert llm.prompt_logprobs([""])[0].logprobs == ()


def test_hf_spec_loads_a_saved_model(llm, tmp_path):
    llm.model.save_pretrained(tmp_path)
    llm.tokenizer.save_pretrained(tmp_path)
    again = densegym.llm.load(f"hf:{tmp_path}", device="auto", num_threads=1)
    assert again.name == f"hf:{tmp_path}"
    assert again.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if again.device.type == "cpu":
        a = llm.generate(PROMPTS, max_tokens=6)
        b = again.generate(PROMPTS, max_tokens=6)
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
    half = densegym.llm.load(f"hf:{tmp_path}", dtype="bfloat16", device="cpu")
    assert half.dtype == torch.bfloat16
    assert len(half.logprobs(["a b"], [" c"])[0]) >= 1
    with pytest.raises(OSError):
        densegym.llm.load(f"hf:{tmp_path / 'missing'}")
