"""Shop tasks, solvable by construction, and the WebShop-style score of a purchase.

A task samples a target product, a subset of its attributes and one value of some of its
option dimensions, and a price bound at or above its price; the instruction is rendered
from templates. The oracle's query is the category and the attributes the instruction
names; the generator keeps a task only when that query lists the target among the site's
top results (on the pages its level asks for), so every task can be solved.

Levels: 1 — one attribute, one option, a loose price, the target on the first results
page; 2 — two attributes and options, a closer price, the target in the top 30; 3 — up to
three attributes (one may appear only on the description page), every option, a tight
price, the target preferably past the first page.

Example:
    >>> from densegym.envs.web.catalog import catalogue_for_seed
    >>> cat = catalogue_for_seed(0, 600)
    >>> task = generate_task(cat, 7, difficulty=2)
    >>> task.rank == cat.search(task.query).index(task.asin)
    True
    >>> target = cat.by_asin[task.asin]
    >>> score_purchase(task, target, dict(task.options))
    1.0
    >>> score_purchase(task, target, {}) < 1.0
    True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from densegym.envs.web.catalog import MAX_RESULTS, Catalogue, Product

__all__ = ["WebTask", "generate_task", "score_purchase"]

_TEMPLATES = (
    "i am looking for a {attrs} {category} with {options}, and price lower than {price} dollars",
    "find me a {category} that is {attrs}, with {options}, under {price} dollars",
    "i need a {attrs} {category} in {options}; keep it below {price} dollars",
    "please buy a {category}, {attrs}, {options}, price under {price} dollars",
)

#: (attributes, options or None for all, price factor range, best rank bound, preferred min rank)
_LEVELS: dict[int, tuple[int, int | None, tuple[float, float], int, int]] = {
    1: (1, 1, (1.3, 2.0), 10, 0),
    2: (2, 2, (1.05, 1.3), 30, 0),
    3: (3, None, (1.0, 1.0), MAX_RESULTS, 10),
}


@dataclass(frozen=True)
class WebTask:
    """One shop task.

    Attributes:
        asin: the target product.
        category: its category.
        attributes: the attributes asked for.
        options: ``(dimension, value)`` pairs asked for.
        price_bound: the highest acceptable price.
        instruction: the instruction text.
        query: the oracle's search query.
        rank: the target's 0-based rank in the oracle query's results.
        difficulty: the level.
    """

    asin: str
    category: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    price_bound: float
    instruction: str
    query: str
    rank: int
    difficulty: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "asin": self.asin,
            "category": self.category,
            "attributes": list(self.attributes),
            "options": dict(self.options),
            "price_bound": self.price_bound,
            "instruction": self.instruction,
            "query": self.query,
            "rank": self.rank,
            "difficulty": self.difficulty,
        }


def _draw(rng: random.Random, cat: Catalogue, level: int) -> WebTask:
    n_attrs, n_opts, (lo, hi), _, _ = _LEVELS[level]
    product = rng.choice(cat.products)
    attrs = tuple(rng.sample(product.attributes, min(n_attrs, len(product.attributes))))
    dims = [(d, v) for d, v in product.options if v]
    if n_opts is not None:
        dims = rng.sample(dims, min(n_opts, len(dims)))
    options = tuple((d, rng.choice(v)) for d, v in dims)
    bound = (
        math.ceil(product.price) if level == 3 else math.ceil(product.price * rng.uniform(lo, hi))
    )
    option_text = " and ".join(v if v.startswith(d) else f"{d} {v}" for d, v in options)
    instruction = rng.choice(_TEMPLATES).format(
        attrs=" and ".join(attrs),
        category=product.category,
        options=option_text,
        price=f"{bound:.2f}",
    )
    query = " ".join((product.category, *attrs))
    hits = cat.search(query)
    rank = hits.index(product.asin) if product.asin in hits else MAX_RESULTS
    return WebTask(
        product.asin,
        product.category,
        attrs,
        options,
        float(bound),
        instruction,
        query,
        rank,
        level,
    )


def generate_task(cat: Catalogue, seed: int, difficulty: int = 1, tries: int = 400) -> WebTask:
    """Draw a task whose target the oracle query finds (``random.Random(seed)``).

    Raises:
        RuntimeError: no findable task in ``tries`` draws (the catalogue is too small).
    """
    rng = random.Random(seed)
    _, _, _, max_rank, min_rank = _LEVELS[difficulty]
    fallback = None
    for attempt in range(tries):
        task = _draw(rng, cat, difficulty)
        if task.rank >= max_rank:
            continue
        if task.rank >= min_rank or attempt >= 24:
            return task
        fallback = fallback or task
    if fallback is not None:
        return fallback
    raise RuntimeError(f"no findable level-{difficulty} task in {tries} draws")


def score_purchase(task: WebTask, product: Product, chosen: dict[str, str]) -> float:
    """WebShop-style score of buying ``product`` with options ``chosen``, in [0, 1].

    The share of the asked attributes the product has, asked options chosen and the
    price bound met (one point each), times 1 for the asked category (0.1 otherwise).
    """
    hits = sum(a in product.attributes for a in task.attributes)
    hits += sum(chosen.get(d) == v for d, v in task.options)
    hits += product.price <= task.price_bound
    total = len(task.attributes) + len(task.options) + 1
    type_factor = 1.0 if product.category == task.category else 0.1
    return round(type_factor * hits / total, 6)
