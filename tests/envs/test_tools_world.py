import doctest
import importlib
import pkgutil
import random

import pytest

import densegym.envs.tools as tools_pkg
from densegym.envs.tools.tools import CORE_TOOLS, call_tool
from densegym.envs.tools.world import ShopWorld, world_for_seed

MODULES = [f"densegym.envs.tools.{m.name}" for m in pkgutil.iter_modules(tools_pkg.__path__)]
MODULES += ["densegym.envs.tools"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_world_is_deterministic_and_sized():
    a, b = ShopWorld.build(7), ShopWorld.build(7)
    assert a.data == b.data and a.data != ShopWorld.build(8).data
    assert 300 <= sum(a.size.values()) <= 2000
    conn = a.connect()
    ids = [r[0] for r in conn.execute("SELECT order_id FROM orders")]
    assert all(i.startswith("#W") and len(i) == 9 for i in ids)


def test_worlds_share_schema_and_root_pages():
    # One connection restores worlds of different seeds; SQLite keeps its parsed schema.
    layouts = {
        tuple(world_for_seed(s).connect().execute("SELECT name, rootpage FROM sqlite_master"))
        for s in range(4)
    }
    assert len(layouts) == 1


def test_switching_worlds_on_one_connection_keeps_it_sound():
    conn = world_for_seed(0).connect()
    for seed in (2, 0, 3, 1, 2):
        world = world_for_seed(seed)
        world.restore(conn)
        pending = conn.execute("SELECT order_id FROM orders WHERE status='pending'").fetchone()[0]
        result = call_tool(
            conn, "cancel_order", {"order_id": pending, "reason": "no longer needed"}
        )
        assert result.status == "ok" and result.wrote
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert world.diff(conn) == world.full_diff(conn) and world.diff(conn).n_rows() > 0


def test_fast_diff_matches_full_diff_under_random_writes():
    world = world_for_seed(0)
    conn = world.connect()
    rng = random.Random(0)
    orders = [r[0] for r in conn.execute("SELECT order_id FROM orders")]
    items = {
        oid: [
            r[0] for r in conn.execute("SELECT item_id FROM order_items WHERE order_id=?", (oid,))
        ]
        for oid in orders
    }
    payments = [r[0] for r in conn.execute("SELECT payment_id FROM payment_methods")]
    users = [r[0] for r in conn.execute("SELECT user_id FROM users")]
    for _ in range(300):
        oid = rng.choice(orders)
        name = rng.choice(["cancel_order", "return_items", "modify_address", "update_setting"])
        args = {
            "cancel_order": {"order_id": oid, "reason": "ordered by mistake"},
            "return_items": {
                "order_id": oid,
                "item_ids": items[oid][:1],
                "payment_id": rng.choice(payments),
            },
            "modify_address": {
                "order_id": oid,
                "address1": "1 Main St",
                "city": "X",
                "state": "TX",
                "zip": "78701",
            },
            "update_setting": {"user_id": rng.choice(users), "key": "language", "value": "fr"},
        }[name]
        call_tool(conn, name, args)
        assert world.diff(conn) == world.full_diff(conn)


def test_every_core_tool_has_a_valid_schema():
    for tool in CORE_TOOLS:
        schema = tool.schema()["function"]
        assert schema["name"] == tool.name and schema["description"]
        params = schema["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])


def test_calculate_is_bounded_and_safe():
    conn = world_for_seed(0).connect()
    for expression in ["__import__('os')", "2 ** 10", "1/0", "-" * 90 + "1", "x"]:
        result = call_tool(conn, "calculate", {"expression": expression})
        assert result.status == "error"
