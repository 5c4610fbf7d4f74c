"""Orders: stateful requests (cancel, change address, return, exchange) under the policy.

Levels: 1 (the order id is given), 2 (the customer is named by email or by name and
zip, the order by an item in it), 3 (two requests for one customer). Success: every
verifier predicate holds and the world's diff from its initial rows equals the gold
plan's (no collateral change), then ``answer(...)``. Infeasible tasks (the order's
status or the stock rules a request out) are solved by ``report_infeasible`` with
nothing written.

Example:
    >>> import random
    >>> from densegym.envs.tools.catalog import catalog_for_seed
    >>> task = generate_orders(random.Random(0), catalog_for_seed(0), difficulty=2)
    >>> [step.name for step in task.plan][:2], task.plan[-1].name
    (['find_user', 'list_orders'], 'answer')
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from densegym.envs.tools.base import ToolEnv
from densegym.envs.tools.catalog import Catalog, Item, Order, User, Variant, money
from densegym.envs.tools.lookup import _who
from densegym.envs.tools.tasks import PlanStep, Predicate, ToolTask
from densegym.envs.tools.tools import CANCEL_REASONS
from densegym.envs.tools.world import _CITIES, _STREETS

__all__ = ["OrdersEnv", "generate_orders"]

_FINISH = (
    " Follow the policy. If any part cannot be done under the policy, change nothing and "
    "call report_infeasible(...); when everything is done, call answer(...) with a short "
    "summary."
)


@dataclass
class _Sub:
    """One request: its text, its calls after the customer lookup, its predicates."""

    kind: str
    order: Order
    text: str
    steps: list[PlanStep]
    predicates: list[Predicate]
    feasible: bool


def _status(order_id: str, status: str) -> Predicate:
    return Predicate(
        f"order {order_id} is {status}",
        "SELECT status FROM orders WHERE order_id = ?",
        (order_id,),
        status,
    )


def _refund(order_id: str, payment_id: str, cents: int) -> Predicate:
    return Predicate(
        f"order {order_id} has one refund of {money(cents)} to {payment_id}",
        "SELECT COUNT(*) FROM payments WHERE order_id = ? AND kind = 'refund' "
        "AND payment_id = ? AND amount_cents = ?",
        (order_id, payment_id, cents),
        1,
    )


def _ref(order: Order, item: Item, by_item: bool) -> str:
    return f"their order with the {item.name}" if by_item else f"order {order.order_id}"


def _cancel(rng: random.Random, order: Order, item: Item, by_item: bool, _: Catalog) -> _Sub:
    reason = rng.choice(CANCEL_REASONS)
    oid = order.order_id
    text = f"cancel {_ref(order, item, by_item)} (reason: {reason})"
    steps = [PlanStep("get_order", {"order_id": oid})]
    if order.status != "pending":
        return _Sub("cancel", order, text, steps, [], False)
    steps.append(PlanStep("cancel_order", {"order_id": oid, "reason": reason}))
    preds = [_status(oid, "cancelled"), _refund(oid, order.payment_id, order.total)]
    return _Sub("cancel", order, text, steps, preds, True)


def _address(rng: random.Random, order: Order, item: Item, by_item: bool, _: Catalog) -> _Sub:
    city, state, prefix = rng.choice(_CITIES)
    fields = {
        "address1": f"{rng.randint(1, 999)} {rng.choice(_STREETS)} Rd",
        "city": city,
        "state": state,
        "zip": prefix + str(rng.randint(10, 99)),
    }
    oid = order.order_id
    where = f"{fields['address1']}, {city}, {state} {fields['zip']}"
    text = f"change the shipping address of {_ref(order, item, by_item)} to {where}"
    steps = [PlanStep("get_order", {"order_id": oid})]
    if order.status != "pending":
        return _Sub("address", order, text, steps, [], False)
    steps.append(PlanStep("modify_address", {"order_id": oid, **fields}))
    pred = Predicate(
        f"order {oid} ships to {where}",
        "SELECT address1 || '|' || city || '|' || state || '|' || zip FROM orders "
        "WHERE order_id = ?",
        (oid,),
        "|".join(fields.values()),
    )
    return _Sub("address", order, text, steps, [pred], True)


def _return(rng: random.Random, order: Order, item: Item, by_item: bool, _: Catalog) -> _Sub:
    items = [item]
    others = [i for i in order.items if i is not item]
    if others and rng.random() < 0.4:
        items.append(rng.choice(others))
    oid = order.order_id
    names = " and the ".join(i.name for i in items)
    text = (
        f"return the {names} from {_ref(order, item, by_item)}, refunded to the original "
        "payment method"
    )
    steps = [PlanStep("get_order", {"order_id": oid})]
    if order.status != "delivered":
        return _Sub("return", order, text, steps, [], False)
    item_ids = [i.item_id for i in items]
    steps.append(
        PlanStep(
            "return_items",
            {"order_id": oid, "item_ids": item_ids, "payment_id": order.payment_id},
        )
    )
    preds = [_status(oid, "return requested")]
    preds += [
        Predicate(
            f"item {i} of {oid} is return requested",
            "SELECT status FROM order_items WHERE order_id = ? AND item_id = ?",
            (oid, i),
            "return requested",
        )
        for i in item_ids
    ]
    preds.append(_refund(oid, order.payment_id, sum(i.price for i in items)))
    return _Sub("return", order, text, steps, preds, True)


def _exchange(
    rng: random.Random, order: Order, item: Item, by_item: bool, catalog: Catalog
) -> _Sub | None:
    oid = order.order_id
    variants = [v for v in catalog.variants[item.product_id] if v.item_id != item.item_id]
    if not variants:
        return None
    new = rng.choice(variants)
    text = (
        f"exchange the {item.name} ({item.options}) from {_ref(order, item, by_item)} for "
        f"the variant with {new.options}, settling any price difference with the original "
        "payment method"
    )
    steps = [PlanStep("get_order", {"order_id": oid})]
    get_product = PlanStep("get_product", {"product_id": item.product_id}, reveals=(new.item_id,))
    if order.status != "delivered":
        return _Sub("exchange", order, text, steps, [], False)
    steps.append(get_product)
    if new.stock <= 0:
        return _Sub("exchange", order, text, steps, [], False)
    method = next(p for u in catalog.users for p in u.payments if p[0] == order.payment_id)
    if method[1] == "gift_card" and new.price - item.price > (method[3] or 0):
        return None
    steps.append(
        PlanStep(
            "exchange_items",
            {
                "order_id": oid,
                "item_ids": [item.item_id],
                "new_item_ids": [new.item_id],
                "payment_id": order.payment_id,
            },
        )
    )
    preds = [
        _status(oid, "exchange requested"),
        Predicate(
            f"item {item.item_id} of {oid} is exchanged for {new.item_id}",
            "SELECT new_item_id FROM order_items WHERE order_id = ? AND item_id = ?",
            (oid, item.item_id),
            new.item_id,
        ),
    ]
    return _Sub("exchange", order, text, steps, preds, True)


_Builder = Callable[[random.Random, Order, Item, bool, Catalog], "_Sub | None"]
#: Request kind -> (builder, statuses that make it feasible).
_KINDS: dict[str, tuple[_Builder, tuple[str, ...]]] = {
    "cancel": (_cancel, ("pending",)),
    "address": (_address, ("pending",)),
    "return": (_return, ("delivered",)),
    "exchange": (_exchange, ("delivered",)),
}


def _draw_sub(
    rng: random.Random,
    catalog: Catalog,
    user: User | None,
    feasible: bool,
    exclude: set[str],
    kinds: tuple[str, ...],
) -> _Sub | None:
    """Draw one request for ``user``'s orders (any order when ``user`` is None)."""
    if user is None:
        orders = list(catalog.orders.values())
    else:
        orders = [catalog.orders[oid] for oid in user.orders]
    names = [i.name for o in orders for i in o.items]
    for _ in range(30):
        kind = rng.choice(kinds)
        builder, statuses = _KINDS[kind]
        pool = [
            o
            for o in orders
            if o.order_id not in exclude
            and (o.status in statuses) == feasible
            and o.status != "cancelled"
        ]
        if kind == "exchange" and not feasible:
            pool = [o for o in orders if o.order_id not in exclude and o.status == "delivered"]
        if not pool:
            continue
        order = rng.choice(pool)
        items = (
            order.items if user is None else [i for i in order.items if names.count(i.name) == 1]
        )
        if not items:
            continue
        item = rng.choice(items)
        if kind == "exchange" and not feasible:
            empty = [
                v
                for v in catalog.variants[item.product_id]
                if v.stock <= 0 and v.item_id != item.item_id
            ]
            if not empty:
                continue
            sub = _exchange_out_of_stock(order, item, user is not None, rng.choice(empty))
        else:
            sub = builder(rng, order, item, user is not None, catalog)
        if sub is not None and sub.feasible == feasible:
            return sub
    return None


def _exchange_out_of_stock(order: Order, item: Item, by_item: bool, new: Variant) -> _Sub:
    text = (
        f"exchange the {item.name} ({item.options}) from {_ref(order, item, by_item)} for "
        f"the variant with {new.options}, settling any price difference with the original "
        "payment method"
    )
    steps = [
        PlanStep("get_order", {"order_id": order.order_id}),
        PlanStep("get_product", {"product_id": item.product_id}, reveals=(new.item_id,)),
    ]
    return _Sub("exchange", order, text, steps, [], False)


def generate_orders(
    rng: random.Random, catalog: Catalog, difficulty: int = 1, infeasible: bool = False
) -> ToolTask:
    """Draw an Orders task over the world indexed by ``catalog``."""
    kinds = tuple(_KINDS)
    while True:
        if difficulty == 1:
            sub = _draw_sub(rng, catalog, None, not infeasible, set(), kinds)
            if sub is None:
                continue
            subs, prefix, who = [sub], [], "A customer"
            break
        user = rng.choice(catalog.users)
        who, find = _who(rng, user)
        first = _draw_sub(rng, catalog, user, not infeasible, set(), kinds)
        if first is None:
            continue
        subs = [first]
        if difficulty == 3:
            rest = tuple(k for k in kinds if k != first.kind)
            second = _draw_sub(rng, catalog, user, True, {first.order.order_id}, rest)
            if second is None:
                continue
            subs.append(second)
            rng.shuffle(subs)
        listing = PlanStep(
            "list_orders",
            {"user_id": user.user_id},
            reveals=tuple(s.order.order_id for s in subs),
        )
        prefix = [find, listing]
        break
    steps = list(prefix)
    predicates: list[Predicate] = []
    if infeasible:
        bad = next(s for s in subs if not s.feasible)
        steps += bad.steps
        final = PlanStep("report_infeasible", {"reason": "the policy does not allow it"})
    else:
        for sub in subs:
            for step in sub.steps:
                if step.writes:
                    index = tuple(range(len(predicates), len(predicates) + len(sub.predicates)))
                    step = PlanStep(step.name, step.arguments, step.reveals, index)
                    predicates += sub.predicates
                steps.append(step)
        final = PlanStep("answer", {"answer": "done"})
    request = f"{who} wants to " + " and to ".join(s.text for s in subs) + "." + _FINISH
    return ToolTask(
        "Orders",
        request,
        catalog.seed,
        (*steps, final),
        kind="state",
        predicates=tuple(predicates),
        infeasible=infeasible,
        difficulty=difficulty,
        meta={"requests": [s.kind for s in subs], "orders": [s.order.order_id for s in subs]},
    )


class OrdersEnv(ToolEnv):
    """Carry out customer requests on orders under a written policy.

    ## Description
    Cancel pending orders, change their shipping address, return or exchange items of
    delivered orders. Level 1 names the order id; level 2 names the customer (email, or
    name and zip) and the order by an item in it; level 3 asks for two requests at
    once. Write tools enforce the policy (a delivered order cannot be cancelled,
    refunds go to the original payment method, exchanges need an in-stock variant of
    the same product) and answer a violation with ``Error: policy: ...``, writing
    nothing. About 7% of tasks cannot be done under the policy; they are solved by
    ``report_infeasible`` with nothing written. See
    :class:`~densegym.envs.tools.base.ToolEnv` for tools, transport and info fields.

    ## Observation Space
    ``PermissiveText``: request, policy, tool signatures and the last calls.

    ## Action Space
    ``PermissiveText``: one tool call (JSON or call syntax).

    ## Rewards
    1 on the final ``answer(...)`` when every verifier predicate (SQL over the final
    world) holds and the world changed exactly as the gold plan changes it (rows
    compared as sets: no collateral change); 0 otherwise. ``progress``: predicates
    met / all; ``score``: predicates met / (all + collateral rows).

    ## Termination
    On ``answer`` or ``report_infeasible``; truncated after 3 invalid calls in a row
    and at ``max_episode_steps``.

    ## Registered Configurations
    ``densegym/ToolShop-Orders-v0`` (``difficulty`` 1-3 or ``None`` for a mix,
    ``n_distractors``, ``transport``, ``world_seed``, ``n_worlds``).

    Example:
        >>> env = OrdersEnv(difficulty=3)
        >>> obs, info = env.reset(seed=1)
        >>> info["progress"], info["oracle_remaining"] > 2
        (0.0, True)
        >>> while True:
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_step())
        ...     if terminated or truncated:
        ...         break
        >>> reward, info["is_success"], info["progress"]
        (1.0, True, 1.0)
    """

    family_id = "Orders"

    def _generate(
        self, rng: random.Random, catalog: Catalog, difficulty: int, infeasible: bool
    ) -> ToolTask:
        return generate_orders(rng, catalog, difficulty, infeasible)
