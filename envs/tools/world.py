"""The shop world: a procedurally generated SQLite database, restored from bytes on reset.

A world holds users with payment methods and settings, products with variants and
stock, and orders with items, status and a payment history. It is built once per world
seed (a few hundred rows); every episode starts from its serialised bytes
(:meth:`sqlite3.Connection.deserialize`), so a reset costs microseconds and no episode
sees another's writes. Money is stored in integer cents and shown to agents in dollars.

Example:
    >>> world = ShopWorld.build(0)
    >>> conn = world.connect()
    >>> conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == world.size["users"]
    True
    >>> _ = conn.execute("DELETE FROM orders")
    >>> world.restore(conn)
    >>> conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == world.size["orders"]
    True
    >>> bool(world.diff(conn))
    False
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCHEMA", "TABLES", "ShopWorld", "WorldDiff", "connect_bytes", "world_for_seed"]

#: Table name -> column definitions. No autoincrement ids: rows compare as value sets.
SCHEMA: dict[str, str] = {
    "users": (
        "user_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE, "
        "address1 TEXT, city TEXT, state TEXT, zip TEXT"
    ),
    "payment_methods": (
        "payment_id TEXT PRIMARY KEY, user_id TEXT, kind TEXT, label TEXT, balance_cents INTEGER"
    ),
    "settings": "user_id TEXT, key TEXT, value TEXT, PRIMARY KEY (user_id, key)",
    "products": "product_id TEXT PRIMARY KEY, name TEXT, category TEXT",
    "variants": (
        "item_id TEXT PRIMARY KEY, product_id TEXT, options TEXT, price_cents INTEGER, "
        "stock INTEGER"
    ),
    "orders": (
        "order_id TEXT PRIMARY KEY, user_id TEXT, status TEXT, address1 TEXT, city TEXT, "
        "state TEXT, zip TEXT"
    ),
    "order_items": (
        "order_id TEXT, item_id TEXT, product_id TEXT, name TEXT, options TEXT, "
        "price_cents INTEGER, status TEXT, new_item_id TEXT, PRIMARY KEY (order_id, item_id)"
    ),
    "payments": "order_id TEXT, kind TEXT, payment_id TEXT, amount_cents INTEGER",
}
TABLES: tuple[str, ...] = tuple(SCHEMA)
#: Columns that identify a row (``payments`` has none: the whole row is its identity).
KEY_COLUMNS: dict[str, int] = {"settings": 2, "order_items": 2, "payments": 4}
#: Tables whose rows may pass through intermediate values (gift card balances).
ACCUMULATING = frozenset({"payment_methods"})

_FIRST = (
    "mia lucas emma noah olivia liam ava ethan sofia mason isabella james yara omar "
    "chen aisha ivan lena raj fatima diego hana kofi nina yusuf zoe arjun maya leo sara"
).split()
_LAST = (
    "lee garcia smith kim patel nguyen silva mueller rossi tanaka khan brown lopez "
    "novak ali jensen cohen sato moreau ortiz okafor singh wright ito"
).split()
_STREETS = "Maple Oak Pine Cedar Elm Lake Hill River Park Sunset Willow Birch".split()
_CITIES = (
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Seattle", "WA", "981"),
    ("Boston", "MA", "021"),
    ("Portland", "OR", "972"),
    ("Chicago", "IL", "606"),
    ("Phoenix", "AZ", "850"),
    ("Atlanta", "GA", "303"),
)
#: Product name -> (category, {option: values}).
_PRODUCTS: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "T-Shirt": ("clothing", {"color": ("red", "blue", "black"), "size": ("S", "M", "L")}),
    "Hoodie": ("clothing", {"color": ("grey", "navy"), "size": ("M", "L", "XL")}),
    "Running Shoes": ("footwear", {"color": ("white", "black"), "size": ("8", "9", "10")}),
    "Hiking Boots": ("footwear", {"material": ("leather", "synthetic"), "size": ("9", "10")}),
    "Water Bottle": ("outdoor", {"capacity": ("500ml", "1000ml"), "color": ("green", "blue")}),
    "Backpack": ("outdoor", {"capacity": ("20L", "35L"), "color": ("black", "orange")}),
    "Tent": ("outdoor", {"size": ("2-person", "4-person")}),
    "Desk Lamp": ("home", {"color": ("white", "black"), "power": ("LED", "halogen")}),
    "Coffee Maker": ("kitchen", {"capacity": ("4 cups", "8 cups", "12 cups")}),
    "Tea Kettle": ("kitchen", {"material": ("steel", "glass"), "color": ("silver", "red")}),
    "Headphones": ("electronics", {"type": ("over-ear", "in-ear"), "color": ("black", "white")}),
    "Keyboard": ("electronics", {"layout": ("US", "UK"), "switch": ("linear", "tactile")}),
    "Smart Watch": ("electronics", {"color": ("black", "gold"), "band": ("silicone", "metal")}),
    "Bookshelf": ("home", {"material": ("oak", "pine"), "height": ("4ft", "6ft")}),
    "Yoga Mat": ("fitness", {"thickness": ("4mm", "6mm"), "color": ("purple", "teal")}),
    "Dumbbells": ("fitness", {"weight": ("10lb", "20lb", "30lb")}),
    "Sunglasses": ("accessories", {"frame": ("metal", "plastic"), "lens": ("polarized", "tinted")}),
    "Wallet": ("accessories", {"material": ("leather", "canvas"), "color": ("brown", "black")}),
}
#: Setting key -> allowed values (``default_payment`` takes one of the user's payment ids).
SETTING_VALUES: dict[str, tuple[str, ...]] = {
    "language": ("en", "fr", "de", "es", "it", "ja"),
    "currency": ("USD", "EUR", "GBP", "JPY"),
    "newsletter": ("off", "weekly", "monthly"),
    "notifications": ("all", "orders_only", "none"),
    "two_factor": ("on", "off"),
}
ORDER_STATUSES = ("pending", "processed", "delivered", "cancelled")

Rows = dict[str, Counter]


@dataclass(frozen=True, eq=False)
class WorldDiff:
    """Rows added and removed per table (multisets of row tuples).

    Attributes:
        added: table -> Counter of rows present now but not initially.
        removed: table -> Counter of rows present initially but not now.
    """

    added: dict[str, Counter] = field(default_factory=dict)
    removed: dict[str, Counter] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.added.values()) or any(self.removed.values())

    def n_rows(self) -> int:
        """Return the number of changed rows (added plus removed)."""
        return sum(sum(c.values()) for c in (*self.added.values(), *self.removed.values()))

    def minus(self, other: WorldDiff) -> WorldDiff:
        """Return the changes of ``self`` that ``other`` does not contain."""
        return WorldDiff(
            added={t: c - other.added.get(t, Counter()) for t, c in self.added.items()},
            removed={t: c - other.removed.get(t, Counter()) for t, c in self.removed.items()},
        )

    def keys(self) -> set[tuple[str, tuple[Any, ...]]]:
        """Return ``(table, key)`` of every changed row (the key: its identifying columns)."""
        out = set()
        for side in (self.added, self.removed):
            for table, rows in side.items():
                width = KEY_COLUMNS.get(table, 1)
                out.update((table, row[:width]) for row in rows)
        return out

    def final_rows(self) -> dict[tuple[str, tuple[Any, ...]], tuple[Any, ...]]:
        """Return ``{(table, key): row}`` for the rows as they are now (added rows)."""
        return {
            (table, row[: KEY_COLUMNS.get(table, 1)]): row
            for table, rows in self.added.items()
            for row in rows
        }

    def as_dict(self) -> dict[str, dict[str, list[list[Any]]]]:
        """Return a JSON-friendly view: ``{table: {"added": [...], "removed": [...]}}``."""
        out: dict[str, dict[str, list[list[Any]]]] = {}
        for table in TABLES:
            added = sorted(self.added.get(table, Counter()).elements(), key=repr)
            removed = sorted(self.removed.get(table, Counter()).elements(), key=repr)
            if added or removed:
                out[table] = {
                    "added": [list(r) for r in added],
                    "removed": [list(r) for r in removed],
                }
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorldDiff):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WorldDiff({self.as_dict()!r})"


def table_rows(conn: sqlite3.Connection) -> Rows:
    """Return every table's rows as a multiset of tuples."""
    return {t: Counter(conn.execute(f"SELECT * FROM {t}")) for t in TABLES}  # noqa: S608


def diff_rows(before: Rows, after: Rows) -> WorldDiff:
    """Return the rows added and removed between two :func:`table_rows` snapshots."""
    added = {t: after[t] - before[t] for t in TABLES}
    removed = {t: before[t] - after[t] for t in TABLES}
    return WorldDiff(
        added={t: c for t, c in added.items() if c},
        removed={t: c for t, c in removed.items() if c},
    )


def connect_bytes(data: bytes) -> sqlite3.Connection:
    """Open an in-memory connection holding a copy of a serialised database.

    The connection may be used from another thread (the HTTP transport's server), one
    call at a time.
    """
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.deserialize(data)
    return conn


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


class _Ids:
    """Draws identifiers that look random and never repeat within a world."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def new(self, prefix: str, n_digits: int) -> str:
        while True:
            ident = prefix + _digits(self.rng, n_digits)
            if ident not in self.used:
                self.used.add(ident)
                return ident


def _build(conn: sqlite3.Connection, seed: int, n_users: int) -> None:
    rng = random.Random(f"toolshop-world-{seed}")
    ids = _Ids(rng)
    for table, columns in SCHEMA.items():
        conn.execute(f"CREATE TABLE {table} ({columns})")
    conn.execute("CREATE TABLE _touched (tbl TEXT, rid INTEGER)")
    products: list[tuple[str, str, list[tuple[str, str, int]]]] = []
    names = list(_PRODUCTS)
    rng.shuffle(names)
    for name in names:
        category, dims = _PRODUCTS[name]
        product_id = ids.new("", 10)
        combos = [""]
        for dim, values in dims.items():
            combos = [f"{c}, {dim}: {v}" if c else f"{dim}: {v}" for c in combos for v in values]
        base = rng.randint(8, 250) * 100 - 1
        variants = []
        for options in combos:
            if rng.random() < 0.25 and len(variants) >= 2:
                continue  # not every combination exists
            price = base + rng.randint(-5, 5) * 100
            stock = 0 if rng.random() < 0.2 else rng.randint(1, 30)
            item_id = ids.new("", 10)
            variants.append((item_id, options, price))
            conn.execute(
                "INSERT INTO variants VALUES (?, ?, ?, ?, ?)",
                (item_id, product_id, options, price, stock),
            )
        conn.execute("INSERT INTO products VALUES (?, ?, ?)", (product_id, name, category))
        products.append((product_id, name, variants))
    people: set[tuple[str, str, str]] = set()
    for _ in range(n_users):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, state, zip_prefix = rng.choice(_CITIES)
        zip_code = zip_prefix + _digits(rng, 2)
        if (first, last, zip_code) in people:
            continue
        people.add((first, last, zip_code))
        user_id = ids.new(f"{first}_{last}_", 4)
        email = f"{first}.{last}{user_id[-4:]}@example.com"
        address = f"{rng.randint(1, 999)} {rng.choice(_STREETS)} St"
        conn.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (user_id, first.title(), last.title(), email, address, city, state, zip_code),
        )
        kinds = rng.sample(["credit_card", "paypal", "gift_card"], rng.randint(1, 3))
        methods = []
        for kind in kinds:
            payment_id = ids.new(f"{kind}_", 7)
            label = {
                "credit_card": f"{rng.choice(['visa', 'mastercard'])} ending in {_digits(rng, 4)}",
                "paypal": "paypal account",
                "gift_card": "gift card",
            }[kind]
            balance = rng.randint(0, 300) * 100 if kind == "gift_card" else None
            conn.execute(
                "INSERT INTO payment_methods VALUES (?, ?, ?, ?, ?)",
                (payment_id, user_id, kind, label, balance),
            )
            methods.append(payment_id)
        for key, values in SETTING_VALUES.items():
            conn.execute(
                "INSERT INTO settings VALUES (?, ?, ?)", (user_id, key, rng.choice(values))
            )
        conn.execute("INSERT INTO settings VALUES (?, 'default_payment', ?)", (user_id, methods[0]))
        for _ in range(rng.randint(1, 5)):
            order_id = ids.new("#W", 7)
            status = rng.choices(ORDER_STATUSES, weights=(3, 2, 4, 1))[0]
            if rng.random() < 0.85:
                ship = (address, city, state, zip_code)
            else:
                ship = (f"{rng.randint(1, 999)} {rng.choice(_STREETS)} Ave", city, state, zip_code)
            conn.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)",
                (order_id, user_id, status, *ship),
            )
            total = 0
            for product_id, name, variants in rng.sample(products, rng.randint(1, 4)):
                item_id, options, price = rng.choice(variants)
                total += price
                conn.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, 'ordered', NULL)",
                    (order_id, item_id, product_id, name, options, price),
                )
            payer = rng.choice(methods)
            conn.execute(
                "INSERT INTO payments VALUES (?, 'payment', ?, ?)", (order_id, payer, total)
            )
            if status == "cancelled":
                conn.execute(
                    "INSERT INTO payments VALUES (?, 'refund', ?, ?)", (order_id, payer, total)
                )


def _add_change_log(conn: sqlite3.Connection) -> None:
    """Log the rowid of every row a write touches, so diffs cost O(changed rows).

    The log is part of the world's bytes and empty initially, so a restore clears it.
    Its table is created with the others, before any row: every world then has the same
    schema *and* the same root pages, which matters because one connection restores
    worlds of different seeds and SQLite keeps its parsed schema while the schema
    cookie is unchanged.
    """
    for table in TABLES:
        conn.execute(
            f"CREATE TRIGGER _{table}_ins AFTER INSERT ON {table} "
            f"BEGIN INSERT INTO _touched VALUES ('{table}', NEW.rowid); END"
        )
        conn.execute(
            f"CREATE TRIGGER _{table}_upd AFTER UPDATE ON {table} "
            f"BEGIN INSERT INTO _touched VALUES ('{table}', OLD.rowid); "
            f"INSERT INTO _touched VALUES ('{table}', NEW.rowid); END"
        )
        conn.execute(
            f"CREATE TRIGGER _{table}_del AFTER DELETE ON {table} "
            f"BEGIN INSERT INTO _touched VALUES ('{table}', OLD.rowid); END"
        )


class ShopWorld:
    """One generated shop world: its serialised bytes and its initial rows.

    Build with :meth:`build` (or :func:`world_for_seed`, cached); open episodes with
    :meth:`connect` and reset them with :meth:`restore`.

    Attributes:
        seed: the world seed.
        data: the serialised database.
        rows: the initial rows of every table (for diffs).
        size: table -> number of rows.
    """

    def __init__(self, seed: int, data: bytes):
        self.seed = int(seed)
        self.data = data
        conn = connect_bytes(data)
        self.rows = table_rows(conn)
        self._by_rowid = {
            t: {r[0]: tuple(r[1:]) for r in conn.execute(f"SELECT rowid, * FROM {t}")}
            for t in TABLES
        }
        conn.close()
        self.size = {t: sum(c.values()) for t, c in self.rows.items()}

    @classmethod
    def build(cls, seed: int, n_users: int = 40) -> ShopWorld:
        """Generate the world for ``seed`` (deterministic; a few milliseconds)."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute("BEGIN")
        _build(conn, int(seed), n_users)
        _add_change_log(conn)
        conn.execute("COMMIT")
        data = conn.serialize()
        conn.close()
        return cls(seed, data)

    def connect(self) -> sqlite3.Connection:
        """Return a new connection holding a fresh copy of this world."""
        return connect_bytes(self.data)

    def restore(self, conn: sqlite3.Connection, data: bytes | None = None) -> None:
        """Reset ``conn`` to this world (or to ``data``, a snapshot of it)."""
        conn.deserialize(self.data if data is None else data)

    def diff(self, conn: sqlite3.Connection) -> WorldDiff:
        """Return what changed in ``conn`` since this world's initial state.

        Only the rows the change log names are compared, so this costs microseconds;
        :meth:`full_diff` compares every row (the reference).
        """
        touched: dict[str, set[int]] = {}
        for table, rid in conn.execute("SELECT tbl, rid FROM _touched"):
            touched.setdefault(table, set()).add(rid)
        added: dict[str, Counter] = {}
        removed: dict[str, Counter] = {}
        for table, rids in touched.items():
            initial = self._by_rowid[table]
            before = Counter(initial[r] for r in rids if r in initial)
            marks = ",".join("?" * len(rids))
            after = Counter(
                tuple(row)
                for row in conn.execute(
                    f"SELECT * FROM {table} WHERE rowid IN ({marks})",  # noqa: S608
                    tuple(rids),
                )
            )
            if after - before:
                added[table] = after - before
            if before - after:
                removed[table] = before - after
        return WorldDiff(added=added, removed=removed)

    def full_diff(self, conn: sqlite3.Connection) -> WorldDiff:
        """Return what changed, comparing every row of every table."""
        return diff_rows(self.rows, table_rows(conn))


_CACHE: OrderedDict[tuple[int, int], ShopWorld] = OrderedDict()
_CACHE_SIZE = 32


def world_for_seed(seed: int, n_users: int = 40) -> ShopWorld:
    """Return the world for ``seed``, built once per process (a small LRU cache).

    Example:
        >>> world_for_seed(3) is world_for_seed(3)
        True
    """
    key = (int(seed), int(n_users))
    world = _CACHE.get(key)
    if world is None:
        world = ShopWorld.build(*key)
        _CACHE[key] = world
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return world
