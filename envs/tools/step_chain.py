"""The step chain of a tool episode: its calls as steps, and plausible wrong calls.

Process rewards (``pav``, ``prm``) read an episode as a chain of text steps and
continue it with noisy provers, which need a plausible *wrong* next step as well as the
oracle's (``densegym.protocols.HasStepChain``). On a tool env a step is one call in
canonical form, and a wrong step is built from the oracle's next call and the world,
never random text:

* the same tool with one identifier or value swapped for another of the same column of
  the world (another order of the shop, another item, another setting value; for
  ``answer`` another value of the column the right answer comes from, or a number off
  by a little);
* a read of the same entity instead of the write that was needed;
* a near-duplicate tool (a distractor with the same parameters) when the toolset has
  one.

Wrong reads only waste a call; wrong writes change rows the gold plan leaves alone
(the task is lost) or are refused by the policy; a wrong answer ends the episode
unsuccessfully. So a noisy-oracle prover's success rate depends on where the chain is.

Example:
    >>> from densegym.envs.tools import OrdersEnv
    >>> import random
    >>> env = OrdersEnv(difficulty=2)
    >>> _ = env.reset(seed=0)
    >>> wrong = env.wrong_step(random.Random(0))
    >>> wrong != env.oracle_step() and wrong.startswith('{"name": ')
    True
"""

from __future__ import annotations

import functools
import json
import random
import re
from typing import Any

from densegym.envs.tools.tasks import PlanStep
from densegym.envs.tools.world import SCHEMA, connect_bytes, world_for_seed

__all__ = ["column_values", "wrong_call"]

#: Read tools that show an entity named by an argument (a read instead of a write).
_READ_OF = {"order_id": "get_order", "user_id": "get_user", "product_id": "get_product"}
#: Values of one column drawn from when swapping (bounded: the world has a few hundred rows).
_MAX_VALUES = 400


@functools.lru_cache(maxsize=16)
def column_values(world_seed: int) -> dict[tuple[str, str], tuple[str, ...]]:
    """Return the distinct text values of every column of a world's initial state, sorted.

    Example:
        >>> values = column_values(0)
        >>> all(v.startswith("#W") for v in values[("orders", "order_id")])
        True
    """
    conn = connect_bytes(world_for_seed(world_seed).data)
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    try:
        for table in SCHEMA:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                rows = conn.execute(
                    f"SELECT DISTINCT {column} FROM {table} LIMIT {_MAX_VALUES}"
                ).fetchall()
                texts = sorted({str(r[0]) for r in rows if r[0] is not None})
                out[(table, column)] = tuple(texts)
    finally:
        conn.close()
    return out


@functools.lru_cache(maxsize=16)
def _setting_values(world_seed: int) -> dict[str, tuple[str, ...]]:
    conn = connect_bytes(world_for_seed(world_seed).data)
    try:
        rows = conn.execute("SELECT DISTINCT key, value FROM settings").fetchall()
    finally:
        conn.close()
    out: dict[str, set[str]] = {}
    for key, value in rows:
        out.setdefault(str(key), set()).add(str(value))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _same_column(world_seed: int, value: str) -> list[str]:
    """Other values of the first column (in schema order) that holds ``value``."""
    folded = value.strip().lower()
    for values in column_values(world_seed).values():
        if any(v.lower() == folded for v in values):
            return [v for v in values if v.lower() != folded]
    return []


def _number_off(value: str, rng: random.Random) -> str | None:
    """The first number in ``value`` moved by a small nonzero amount (``None``: no number)."""
    match = re.search(r"-?\d+(?:\.\d+)?", value)
    if match is None:
        return None
    text = match.group(0)
    delta = rng.choice([-2, -1, 1, 2, 3])
    if "." in text:
        decimals = len(text.split(".")[1])
        new = f"{float(text) + delta:.{decimals}f}"
    else:
        new = str(int(text) + delta)
    return value[: match.start()] + new + value[match.end() :]


def _swap_argument(step: PlanStep, world_seed: int, rng: random.Random) -> dict[str, Any] | None:
    """The step's arguments with one value swapped for another of its kind (``None``: none fits)."""
    options: list[tuple[str, int | None, list[str]]] = []
    for name, value in step.arguments.items():
        if isinstance(value, list):
            for index, item in enumerate(value):
                others = _same_column(world_seed, str(item))
                if others:
                    options.append((name, index, others))
        elif isinstance(value, str):
            if name == "value" and "key" in step.arguments:
                pool = _setting_values(world_seed).get(str(step.arguments["key"]), ())
                others = [v for v in pool if v != value]
            else:
                others = _same_column(world_seed, value)
            if others:
                options.append((name, None, others))
    if not options:
        return None
    name, index, others = options[rng.randrange(len(options))]
    arguments = {k: list(v) if isinstance(v, list) else v for k, v in step.arguments.items()}
    replacement = others[rng.randrange(len(others))]
    if index is None:
        arguments[name] = replacement
    else:
        arguments[name][index] = replacement
    return arguments


def _action(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": arguments})


def wrong_call(
    step: PlanStep,
    world_seed: int,
    tools: dict[str, Any],
    rng: random.Random,
    infeasible: bool = False,
) -> str:
    """Return a plausible wrong version of the oracle's next call ``step`` (JSON action).

    Args:
        step: the oracle's next call.
        world_seed: the world the task lives in (wrong values come from it).
        tools: the env's toolset (near-duplicate tools come from it).
        rng: the random source of the choice.
        infeasible: the task cannot be done (the oracle's next call may be
            ``report_infeasible``; the wrong one then claims it was done).

    Example:
        >>> from densegym.envs.tools.tasks import PlanStep
        >>> from densegym.envs.tools.tools import toolset
        >>> order = column_values(0)[("orders", "order_id")][0]
        >>> step = PlanStep("get_order", {"order_id": order})
        >>> call = json.loads(wrong_call(step, 0, toolset(), random.Random(0)))
        >>> call["name"], call["arguments"]["order_id"] != order
        ('get_order', True)
    """
    if step.name == "report_infeasible":
        return _action("answer", {"answer": "done"})
    choices: list[str] = []
    if step.name == "answer":
        value = str(step.arguments.get("answer", ""))
        others = _same_column(world_seed, value)
        if others:
            choices.append(_action("answer", {"answer": others[rng.randrange(len(others))]}))
        off = _number_off(value, rng)
        if off is not None and off != value:
            choices.append(_action("answer", {"answer": off}))
        if not choices:
            choices.append(_action("report_infeasible", {"reason": "cannot be done"}))
        return choices[rng.randrange(len(choices))]
    swapped = _swap_argument(step, world_seed, rng)
    if swapped is not None:
        choices.append(_action(step.name, swapped))
    if step.writes:
        for param, reader in _READ_OF.items():
            if param in step.arguments and reader in tools:
                choices.append(_action(reader, {param: step.arguments[param]}))
                break
    params = tuple(p.name for p in tools[step.name].params) if step.name in tools else ()
    twins = sorted(
        name
        for name, tool in tools.items()
        if name != step.name
        and params
        and tuple(p.name for p in tool.params) == params
        and not tool.terminal
        and not tool.writes
        and not step.writes
    )
    if twins:
        choices.append(_action(twins[rng.randrange(len(twins))], dict(step.arguments)))
    if not choices:
        for name, value in step.arguments.items():
            off = _number_off(str(value), rng) if isinstance(value, str) else None
            if off is not None and off != value:
                choices.append(_action(step.name, {**step.arguments, name: off}))
                break
    if not choices:
        choices.append(
            _action("report_infeasible", {"reason": "cannot be done"})
            if not infeasible
            else _action("answer", {"answer": "done"})
        )
    return choices[rng.randrange(len(choices))]
