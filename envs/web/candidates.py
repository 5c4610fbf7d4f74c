"""Grounded shop candidates: a short list of plausible actions built from the page shown.

:func:`grounded_actions` proposes at most ``k`` distinct actions for a shop episode from
what the agent sees: the instruction and the page's clickable elements. Search queries are
built from the instruction's words (the category and attributes it names, found with the
site's public vocabulary, then its content words); on a results page the items come ranked
by how many asked attributes their names show and whether their price is within the
instruction's bound; on an item page the options the instruction names come first, then
Buy. Nothing here reads the task's target or the oracle's plan: the oracle's next action is
added only when asked (``include_oracle=True``), never by default.

SB3 agents choose among these candidates through the ``candidates`` view
(:class:`~densegym.envs.adapters.candidates.CandidateActions`).

Example:
    >>> from densegym.envs.web import WebShopEnv
    >>> env = WebShopEnv(difficulty=1)
    >>> _ = env.reset(seed=0)
    >>> actions = grounded_actions(env, k=4)
    >>> all(a.startswith("search[") for a in actions) and len(set(actions)) == len(actions)
    True
    >>> _ = env.step(actions[0])
    >>> grounded_actions(env, k=3)[0].startswith("click[item-")
    True
    >>> env.close()
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from densegym.envs.web.catalog import Catalogue
from densegym.envs.web.text import Element, Page

__all__ = ["Wanted", "grounded_actions", "read_instruction"]

_PRICE = re.compile(r"(\d+(?:\.\d+)?) dollars")
_WORD = re.compile(r"[a-z0-9][a-z0-9-]*")
_MONEY = re.compile(r"\$(\d+(?:\.\d+)?)")
_STOP = frozenset(
    "i am a an and the for with in of to me that is it, please buy find need looking "
    "keep below under lower than price dollars size color".split()
)
_LEAVE = ("back-to-item", "back-to-results", "back-to-search")


class Wanted(tuple):
    """What an instruction asks for: ``(category, attributes, option words, price bound)``."""

    @property
    def category(self) -> str:
        """The category named (``""`` if none)."""
        return self[0]

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes named, in the instruction's order."""
        return self[1]

    @property
    def options(self) -> tuple[str, ...]:
        """Option values named, in the instruction's order."""
        return self[2]

    @property
    def price(self) -> float | None:
        """The price bound, if the instruction gives one."""
        return self[3]


@lru_cache(maxsize=8)
def _vocabulary(cat: Catalogue) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The site's categories, attributes and option values, longest first."""
    cats = {p.category.lower() for p in cat.products}
    attrs = {a.lower() for p in cat.products for a in p.attributes}
    opts = {v.lower() for p in cat.products for _, vs in p.options for v in vs}

    def longest(words: set[str]) -> tuple[str, ...]:
        return tuple(sorted(words, key=lambda w: (-len(w), w)))

    return longest(cats), longest(attrs), longest(opts)


def _find(text: str, phrases: tuple[str, ...]) -> list[tuple[int, str]]:
    """Phrases found as whole words in ``text`` (longest first claims its span)."""
    taken = [False] * len(text)
    found = []
    for phrase in phrases:
        for match in re.finditer(rf"(?<![a-z0-9-]){re.escape(phrase)}(?![a-z0-9-])", text):
            if not any(taken[match.start() : match.end()]):
                taken[match.start() : match.end()] = [True] * (match.end() - match.start())
                found.append((match.start(), phrase))
    return sorted(found)


def read_instruction(instruction: str, cat: Catalogue) -> Wanted:
    """Read what an instruction asks for, with the site's vocabulary only.

    Example:
        >>> from densegym.envs.web.catalog import catalogue_for_seed
        >>> cat = catalogue_for_seed(0, 600)
        >>> text = "i need a slim fit t-shirt in size small; under 20.00 dollars"
        >>> w = read_instruction(text, cat)
        >>> w.category, w.attributes, w.price
        ('t-shirt', ('slim fit',), 20.0)
    """
    text = instruction.lower()
    cats, attrs, opts = _vocabulary(cat)
    category = next((p for _, p in _find(text, cats)), "")
    named = [p for _, p in _find(text, attrs)]
    options = [p for _, p in _find(text, opts) if p not in named and p != category]
    price = _PRICE.search(text)
    return Wanted(
        (category, tuple(named), tuple(options), float(price.group(1)) if price else None)
    )


def _queries(instruction: str, wanted: Wanted) -> list[str]:
    out = []
    if wanted.category:
        out.append(" ".join((wanted.category, *wanted.attributes)))
        out.append(wanted.category)
    before_price = instruction.lower().split("price")[0]
    words = [w for w in _WORD.findall(before_price) if w not in _STOP]
    out.append(" ".join(words[:10]))
    return [q for q in out if q]


def _items(page: Page, wanted: Wanted) -> list[str]:
    """Item links, most relevant first (within the price, attributes in the name, order)."""
    scored = []
    items = page.items
    for index, item in enumerate(items):
        if not (isinstance(item, Element) and item.id.startswith("item-")):
            continue
        name = item.name.lower()
        price = None
        if index + 1 < len(items) and isinstance(items[index + 1], str):
            money = _MONEY.search(items[index + 1])
            price = float(money.group(1)) if money else None
        hits = sum(a in name for a in wanted.attributes) + (wanted.category in name)
        cheap = wanted.price is None or (price is not None and price <= wanted.price)
        scored.append((not cheap, -hits, index, f"click[{item.id}]"))
    return [action for *_, action in sorted(scored)]


def grounded_actions(env: Any, k: int = 8, *, include_oracle: bool = False) -> list[str]:
    """Return at most ``k`` distinct grounded actions for a shop env's current page.

    Args:
        env: a shop env (``env.unwrapped`` a :class:`~densegym.envs.web.env.WebShopEnv`)
            after ``reset``.
        k: the most actions returned.
        include_oracle: make sure the oracle's next action is one of them (replacing the
            last one when needed); off by default, so the answer never leaks.

    Returns:
        Actions as text, most relevant first.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k!r}")
    base = env.unwrapped
    page: Page = base.page
    instruction = base.problem.instruction
    wanted = read_instruction(instruction, base.catalogue)
    ids = {e.id: e for e in page.elements if e.id}
    out: list[str] = []
    radios = [e for e in page.elements if e.role == "radio"]
    if radios or "buy-now" in ids:  # an item page
        asked = [e for e in radios if e.name.lower() in wanted.options]
        out += [f"click[{e.id}]" for e in asked if e.value != "checked"]
        out.append("click[buy-now]")
        out += [f"click[{i}]" for i in ("description", "features", *_LEAVE) if i in ids]
        out += [f"click[{e.id}]" for e in radios if e not in asked]
    else:
        out += _items(page, wanted)
        out += [f"click[{i}]" for i in ("next-page", "prev-page", *_LEAVE) if i in ids]
        box = page.textbox()
        if box is not None:
            queries = _queries(instruction, wanted)
            fresh = [q for q in queries if q != box.value]
            out = (
                [f"search[{q}]" for q in fresh] + out
                if not box.value
                else out + [f"search[{q}]" for q in fresh]
            )
    if not out:
        out = ["back"]
    listed = list(dict.fromkeys(out))[:k]
    if include_oracle:
        oracle = base.oracle_step()
        if oracle not in listed:
            listed = [*listed, oracle] if len(listed) < k else [*listed[:-1], oracle]
    return listed
