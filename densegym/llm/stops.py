"""Stop strings: where a generated text ends and how many tokens that took."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def find_stop(text: str, stops: Sequence[str]) -> int:
    r"""Return the index where the earliest stop string starts in ``text``, or -1.

    Example:
        >>> find_stop("3 + 5 = 8\nNext", ["\n", "Next"])
        9
        >>> find_stop("no stop here", ["###"])
        -1
    """
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else -1


def truncate(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    r"""Cut ``text`` before its first stop string.

    Returns:
        The kept text and whether a stop string was found.

    Example:
        >>> truncate("Answer: 8\n\nQuestion", ["\n\n"])
        ('Answer: 8', True)
    """
    index = find_stop(text, stops)
    return (text, False) if index < 0 else (text[:index], True)


def tokens_until_stop(
    token_ids: Sequence[int], decode: Callable[[Sequence[int]], str], stops: Sequence[str]
) -> int:
    r"""Count the tokens up to and including the one that completes the first stop string.

    Binary search over prefix decodes, so it costs O(log n) decodes. Returns
    ``len(token_ids)`` when no stop string occurs.

    Args:
        token_ids: Generated token ids.
        decode: Turns a list of ids into text (the backend's tokenizer).
        stops: Stop strings.

    Example:
        >>> vocab = {1: "8", 2: "\n", 3: "more"}
        >>> tokens_until_stop([1, 2, 3], lambda ids: "".join(vocab[i] for i in ids), ["\n"])
        2
    """
    if find_stop(decode(token_ids), stops) < 0:
        return len(token_ids)
    low, high = 1, len(token_ids)
    while low < high:
        middle = (low + high) // 2
        if find_stop(decode(token_ids[:middle]), stops) >= 0:
            high = middle
        else:
            low = middle + 1
    return low
