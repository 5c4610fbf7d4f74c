"""A read-only Python index of a world, for task generators (built once per world).

Example:
    >>> catalog = catalog_for_seed(0)
    >>> user = catalog.users[0]
    >>> all(catalog.orders[oid].user_id == user.user_id for oid in user.orders)
    True
    >>> money(5499), money(10000)
    ('54.99', '100.0')
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from densegym.envs.tools.world import world_for_seed

__all__ = ["Catalog", "Item", "Order", "User", "Variant", "catalog_for_seed", "money"]


def money(cents: int) -> str:
    """Dollars exactly as the tools print them (``json.dumps`` of the rounded float)."""
    return json.dumps(round(cents / 100, 2))


@dataclass(frozen=True)
class Variant:
    """A product variant."""

    item_id: str
    product_id: str
    options: str
    price: int
    stock: int


@dataclass(frozen=True)
class Item:
    """An order line."""

    item_id: str
    product_id: str
    name: str
    options: str
    price: int


@dataclass(frozen=True)
class Order:
    """An order with its lines and original payment method."""

    order_id: str
    user_id: str
    status: str
    items: tuple[Item, ...]
    payment_id: str
    total: int


@dataclass(frozen=True)
class User:
    """A user with payment methods (``(payment_id, kind, label, balance)``) and settings."""

    user_id: str
    first: str
    last: str
    email: str
    zip: str
    payments: tuple[tuple[str, str, str, int | None], ...]
    orders: tuple[str, ...]
    settings: dict[str, str]


@dataclass(frozen=True)
class Catalog:
    """Users, orders and product variants of one world."""

    seed: int
    users: tuple[User, ...]
    orders: dict[str, Order]
    variants: dict[str, tuple[Variant, ...]]
    product_names: dict[str, str]


@functools.lru_cache(maxsize=32)
def catalog_for_seed(seed: int) -> Catalog:
    """Return the index of the world for ``seed`` (cached)."""
    conn = world_for_seed(seed).connect()
    variants: dict[str, list[Variant]] = {}
    for row in conn.execute("SELECT * FROM variants ORDER BY rowid"):
        variants.setdefault(row[1], []).append(Variant(*row))
    names = dict(conn.execute("SELECT product_id, name FROM products"))
    items: dict[str, list[Item]] = {}
    for oid, item_id, pid, name, options, price in conn.execute(
        "SELECT order_id, item_id, product_id, name, options, price_cents FROM order_items "
        "ORDER BY rowid"
    ):
        items.setdefault(oid, []).append(Item(item_id, pid, name, options, price))
    orders: dict[str, Order] = {}
    for oid, uid, status, pay, total in conn.execute(
        "SELECT o.order_id, o.user_id, o.status, p.payment_id, p.amount_cents FROM orders o "
        "JOIN payments p ON p.order_id = o.order_id AND p.kind = 'payment' ORDER BY o.rowid"
    ):
        orders[oid] = Order(oid, uid, status, tuple(items[oid]), pay, total)
    users = []
    for uid, first, last, email, zip_code in conn.execute(
        "SELECT user_id, first_name, last_name, email, zip FROM users ORDER BY rowid"
    ):
        payments = tuple(
            conn.execute(
                "SELECT payment_id, kind, label, balance_cents FROM payment_methods "
                "WHERE user_id = ? ORDER BY payment_id",
                (uid,),
            )
        )
        user_orders = tuple(o.order_id for o in orders.values() if o.user_id == uid)
        settings = dict(conn.execute("SELECT key, value FROM settings WHERE user_id = ?", (uid,)))
        users.append(User(uid, first, last, email, zip_code, payments, user_orders, settings))
    conn.close()
    return Catalog(seed, tuple(users), orders, {k: tuple(v) for k, v in variants.items()}, names)
