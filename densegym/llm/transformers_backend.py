"""Local causal language models through Hugging Face ``transformers`` (CPU or GPU).

Serves the ``smollm2``, ``tiny-random`` and ``hf:<path>`` specs. Generation is batched
with left padding and a KV cache (``model.generate``); scoring is one forward pass per
length-sorted batch that computes logits only at the continuation positions.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from densegym.llm.base import LLM, Conversation, with_text_calls
from densegym.llm.errors import require
from densegym.llm.prefix_cache import PrefixCache
from densegym.llm.results import Completion, SamplingParams, TokenLogprobs
from densegym.llm.stops import find_stop, tokens_until_stop, truncate
from densegym.llm.torch_runtime import (
    quiet_transformers,
    resolve_device,
    resolve_dtype,
    seeded,
    torch_threads,
)

logger = logging.getLogger(__name__)

# Used when a tokenizer ships no chat template: ChatML, which SmolLM2 also uses.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _stop_criteria(tokenizer: Any, stops: Sequence[str], prompt_length: int) -> Any:
    """Stop each row once its *generated* text contains a stop string.

    Hand-written because transformers' ``StopStringCriteria`` also matches a stop
    string that starts inside the prompt, which would end a sample before it wrote
    anything. This one decodes a short tail of each row's generated tokens per step.
    """
    from transformers import StoppingCriteria

    # A character takes at most 4 byte-level tokens.
    window = 4 * max(len(s) for s in stops) + 4

    class StopOnGeneratedText(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            tail = input_ids[:, prompt_length:][:, -window:]
            texts = tokenizer.batch_decode(tail, skip_special_tokens=True)
            hits = [find_stop(text, stops) >= 0 for text in texts]
            return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)

    return StopOnGeneratedText()


class TransformersBackend(LLM):
    """A local ``transformers`` causal LM behind the :class:`~densegym.llm.base.LLM` interface.

    Args:
        model: A causal LM (``AutoModelForCausalLM``), already on its device.
        tokenizer: Its tokenizer; padding is set to the left for generation.
        name: The spec it was loaded from.
        batch_size: Most prompts (times ``n``) per ``model.generate`` call.
        score_tokens: Most padded tokens per scoring forward pass.
        num_threads: CPU threads torch uses during calls (``None``: torch's default).
            Tiny models run faster on one thread, and do not thrash a busy machine.
        prefix_cache: Compute the token prefix that a batch's prompts share (system
            prompt, few-shot turns) once and keep its KV cache for the next calls
            (:mod:`densegym.llm.prefix_cache`); ``False`` pads and computes every prompt.
        prefix_min_tokens: Shorter shared prefixes are not cached.

    Calls are serialised by a lock, so one backend can be shared between threads.

    Example:
        >>> import densegym.llm
        >>> llm = densegym.llm.load("tiny-random")
        >>> scored = llm.logprobs(["The cat"], [" sat"])
        >>> len(scored[0]) >= 1 and scored[0].total < 0
        True
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "hf",
        batch_size: int = 16,
        score_tokens: int = 8192,
        num_threads: int | None = None,
        prefix_cache: bool = True,
        prefix_min_tokens: int = 16,
    ):
        super().__init__(name)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.score_tokens = int(score_tokens)
        self.num_threads = num_threads
        self._lock = threading.RLock()  # one call at a time: torch threads, RNG forks
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        config = model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
        self.eos_token_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.pad_token_id = tokenizer.pad_token_id
        forward = inspect.signature(model.forward).parameters
        self._keep_arg = next(
            (a for a in ("logits_to_keep", "num_logits_to_keep") if a in forward), None
        )
        self._positions = "position_ids" in forward
        self.prefix_cache = PrefixCache(model, prefix_min_tokens) if prefix_cache else None

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = "auto",
        local_files_only: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ) -> TransformersBackend:
        """Load a causal LM and its tokenizer from a folder (or a cached hub name).

        Args:
            path: A folder written by ``save_pretrained``, or a hub id already cached.
            dtype: ``"float32"`` / ``"bfloat16"`` / ``"float16"``; default float32 on
                CPU, bfloat16 on CUDA.
            device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
            local_files_only: Never reach the Hugging Face hub (the default).
            name: Spec recorded on the backend; default ``"hf:<path>"``.
            kwargs: Passed to the constructor (``batch_size``, ``score_tokens``,
                ``num_threads``, ``prefix_cache``).
        """
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        (transformers,) = require("transformers")
        target = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, target)
        # Load straight into the wanted dtype (the keyword was renamed in transformers 4.56).
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        dtype_arg = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        with quiet_transformers():
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(path), local_files_only=local_files_only
            )
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=local_files_only, **{dtype_arg: torch_dtype}
            )
        model.to(device=target, dtype=torch_dtype)
        return cls(model, tokenizer, name=name or f"hf:{path}", **kwargs)

    @property
    def device(self) -> torch.device:
        """The device the model runs on."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The model's parameter dtype."""
        return next(self.model.parameters()).dtype

    def format_chat(self, messages: Conversation) -> str:
        """Render a conversation with the tokenizer's chat template (ChatML if it has none).

        Example:
            >>> import densegym.llm
            >>> llm = densegym.llm.load("tiny-random")
            >>> print(llm.format_chat([{"role": "system", "content": "Be brief."},
            ...                        {"role": "user", "content": "Hi"}]))
            <|im_start|>system
            Be brief.<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant
            <BLANKLINE>
        """
        template = None if getattr(self.tokenizer, "chat_template", None) else CHATML_TEMPLATE
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True, chat_template=template
        )

    @property
    def template_takes_tools(self) -> bool:
        """Whether the tokenizer's chat template renders a ``tools`` list (Qwen, Llama 3, ...)."""
        template = getattr(self.tokenizer, "chat_template", None)
        if isinstance(template, dict):  # several named templates
            template = template.get("tool_use") or template.get("default")
        return isinstance(template, str) and "tools" in template

    def _chat_tools(
        self,
        conversations: list[list[dict[str, Any]]],
        params: SamplingParams,
        tools: list[dict[str, Any]],
    ) -> list[Completion]:
        """Render the tools with the chat template when it takes them, else the text fallback.

        The reply is read for Hermes-style ``<tool_call>{...}</tool_call>`` blocks (what
        tool templates ask for), JSON calls, or calls written as ``name(arg=value)``.
        """
        if not self.template_takes_tools:
            return super()._chat_tools(conversations, params, tools)
        prompts = [
            self.tokenizer.apply_chat_template(
                list(c), tools=tools, tokenize=False, add_generation_prompt=True
            )
            for c in conversations
        ]
        out = self._generate(prompts, params, templated=True)
        return [with_text_calls(c, tools) for c in out]

    # ------------------------------------------------------------------ generate
    def _generate(
        self, prompts: list[str], params: SamplingParams, *, templated: bool = False
    ) -> list[Completion]:
        with self._lock:
            return self._generate_unlocked(prompts, params, templated)

    def _generate_unlocked(
        self, prompts: list[str], params: SamplingParams, templated: bool
    ) -> list[Completion]:
        rows_per_prompt = 1 if params.greedy else params.n
        step = max(1, self.batch_size // rows_per_prompt)
        out: list[Completion] = []
        for first in range(0, len(prompts), step):
            chunk = prompts[first : first + step]
            out.extend(self._generate_chunk(chunk, first, params, templated))
        return out

    def _generate_chunk(
        self, prompts: list[str], first: int, params: SamplingParams, templated: bool
    ) -> list[Completion]:
        from transformers import GenerationConfig, StoppingCriteriaList

        # Greedy samples are identical: decode once, copy n times.
        rows_per_prompt = 1 if params.greedy else params.n
        rows = self.tokenizer(list(prompts), add_special_tokens=not templated)["input_ids"]
        prompt_lengths = [len(row) for row in rows]
        expanded = [row for row in rows for _ in range(rows_per_prompt)]
        shared = self.prefix_cache.usable_length(expanded) if self.prefix_cache else 0
        extra: dict[str, Any] = {}
        if shared:  # [cached prefix][padding][own tokens]; one row per sample
            with torch_threads(self.num_threads):
                encoded, extra[self.prefix_cache.argument] = self.prefix_cache.batch(
                    expanded, shared, self.pad_token_id
                )
            returns = 1
        else:  # left padding; generate repeats each prompt n times
            encoded = self.tokenizer.pad({"input_ids": rows}, return_tensors="pt")
            encoded = {key: value.to(self.device) for key, value in encoded.items()}
            returns = rows_per_prompt
        width = encoded["input_ids"].shape[1]
        config = GenerationConfig(
            max_new_tokens=params.max_tokens,
            do_sample=not params.greedy,
            num_return_sequences=returns,
            temperature=None if params.greedy else params.temperature,
            top_p=None if params.greedy else params.top_p,
            top_k=None if params.greedy else 0,
            eos_token_id=sorted(self.eos_token_ids) or None,
            pad_token_id=self.pad_token_id,
            bos_token_id=self.tokenizer.bos_token_id,
        )
        criteria = StoppingCriteriaList()
        if params.stop:
            criteria.append(_stop_criteria(self.tokenizer, params.stop, width))
        with (
            torch.inference_mode(),
            torch_threads(self.num_threads),
            seeded(params.seed, self.device),
        ):
            sequences = self.model.generate(
                **encoded, **extra, generation_config=config, stopping_criteria=criteria
            )
        generated = sequences[:, width:].tolist()

        out = []
        for row, ids in enumerate(generated):
            prompt = row // rows_per_prompt
            text, count, reason = self._finish(ids, params)
            copies = params.n if params.greedy else 1
            for copy in range(copies):
                out.append(
                    Completion(
                        text=text,
                        prompt_tokens=int(prompt_lengths[prompt]),
                        completion_tokens=count,
                        finish_reason=reason,
                        prompt_index=first + prompt,
                        sample_index=copy if params.greedy else row % rows_per_prompt,
                        token_ids=tuple(ids[:count]),
                    )
                )
        return out

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _finish(self, ids: list[int], params: SamplingParams) -> tuple[str, int, str]:
        """Cut one row at end-of-sequence or stop string; count the tokens it generated."""
        end = next((i for i, t in enumerate(ids) if t in self.eos_token_ids), None)
        body = ids if end is None else ids[:end]
        text = self._decode(body)
        if params.stop:
            text, stopped = truncate(text, params.stop)
            if stopped:
                return text, tokens_until_stop(body, self._decode, params.stop), "stop"
        if end is not None:
            return text, end + 1, "stop"  # the end-of-sequence token is counted
        return text, len(ids), "length"

    # ------------------------------------------------------------------- scoring
    def _encode_pair(self, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
        context = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        if not context:
            bos = self.tokenizer.bos_token_id
            if bos is None:
                raise ValueError("an empty prompt needs a BOS token; this tokenizer has none")
            context = [bos]
        target = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        return list(context), list(target)

    def _logprobs(
        self, prompts: list[str], continuations: list[str]
    ) -> tuple[list[TokenLogprobs], int]:
        return self._score_pairs([self._encode_pair(p, c) for p, c in zip(prompts, continuations)])

    def _prompt_logprobs(self, texts: list[str]) -> tuple[list[TokenLogprobs], int]:
        pairs, firsts = [], []
        for text in texts:
            full = list(self.tokenizer(text, add_special_tokens=True)["input_ids"])
            plain = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            split = len(full) - len(plain)
            if plain and full[split:] == plain and split > 0:  # e.g. a BOS the tokenizer adds
                pairs.append((full[:split], plain))
                firsts.append([])
            else:  # nothing before the first token: it gets no score
                pairs.append((plain[:1], plain[1:]))
                firsts.append(plain[:1])
        scored, read = self._score_pairs([p for p in pairs if p[0]])
        results = iter(scored)
        out = []
        for (context, _), first in zip(pairs, firsts):
            if not context:
                out.append(TokenLogprobs(tokens=(), logprobs=(), offsets=(), token_ids=()))
                continue
            rest = next(results)
            ids = [*first, *rest.token_ids]
            out.append(
                TokenLogprobs(
                    tokens=tuple(self.tokenizer.decode([t]) for t in ids),
                    logprobs=(float("nan"),) * len(first) + rest.logprobs,
                    offsets=tuple(len(self.tokenizer.decode(ids[:j])) for j in range(len(ids))),
                    token_ids=tuple(ids),
                )
            )
        return out, read

    def _score_pairs(
        self, pairs: list[tuple[list[int], list[int]]]
    ) -> tuple[list[TokenLogprobs], int]:
        """Score (context, target) id pairs in length-sorted batches under the token budget."""
        with self._lock:
            return self._score_pairs_unlocked(pairs)

    def _score_pairs_unlocked(
        self, pairs: list[tuple[list[int], list[int]]]
    ) -> tuple[list[TokenLogprobs], int]:
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        results: list[TokenLogprobs | None] = [None] * len(pairs)
        read = 0
        batch: list[int] = []
        for index in [*order, None]:
            if index is not None:
                length = sum(map(len, pairs[index]))
                room = (len(batch) + 1) * length <= self.score_tokens
                if not batch or (room and len(batch) < self.batch_size):
                    batch.append(index)
                    continue
            if batch:
                for i, scored in zip(batch, self._score_batch([pairs[i] for i in batch])):
                    results[i] = scored
                read += sum(sum(map(len, pairs[i])) for i in batch)
            batch = [index] if index is not None else []
        return [r for r in results if r is not None], read

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[TokenLogprobs]:
        lengths = [len(c) + len(t) for c, t in pairs]
        width = max(lengths)
        keep = max(len(t) for _, t in pairs) + 1
        # Left padding: every continuation ends at the last column, so logits are only
        # needed for the last `keep` positions.
        ids = torch.full((len(pairs), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(pairs), width), dtype=torch.long)
        for row, ((context, target), length) in enumerate(zip(pairs, lengths)):
            ids[row, width - length :] = torch.tensor(context + target)
            mask[row, width - length :] = 1
        kwargs: dict[str, Any] = {
            "input_ids": ids.to(self.device),
            "attention_mask": mask.to(self.device),
        }
        if self._positions:
            kwargs["position_ids"] = (mask.cumsum(dim=1) - 1).clamp(min=0).to(self.device)
        if self._keep_arg:
            kwargs[self._keep_arg] = keep
        with torch.inference_mode(), torch_threads(self.num_threads):
            logits = self.model(**kwargs).logits[:, -keep:, :]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        out = []
        for row, (_, target) in enumerate(pairs):
            if not target:
                out.append(TokenLogprobs(tokens=(), logprobs=(), offsets=(), token_ids=()))
                continue
            # Token at column width-len(target)+j is predicted at column width-len(target)+j-1,
            # i.e. at index keep-1-len(target)+j of the kept slice.
            start = keep - 1 - len(target)
            picked = logprobs[row, start : start + len(target)]
            values = picked.gather(1, torch.tensor(target, device=picked.device)[:, None])[:, 0]
            out.append(
                TokenLogprobs(
                    tokens=tuple(self.tokenizer.decode([t]) for t in target),
                    logprobs=tuple(values.tolist()),
                    offsets=tuple(
                        len(self.tokenizer.decode(target[:j])) for j in range(len(target))
                    ),
                    token_ids=tuple(target),
                )
            )
        return out


def load_hf(path: str | Path, **options: Any) -> TransformersBackend:
    """Load the ``hf:<path-or-name>`` spec (see :meth:`TransformersBackend.from_pretrained`)."""
    return TransformersBackend.from_pretrained(path, name=f"hf:{path}", **options)
