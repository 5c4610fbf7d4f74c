"""Compute a shared prompt prefix once and reuse its KV cache across a batch and across calls.

LLM policies send prompts that share a long head: the system instruction and the
few-shot turns are the same for every episode and every step; only the question and
the steps so far differ. :class:`PrefixCache` keeps the key/value tensors of the
longest token prefix common to a batch, and the next batch that starts with the same
tokens skips computing them again (one forward pass over the head per process, not
one per row per step).

A batch is laid out as ``[prefix][padding][suffix]``: every row starts with the cached
prefix, its own tokens are right-aligned after it, and the padding between is masked.
Position ids follow the attention mask (``cumsum - 1``), so each row's suffix continues
at the prefix's length exactly as in an unpadded prompt.

Example:
    >>> common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]])
    2
    >>> layout_rows([[7, 8, 9], [7, 8, 5, 6]], prefix_length=2, pad_id=0)
    ([[7, 8, 0, 9], [7, 8, 5, 6]], [[1, 1, 0, 1], [1, 1, 1, 1]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["PrefixCache", "cache_argument", "common_prefix_length", "layout_rows"]


def cache_argument(model: Any) -> str:
    """The keyword a model's ``forward``/``generate`` takes its KV cache by.

    ``transformers`` 5 renamed ``past_key_values`` to ``cache``; older releases only
    know the first.
    """
    import inspect

    forward = inspect.signature(model.forward).parameters
    return "cache" if "cache" in forward else "past_key_values"


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by every row (0 for no rows)."""
    if not rows:
        return 0
    first = rows[0]
    length = min(len(row) for row in rows)
    for row in rows[1:]:
        i = 0
        while i < length and row[i] == first[i]:
            i += 1
        length = i
    return length


def layout_rows(
    rows: Sequence[Sequence[int]], prefix_length: int, pad_id: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Lay rows out as ``[prefix][padding][suffix]`` with the matching attention mask.

    Args:
        rows: Token ids of every prompt; each starts with the same ``prefix_length`` ids.
        prefix_length: How many leading ids are shared (and cached).
        pad_id: Id written in the padding (masked out, never attended to).

    Returns:
        ``(input_ids, attention_mask)`` as lists of equal-length rows.
    """
    width = max(len(row) - prefix_length for row in rows)
    ids, mask = [], []
    for row in rows:
        suffix = list(row[prefix_length:])
        gap = width - len(suffix)
        ids.append(list(row[:prefix_length]) + [pad_id] * gap + suffix)
        mask.append([1] * prefix_length + [0] * gap + [1] * len(suffix))
    return ids, mask


class PrefixCache:
    """The KV cache of one token prefix, computed once and handed out per batch.

    Args:
        model: A ``transformers`` causal LM that takes ``past_key_values``.
        min_length: Shorter common prefixes are not worth caching (the rows are
            generated the ordinary way).

    The cache holds one prefix at a time: a batch whose common prefix extends or
    differs from the cached one replaces it (computing only what is new when the old
    prefix is a head of the new one).
    """

    def __init__(self, model: Any, min_length: int = 16):
        self.model = model
        self.min_length = int(min_length)
        self.argument = cache_argument(model)
        self.ids: tuple[int, ...] = ()
        self._layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.hits = 0
        self.computed_tokens = 0
        self.reused_tokens = 0

    def usable_length(self, rows: Sequence[Sequence[int]]) -> int:
        """How many leading tokens of ``rows`` to serve from the cache (0: do not use it).

        Every row keeps at least one token of its own, so generation has an input to
        start from.
        """
        length = min(common_prefix_length(rows), min(len(row) for row in rows) - 1)
        return length if length >= self.min_length else 0

    def prepare(self, prefix: Sequence[int]) -> None:
        """Make the cache hold exactly ``prefix``, computing only the missing tokens."""
        prefix = tuple(int(t) for t in prefix)
        if prefix == self.ids:
            self.hits += 1
            self.reused_tokens += len(prefix)
            return
        keep = len(self.ids) if prefix[: len(self.ids)] == self.ids and self.ids else 0
        if keep:
            self.reused_tokens += keep
        else:
            self._layers = []
        new = prefix[keep:]
        past = self._dynamic_cache(batch=1) if keep else None
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([list(new)], device=device)
        kwargs: dict[str, Any] = {"use_cache": True}
        if past is not None:
            kwargs[self.argument] = past
            kwargs["cache_position"] = torch.arange(keep, keep + len(new), device=device)
            kwargs["position_ids"] = kwargs["cache_position"].unsqueeze(0)
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, **kwargs)
        cache = out.cache if self.argument == "cache" else out.past_key_values
        self._layers = [(layer.keys, layer.values) for layer in cache.layers]
        self.ids = prefix
        self.computed_tokens += len(new)

    def _dynamic_cache(self, batch: int) -> Any:
        from transformers import DynamicCache

        data = [
            (keys.expand(batch, *keys.shape[1:]), values.expand(batch, *values.shape[1:]))
            for keys, values in self._layers
        ]
        return DynamicCache(ddp_cache_data=data, config=self.model.config)

    def batch(
        self, rows: Sequence[Sequence[int]], prefix_length: int, pad_id: int
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """Inputs for ``model.generate`` over ``rows`` with the first ``prefix_length`` cached.

        Returns:
            ``(inputs, past_key_values)``: ``inputs`` holds ``input_ids`` and
            ``attention_mask`` laid out by :func:`layout_rows`; the cache is a fresh
            copy per call (generation appends to it), expanded to the batch.
        """
        self.prepare(rows[0][:prefix_length])
        ids, mask = layout_rows(rows, prefix_length, pad_id)
        device = next(self.model.parameters()).device
        inputs = {
            "input_ids": torch.tensor(ids, device=device),
            "attention_mask": torch.tensor(mask, device=device),
        }
        return inputs, self._dynamic_cache(batch=len(rows))
