"""Web environments: shop on a generated site served by a real local HTTP server.

Ids to register (``densegym/registration.py``; the longest oracle plan is 11 actions):

.. code-block:: python

    EnvEntry(
        name="WebShop-Search",
        base="densegym.envs.web.env:WebShopEnv",
        max_episode_steps=40,
        world="web",
    ),

Modules, one job each: ``catalog`` (products from attribute grammars, SQLite FTS5
search), ``site`` (the pages as HTML), ``server`` (the process's HTTP server and a
keep-alive client), ``text`` (the text driver: HTML to observation, action parsing),
``tasks`` (tasks solvable by construction, the purchase score) and ``env`` (the env).
``miniwob`` plays MiniWoB++ tasks (``densegym/MiniWoB-<task>-v0``) in the same Chromium
with the same observation and grammar; ``browser`` is the Chromium driver; ``pae`` lets an
LLM write a task's instruction from the item page (PAE-style) under a programmatic guard.
Screenshots (``render_mode="rgb_array"``) become a PNG strip with :mod:`densegym.frames`.

Example:
    >>> from densegym.envs.web import WebShopEnv
    >>> env = WebShopEnv(difficulty=1)
    >>> obs, info = env.reset(seed=1)
    >>> _, _, _, _, info = env.step("search[" + env.task["query"] + "]")
    >>> info["page"], info["invalid_action"]
    ('results', False)
    >>> env.close()
"""

from densegym.envs.web.env import WebShopEnv, WebState
from densegym.envs.web.tasks import WebTask

__all__ = ["WebShopEnv", "WebState", "WebTask"]
