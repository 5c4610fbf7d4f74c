"""The shop's tools: plain functions over a world connection, their schemas, costs and policy.

Every tool is a :class:`Tool`: a Python function ``fn(conn, **arguments)``, typed
parameters (from which the OpenAI function-calling schema is generated) and a cost.
:func:`call_tool` validates the arguments, runs the tool and returns a
:class:`ToolResult`; it never raises. Write tools enforce :data:`POLICY` and answer a
violation with an error result, writing nothing (each write runs in one transaction).

Example:
    >>> from densegym.envs.tools.world import world_for_seed
    >>> conn = world_for_seed(0).connect()
    >>> order_id = conn.execute(
    ...     "SELECT order_id FROM orders WHERE status = 'delivered' LIMIT 1").fetchone()[0]
    >>> call_tool(conn, "cancel_order", {"order_id": order_id, "reason": "no longer needed"}).text
    'Error: policy: only pending orders can be cancelled (this order is delivered)'
    >>> call_tool(conn, "get_order", {"id": 1}).status
    'invalid'
    >>> call_tool(conn, "calculate", {"expression": "(12.5 + 30.25) * 2"}).text
    '{"result": 85.5}'
    >>> schema = TOOLS["get_order"].schema()
    >>> schema["function"]["parameters"]["required"]
    ['order_id']
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from densegym.envs.tools.world import SETTING_VALUES

__all__ = [
    "CORE_TOOLS",
    "DISTRACTORS",
    "POLICY",
    "TERMINAL_TOOLS",
    "TOOLS",
    "Param",
    "Tool",
    "ToolError",
    "ToolResult",
    "call_tool",
    "toolset",
]

#: The written policy every write tool enforces (shown to the agent with the task).
POLICY: tuple[str, ...] = (
    "Only pending orders can be cancelled or have their shipping address changed.",
    "A cancellation needs the reason 'no longer needed' or 'ordered by mistake'; the full "
    "amount is refunded to the original payment method.",
    "Only delivered orders can have items returned or exchanged, once per order.",
    "Refunds and exchange price differences go to the order's original payment method.",
    "An exchange swaps an item for an in-stock variant of the same product.",
    "A gift card cannot be charged beyond its balance.",
)
_ADDRESS_KEYS = ("address1", "city", "state", "zip")
_log = logging.getLogger(__name__)
CANCEL_REASONS = ("no longer needed", "ordered by mistake")
MAX_STRING = 500
MAX_ITEMS = 20


class ToolError(Exception):
    """A tool refused a call: a missing record or a policy violation (shown as the result)."""


class BadArguments(Exception):
    """The arguments do not fit the tool's schema (an invalid call)."""


@dataclass(frozen=True)
class Param:
    """One tool parameter.

    Attributes:
        name: the argument name.
        type: JSON schema type: ``string``, ``integer``, ``number`` or ``array`` (of strings).
        description: one line for the schema.
        required: whether the call must give it.
        enum: allowed values, when fixed.
    """

    name: str
    type: str
    description: str
    required: bool = True
    enum: tuple[str, ...] | None = None

    def schema(self) -> dict[str, Any]:
        """Return the JSON schema of this parameter."""
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.type == "array":
            out["items"] = {"type": "string"}
        if self.enum:
            out["enum"] = list(self.enum)
        return out

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise :class:`BadArguments`."""
        if self.type == "string":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise BadArguments(f"argument '{self.name}' must be a string")
            if len(value) > MAX_STRING:
                raise BadArguments(f"argument '{self.name}' is longer than {MAX_STRING} chars")
            return value
        if self.type == "array":
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, (list, tuple)) or len(value) > MAX_ITEMS:
                raise BadArguments(
                    f"argument '{self.name}' must be a list of at most {MAX_ITEMS} strings"
                )
            items = []
            for item in value:
                if isinstance(item, int) and not isinstance(item, bool):
                    item = str(item)
                if not isinstance(item, str) or len(item) > MAX_STRING:
                    raise BadArguments(f"argument '{self.name}' must be a list of strings")
                items.append(item)
            return items
        if self.type == "number":
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise BadArguments(f"argument '{self.name}' must be a number") from None
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise BadArguments(f"argument '{self.name}' must be a number")
            return value
        raise AssertionError(f"unknown parameter type {self.type}")  # pragma: no cover


@dataclass(frozen=True)
class Tool:
    """A tool the agent can call.

    Attributes:
        name: the function name.
        description: what it does (one or two sentences, shown to the agent).
        params: its parameters, in signature order.
        fn: ``fn(conn, **arguments)`` returning a JSON-friendly value.
        cost: the price of one call (reported in ``info["call_cost"]``).
        writes: whether it may change the world.
        terminal: whether calling it ends the episode (``answer``, ``report_infeasible``).
    """

    name: str
    description: str
    params: tuple[Param, ...]
    fn: Callable[..., Any] = field(repr=False)
    cost: float = 1.0
    writes: bool = False
    terminal: bool = False

    def schema(self) -> dict[str, Any]:
        """Return the OpenAI function-calling schema of this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {p.name: p.schema() for p in self.params},
                    "required": [p.name for p in self.params if p.required],
                },
            },
        }

    def signature(self) -> str:
        """Return a one-line signature, e.g. ``get_order(order_id: str) - Get an order.``."""
        kinds = {"string": "str", "integer": "int", "number": "float", "array": "list[str]"}
        args = ", ".join(
            f"{p.name}: {kinds[p.type]}" + ("" if p.required else " = None") for p in self.params
        )
        return f"{self.name}({args}) - {self.description}"

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Return validated, coerced arguments, or raise :class:`BadArguments`."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(arguments) - set(known))
        if unknown:
            raise BadArguments(f"{self.name} has no argument '{unknown[0]}'")
        out = {}
        for param in self.params:
            value = arguments.get(param.name)
            if value is None:
                if param.required:
                    raise BadArguments(f"{self.name} needs the argument '{param.name}'")
                continue
            out[param.name] = param.coerce(value)
        return out


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one call.

    Attributes:
        status: ``"ok"``, ``"error"`` (the tool refused: not found or policy) or
            ``"invalid"`` (unknown tool or arguments that do not fit its schema).
        content: the result (JSON-friendly) or the error message.
        wrote: whether the call changed the world.
    """

    status: str
    content: Any
    wrote: bool = False

    @property
    def text(self) -> str:
        """The result as the agent sees it: JSON, or ``Error: <message>``."""
        if self.status == "ok":
            return json.dumps(self.content)
        return f"Error: {self.content}"

    def to_json(self) -> dict[str, Any]:
        """Return the wire form used by the HTTP transport."""
        return {"status": self.status, "content": self.content, "wrote": self.wrote}

    @classmethod
    def from_json(cls, data: Any) -> ToolResult:
        """Rebuild a result from :meth:`to_json`'s form (a malformed one is an error)."""
        if not isinstance(data, dict) or data.get("status") not in ("ok", "error", "invalid"):
            return cls("error", "malformed response from the tool server")
        return cls(data["status"], data.get("content"), bool(data.get("wrote", False)))


# -- helpers ------------------------------------------------------------------------
def _dollars(cents: int | None) -> float | None:
    return None if cents is None else round(cents / 100, 2)


def _order_id(order_id: str) -> str:
    order_id = order_id.strip()
    return order_id if order_id.startswith("#") else "#" + order_id


def _order_row(conn: sqlite3.Connection, order_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT order_id, user_id, status, address1, city, state, zip FROM orders "
        "WHERE order_id = ?",
        (_order_id(order_id),),
    ).fetchone()
    if row is None:
        raise ToolError(f"order {order_id} not found")
    return row


def _user_row(conn: sqlite3.Connection, user_id: str) -> tuple[Any, ...]:
    row = conn.execute("SELECT * FROM users WHERE user_id = ?", (user_id.strip(),)).fetchone()
    if row is None:
        raise ToolError(f"user {user_id} not found")
    return row


def _original_payment(conn: sqlite3.Connection, order_id: str) -> str:
    row = conn.execute(
        "SELECT payment_id FROM payments WHERE order_id = ? AND kind = 'payment' LIMIT 1",
        (order_id,),
    ).fetchone()
    return row[0]


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Run the enclosed writes as one transaction (rolled back if anything fails)."""
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _credit(conn: sqlite3.Connection, payment_id: str, cents: int) -> None:
    """Change a gift card's balance by ``cents`` (other methods have no balance)."""
    conn.execute(
        "UPDATE payment_methods SET balance_cents = balance_cents + ? "
        "WHERE payment_id = ? AND kind = 'gift_card'",
        (cents, payment_id),
    )


# -- read tools ---------------------------------------------------------------------
def find_user(
    conn: sqlite3.Connection,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    zip: str | None = None,  # noqa: A002 - the field's name in the schema
) -> dict[str, str]:
    """Return ``{"user_id": ...}`` for an email, or a first name, last name and zip code."""
    if email:
        row = conn.execute(
            "SELECT user_id FROM users WHERE lower(email) = lower(?)", (email.strip(),)
        ).fetchone()
    elif first_name and last_name and zip:
        row = conn.execute(
            "SELECT user_id FROM users WHERE lower(first_name) = lower(?) "
            "AND lower(last_name) = lower(?) AND zip = ?",
            (first_name.strip(), last_name.strip(), zip.strip()),
        ).fetchone()
    else:
        raise ToolError("give an email, or a first name, last name and zip code")
    if row is None:
        raise ToolError("no user matches")
    return {"user_id": row[0]}


def get_user(conn: sqlite3.Connection, user_id: str) -> dict[str, Any]:
    """Return a user's profile, payment methods and order ids."""
    uid, first, last, email, address1, city, state, zip_code = _user_row(conn, user_id)
    methods = []
    for payment_id, kind, label, balance in conn.execute(
        "SELECT payment_id, kind, label, balance_cents FROM payment_methods WHERE user_id = ? "
        "ORDER BY payment_id",
        (uid,),
    ):
        method: dict[str, Any] = {"payment_id": payment_id, "kind": kind, "label": label}
        if balance is not None:
            method["balance"] = _dollars(balance)
        methods.append(method)
    orders = [
        r[0]
        for r in conn.execute(
            "SELECT order_id FROM orders WHERE user_id = ? ORDER BY rowid", (uid,)
        )
    ]
    return {
        "user_id": uid,
        "name": f"{first} {last}",
        "email": email,
        "address": {"address1": address1, "city": city, "state": state, "zip": zip_code},
        "payment_methods": methods,
        "orders": orders,
    }


def get_order(conn: sqlite3.Connection, order_id: str) -> dict[str, Any]:
    """Return an order: status, address, items and payment history."""
    oid, uid, status, address1, city, state, zip_code = _order_row(conn, order_id)
    items = []
    for item_id, product_id, name, options, price, item_status, new_item in conn.execute(
        "SELECT item_id, product_id, name, options, price_cents, status, new_item_id "
        "FROM order_items WHERE order_id = ? ORDER BY rowid",
        (oid,),
    ):
        item: dict[str, Any] = {
            "item_id": item_id,
            "product_id": product_id,
            "name": name,
            "options": options,
            "price": _dollars(price),
        }
        if item_status != "ordered":
            item["status"] = item_status
        if new_item is not None:
            item["new_item_id"] = new_item
        items.append(item)
    payments = [
        {"kind": kind, "payment_id": pid, "amount": _dollars(cents)}
        for kind, pid, cents in conn.execute(
            "SELECT kind, payment_id, amount_cents FROM payments WHERE order_id = ? ORDER BY rowid",
            (oid,),
        )
    ]
    return {
        "order_id": oid,
        "user_id": uid,
        "status": status,
        "address": {"address1": address1, "city": city, "state": state, "zip": zip_code},
        "items": items,
        "payments": payments,
    }


def list_orders(conn: sqlite3.Connection, user_id: str) -> list[dict[str, str]]:
    """Return a user's orders with their status."""
    uid = _user_row(conn, user_id)[0]
    return [
        {"order_id": oid, "status": status}
        for oid, status in conn.execute(
            "SELECT order_id, status FROM orders WHERE user_id = ? ORDER BY rowid", (uid,)
        )
    ]


def search_products(conn: sqlite3.Connection, query: str) -> list[dict[str, str]]:
    """Return products whose name or category contains ``query`` (case-insensitive)."""
    pattern = "%" + query.strip().lower().replace("%", "").replace("_", "") + "%"
    return [
        {"product_id": pid, "name": name, "category": category}
        for pid, name, category in conn.execute(
            "SELECT product_id, name, category FROM products "
            "WHERE lower(name) LIKE ? OR lower(category) LIKE ? ORDER BY name LIMIT 20",
            (pattern, pattern),
        )
    ]


def get_product(conn: sqlite3.Connection, product_id: str) -> dict[str, Any]:
    """Return a product with its variants, prices and stock."""
    row = conn.execute(
        "SELECT product_id, name, category FROM products WHERE product_id = ?",
        (product_id.strip(),),
    ).fetchone()
    if row is None:
        raise ToolError(f"product {product_id} not found")
    variants = [
        {"item_id": item_id, "options": options, "price": _dollars(price), "stock": stock}
        for item_id, options, price, stock in conn.execute(
            "SELECT item_id, options, price_cents, stock FROM variants WHERE product_id = ? "
            "ORDER BY rowid",
            (row[0],),
        )
    ]
    return {"product_id": row[0], "name": row[1], "category": row[2], "variants": variants}


def get_settings(conn: sqlite3.Connection, user_id: str) -> dict[str, str]:
    """Return a user's account settings."""
    uid = _user_row(conn, user_id)[0]
    return dict(
        conn.execute("SELECT key, value FROM settings WHERE user_id = ? ORDER BY key", (uid,))
    )


_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _arith(node: ast.AST, depth: int = 0) -> float:
    if depth > 40:
        raise ToolError("expression is nested too deeply")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _arith(node.operand, depth + 1)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _arith(node.left, depth + 1), _arith(node.right, depth + 1)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ToolError("division by zero")
        return _BINOPS[type(node.op)](left, right)
    raise ToolError("only numbers, + - * / and parentheses are allowed")


def calculate(conn: sqlite3.Connection, expression: str) -> dict[str, float]:
    """Evaluate arithmetic (``+ - * /``, parentheses) and round to cents; never ``eval``."""
    text = expression.replace("$", "").replace(",", "").strip()
    if not text or len(text) > 200:
        raise ToolError("give an arithmetic expression of at most 200 characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ToolError("cannot parse the expression") from None
    value = _arith(tree.body)
    if value != value or abs(value) > 1e15:
        raise ToolError("the result is out of range")
    return {"result": round(value, 2)}


def answer(conn: sqlite3.Connection, answer: str) -> dict[str, str]:
    """Give the final answer (ends the episode)."""
    return {"recorded": answer}


def report_infeasible(conn: sqlite3.Connection, reason: str) -> dict[str, str]:
    """Report that the request cannot be fulfilled under the policy (ends the episode)."""
    return {"reported": reason}


# -- write tools --------------------------------------------------------------------
def cancel_order(conn: sqlite3.Connection, order_id: str, reason: str) -> dict[str, Any]:
    """Cancel a pending order and refund it to its original payment method."""
    oid, _, status, *_ = _order_row(conn, order_id)
    if status != "pending":
        raise ToolError(f"policy: only pending orders can be cancelled (this order is {status})")
    if reason.strip().lower() not in CANCEL_REASONS:
        raise ToolError(f"policy: the reason must be one of {list(CANCEL_REASONS)}")
    payments = conn.execute(
        "SELECT payment_id, amount_cents FROM payments WHERE order_id = ? AND kind = 'payment'",
        (oid,),
    ).fetchall()
    refunded = 0
    with _transaction(conn):
        conn.execute("UPDATE orders SET status = 'cancelled' WHERE order_id = ?", (oid,))
        for payment_id, cents in payments:
            conn.execute(
                "INSERT INTO payments VALUES (?, 'refund', ?, ?)", (oid, payment_id, cents)
            )
            _credit(conn, payment_id, cents)
            refunded += cents
    return {"order_id": oid, "status": "cancelled", "refunded": _dollars(refunded)}


def modify_address(
    conn: sqlite3.Connection,
    order_id: str,
    address1: str,
    city: str,
    state: str,
    zip: str,  # noqa: A002 - the field's name in the schema
) -> dict[str, Any]:
    """Change the shipping address of a pending order."""
    oid, _, status, *_ = _order_row(conn, order_id)
    if status != "pending":
        raise ToolError(
            f"policy: only pending orders can change their address (this order is {status})"
        )
    fields = [address1.strip(), city.strip(), state.strip(), zip.strip()]
    if not all(fields) or not (fields[3].isdigit() and len(fields[3]) == 5):
        raise ToolError("give a street address, city, state and a 5-digit zip code")
    with _transaction(conn):
        conn.execute(
            "UPDATE orders SET address1 = ?, city = ?, state = ?, zip = ? WHERE order_id = ?",
            (*fields, oid),
        )
    return {"order_id": oid, "address": dict(builtins.zip(_ADDRESS_KEYS, fields, strict=True))}


def _order_items(conn: sqlite3.Connection, oid: str, item_ids: list[str]) -> list[tuple]:
    if not item_ids or len(set(item_ids)) != len(item_ids):
        raise ToolError("give a non-empty list of distinct item ids")
    rows = []
    for item_id in item_ids:
        row = conn.execute(
            "SELECT item_id, product_id, price_cents, status FROM order_items "
            "WHERE order_id = ? AND item_id = ?",
            (oid, item_id.strip()),
        ).fetchone()
        if row is None:
            raise ToolError(f"item {item_id} is not in order {oid}")
        rows.append(row)
    return rows


def _check_returnable(conn: sqlite3.Connection, order_id: str, payment_id: str) -> tuple:
    oid, _, status, *_ = _order_row(conn, order_id)
    if status != "delivered":
        raise ToolError(
            f"policy: only delivered orders can have items returned or exchanged "
            f"(this order is {status})"
        )
    original = _original_payment(conn, oid)
    if payment_id.strip() != original:
        raise ToolError("policy: refunds and price differences go to the original payment method")
    return oid, original


def return_items(
    conn: sqlite3.Connection, order_id: str, item_ids: list[str], payment_id: str
) -> dict[str, Any]:
    """Request a return of delivered items; the refund goes to the original payment method."""
    oid, original = _check_returnable(conn, order_id, payment_id)
    rows = _order_items(conn, oid, item_ids)
    total = sum(r[2] for r in rows)
    with _transaction(conn):
        conn.execute("UPDATE orders SET status = 'return requested' WHERE order_id = ?", (oid,))
        for item_id, *_ in rows:
            conn.execute(
                "UPDATE order_items SET status = 'return requested' "
                "WHERE order_id = ? AND item_id = ?",
                (oid, item_id),
            )
        conn.execute("INSERT INTO payments VALUES (?, 'refund', ?, ?)", (oid, original, total))
        _credit(conn, original, total)
    return {"order_id": oid, "status": "return requested", "refund": _dollars(total)}


def exchange_items(
    conn: sqlite3.Connection,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_id: str,
) -> dict[str, Any]:
    """Request an exchange of delivered items for other variants of the same products."""
    oid, original = _check_returnable(conn, order_id, payment_id)
    rows = _order_items(conn, oid, item_ids)
    if len(new_item_ids) != len(rows):
        raise ToolError("give one new item id per item to exchange")
    difference = 0
    for (item_id, product_id, price, _), new_id in zip(rows, new_item_ids, strict=True):
        variant = conn.execute(
            "SELECT product_id, price_cents, stock FROM variants WHERE item_id = ?",
            (new_id.strip(),),
        ).fetchone()
        if variant is None:
            raise ToolError(f"item {new_id} not found")
        if variant[0] != product_id or new_id.strip() == item_id:
            raise ToolError(f"policy: {new_id} is not another variant of the same product")
        if variant[2] <= 0:
            raise ToolError(f"policy: item {new_id} is out of stock")
        difference += variant[1] - price
    balance = conn.execute(
        "SELECT kind, balance_cents FROM payment_methods WHERE payment_id = ?", (original,)
    ).fetchone()
    if balance[0] == "gift_card" and difference > balance[1]:
        raise ToolError("policy: the gift card balance does not cover the price difference")
    with _transaction(conn):
        conn.execute("UPDATE orders SET status = 'exchange requested' WHERE order_id = ?", (oid,))
        for (item_id, *_), new_id in zip(rows, new_item_ids, strict=True):
            conn.execute(
                "UPDATE order_items SET status = 'exchange requested', new_item_id = ? "
                "WHERE order_id = ? AND item_id = ?",
                (new_id.strip(), oid, item_id),
            )
        if difference:
            kind = "payment" if difference > 0 else "refund"
            conn.execute(
                "INSERT INTO payments VALUES (?, ?, ?, ?)", (oid, kind, original, abs(difference))
            )
            _credit(conn, original, -difference)
    return {
        "order_id": oid,
        "status": "exchange requested",
        "price_difference": _dollars(difference),
    }


def update_setting(conn: sqlite3.Connection, user_id: str, key: str, value: str) -> dict[str, str]:
    """Set one account setting of a user."""
    uid = _user_row(conn, user_id)[0]
    key, value = key.strip(), value.strip()
    if key == "default_payment":
        allowed = [
            r[0]
            for r in conn.execute(
                "SELECT payment_id FROM payment_methods WHERE user_id = ?", (uid,)
            )
        ]
    elif key in SETTING_VALUES:
        allowed = list(SETTING_VALUES[key])
    else:
        names = sorted([*SETTING_VALUES, "default_payment"])
        raise ToolError(f"unknown setting {key!r}; settings: {names}")
    if value not in allowed:
        raise ToolError(f"{key} must be one of {allowed}")
    with _transaction(conn):
        conn.execute(
            "UPDATE settings SET value = ? WHERE user_id = ? AND key = ?", (value, uid, key)
        )
    return {"user_id": uid, key: value}


# -- distractors (harmless: they never write) ---------------------------------------
def _deprecated(replacement: str) -> Callable[..., Any]:
    def fn(conn: sqlite3.Connection, **_: Any) -> Any:
        raise ToolError(f"this endpoint is deprecated; use {replacement}")

    return fn


def _order_status(conn: sqlite3.Connection, order_id: str) -> dict[str, str]:
    return {"status": _order_row(conn, order_id)[2]}


def _no_match(what: str) -> Callable[..., Any]:
    def fn(conn: sqlite3.Connection, **_: Any) -> Any:
        raise ToolError(f"no {what} matches")

    return fn


def _constant(value: Any) -> Callable[..., Any]:
    def fn(conn: sqlite3.Connection, **_: Any) -> Any:
        return value

    return fn


def _p(name: str, description: str, kind: str = "string", required: bool = True) -> Param:
    return Param(name, kind, description, required)


_OID = _p("order_id", "the order id, e.g. '#W1234567'")
_UID = _p("user_id", "the user id, e.g. 'mia_lee_4821'")
_ADDRESS = (
    _p("address1", "street address"),
    _p("city", "city"),
    _p("state", "two-letter state code"),
    _p("zip", "5-digit zip code"),
)

CORE_TOOLS: tuple[Tool, ...] = (
    Tool(
        "find_user",
        "Find a user id by email, or by first name, last name and zip code.",
        (
            _p("email", "the user's email", required=False),
            _p("first_name", "first name", required=False),
            _p("last_name", "last name", required=False),
            _p("zip", "5-digit zip code", required=False),
        ),
        find_user,
    ),
    Tool("get_user", "Get a user's profile, payment methods and order ids.", (_UID,), get_user),
    Tool("list_orders", "List a user's orders with their status.", (_UID,), list_orders),
    Tool("get_order", "Get an order's status, address, items and payments.", (_OID,), get_order),
    Tool(
        "search_products",
        "Search products by name or category.",
        (_p("query", "words of the product name or category"),),
        search_products,
        cost=2.0,
    ),
    Tool(
        "get_product",
        "Get a product's variants (item ids, options, prices, stock).",
        (_p("product_id", "the product id"),),
        get_product,
    ),
    Tool("get_settings", "Get a user's account settings.", (_UID,), get_settings),
    Tool(
        "calculate",
        "Evaluate arithmetic with + - * / and parentheses, rounded to cents.",
        (_p("expression", "e.g. '12.5 + 30.25'"),),
        calculate,
        cost=0.5,
    ),
    Tool(
        "cancel_order",
        "Cancel a pending order; refunds go to the original payment method.",
        (_OID, Param("reason", "string", "why", enum=CANCEL_REASONS)),
        cancel_order,
        cost=3.0,
        writes=True,
    ),
    Tool(
        "modify_address",
        "Change the shipping address of a pending order.",
        (_OID, *_ADDRESS),
        modify_address,
        cost=3.0,
        writes=True,
    ),
    Tool(
        "return_items",
        "Return items of a delivered order; refund to the original payment method.",
        (
            _OID,
            _p("item_ids", "item ids to return", "array"),
            _p("payment_id", "the order's original payment method"),
        ),
        return_items,
        cost=3.0,
        writes=True,
    ),
    Tool(
        "exchange_items",
        "Exchange items of a delivered order for in-stock variants of the same products.",
        (
            _OID,
            _p("item_ids", "item ids to exchange", "array"),
            _p("new_item_ids", "the new item ids, in the same order", "array"),
            _p("payment_id", "the order's original payment method"),
        ),
        exchange_items,
        cost=3.0,
        writes=True,
    ),
    Tool(
        "update_setting",
        "Set one account setting of a user. Settings and their values: "
        + "; ".join(f"{k}: {'|'.join(v)}" for k, v in SETTING_VALUES.items())
        + "; default_payment: one of the user's payment ids.",
        (_UID, _p("key", "the setting name"), _p("value", "the new value")),
        update_setting,
        cost=3.0,
        writes=True,
    ),
    Tool(
        "answer",
        "Give the final answer, or a one-line summary when the request is done. Ends the task.",
        (_p("answer", "the answer or summary"),),
        answer,
        cost=0.0,
        terminal=True,
    ),
    Tool(
        "report_infeasible",
        "Report that the request cannot be fulfilled under the policy. Ends the task.",
        (_p("reason", "why"),),
        report_infeasible,
        cost=0.0,
        terminal=True,
    ),
)

#: Near-duplicate and off-domain tools added by ``n_distractors`` (in this order).
DISTRACTORS: tuple[Tool, ...] = (
    Tool("lookup_order", "Look up an order (legacy).", (_OID,), _deprecated("get_order")),
    Tool("get_order_status", "Get only an order's status.", (_OID,), _order_status),
    Tool(
        "find_user_by_phone",
        "Find a user id by phone number.",
        (_p("phone", "phone number"),),
        _no_match("user with that phone number"),
    ),
    Tool(
        "get_weather",
        "Get the weather forecast for a city.",
        (_p("city", "city name"),),
        _constant({"forecast": "sunny", "high_f": 75}),
    ),
    Tool("get_user_details", "Get a user (legacy).", (_UID,), _deprecated("get_user")),
    Tool(
        "translate_text",
        "Translate text into another language.",
        (_p("text", "the text"), _p("language", "target language")),
        _constant({"translation": "(unavailable)"}),
    ),
    Tool(
        "search_flights",
        "Search flights between two airports.",
        (_p("origin", "airport code"), _p("destination", "airport code")),
        _constant([]),
    ),
    Tool(
        "convert_currency",
        "Convert an amount between currencies.",
        (_p("amount", "the amount", "number"), _p("to_currency", "e.g. EUR")),
        _constant({"rate": 1.0}),
    ),
    Tool(
        "list_products",
        "List products of a category (legacy).",
        (_p("category", "category"),),
        _deprecated("search_products"),
    ),
    Tool(
        "get_stock_quote",
        "Get a stock market quote.",
        (_p("symbol", "ticker symbol"),),
        _no_match("ticker"),
    ),
    Tool(
        "send_email",
        "Send an email.",
        (_p("to", "address"), _p("subject", "subject"), _p("body", "body")),
        _constant({"queued": True}),
    ),
    Tool(
        "set_reminder",
        "Set a reminder.",
        (_p("text", "what"), _p("time", "when")),
        _constant({"scheduled": True}),
    ),
)
for _tool in DISTRACTORS:
    assert not _tool.writes

#: Every tool by name (the HTTP server serves all of them).
TOOLS: dict[str, Tool] = {t.name: t for t in (*CORE_TOOLS, *DISTRACTORS)}
TERMINAL_TOOLS = frozenset(t.name for t in CORE_TOOLS if t.terminal)


def toolset(names: tuple[str, ...] | None = None, n_distractors: int = 0) -> dict[str, Tool]:
    """Return the tools an env offers: the named core tools plus the first distractors.

    Example:
        >>> list(toolset(("get_order", "answer"), n_distractors=2))
        ['get_order', 'answer', 'lookup_order', 'get_order_status']
    """
    if not 0 <= n_distractors <= len(DISTRACTORS):
        raise ValueError(f"n_distractors must be in [0, {len(DISTRACTORS)}], got {n_distractors}")
    core = CORE_TOOLS if names is None else tuple(TOOLS[n] for n in names)
    return {t.name: t for t in (*core, *DISTRACTORS[:n_distractors])}


def call_tool(
    conn: sqlite3.Connection,
    name: str,
    arguments: Any,
    tools: dict[str, Tool] | None = None,
) -> ToolResult:
    """Run one call against the world; never raises.

    Args:
        conn: the world's connection.
        name: the tool name.
        arguments: the arguments (a dict).
        tools: the tools on offer (default: every tool).

    Returns:
        ``invalid`` for an unknown tool or arguments that do not fit its schema,
        ``error`` when the tool refuses (not found, policy), else ``ok``.
    """
    tools = TOOLS if tools is None else tools
    tool = tools.get(name) if isinstance(name, str) else None
    if tool is None:
        return ToolResult("invalid", f"unknown tool {str(name)[:60]!r}")
    if not isinstance(arguments, dict):
        return ToolResult("invalid", f"{tool.name}: arguments must be an object")
    try:
        bound = tool.bind(arguments)
    except BadArguments as err:
        return ToolResult("invalid", str(err))
    before = conn.total_changes
    try:
        content = tool.fn(conn, **bound)
    except ToolError as err:
        return ToolResult("error", str(err))
    except Exception as err:  # pragma: no cover - a bug in a tool: reported, never raised
        _log.warning("tool %s failed: %r", tool.name, err)
        return ToolResult("error", f"internal error in {tool.name}: {type(err).__name__}")
    return ToolResult("ok", content, wrote=conn.total_changes != before)
