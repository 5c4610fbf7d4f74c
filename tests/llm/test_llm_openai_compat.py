"""The openai: backend against densegym's own OpenAI-compatible server (backed by tiny-random)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.request

import pytest

pytest.importorskip("transformers")

import densegym.llm  # noqa: E402
from densegym.llm import LLMConnectionError, LLMServerError, OpenAICompatServer  # noqa: E402


@pytest.fixture(scope="module")
def local():
    return densegym.llm.load("tiny-random", tokenizer="bytes")


@pytest.fixture(scope="module")
def server(local):
    with OpenAICompatServer(local, model="tiny") as running:
        yield running


@pytest.fixture()
def client(server):
    return densegym.llm.load(server.spec, timeout=10, max_retries=1, backoff=0.05)


def _post(url, payload):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_server_binds_localhost_and_lists_models(server, client):
    assert server.base_url.startswith("http://127.0.0.1:")
    assert client.list_models() == ["tiny"]
    assert client.name == f"openai:tiny@{server.base_url}"


def test_generate_matches_the_local_backend(local, client):
    prompts = ["Hello", "The quick brown fox", "x"]
    remote = client.generate(prompts, max_tokens=8)
    direct = local.generate(prompts, max_tokens=8)
    assert [c.text for c in remote] == [c.text for c in direct]
    assert [c.prompt_tokens for c in remote] == [c.prompt_tokens for c in direct]
    assert [c.completion_tokens for c in remote] == [c.completion_tokens for c in direct]
    assert [c.finish_reason for c in remote] == [c.finish_reason for c in direct]
    assert [c.prompt_index for c in remote] == [0, 1, 2]


def test_n_samples_seed_and_stop(local, client):
    kwargs = {"n": 3, "max_tokens": 6, "temperature": 1.0, "seed": 7}
    a = client.generate(["Hello", "Yo"], **kwargs)
    b = client.generate(["Hello", "Yo"], **kwargs)
    assert [c.text for c in a] == [c.text for c in b]
    assert [(c.prompt_index, c.sample_index) for c in a] == [
        (i, j) for i in range(2) for j in range(3)
    ]
    free = local.generate("Hello", max_tokens=16)[0].text
    stop = next(free[i : i + 1] for i in range(len(free) // 2, len(free)) if free[i].isprintable())
    cut = client.generate("Hello", max_tokens=16, stop=stop)[0]
    assert cut.text == free[: free.find(stop)] and cut.finish_reason == "stop"


def test_chat_uses_the_server_template(local, client):
    messages = [{"role": "user", "content": "What is 3 + 5?"}]
    remote = client.chat(messages, max_tokens=6)[0]
    direct = local.chat(messages, max_tokens=6)[0]
    assert (remote.text, remote.prompt_tokens, remote.completion_tokens) == (
        direct.text,
        direct.prompt_tokens,
        direct.completion_tokens,
    )
    batch = client.chat([messages, messages], max_tokens=3)
    assert [c.prompt_index for c in batch] == [0, 1]


def test_logprobs_via_echo_match_the_local_backend(local, client):
    prompts, conts = ["The cat", "Hi"], [" sat on the mat", " there"]
    remote = client.logprobs(prompts, conts)
    direct = local.logprobs(prompts, conts)
    for r, d in zip(remote, direct):
        assert r.tokens == d.tokens
        assert r.logprobs == pytest.approx(d.logprobs, abs=1e-4)
        assert r.offsets == d.offsets


def test_usage_counters_add_up_on_both_sides(local, client):
    server_before, client_before = local.usage.snapshot(), client.usage.snapshot()
    out = client.generate(["a", "bb", "ccc"], n=2, max_tokens=4, temperature=1.0, seed=0)
    chat = client.chat([{"role": "user", "content": "Hi"}], max_tokens=3)
    spent, served = client.usage.since(client_before), local.usage.since(server_before)
    assert spent["calls"] == 2 and served["calls"] == 4  # one request per prompt
    assert spent["completion_tokens"] == sum(c.completion_tokens for c in out + chat)
    assert spent["completion_tokens"] == served["completion_tokens"]
    assert spent["prompt_tokens"] == served["prompt_tokens"]
    assert (
        spent["prompt_tokens"]
        == sum(c.prompt_tokens for c in out if c.sample_index == 0) + chat[0].prompt_tokens
    )


def test_bad_requests_get_openai_style_errors(server):
    status, body = _post(f"{server.base_url}/completions", {"prompt": [1, 2, 3]})
    assert status == 400 and "token ids" in body["error"]["message"]
    status, body = _post(
        f"{server.base_url}/completions", {"prompt": "a", "logprobs": 1, "max_tokens": 3}
    )
    assert status == 400
    status, body = _post(f"{server.base_url}/nope", {})
    assert status == 404
    status, body = _post(f"{server.base_url}/completions", {"prompt": "a", "n": 0})
    assert status == 400


def test_client_errors_are_not_retried(server):
    client = densegym.llm.load(server.spec, max_retries=5, backoff=1.0)
    start = time.monotonic()
    with pytest.raises(LLMServerError) as info:
        client._post("completions", {"prompt": [1]})
    assert info.value.status == 400 and time.monotonic() - start < 1.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_clearly_and_fast():
    port = _closed_port()
    client = densegym.llm.load(
        f"openai:m@http://127.0.0.1:{port}/v1", max_retries=2, backoff=0.05, timeout=1
    )
    start = time.monotonic()
    with pytest.raises(
        LLMConnectionError, match=rf"127\.0\.0\.1:{port}.*failed 3 time\(s\)"
    ) as info:
        client.generate("hi")
    assert time.monotonic() - start < 5
    assert "Is the server running" in str(info.value)
    assert client.usage.calls == 0  # failed calls are not counted as work


def test_silent_server_times_out_within_the_total_bound():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():  # accept connections and never answer
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        client = densegym.llm.load(
            f"openai:m@http://127.0.0.1:{port}",
            timeout=0.5,
            max_retries=10,
            backoff=0.1,
            total_timeout=2.0,
        )
        start = time.monotonic()
        with pytest.raises(LLMConnectionError, match="no answer within"):
            client.chat([{"role": "user", "content": "hi"}])
        assert time.monotonic() - start < 4
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_scoring_unsupported_is_a_clear_not_implemented(server):
    class NoEcho(OpenAICompatServer):
        def completions(self, body):
            if body.get("echo"):
                from densegym.llm.server import RequestError

                raise RequestError("echo is not supported")
            return super().completions(body)

    with NoEcho(server.backend) as plain:
        client = densegym.llm.load(plain.spec, max_retries=0)
        with pytest.raises(NotImplementedError, match="cannot score"):
            client.logprobs(["a"], [" b"])


def test_server_is_shut_down_by_its_owner(local):
    server = OpenAICompatServer(local).start()
    port = server.port
    server.close()
    server.close()  # idempotent
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_prompt_logprobs_through_the_server(local, client):
    texts = ["The cat sat on the mat", "Hi"]
    remote, direct = client.prompt_logprobs(texts), local.prompt_logprobs(texts)
    for r, d in zip(remote, direct):
        assert r.tokens == d.tokens and r.offsets == d.offsets
        assert math.isnan(r.logprobs[0]) and math.isnan(d.logprobs[0])
        assert r.logprobs[1:] == pytest.approx(d.logprobs[1:], abs=1e-4)
