"""Tool-use environments: serve shop requests by calling tools over a SQLite world.

Registered ids (``densegym/registration.py``): ``densegym/ToolShop-Lookup-v0``,
``ToolShop-Orders-v0`` and ``ToolShop-Config-v0``, each with ``max_episode_steps`` four times
the longest oracle plan (8 calls); ``BFCL-MultiTurn-v0`` with the ``tools`` extra.

Modules, one job each: ``world`` (the generated SQLite world, restore from bytes,
diffs), ``tools`` (tool functions, schemas, costs, the policy), ``calls`` (reading a
call from text), ``transport`` (in process or a local HTTP API), ``tasks`` (tasks,
verifier, oracle re-planning), ``catalog`` (an index of a world for generators),
``base`` (the env), one module per family (``lookup``, ``orders``, ``config``) and
``candidates`` (grounded call candidates for SB3 and small LLMs).

Example:
    >>> from densegym.envs.tools import OrdersEnv
    >>> env = OrdersEnv(difficulty=1)
    >>> obs, info = env.reset(seed=3)
    >>> _, _, _, _, info = env.step('cancel_order(order_id="#W1", reason="whim")')
    >>> info["tool_error"], info["invalid_call"], info["n_tool_errors"]
    (True, False, 1)
    >>> _, _, _, _, info = env.step("get_order(#W1)")
    >>> info["invalid_call"], info["n_invalid"], info["invalid_reason"]
    (True, 1, 'cannot parse the call')
"""

from densegym.envs.tools.base import ToolEnv, ToolState
from densegym.envs.tools.config import ConfigEnv
from densegym.envs.tools.lookup import LookupEnv
from densegym.envs.tools.orders import OrdersEnv

__all__ = ["ConfigEnv", "LookupEnv", "OrdersEnv", "ToolEnv", "ToolState"]
