"""``tiny-random``: a randomly initialised miniature Llama for fast, offline tests of mechanics.

Its weights come from a fixed seed, so the same spec gives the same model in every
process. It uses SmolLM2's tokenizer when the smollm2 checkpoint is already cached
(nothing is downloaded for it), else a byte-level tokenizer built in memory.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from densegym.llm.errors import require
from densegym.llm.torch_runtime import resolve_device, resolve_dtype
from densegym.llm.transformers_backend import CHATML_TEMPLATE, TransformersBackend

# The special tokens of SmolLM2 (ChatML), with the same ids: 0, 1, 2.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _byte_alphabet() -> list[str]:
    """The 256 characters GPT-2's byte-level BPE uses for bytes 0..255, in byte order."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def byte_tokenizer() -> Any:
    """Build a byte-level tokenizer in memory: 3 ChatML special tokens + 256 bytes.

    Written here (with the ``tokenizers`` library) rather than downloaded, so tests run
    offline; it has no merges, so every byte is one token, with id ``3 + byte``.

    Example:
        >>> tok = byte_tokenizer()
        >>> len(tok), tok("hi")["input_ids"], tok.decode(tok("héllo")["input_ids"])
        (259, [107, 108], 'héllo')
    """
    (transformers,) = require("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = _byte_alphabet()
    assert set(alphabet) == set(pre_tokenizers.ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    vocab.update({char: len(SPECIAL_TOKENS) + i for i, char in enumerate(alphabet)})
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="<|endoftext|>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _cached_smollm2_tokenizer() -> Any | None:
    from densegym.llm.smollm2 import cached_checkpoint

    folder = cached_checkpoint()
    if folder is None:
        return None
    (transformers,) = require("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def load_tiny_random(
    *,
    seed: int = 0,
    tokenizer: str = "auto",
    layers: int = 2,
    hidden_size: int = 64,
    heads: int = 4,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = "cpu",
    num_threads: int | None = 1,
    **options: Any,
) -> TransformersBackend:
    """Build the ``tiny-random`` backend.

    Args:
        seed: Seed of the weight initialisation.
        tokenizer: ``"auto"`` (SmolLM2's when cached, else bytes), ``"smollm2"``
            (cached SmolLM2 tokenizer, error if absent) or ``"bytes"``.
        layers: Decoder layers.
        hidden_size: Width of the residual stream.
        heads: Attention heads (two key/value heads).
        dtype: Parameter dtype (float32 by default on CPU).
        device: Where it runs; CPU by default because it is tiny.
        num_threads: CPU threads during calls; one is fastest for a model this small.
        options: Passed to :class:`TransformersBackend` (``batch_size``, ...).

    Example:
        >>> llm = load_tiny_random(tokenizer="bytes")
        >>> sum(p.numel() for p in llm.model.parameters()) < 200_000
        True
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    (transformers,) = require("transformers")
    if tokenizer not in ("auto", "smollm2", "bytes"):
        raise ValueError(f"tokenizer must be 'auto', 'smollm2' or 'bytes', got {tokenizer!r}")
    tok = None if tokenizer == "bytes" else _cached_smollm2_tokenizer()
    if tok is None and tokenizer == "smollm2":
        raise FileNotFoundError(
            "the SmolLM2 checkpoint is not cached; run densegym.llm.load('smollm2')"
        )
    if tok is None:
        tok = byte_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        # Larger than usual so greedy outputs depend on the context (not one flat argmax).
        initializer_range=0.2,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    target = resolve_device(device)
    model.to(device=target, dtype=resolve_dtype(dtype, target))
    return TransformersBackend(model, tok, name="tiny-random", num_threads=num_threads, **options)
