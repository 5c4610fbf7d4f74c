r"""The LLM layer: one interface over local and remote language-model backends.

``load(spec)`` picks a backend by string; every backend offers batched ``generate``,
``chat`` (the model's chat template) and ``logprobs`` (scoring), and counts its work in
``backend.usage``. Importing this package is cheap: torch and transformers load with
the first local backend.

Example:
    >>> import densegym.llm
    >>> llm = densegym.llm.load("tiny-random")
    >>> out = llm.generate("Once upon a time", max_tokens=5, stop=["\n"])
    >>> out[0].finish_reason in ("stop", "length"), out[0].completion_tokens <= 5
    (True, True)
    >>> {"calls", "prompt_tokens", "completion_tokens", "seconds"} <= set(llm.usage)
    True
"""

from densegym.llm.base import LLM
from densegym.llm.errors import (
    LLMConnectionError,
    LLMError,
    LLMServerError,
    LLMUnavailableError,
)
from densegym.llm.loading import DEFAULT_SPEC, load, parse_spec
from densegym.llm.results import Completion, SamplingParams, TokenLogprobs
from densegym.llm.server import OpenAICompatServer
from densegym.llm.usage import Usage, total_usage

__all__ = [
    "DEFAULT_SPEC",
    "LLM",
    "Completion",
    "LLMConnectionError",
    "LLMError",
    "LLMServerError",
    "LLMUnavailableError",
    "OpenAICompatServer",
    "SamplingParams",
    "TokenLogprobs",
    "Usage",
    "load",
    "parse_spec",
    "total_usage",
]
