"""``gguf:<path>``: a GGUF model through llama-cpp-python (optional, CPU-fast).

Only used when ``llama_cpp`` is importable; densegym never builds it. A portable build
that worked here: ``CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" pip install
llama-cpp-python`` (~4 min); the default native build crashed in its AMX kernel on
multi-token batches. ``gguf:`` with no path uses the SmolLM2 file.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.error import DependencyNotInstalled

from densegym.llm.base import LLM
from densegym.llm.results import Completion, SamplingParams, TokenLogprobs
from densegym.llm.stops import truncate

INSTALL_HINT = 'CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" pip install llama-cpp-python'


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise DependencyNotInstalled(
            f"the gguf: backend needs llama-cpp-python ({error}); install it with: {INSTALL_HINT}"
        ) from error
    return llama_cpp


class LlamaCppBackend(LLM):
    """A GGUF model run by llama.cpp.

    Args:
        path: The ``.gguf`` file.
        n_ctx: Context length.
        n_threads: CPU threads (llama.cpp's default when ``None``).
        name: Spec recorded on the backend.
        kwargs: Passed to ``llama_cpp.Llama``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        llama_cpp = _import_llama_cpp()
        super().__init__(name or f"gguf:{path}")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no GGUF file at {self.path}")
        self._options = {"n_ctx": n_ctx, "n_threads": n_threads, "verbose": False, **kwargs}
        with _quiet():
            self.model = llama_cpp.Llama(model_path=str(self.path), **self._options)
        self._scorer: Any = None

    def _sample(
        self, call: Any, params: SamplingParams, sample: int, **inputs: Any
    ) -> dict[str, Any]:
        seed = None if params.seed is None else params.seed + sample
        return call(
            **inputs,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=0,  # no top-k cut, as in the other backends
            min_p=0.0,
            stop=list(params.stop) or None,
            seed=seed,
        )

    def _completion(
        self, answer: dict[str, Any], params: SamplingParams, index: int, sample: int, chat: bool
    ) -> Completion:
        choice = answer["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
        usage = answer.get("usage") or {}
        return Completion(
            text=truncate(text or "", params.stop)[0],
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_index=index,
            sample_index=sample,
        )

    def _generate(
        self, prompts: list[str], params: SamplingParams, *, templated: bool = False
    ) -> list[Completion]:
        out = []
        for index, prompt in enumerate(prompts):
            for sample in range(params.n):
                answer = self._sample(self.model.create_completion, params, sample, prompt=prompt)
                out.append(self._completion(answer, params, index, sample, chat=False))
        return out

    def _chat(
        self, conversations: list[list[dict[str, str]]], params: SamplingParams
    ) -> list[Completion]:
        out = []
        for index, messages in enumerate(conversations):
            for sample in range(params.n):
                answer = self._sample(
                    self.model.create_chat_completion, params, sample, messages=messages
                )
                out.append(self._completion(answer, params, index, sample, chat=True))
        return out

    def _logprobs(
        self, prompts: list[str], continuations: list[str]
    ) -> tuple[list[TokenLogprobs], int]:
        if self._scorer is None:
            llama_cpp = _import_llama_cpp()
            with _quiet():
                self._scorer = llama_cpp.Llama(
                    model_path=str(self.path), logits_all=True, **self._options
                )
        scorer = self._scorer
        out, read = [], 0
        for prompt, continuation in zip(prompts, continuations):
            context = scorer.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            target = scorer.tokenize(continuation.encode("utf-8"), add_bos=False, special=False)
            scorer.reset()
            scorer.eval(context + target)
            logits = np.asarray(
                scorer.scores[len(context) - 1 : len(context) + len(target) - 1], dtype=np.float64
            )
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            pieces = [scorer.detokenize([t]).decode("utf-8", errors="replace") for t in target]
            offsets = np.cumsum([0, *map(len, pieces)])[:-1]
            out.append(
                TokenLogprobs(
                    tokens=tuple(pieces),
                    logprobs=tuple(float(logp[j, t]) for j, t in enumerate(target)),
                    offsets=tuple(int(o) for o in offsets),
                    token_ids=tuple(target),
                )
            )
            read += len(context) + len(target)
        return out, read

    def close(self) -> None:
        """Free the llama.cpp contexts."""
        for model in (self.model, self._scorer):
            if model is not None and hasattr(model, "close"):
                model.close()
        self._scorer = None


@contextlib.contextmanager
def _quiet() -> Any:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        yield


def load_gguf(path: str = "", **options: Any) -> LlamaCppBackend:
    """Load ``gguf:<path>``; an empty path means the SmolLM2 GGUF (fetched if needed)."""
    _import_llama_cpp()
    if not path:
        from densegym.llm.smollm2 import gguf_path

        path = str(gguf_path())
    return LlamaCppBackend(path, name=f"gguf:{path}", **options)
