"""The one interface every language-model backend implements."""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

from densegym.llm.results import Completion, SamplingParams, TokenLogprobs
from densegym.llm.tools import calls_from_text, normalise_tools, text_fallback_messages
from densegym.llm.usage import Usage, total_usage

Message = Mapping[str, Any]
Conversation = Sequence[Message]
#: Message fields kept besides role and content (tool calls and their results).
TOOL_FIELDS = ("tool_calls", "tool_call_id", "name")


def as_prompts(prompts: str | Sequence[str], name: str = "prompts") -> list[str]:
    """Accept one string or a sequence of strings; return a list of strings.

    Example:
        >>> as_prompts("hi"), as_prompts(["a", "b"])
        (['hi'], ['a', 'b'])
    """
    items = [prompts] if isinstance(prompts, str) else list(prompts)
    if not all(isinstance(p, str) for p in items):
        raise TypeError(f"{name} must be a string or a sequence of strings")
    return items


def as_conversations(messages: Conversation | Sequence[Conversation]) -> list[list[dict[str, Any]]]:
    """Accept one conversation or a batch of them; return a list of conversations.

    A conversation is a list of ``{"role": ..., "content": ...}`` messages; tool-calling
    fields (``tool_calls``, ``tool_call_id``, ``name``) are kept when present.

    Example:
        >>> one = [{"role": "user", "content": "hi"}]
        >>> len(as_conversations(one)), len(as_conversations([one, one]))
        (1, 2)
        >>> as_conversations([{"role": "tool", "content": "3", "tool_call_id": "c1"}])
        [[{'role': 'tool', 'content': '3', 'tool_call_id': 'c1'}]]
    """
    items = list(messages)
    if not items:
        raise ValueError("messages is empty")
    batch = [items] if isinstance(items[0], Mapping) else [list(c) for c in items]
    for conversation in batch:
        if not conversation:
            raise ValueError("a conversation has no messages")
        for message in conversation:
            if not isinstance(message, Mapping) or "role" not in message:
                raise TypeError(f"messages must be dicts with 'role' and 'content': {message!r}")
    return [
        [
            {
                "role": m["role"],
                "content": m.get("content") or "",
                **{k: m[k] for k in TOOL_FIELDS if m.get(k) is not None},
            }
            for m in c
        ]
        for c in batch
    ]


class LLM(abc.ABC):
    """A language model behind one small interface; choose one with :func:`densegym.llm.load`.

    Subclasses implement :meth:`_generate`, :meth:`_logprobs` and either
    :meth:`format_chat` (a chat template) or :meth:`_chat`. The public methods validate
    arguments and count every call in :attr:`usage`.

    Attributes:
        name: The spec this backend was loaded from, e.g. ``"tiny-random"``.
        usage: Counters of calls, prompt/completion tokens and seconds.

    Example:
        >>> import densegym.llm
        >>> llm = densegym.llm.load("tiny-random")
        >>> out = llm.generate(["Hello", "Hi there"], max_tokens=4)
        >>> [c.prompt_index for c in out], all(c.completion_tokens <= 4 for c in out)
        ([0, 1], True)
        >>> llm.usage["calls"]
        1
    """

    def __init__(self, name: str):
        self.name = name
        self.usage = Usage(parent=total_usage())

    # ----------------------------------------------------------------- public API
    def generate(
        self,
        prompts: str | Sequence[str],
        n: int = 1,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """Continue each prompt as plain text.

        Args:
            prompts: One prompt or a batch.
            n: Samples per prompt.
            max_tokens: Most tokens generated per sample.
            temperature: 0 is greedy; larger samples more freely.
            top_p: Nucleus-sampling mass.
            stop: Strings that end a sample (the text is cut before the first one).
            seed: Makes sampling reproducible.

        Returns:
            ``len(prompts) * n`` completions, prompt-major: the samples of prompt ``i``
            are ``out[i * n:(i + 1) * n]``.
        """
        params = SamplingParams(n, max_tokens, temperature, top_p, stop, seed)
        batch = as_prompts(prompts)
        start = time.perf_counter()
        out = self._generate(batch, params) if batch else []
        self._count(out, params, start)
        return out

    def chat(
        self,
        messages: Conversation | Sequence[Conversation],
        n: int = 1,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Completion]:
        """Answer one conversation, or a batch of them, as the assistant.

        Args:
            messages: ``[{"role": "user", "content": "..."}, ...]`` or a list of those
                (assistant ``tool_calls`` and ``tool`` result messages are understood).
            n: Samples per conversation.
            max_tokens: Most tokens generated per sample.
            temperature: 0 is greedy.
            top_p: Nucleus-sampling mass.
            stop: Strings that end a sample.
            seed: Makes sampling reproducible.
            tools: OpenAI function schemas the model may call; each completion's
                ``tool_calls`` then holds the calls it asked for (see
                :mod:`densegym.llm.tools`: native tool calling where the backend has it,
                else a text fallback that reads calls from the reply).

        Returns:
            ``len(conversations) * n`` completions, conversation-major.

        Example:
            >>> import densegym.llm
            >>> llm = densegym.llm.load("tiny-random")
            >>> out = llm.chat([{"role": "user", "content": "List files."}],
            ...                tools=[{"name": "ls"}], max_tokens=4)
            >>> isinstance(out[0].tool_calls, tuple)
            True
        """
        params = SamplingParams(n, max_tokens, temperature, top_p, stop, seed)
        conversations = as_conversations(messages)
        schemas = normalise_tools(tools)
        start = time.perf_counter()
        if schemas:
            out = self._chat_tools(conversations, params, schemas)
        else:
            out = self._chat(conversations, params)
        self._count(out, params, start)
        return out

    def logprobs(
        self, prompts: str | Sequence[str], continuations: str | Sequence[str]
    ) -> list[TokenLogprobs]:
        """Score each continuation given its prompt, token by token.

        The prompt and the continuation are tokenised separately, so the continuation's
        tokens are the same whatever prompt precedes it.

        Args:
            prompts: One prompt or a batch.
            continuations: One continuation per prompt (a single string is paired with
                a single prompt).

        Returns:
            One :class:`TokenLogprobs` per pair.
        """
        batch = as_prompts(prompts)
        conts = as_prompts(continuations, "continuations")
        if len(batch) != len(conts):
            raise ValueError(f"{len(batch)} prompts but {len(conts)} continuations")
        start = time.perf_counter()
        scored, read = self._logprobs(batch, conts) if batch else ([], 0)
        self.usage.add(prompt_tokens=read, seconds=time.perf_counter() - start)
        return scored

    def prompt_logprobs(self, texts: str | Sequence[str]) -> list[TokenLogprobs]:
        """Score every token of each text given the tokens before it (``echo``-style).

        The tokens are the text's own tokenisation as a whole. A token with nothing
        before it (the first one, unless the tokenizer adds a BOS token) gets ``nan``.
        OpenAI-compatible servers return the same for ``echo=True`` with ``logprobs``.

        Args:
            texts: One text or a batch.

        Returns:
            One :class:`TokenLogprobs` per text.

        Raises:
            NotImplementedError: When the backend cannot score whole texts.
        """
        batch = as_prompts(texts, "texts")
        start = time.perf_counter()
        scored, read = self._prompt_logprobs(batch) if batch else ([], 0)
        self.usage.add(prompt_tokens=read, seconds=time.perf_counter() - start)
        return scored

    def format_chat(self, messages: Conversation) -> str:
        """Render one conversation as the prompt text the model expects (its chat template)."""
        raise NotImplementedError(f"{type(self).__name__} has no chat template")

    def close(self) -> None:  # noqa: B027 (an optional hook, not abstract)
        """Release resources (models, sessions); the default does nothing."""

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # ------------------------------------------------------------ for subclasses
    @abc.abstractmethod
    def _generate(
        self, prompts: list[str], params: SamplingParams, *, templated: bool = False
    ) -> list[Completion]:
        """Generate ``params.n`` completions per prompt, prompt-major.

        ``templated`` is true when the prompts come from :meth:`format_chat` and already
        hold every special token (the tokenizer must not add a BOS token again).
        """

    @abc.abstractmethod
    def _logprobs(
        self, prompts: list[str], continuations: list[str]
    ) -> tuple[list[TokenLogprobs], int]:
        """Score the pairs; also return how many tokens were read (for accounting)."""

    def _chat(
        self, conversations: list[list[dict[str, Any]]], params: SamplingParams
    ) -> list[Completion]:
        prompts = [self.format_chat(c) for c in conversations]
        return self._generate(prompts, params, templated=True)

    def _chat_tools(
        self,
        conversations: list[list[dict[str, Any]]],
        params: SamplingParams,
        tools: list[dict[str, Any]],
    ) -> list[Completion]:
        """Chat with tools; the default is the text fallback (backends override it)."""
        described = [text_fallback_messages(c, tools) for c in conversations]
        return [with_text_calls(c, tools) for c in self._chat(described, params)]

    def _count(self, out: list[Completion], params: SamplingParams, start: float) -> None:
        prompt_tokens = sum(c.prompt_tokens for c in out if c.sample_index == 0)
        self.usage.add(
            prompt_tokens=prompt_tokens,
            completion_tokens=sum(c.completion_tokens for c in out),
            seconds=time.perf_counter() - start,
        )


def with_text_calls(completion: Completion, tools: Sequence[Mapping[str, Any]]) -> Completion:
    """Return the completion with the tool calls read from its text (the text fallback)."""
    return dataclasses.replace(completion, tool_calls=calls_from_text(completion.text, tools))
