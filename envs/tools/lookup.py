"""Lookup: read-only nested lookups answered with ``answer(...)``.

Levels: 1 (an order id is given; one read), 2 (the customer is named by email or name
and zip; find them, their order, then read it), 3 (a sum over several orders with
``calculate``). Infeasible tasks ask about an order or customer that does not exist.

Example:
    >>> import random
    >>> from densegym.envs.tools.catalog import catalog_for_seed
    >>> task = generate_lookup(random.Random(1), catalog_for_seed(0), difficulty=2)
    >>> task.kind, [step.name for step in task.plan]
    ('answer', ['find_user', 'list_orders', 'get_order', 'answer'])
"""

from __future__ import annotations

import random

from densegym.envs.tools.base import ToolEnv
from densegym.envs.tools.catalog import Catalog, Order, User, money
from densegym.envs.tools.tasks import PlanStep, ToolTask

__all__ = ["LookupEnv", "generate_lookup"]


def _who(rng: random.Random, user: User) -> tuple[str, PlanStep]:
    """Describe a customer (email, or name and zip) and the step that finds them."""
    if rng.random() < 0.5:
        text = f"The customer with email {user.email}"
        args = {"email": user.email}
    else:
        text = f"{user.first} {user.last} (zip code {user.zip})"
        args = {"first_name": user.first, "last_name": user.last, "zip": user.zip}
    return text, PlanStep("find_user", args, reveals=(user.user_id,))


def _read_order(order: Order) -> PlanStep:
    return PlanStep("get_order", {"order_id": order.order_id})


def _level1(rng: random.Random, catalog: Catalog) -> tuple[str, list[PlanStep], str, str]:
    order = rng.choice(list(catalog.orders.values()))
    item = rng.choice(order.items)
    template = rng.randrange(4)
    if template == 0:
        question, answer = f"What is the status of order {order.order_id}?", order.status
    elif template == 1:
        question = f"How many items are in order {order.order_id}?"
        answer = str(len(order.items))
    elif template == 2:
        question = f"Which payment method (give its payment id) paid for order {order.order_id}?"
        answer = order.payment_id
    else:
        question = f"What was the price of the {item.name} in order {order.order_id}?"
        answer = money(item.price)
    return question, [_read_order(order)], answer, f"order-{template}"


def _level2(rng: random.Random, catalog: Catalog) -> tuple[str, list[PlanStep], str, str]:
    while True:
        user = rng.choice(catalog.users)
        orders = [catalog.orders[oid] for oid in user.orders]
        names = [item.name for order in orders for item in order.items]
        unique = [n for n in names if names.count(n) == 1]
        if unique:
            break
    who, find = _who(rng, user)
    name = rng.choice(unique)
    order = next(o for o in orders if any(i.name == name for i in o.items))
    item = next(i for i in order.items if i.name == name)
    listing = PlanStep("list_orders", {"user_id": user.user_id}, reveals=(order.order_id,))
    template = rng.randrange(3)
    if template == 0:
        question = f"{who} asks: what is the status of their order with the {name}?"
        answer = order.status
    elif template == 1:
        question = f"{who} asks: what did they pay for the {name} they ordered?"
        answer = money(item.price)
    else:
        question = (
            f"{who} asks: what are the options (e.g. color, size) of the {name} they ordered?"
        )
        answer = item.options
    return question, [find, listing, _read_order(order)], answer, f"customer-{template}"


def _level3(rng: random.Random, catalog: Catalog) -> tuple[str, list[PlanStep], str, str]:
    while True:
        user = rng.choice(catalog.users)
        status = rng.choice(("delivered", "pending"))
        orders = [catalog.orders[oid] for oid in user.orders]
        chosen = [o for o in orders if o.status == status]
        if 2 <= len(chosen) <= 4:
            break
    who, find = _who(rng, user)
    listing = PlanStep(
        "list_orders", {"user_id": user.user_id}, reveals=tuple(o.order_id for o in chosen)
    )
    reads = [_read_order(o) for o in chosen]
    total = money(sum(o.total for o in chosen))
    expression = " + ".join(money(o.total) for o in chosen)
    calc = PlanStep("calculate", {"expression": expression}, reveals=(total,))
    question = f"{who} asks: what is the total amount they paid for their {status} orders?"
    return question, [find, listing, *reads, calc], total, f"sum-{status}"


def _infeasible(rng: random.Random, catalog: Catalog) -> tuple[str, list[PlanStep], str]:
    if rng.random() < 0.5:
        while True:
            order_id = f"#W{rng.randrange(10**6, 10**7)}"
            if order_id not in catalog.orders:
                break
        step = PlanStep(
            "get_order", {"order_id": order_id}, reveals=(f"order {order_id} not found",)
        )
        return f"What is the status of order {order_id}?", [step], "missing-order"
    user = rng.choice(catalog.users)
    email = f"{user.first.lower()}.{user.last.lower()}{rng.randrange(10)}@example.org"
    step = PlanStep("find_user", {"email": email}, reveals=("no user matches",))
    question = f"The customer with email {email} asks how many orders they have."
    return question, [step], "missing-user"


def generate_lookup(
    rng: random.Random, catalog: Catalog, difficulty: int = 1, infeasible: bool = False
) -> ToolTask:
    """Draw a Lookup task over the world indexed by ``catalog``."""
    if infeasible:
        question, steps, template = _infeasible(rng, catalog)
        plan = (*steps, PlanStep("report_infeasible", {"reason": "no such record"}))
        return ToolTask(
            "Lookup",
            question + " Answer with answer(...), or report_infeasible(...) if it cannot be done.",
            catalog.seed,
            plan,
            kind="answer",
            infeasible=True,
            difficulty=difficulty,
            meta={"template": template},
        )
    level = {1: _level1, 2: _level2, 3: _level3}[difficulty]
    question, steps, answer, template = level(rng, catalog)
    plan = (*steps, PlanStep("answer", {"answer": answer}))
    return ToolTask(
        "Lookup",
        question + " Answer with answer(...), or report_infeasible(...) if it cannot be done.",
        catalog.seed,
        plan,
        kind="answer",
        answer=answer,
        difficulty=difficulty,
        meta={"template": template},
    )


class LookupEnv(ToolEnv):
    """Answer a customer's question by looking records up.

    ## Description
    Read-only nested lookups over the shop world: level 1 reads one order, level 2
    finds the customer (by email, or by name and zip), lists their orders and reads
    the one the question is about, level 3 sums over several orders with
    ``calculate``. About 7% of tasks ask about a record that does not exist; those are
    solved by ``report_infeasible``. See :class:`~densegym.envs.tools.base.ToolEnv`
    for the tools, the transport and the info fields.

    ## Observation Space
    ``PermissiveText``: request, policy, tool signatures and the last calls.

    ## Action Space
    ``PermissiveText``: one tool call (JSON or call syntax).

    ## Rewards
    1 for ``answer(...)`` with the exact answer (numbers within half a cent; case and
    spacing ignored) and an unchanged world; 0 otherwise. ``progress``: the facts the
    gold plan reads that have been seen, plus the answer.

    ## Termination
    On ``answer`` or ``report_infeasible``; truncated after 3 invalid calls in a row
    and at ``max_episode_steps``.

    ## Registered Configurations
    ``densegym/ToolShop-Lookup-v0`` (``difficulty`` 1-3 or ``None`` for a mix,
    ``n_distractors``, ``transport``, ``world_seed``, ``n_worlds``).

    Example:
        >>> env = LookupEnv(difficulty=1)
        >>> obs, info = env.reset(seed=0)
        >>> while True:
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_step())
        ...     if terminated or truncated:
        ...         break
        >>> reward, info["is_success"], info["n_calls"]
        (1.0, True, 2)
    """

    family_id = "Lookup"

    def _generate(
        self, rng: random.Random, catalog: Catalog, difficulty: int, infeasible: bool
    ) -> ToolTask:
        return generate_lookup(rng, catalog, difficulty, infeasible)
