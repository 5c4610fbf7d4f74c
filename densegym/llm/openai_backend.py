"""``openai:<model>@<base_url>``: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...).

Uses the ``/completions`` endpoint for ``generate`` and ``logprobs`` (``echo`` with
``logprobs``) and ``/chat/completions`` for ``chat``; one HTTP request per prompt, sent
concurrently, so per-prompt token counts are exact. Standard library only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse

from densegym.llm.base import LLM
from densegym.llm.errors import LLMServerError
from densegym.llm.http import CircuitBreaker, RetryPolicy, get_json, post_json
from densegym.llm.results import Completion, SamplingParams, TokenLogprobs
from densegym.llm.stops import truncate
from densegym.llm.tools import calls_from_openai, calls_from_text

T = TypeVar("T")
R = TypeVar("R")


def normalise_base_url(base_url: str) -> str:
    """Strip trailing slashes; add ``/v1`` when the URL has no path.

    Example:
        >>> normalise_base_url("http://127.0.0.1:8000")
        'http://127.0.0.1:8000/v1'
        >>> normalise_base_url("http://localhost:11434/v1/")
        'http://localhost:11434/v1'
    """
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base_url must look like http://host:port/v1, got {base_url!r}")
    url = base_url.rstrip("/")
    return url if parsed.path.strip("/") else url + "/v1"


def split_counts(total: int, parts: int) -> list[int]:
    """Share ``total`` tokens over ``parts`` samples (when a server reports only a sum).

    Example:
        >>> split_counts(7, 3)
        [3, 2, 2]
    """
    base, extra = divmod(int(total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class OpenAIBackend(LLM):
    """A model behind an OpenAI-compatible HTTP API.

    Args:
        model: Model name the server knows.
        base_url: E.g. ``http://127.0.0.1:8000/v1`` (``/v1`` is added to a bare host).
        api_key: Sent as a bearer token; default ``$OPENAI_API_KEY`` if set.
        timeout: Seconds one HTTP attempt may take.
        max_retries: Retries per request after the first attempt.
        backoff: First wait between attempts (doubles each time, capped by ``max_backoff``).
        max_backoff: Longest single wait.
        total_timeout: Bound on one request including retries (and on a trickled answer).
        max_concurrency: Requests in flight at once.
        breaker_threshold: Failed requests in a row after which the server is not called
            for ``breaker_cooldown`` seconds: calls fail at once with
            :class:`~densegym.llm.errors.LLMUnavailableError`, so an LLM term built on
            this backend costs nothing while its server is dead (``0``: never).
        breaker_cooldown: Seconds before a refused server is tried again.
        name: Spec recorded on the backend.

    Token counts come from each answer's ``usage``. With ``n`` > 1 a server reports one
    completion-token total per request, which is split evenly over the samples (the
    total, and so ``backend.usage``, stays exact). ``logprobs`` needs ``echo`` support
    (vLLM, densegym's server); other servers raise ``NotImplementedError``.

    Example:
        >>> from densegym.llm.server import OpenAICompatServer
        >>> with OpenAICompatServer("tiny-random") as server:
        ...     llm = OpenAIBackend("tiny-random", server.base_url)
        ...     out = llm.generate(["a", "b"], max_tokens=3)
        >>> len(out), llm.usage["calls"]
        (2, 1)
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        total_timeout: float = 300.0,
        max_concurrency: int = 4,
        breaker_threshold: int = 3,
        breaker_cooldown: float = 60.0,
        name: str | None = None,
    ):
        if not model:
            raise ValueError("the openai spec needs a model name: openai:<model>@<base_url>")
        self.model = model
        self.base_url = normalise_base_url(base_url)
        super().__init__(name or f"openai:{model}@{self.base_url}")
        self.policy = RetryPolicy(timeout, max_retries, backoff, max_backoff, total_timeout)
        self.max_concurrency = max(1, int(max_concurrency))
        self.breaker = CircuitBreaker(
            breaker_threshold, breaker_cooldown, name=f"LLM server {self.base_url}"
        )
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def list_models(self) -> list[str]:
        """Model ids the server offers (``GET /models``)."""
        data = get_json(f"{self.base_url}/models", self.policy.timeout, self.headers)
        return [entry["id"] for entry in data.get("data", [])]

    # ------------------------------------------------------------------ helpers
    def _post(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.breaker.before_call()
        try:
            answer = post_json(f"{self.base_url}/{endpoint}", payload, self.policy, self.headers)
        except LLMServerError as error:
            if error.status is not None and 400 <= error.status < 500:
                self.breaker.success()  # it answered: the request was wrong, not the server
            else:
                self.breaker.failure()
            raise
        except Exception:
            self.breaker.failure()
            raise
        self.breaker.success()
        return answer

    def _map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1 or self.max_concurrency == 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(min(self.max_concurrency, len(items))) as pool:
            return list(pool.map(function, items))

    def _sampling(self, params: SamplingParams) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "n": params.n,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            payload["stop"] = list(params.stop)
        if params.seed is not None:
            payload["seed"] = params.seed
        return payload

    def _completions(
        self,
        answer: dict[str, Any],
        params: SamplingParams,
        index: int,
        chat: bool,
        tools: list[dict[str, Any]] | None = None,
    ) -> list[Completion]:
        choices = sorted(answer.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != params.n:
            raise LLMServerError(f"asked for {params.n} choices, the server sent {len(choices)}")
        usage = answer.get("usage") or {}
        shares = split_counts(usage.get("completion_tokens", 0), params.n)
        out = []
        for sample, (choice, share) in enumerate(zip(choices, shares)):
            text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
            text, _ = truncate(text or "", params.stop)
            tokens = ((choice.get("logprobs") or {}).get("tokens")) if not chat else None
            calls: tuple[Any, ...] = ()
            if tools:  # the server's tool_calls, else calls written in the text
                calls = calls_from_openai((choice.get("message") or {}).get("tool_calls"))
                calls = calls or calls_from_text(text, tools)
            out.append(
                Completion(
                    text=text,
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=len(tokens) if tokens is not None else share,
                    finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                    prompt_index=index,
                    sample_index=sample,
                    tool_calls=calls,
                )
            )
        return out

    # -------------------------------------------------------------- interface
    def _generate(
        self, prompts: list[str], params: SamplingParams, *, templated: bool = False
    ) -> list[Completion]:
        base = self._sampling(params)

        def one(item: tuple[int, str]) -> list[Completion]:
            index, prompt = item
            answer = self._post("completions", {**base, "prompt": prompt})
            return self._completions(answer, params, index, chat=False)

        return [c for group in self._map(one, list(enumerate(prompts))) for c in group]

    def _chat(
        self, conversations: list[list[dict[str, str]]], params: SamplingParams
    ) -> list[Completion]:
        base = self._sampling(params)

        def one(item: tuple[int, list[dict[str, str]]]) -> list[Completion]:
            index, messages = item
            answer = self._post("chat/completions", {**base, "messages": messages})
            return self._completions(answer, params, index, chat=True)

        return [c for group in self._map(one, list(enumerate(conversations))) for c in group]

    def _chat_tools(
        self,
        conversations: list[list[dict[str, Any]]],
        params: SamplingParams,
        tools: list[dict[str, Any]],
    ) -> list[Completion]:
        """Pass ``tools`` through and read ``tool_calls``.

        A server that refuses ``tools`` (a 4xx answer, e.g. llama.cpp without ``--jinja``)
        gets the text fallback instead.
        """
        base = {**self._sampling(params), "tools": tools}

        def one(item: tuple[int, list[dict[str, Any]]]) -> list[Completion]:
            index, messages = item
            answer = self._post("chat/completions", {**base, "messages": messages})
            return self._completions(answer, params, index, chat=True, tools=tools)

        try:
            return [c for group in self._map(one, list(enumerate(conversations))) for c in group]
        except LLMServerError as error:
            if error.status is None or not 400 <= error.status < 500:
                raise
            return super()._chat_tools(conversations, params, tools)

    def _echo(self, text: str) -> dict[str, Any]:
        """Ask the server to score ``text`` (echo + logprobs), or raise ``NotImplementedError``."""
        payload = {
            "model": self.model,
            "prompt": text,
            "echo": True,
            "logprobs": 1,
            "temperature": 0,
        }
        answer, last = None, None
        for max_tokens in (0, 1):  # some servers refuse max_tokens=0
            try:
                answer = self._post("completions", {**payload, "max_tokens": max_tokens})
                break
            except LLMServerError as error:
                last = error
        if answer is None:
            raise NotImplementedError(
                f"{self.base_url} cannot score text (completions with echo + logprobs): {last}"
            )
        logprobs = (answer.get("choices") or [{}])[0].get("logprobs") or {}
        if not logprobs.get("token_logprobs") or not logprobs.get("text_offset"):
            raise NotImplementedError(
                f"{self.base_url} returned no prompt logprobs for echo=True; "
                "this server does not support scoring"
            )
        return answer

    def _prompt_logprobs(self, texts: list[str]) -> tuple[list[TokenLogprobs], int]:
        def one(text: str) -> tuple[TokenLogprobs, int]:
            answer = self._echo(text)
            data = answer["choices"][0]["logprobs"]
            keep = [i for i, offset in enumerate(data["text_offset"]) if offset < len(text)]
            scored = TokenLogprobs(
                tokens=tuple(data["tokens"][i] for i in keep),
                logprobs=tuple(
                    math.nan if data["token_logprobs"][i] is None else data["token_logprobs"][i]
                    for i in keep
                ),
                offsets=tuple(data["text_offset"][i] for i in keep),
            )
            return scored, int((answer.get("usage") or {}).get("prompt_tokens", len(keep)))

        results = self._map(one, texts)
        return [r for r, _ in results], sum(n for _, n in results)

    def _logprobs(
        self, prompts: list[str], continuations: list[str]
    ) -> tuple[list[TokenLogprobs], int]:
        def one(pair: tuple[str, str]) -> tuple[TokenLogprobs, int]:
            prompt, continuation = pair
            full = prompt + continuation
            answer = self._echo(full)
            data = answer["choices"][0]["logprobs"]
            tokens, values, offsets = data["tokens"], data["token_logprobs"], data["text_offset"]
            picked = [
                i
                for i, (token, offset) in enumerate(zip(tokens, offsets))
                if offset + len(token) > len(prompt) and offset < len(full)
            ]
            if any(values[i] is None for i in picked):
                raise ValueError("the first token has no context; give a non-empty prompt")
            read = int((answer.get("usage") or {}).get("prompt_tokens", len(tokens)))
            scored = TokenLogprobs(
                tokens=tuple(tokens[i] for i in picked),
                logprobs=tuple(float(values[i]) for i in picked),
                offsets=tuple(max(0, offsets[i] - len(prompt)) for i in picked),
            )
            return scored, read

        results = self._map(one, list(zip(prompts, continuations)))
        return [r for r, _ in results], sum(n for _, n in results)


def load_openai(rest: str, **options: Any) -> OpenAIBackend:
    """Parse ``<model>@<base_url>`` (the part after ``openai:``) and build the backend.

    Example:
        >>> load_openai("qwen2.5@http://127.0.0.1:8000").base_url
        'http://127.0.0.1:8000/v1'
    """
    model, at, base_url = rest.partition("@")
    if not at or not model or not base_url:
        raise ValueError(f"expected openai:<model>@<base_url>, got 'openai:{rest}'")
    return OpenAIBackend(model, base_url, name=f"openai:{rest}", **options)
