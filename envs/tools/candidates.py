"""Grounded call candidates: a short list of plausible calls built from what was seen.

:func:`grounded_calls` turns a tool env's episode into at most ``k`` distinct calls,
each built from the tools on offer and *grounded* in what the agent has seen: ids and
emails in the request and in the results so far (orders, users, products, items,
payment methods), and literals of the request (quoted values, a name and zip code, an
address, item names and variant options, a cancellation reason, a payment kind).
Calls already made are left out, calls on the newest entities come first, and the
final calls (``answer`` with values read from the last results, ``report_infeasible``)
close the list. Nothing here reads the task's plan or its answer: the oracle's next
call is added only when asked (``include_oracle=True``), never by default.

SB3 agents choose among these candidates through the ``candidates`` view
(:class:`~densegym.envs.adapters.candidates.CandidateActions`); A* expands them.

Example:
    >>> from densegym.envs.tools import OrdersEnv
    >>> env = OrdersEnv(difficulty=1)
    >>> _ = env.reset(seed=0)
    >>> calls = grounded_calls(env, k=6)
    >>> len(calls) <= 6 and len(set(calls)) == len(calls)
    True
    >>> calls[0]  # the order the request names
    '{"name": "get_order", "arguments": {"order_id": "#W9043988"}}'
    >>> len(pad_calls(calls[:2], 5))
    5
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from densegym.envs.tools.tasks import call_key
from densegym.envs.tools.tools import CANCEL_REASONS
from densegym.envs.tools.world import SETTING_VALUES

__all__ = ["Seen", "grounded_calls", "pad_calls", "read_seen"]

_ORDER_RE = re.compile(r"#W\d{5,9}")
_USER_RE = re.compile(r"\b[a-z]+_[a-z]+_\d{4}\b")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NAME_ZIP_RE = re.compile(r"([A-Z][a-z]+) ([A-Z][a-z]+) \(zip code (\d{5})\)")
_ADDRESS_RE = re.compile(r"to (\d+ [A-Za-z ]+?), ([A-Za-z ]+?), ([A-Z]{2}) (\d{5})")
_QUOTED_RE = re.compile(r'"([^"\n]{1,60})"')
_PAIR_RE = re.compile(r'\b([a-z_]+) to "([^"\n]{1,60})"')
_KIND_WORDS = {"credit card": "credit_card", "paypal": "paypal", "gift card": "gift_card"}
_SUMMARY = "done"
_INFEASIBLE = "the request cannot be fulfilled under the policy"


@dataclass
class Seen:
    """Entities of an episode, each with the index of the record it was last seen in.

    Index 0 is the request; call ``i`` (from 1) is the ``i``-th call's result.
    """

    request: str = ""
    orders: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)
    #: order id -> the full order (a ``get_order`` result) and when it was read.
    order_details: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)
    #: product id -> its variants (a ``get_product`` result) and when it was read.
    products: dict[str, tuple[list[dict[str, Any]], int]] = field(default_factory=dict)
    #: payment id -> (kind, when seen).
    payments: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: values a final answer could give, from the newest result first.
    answers: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    last: int = 0


def _money(value: Any) -> str:
    return json.dumps(round(float(value), 2))


def _walk(value: Any, seen: Seen, index: int, depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(value, list):
        for item in value[:100]:
            _walk(item, seen, index, depth + 1)
        return
    if not isinstance(value, dict):
        return
    for key, target in (("order_id", seen.orders), ("user_id", seen.users)):
        if isinstance(value.get(key), str):
            target[value[key]] = index
    if isinstance(value.get("email"), str):
        seen.emails[value["email"]] = index
    if isinstance(value.get("payment_id"), str) and value.get("kind") not in (None, "payment"):
        if value["kind"] != "refund":
            seen.payments[value["payment_id"]] = (str(value["kind"]), index)
    if isinstance(value.get("order_id"), str) and isinstance(value.get("items"), list):
        seen.order_details[value["order_id"]] = (value, index)
    if isinstance(value.get("product_id"), str) and isinstance(value.get("variants"), list):
        seen.products[value["product_id"]] = (value["variants"], index)
    for child in value.values():
        if isinstance(child, (list, dict)):
            _walk(child, seen, index, depth + 1)


def _answers_of(result: Any, request: str) -> list[str]:
    """Values a final answer could give, read from one result."""
    out: list[str] = []
    if isinstance(result, dict) and "result" in result and len(result) == 1:
        out.append(_money(result["result"]))
    if isinstance(result, dict) and isinstance(result.get("items"), list):
        out.append(str(result.get("status", "")))
        out.append(str(len(result["items"])))
        paid = [p for p in result.get("payments", []) if p.get("kind") == "payment"]
        out += [str(p.get("payment_id", "")) for p in paid[:1]]
        for item in result["items"]:
            if str(item.get("name", "")) in request:
                out += [_money(item.get("price", 0)), str(item.get("options", ""))]
    return [a for a in out if a]


def read_seen(env: Any) -> Seen:
    """Collect the entities of ``env``'s episode (the request and every ok result).

    Example:
        >>> from densegym.envs.tools import LookupEnv
        >>> env = LookupEnv(difficulty=1)
        >>> _ = env.reset(seed=0)
        >>> _ = env.step(env.oracle_step())
        >>> seen = read_seen(env)
        >>> len(seen.order_details), seen.last
        (1, 1)
    """
    base = env.unwrapped
    request = base.problem.request
    seen = Seen(request=request)
    for pattern, target in ((_ORDER_RE, seen.orders), (_USER_RE, seen.users)):
        for match in pattern.findall(request):
            target[match] = 0
    for match in _EMAIL_RE.findall(request):
        seen.emails[match] = 0
    seen.done = set(base._done_calls)
    for index, record in enumerate(base.calls, start=1):
        seen.last = index
        if record.status != "ok":
            continue
        try:
            result = json.loads(record.result)
        except ValueError:
            continue
        _walk(result, seen, index)
        answers = _answers_of(result, request)
        if answers:
            seen.answers = answers + [a for a in seen.answers if a not in answers]
    return seen


class _Builder:
    """Collects calls with a rank (newer first, then by kind), dropping repeats."""

    def __init__(self, tools: dict[str, Any], done: set[str]):
        self.tools = tools
        self.done = done
        self.calls: dict[str, tuple[float, int, str]] = {}  # key -> (score, order, text)

    def add(self, name: str, arguments: dict[str, Any], recency: int, order: float) -> None:
        if name not in self.tools:
            return
        key = call_key(name, arguments)
        if key in self.done:
            return
        text = json.dumps({"name": name, "arguments": arguments})
        score = order - float(recency)
        old = self.calls.get(key)
        if old is None or score < old[0]:
            self.calls[key] = (score, len(self.calls) if old is None else old[1], text)

    def ranked(self) -> list[tuple[str, str]]:
        return [(key, v[2]) for key, v in sorted(self.calls.items(), key=lambda kv: kv[1][:2])]


def _named_items(order: dict[str, Any], request: str) -> list[dict[str, Any]]:
    items = [i for i in order.get("items", []) if str(i.get("name", "")) in request]
    return sorted(items, key=lambda i: request.find(str(i["name"])))


def _build(seen: Seen, tools: dict[str, Any]) -> _Builder:
    request = seen.request
    lower = request.lower()
    b = _Builder(tools, seen.done)
    # Reads: find users, then follow every id to the tool that reads it.
    for email, when in seen.emails.items():
        b.add("find_user", {"email": email}, when, 0.0)
    for first, last, zip_code in _NAME_ZIP_RE.findall(request):
        b.add("find_user", {"first_name": first, "last_name": last, "zip": zip_code}, 0, 0.0)
    for user, when in seen.users.items():
        b.add("list_orders", {"user_id": user}, when, 0.1)
        b.add("get_user", {"user_id": user}, when, 0.2)
        b.add("get_settings", {"user_id": user}, when, 0.3)
    for order, when in seen.orders.items():
        b.add("get_order", {"order_id": order}, when, 0.0)
    # Writes, grounded in the request's literals and the records read.
    reasons = [r for r in CANCEL_REASONS if r in lower] or list(CANCEL_REASONS)
    address = _ADDRESS_RE.search(request)
    for order_id, (order, when) in seen.order_details.items():
        status = order.get("status")
        paid = [p for p in order.get("payments", []) if p.get("kind") == "payment"]
        payment_id = paid[0]["payment_id"] if paid else ""
        named = _named_items(order, request)
        if "cancel" in lower and status == "pending":
            for reason in reasons:
                b.add("cancel_order", {"order_id": order_id, "reason": reason}, when, 0.4)
        if address and status == "pending":
            fields = dict(zip(("address1", "city", "state", "zip"), address.groups(), strict=True))
            b.add("modify_address", {"order_id": order_id, **fields}, when, 0.4)
        if not named:
            continue
        for item in named[:1]:
            b.add("get_product", {"product_id": item["product_id"]}, when, 0.5)
        if "return" in lower and status == "delivered":
            ids = [i["item_id"] for i in named]
            arguments = {"order_id": order_id, "item_ids": ids, "payment_id": payment_id}
            b.add("return_items", arguments, when, 0.4)
        product = seen.products.get(named[0]["product_id"])
        if "exchange" in lower and status == "delivered" and product is not None:
            variants, read = product
            for variant in variants:
                if variant.get("item_id") == named[0]["item_id"]:
                    continue
                if str(variant.get("options", "")) and str(variant["options"]) in request:
                    arguments = {
                        "order_id": order_id,
                        "item_ids": [named[0]["item_id"]],
                        "new_item_ids": [variant["item_id"]],
                        "payment_id": payment_id,
                    }
                    b.add("exchange_items", arguments, max(when, read), 0.4)
    # Settings: "<key> to "<value>"" pairs and quoted values of the keys the request names.
    pairs = [(k, v) for k, v in _PAIR_RE.findall(request) if k != "otherwise"]
    quoted = _QUOTED_RE.findall(request)
    for key, values in SETTING_VALUES.items():
        if key in request:
            pairs += [(key, v) for v in quoted if v in values]
    for kind_words, kind in _KIND_WORDS.items():
        if kind_words in lower and "default payment" in lower:
            pairs += [("default_payment", p) for p, (k, _) in seen.payments.items() if k == kind]
    for user, when in seen.users.items():
        for key, value in dict.fromkeys(pairs):
            recency = seen.payments[value][1] if key == "default_payment" else when
            b.add("update_setting", {"user_id": user, "key": key, "value": value}, recency, 0.4)
    # Arithmetic over the orders read: one sum per status.
    by_status: dict[str, list[str]] = {}
    for order, _when in seen.order_details.values():
        paid = [p for p in order.get("payments", []) if p.get("kind") == "payment"]
        if paid:
            by_status.setdefault(str(order.get("status")), []).append(_money(paid[0]["amount"]))
    for status, amounts in by_status.items():
        if len(amounts) > 1 and status in lower:
            b.add("calculate", {"expression": " + ".join(amounts)}, seen.last, 0.6)
    # Final calls: values from the newest results, a summary, infeasibility.
    if "summary" in lower:
        b.add("answer", {"answer": _SUMMARY}, seen.last, 0.7)
    else:
        for n, value in enumerate(seen.answers[:6]):
            b.add("answer", {"answer": value}, seen.last, 0.7 + n / 100)
    b.add("report_infeasible", {"reason": _INFEASIBLE}, 0, 0.0)
    return b


def grounded_calls(
    env: Any,
    k: int = 8,
    *,
    include_oracle: bool = False,
) -> list[str]:
    """Return at most ``k`` distinct grounded calls (JSON actions) for ``env``'s episode.

    Args:
        env: a tool env (``env.unwrapped`` a :class:`~densegym.envs.tools.base.ToolEnv`)
            after ``reset``.
        k: the most calls returned.
        include_oracle: make sure the oracle's next call is one of them (replacing the
            last one when needed); off by default, so the answer never leaks.

    Returns:
        Calls as JSON text, best ranked first.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k!r}")
    base = env.unwrapped
    ranked = _build(read_seen(base), base.tools).ranked()
    keys = [key for key, _ in ranked[:k]]
    calls = [text for _, text in ranked[:k]]
    if include_oracle:
        oracle = base.oracle_step()
        data = json.loads(oracle)
        key = call_key(data["name"], data["arguments"])
        if key in keys:
            calls[keys.index(key)] = oracle
        elif len(calls) < k:
            calls.append(oracle)
        else:
            calls[-1] = oracle
    return calls


def pad_calls(calls: Iterable[str], k: int) -> list[str]:
    """Repeat ``calls`` cyclically to exactly ``k`` entries (``report_infeasible`` if none)."""
    listed = list(calls) or [
        json.dumps({"name": "report_infeasible", "arguments": {"reason": _INFEASIBLE}})
    ]
    return [listed[i % len(listed)] for i in range(k)]
