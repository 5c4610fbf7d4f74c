"""The shop's catalogue: products generated from attribute grammars, in SQLite with FTS5.

A category names its noun, its attributes (tags a product has or lacks: ``wireless``,
``machine washable``), its option dimensions (``size``, ``color``, ...) and a price
range. Products come in families: a base product plus siblings that differ from it in
one attribute or in price, so every search meets near-duplicates (the distractors of
the harder task levels). Each product has a title, a price, stock, options, a
description, feature bullets and reviews (the reviews never carry task facts).

Search is SQLite's FTS5 with its BM25 rank over title, attributes, description and
features; the query's words are OR-ed (a query never comes back empty because one word
is missing) and ties are broken by product id, so results are deterministic.

Example:
    >>> cat = catalogue_for_seed(0, 600)
    >>> len(cat.products) >= 600
    True
    >>> product = cat.products[5]
    >>> hits = cat.search(product.title)
    >>> product.asin in hits[:10]
    True
    >>> cat.search("") == [] and cat.search("((((") == []
    True
"""

from __future__ import annotations

import functools
import random
import re
import sqlite3
import threading
from dataclasses import dataclass, field

__all__ = ["CATEGORIES", "Catalogue", "Category", "Product", "catalogue_for_seed", "words"]

_WORD = re.compile(r"[a-z0-9]+")
#: Search never looks at more than this many query words (bounded work per query).
MAX_QUERY_WORDS = 24
#: Results the site lists for a query (WebShop's top 50).
MAX_RESULTS = 50


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words of ``text``.

    Example:
        >>> words("Wireless, Noise-Cancelling HEADPHONES!")
        ['wireless', 'noise', 'cancelling', 'headphones']
    """
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Category:
    """One category of the grammar.

    Attributes:
        name: the category's noun (``"headphones"``).
        attributes: tags a product of this category may have.
        options: option dimension -> its values.
        price: (low, high) base price range in dollars.
        nouns: title words for the product type.
        brands: brand names.
    """

    name: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price: tuple[float, float]
    nouns: tuple[str, ...]
    brands: tuple[str, ...]


_COLORS = ("black", "white", "navy blue", "red", "grey", "green", "beige", "pink", "brown")
_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large")

CATEGORIES: tuple[Category, ...] = (
    Category(
        "t-shirt",
        (
            "machine washable",
            "short sleeve",
            "long sleeve",
            "cotton",
            "slim fit",
            "moisture wicking",
            "crew neck",
            "v-neck",
        ),
        (("color", _COLORS), ("size", _SIZES)),
        (9.0, 35.0),
        ("t-shirt", "tee", "top"),
        ("Lumo", "Northpeak", "Bravada", "Kitebay"),
    ),
    Category(
        "jeans",
        (
            "machine washable",
            "slim fit",
            "relaxed fit",
            "stretch",
            "high waist",
            "button fly",
            "distressed",
        ),
        (
            ("color", ("light wash", "dark wash", "black", "grey")),
            ("size", ("28w", "30w", "32w", "34w", "36w", "38w")),
            ("length", ("30l", "32l", "34l")),
        ),
        (25.0, 90.0),
        ("jeans", "denim pants"),
        ("Rivet", "Indigo Co", "Tallow"),
    ),
    Category(
        "headphones",
        (
            "wireless",
            "noise cancelling",
            "over ear",
            "in ear",
            "waterproof",
            "long battery life",
            "built-in microphone",
            "foldable",
        ),
        (("color", ("black", "white", "silver", "blue", "rose gold")),),
        (15.0, 220.0),
        ("headphones", "earbuds", "headset"),
        ("Sonora", "Beatwave", "Quietly", "Auralis"),
    ),
    Category(
        "coffee",
        (
            "organic",
            "fair trade",
            "dark roast",
            "medium roast",
            "decaf",
            "whole bean",
            "ground",
            "single origin",
        ),
        (
            ("flavor", ("original", "vanilla", "hazelnut", "caramel", "mocha")),
            ("size", ("8 ounce", "12 ounce", "16 ounce", "2 pound")),
        ),
        (6.0, 40.0),
        ("coffee", "coffee beans", "espresso blend"),
        ("Daybreak", "Highland Roasters", "Crema & Co"),
    ),
    Category(
        "sofa",
        (
            "easy assembly",
            "living room",
            "stain resistant",
            "reclining",
            "sleeper",
            "solid wood frame",
            "tufted",
            "mid-century",
        ),
        (
            ("color", ("grey", "beige", "navy blue", "emerald green", "charcoal")),
            ("size", ("loveseat", "3 seat", "sectional")),
        ),
        (180.0, 1200.0),
        ("sofa", "couch", "settee"),
        ("Hearthly", "Oakmoor", "Lounja"),
    ),
    Category(
        "shampoo",
        (
            "sulfate free",
            "paraben free",
            "for dry hair",
            "for curly hair",
            "natural",
            "vegan",
            "color safe",
            "dandruff",
        ),
        (
            ("scent", ("unscented", "lavender", "coconut", "tea tree", "citrus")),
            ("size", ("8 fl oz", "12 fl oz", "16.9 fl oz", "33.8 fl oz")),
        ),
        (5.0, 30.0),
        ("shampoo", "hair wash", "cleansing shampoo"),
        ("Purelle", "Verdant", "Silkroot"),
    ),
    Category(
        "phone case",
        (
            "shockproof",
            "slim",
            "wireless charging compatible",
            "kickstand",
            "clear",
            "wallet",
            "screen protector included",
            "magnetic",
        ),
        (
            ("color", ("black", "clear", "blue", "purple", "red", "green")),
            ("model", ("model 12", "model 13", "model 14", "model 15", "model 15 pro")),
        ),
        (7.0, 45.0),
        ("phone case", "case", "cover"),
        ("Armorly", "Casecraft", "Gript"),
    ),
    Category(
        "running shoes",
        (
            "lightweight",
            "breathable",
            "non slip",
            "arch support",
            "waterproof",
            "wide",
            "memory foam",
            "trail",
        ),
        (
            ("color", ("black", "white", "grey", "blue", "red", "neon yellow")),
            ("size", ("6", "7", "8", "9", "10", "11", "12")),
        ),
        (35.0, 160.0),
        ("running shoes", "sneakers", "trainers"),
        ("Strydr", "Pacer", "Montane Run", "Velo"),
    ),
)

_ADJECTIVES = ("premium", "classic", "everyday", "essential", "pro", "ultra", "comfort", "urban")
_REVIEW_LINES = (
    "Arrived quickly and works as described.",
    "Not what I expected, but the seller was helpful.",
    "Great value for the money. Would buy again.",
    "The packaging was damaged; the product itself is fine.",
    "My second one. Still happy with it.",
    "Customer service replaced it without questions.",
)


@dataclass(frozen=True)
class Product:
    """One product.

    Attributes:
        asin: the product id (``B0`` + 8 characters).
        category: the category name.
        title: the product's title.
        price: price in dollars.
        stock: units in stock.
        attributes: the tags it has.
        options: option dimension -> the values offered.
        description: a paragraph.
        features: bullet points.
        reviews: review lines (a distractor page: no task facts).
        rating: stars, 1-5.
    """

    asin: str
    category: str
    title: str
    price: float
    stock: int
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    description: str
    features: tuple[str, ...]
    reviews: tuple[str, ...] = field(default=())
    rating: float = 4.0

    def option_values(self, dim: str) -> tuple[str, ...]:
        """The values offered for an option dimension (empty if none)."""
        return dict(self.options).get(dim, ())


def _asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))


def _product(
    rng: random.Random,
    category: Category,
    asin: str,
    brand: str,
    noun: str,
    adjective: str,
    attributes: tuple[str, ...],
    price: float,
    options: tuple[tuple[str, tuple[str, ...]], ...],
) -> Product:
    # The title names the brand, noun and some attributes; the rest are on the other pages.
    shown = attributes[: max(1, len(attributes) - 1)]
    title = f"{brand} {adjective.title()} {noun.title()} - {', '.join(a.title() for a in shown)}"
    description = (
        f"The {brand} {adjective} {noun} is a {category.name} made to last. "
        f"It is {', '.join(attributes[:-1])}{' and ' if len(attributes) > 1 else ''}"
        f"{attributes[-1]}. "
        f"Available in {len(options[0][1])} {options[0][0]}s."
    )
    features = tuple(f"{a.capitalize()}: {brand} quality you can feel." for a in attributes)
    reviews = tuple(rng.sample(_REVIEW_LINES, 3))
    return Product(
        asin=asin,
        category=category.name,
        title=title,
        price=round(price, 2),
        stock=rng.randrange(0, 200),
        attributes=attributes,
        options=options,
        description=description,
        features=features,
        reviews=reviews,
        rating=round(rng.uniform(2.5, 5.0), 1),
    )


def generate_products(seed: int, n_products: int = 1000) -> list[Product]:
    """Generate at least ``n_products`` products in families from ``random.Random(seed)``.

    Example:
        >>> a, b = generate_products(1, 50), generate_products(1, 50)
        >>> a == b, len({p.asin for p in a}) == len(a)
        (True, True)
    """
    rng = random.Random(seed)
    products: list[Product] = []
    asins: set[str] = set()

    def fresh_asin() -> str:
        while True:
            asin = _asin(rng)
            if asin not in asins:
                asins.add(asin)
                return asin

    while len(products) < n_products:
        category = rng.choice(CATEGORIES)
        brand, noun = rng.choice(category.brands), rng.choice(category.nouns)
        adjective = rng.choice(_ADJECTIVES)
        attributes = tuple(rng.sample(category.attributes, rng.randint(2, 4)))
        low, high = category.price
        price = rng.uniform(low, high)
        options = tuple(
            (dim, tuple(v for v in values if rng.random() < 0.7) or values[:2])
            for dim, values in category.options
        )
        products.append(
            _product(
                rng, category, fresh_asin(), brand, noun, adjective, attributes, price, options
            )
        )
        for _ in range(rng.randint(0, 3)):  # siblings: one attribute or the price differs
            sib_attrs, sib_price = list(attributes), price
            if rng.random() < 0.6:
                spare = [a for a in category.attributes if a not in attributes]
                sib_attrs[rng.randrange(len(sib_attrs))] = rng.choice(spare)
            else:
                sib_price = price * rng.uniform(1.1, 1.5)
            products.append(
                _product(
                    rng,
                    category,
                    fresh_asin(),
                    brand,
                    noun,
                    adjective,
                    tuple(sib_attrs),
                    sib_price,
                    options,
                )
            )
    return products


class Catalogue:
    """Products in an in-memory SQLite database with an FTS5 index.

    Safe to share between threads (the site's server threads and generators): every
    query holds a lock.

    Args:
        products: the products.
    """

    def __init__(self, products: list[Product]):
        self.products = products
        self.by_asin = {p.asin: p for p in products}
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(asin UNINDEXED, title, attributes, "
            "description, features, tokenize='unicode61')"
        )
        self._conn.executemany(
            "INSERT INTO docs(rowid, asin, title, attributes, description, features) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (i, p.asin, p.title, " ".join(p.attributes), p.description, " ".join(p.features))
                for i, p in enumerate(products)
            ],
        )
        self._conn.commit()
        self._cache: dict[str, list[str]] = {}

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[str]:
        """The asins best matching ``query`` by BM25 (its words OR-ed), best first."""
        terms = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        key = f"{limit}|{match}"
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                rows = self._conn.execute(
                    "SELECT asin FROM docs WHERE docs MATCH ? "
                    "ORDER BY bm25(docs, 4.0, 2.0, 1.0, 1.0), rowid LIMIT ?",
                    (match, limit),
                ).fetchall()
                hit = [row[0] for row in rows]
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = hit
        return list(hit)


@functools.lru_cache(maxsize=4)
def catalogue_for_seed(seed: int, n_products: int = 1000) -> Catalogue:
    """The catalogue of a seed (built once per process)."""
    return Catalogue(generate_products(seed, n_products))
