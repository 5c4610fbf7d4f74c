"""The shop env: follow an instruction on a real local shop site, one page action per step."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import gymnasium as gym

from densegym.envs.web.browser import BrowserDied, BrowserDriver
from densegym.envs.web.catalog import catalogue_for_seed
from densegym.envs.web.pae import INSTRUCTION_MODES, InstructionWriter
from densegym.envs.web.server import HOST, ShopClient, ShopServer
from densegym.envs.web.site import PAGE_SIZE, option_id, parse_path, session_prefix
from densegym.envs.web.tasks import WebTask, generate_task, score_purchase
from densegym.envs.web.text import (
    MAX_ACTION_CHARS,
    Page,
    parse_page,
    read_action,
    render_page_text,
    resolve,
    resolve_option,
    with_value,
)
from densegym.spaces import PermissiveText
from densegym.text_render import TextRendering

__all__ = ["BROWSER_INFO_DOC", "INFO_DOC", "WebShopEnv", "WebState"]

#: Info fields every shop env reports (also in ``env.unwrapped.task["info"]``).
INFO_DOC = {
    "is_success": "bool: bought an item that meets every asked attribute, option and the price",
    "score": "float in [0, 1]: WebShop-style match of the purchase (0 before Buy)",
    "page": "str: the kind of page shown (search, results, item, sub, buy, unknown)",
    "invalid_action": "bool: unreadable action, unknown element or impossible move",
    "invalid_reason": "str: why the action was invalid ('' when valid)",
    "n_invalid": "int: invalid actions so far",
    "invalid_streak": "int: invalid actions in a row (K in a row truncate)",
    "server_error": "bool: the page could not be fetched",
    "n_steps": "int: actions so far",
    "oracle_remaining": "int: actions the oracle needs from here (-1: the task is lost)",
    "server_restarted": "bool: the shop server was gone and was restarted (the episode is "
    "truncated; not a task failure)",
    "n_server_restarts": "int: server restarts this env saw over its life",
    "difficulty": "int: the task's level",
}
#: Extra info fields of ``driver="chromium"``.
BROWSER_INFO_DOC = {
    "browser_restarted": "bool: the browser died or hung and was restarted (the episode is "
    "truncated; not a task failure)",
    "n_browser_restarts": "int: browser restarts over this env's life",
}
_MAX_HISTORY = 64


@dataclass(frozen=True)
class WebState:
    """A snapshot of an episode: the task, the page path (options are in it) and history."""

    task: WebTask
    path: str
    history: tuple[str, ...]
    page: Page
    counters: tuple[int, int, int]
    done: bool
    score: float


class WebShopEnv(TextRendering, gym.Env[str, str]):
    """Buy the product an instruction asks for on a real local shop site.

    ## Description
    A generated catalogue (categories with attributes, option dimensions and prices; 1,000
    products by default, in SQLite with an FTS5 BM25 index) served by a real HTTP server
    on 127.0.0.1 (a free port, one server per process, a session per env). The text
    driver fetches each page over keep-alive HTTP and reads it with ``html.parser``.
    Tasks are solvable by construction (:mod:`densegym.envs.web.tasks`).

    ## Observation Space
    ``PermissiveText``: the instruction, then the page: its title, visible text and its
    interactive elements numbered, ``[3] link "Description" #description``.

    ## Action Space
    ``PermissiveText``: one line, ``search[query]`` (on a page with a search box),
    ``click[<number | element id | element text>]`` or ``back``. Unreadable or
    impossible actions are flagged (``info["invalid_action"]``) and counted; the page
    stays; ``max_invalid_in_row`` in a row truncate the episode.

    ## Rewards
    0 per step; at Buy, 1 if the purchase meets the instruction (``info["is_success"]``),
    else 0, or with ``reward_mode="score"`` the WebShop-style score (``info["score"]``).

    ## Termination
    Terminates at Buy; truncates after ``max_invalid_in_row`` invalid actions in a row and
    at the registered ``max_episode_steps``.

    ## Registered Configurations
    ``densegym/WebShop-Search-v0``: levels 1-3 drawn uniformly (``difficulty=`` fixes one).

    ## Drivers
    ``driver="text"`` fetches pages over HTTP and parses them in process (~900 steps/s).
    ``driver="chromium"`` runs real headless Chromium through Selenium
    (:mod:`densegym.envs.web.browser`): it types queries, clicks links, radios and buttons
    and presses Back, and reads each page's serialised HTML with the same parser, so both
    drivers give the same observations and infos for the same episode. One browser per env,
    started at the first reset and quit by :meth:`close`; a browser that dies or hangs is restarted,
    the episode truncated with ``info["browser_restarted"]`` (``info["n_browser_restarts"]``
    counts them). ``step`` never raises for it.

    Args:
        difficulty: the level of new tasks (``None``: drawn uniformly from ``levels``).
        catalogue_seed: the seed of the catalogue.
        n_products: products in the catalogue (at least; families complete).
        reward_mode: ``"success"`` or ``"score"``.
        driver: ``"text"`` (in-process HTML parsing of real HTTP pages) or
            ``"chromium"`` (real headless Chromium; needs the ``web`` extra and Debian's
            ``chromium`` and ``chromium-driver``).
        max_invalid_in_row: invalid actions in a row that truncate the episode.
        max_observation_chars: the observation's length bound.
        render_mode: ``None``, ``"ansi"``, ``"human"`` or (``driver="chromium"``)
            ``"rgb_array"``: a screenshot of the page, taken only when :meth:`render` is called.
        instruction: ``"template"`` (default), or PAE-style ``"paraphrase"``/``"propose"``:
            an LLM writes the instruction from the target's item page while the score stays
            programmatic; an instruction that omits a scored fact falls back to the template,
            flagged in ``task["instruction_source"]`` (:mod:`densegym.envs.web.pae`).
        instruction_llm: the LLM spec (or backend, or a ready
            :class:`~densegym.envs.web.pae.InstructionWriter`) for those modes.

    Example:
        >>> env = WebShopEnv(difficulty=1)
        >>> obs, info = env.reset(seed=0)
        >>> obs.splitlines()[1]
        'Page: Search'
        >>> _, _, _, _, info = env.step("click[nothing here]")
        >>> info["invalid_action"], info["n_invalid"]
        (True, 1)
        >>> while True:
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_step())
        ...     if terminated or truncated:
        ...         break
        >>> reward, info["is_success"], info["score"]
        (1.0, True, 1.0)
        >>> env.close()
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human", "rgb_array"],
        "render_fps": 1,
    }
    family_id: ClassVar[str] = "Search"
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3)
    #: Potential-based shaping's default Φ (``shaping="potential"``).
    default_potential: ClassVar[str] = "web_progress"
    #: The longest candidate action the ``candidates`` view shows.
    max_step_chars: ClassVar[int] = 256

    def __init__(
        self,
        *,
        difficulty: int | None = None,
        catalogue_seed: int = 0,
        n_products: int = 1000,
        reward_mode: str = "success",
        driver: str = "text",
        max_invalid_in_row: int = 5,
        max_observation_chars: int = 8192,
        render_mode: str | None = None,
        instruction: str = "template",
        instruction_llm: Any = "smollm2",
    ):
        if instruction not in INSTRUCTION_MODES:
            raise ValueError(f"instruction must be one of {INSTRUCTION_MODES}, got {instruction!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if difficulty is not None and difficulty not in self.levels:
            raise ValueError(f"difficulty must be one of {self.levels}, got {difficulty!r}")
        if driver not in ("text", "chromium"):
            raise ValueError(f"driver must be 'text' or 'chromium', got {driver!r}")
        if render_mode == "rgb_array" and driver != "chromium":
            raise ValueError("render_mode='rgb_array' (screenshots) needs driver='chromium'")
        if reward_mode not in ("success", "score"):
            raise ValueError(f"reward_mode must be 'success' or 'score', got {reward_mode!r}")
        if max_invalid_in_row < 1 or n_products < 50:
            raise ValueError("max_invalid_in_row must be at least 1 and n_products at least 50")
        self.difficulty = difficulty
        self.catalogue_seed = int(catalogue_seed)
        self.n_products = int(n_products)
        self.reward_mode = reward_mode
        self.driver = driver
        self.max_invalid_in_row = int(max_invalid_in_row)
        self.max_observation_chars = int(max_observation_chars)
        self.render_mode = render_mode
        self.observation_space = PermissiveText(max_length=self.max_observation_chars)
        self.action_space = PermissiveText(max_length=MAX_ACTION_CHARS)
        self.problem: WebTask | None = None
        self._session: str | None = None
        self._client: ShopClient | None = None
        self._task_dict: dict[str, Any] | None = None
        self._path = ""
        self._history: list[str] = []
        self._page: Page | None = None
        self._n_invalid = self._streak = self._n_steps = 0
        self._done = False
        self._score = 0.0
        self._browser = BrowserDriver() if driver == "chromium" else None
        self._n_browser_restarts = 0
        self._n_server_restarts = 0
        self.instruction = instruction
        self._writer: InstructionWriter | None = None
        if instruction != "template":
            self._writer = (
                instruction_llm
                if isinstance(instruction_llm, InstructionWriter)
                else InstructionWriter(instruction_llm, mode=instruction)
            )
        self._instruction_meta: dict[str, Any] = {"instruction_source": "template"}
        self._server_restarted = False

    # -- the site -----------------------------------------------------------------
    @property
    def catalogue(self):
        """The catalogue this env shops in (built once per process and seed)."""
        return catalogue_for_seed(self.catalogue_seed, self.n_products)

    @property
    def port(self) -> int | None:
        """The port of the shop server this env uses (``None`` before its first page)."""
        return None if self._client is None else self._client.port

    def _fetch(self, path: str, how: tuple[str, ...] = ("open",), here: str = "") -> Page:
        """Show page ``path``: fetched (text driver) or reached by ``how`` from ``here``.

        Raises:
            BrowserDied: (Chromium driver) the browser is gone or hung.
        """
        self._ensure_server()
        prefix = session_prefix(self._session)
        if self._browser is None:
            status, html = self._client.get(prefix + path)
            if status == 0 and not ShopServer.has_session(self._session):  # died just now
                self._ensure_server()
                prefix = session_prefix(self._session)
                status, html = self._client.get(prefix + path)
        elif how == ("open",):
            status, html = self._browser.open(f"http://{HOST}:{self.port}{prefix}", path)
        else:
            status, html = self._browser.act(f"http://{HOST}:{self.port}{prefix}", here, path, how)
        return parse_page(html, prefix, status)

    def _ensure_server(self) -> None:
        """Open a session, or a new one when the server or the session is gone (counted)."""
        if self._client is not None and ShopServer.has_session(self._session):
            return
        if self._client is not None:  # it was up once: a restart
            self._client.close()
            self._n_server_restarts += 1
            self._server_restarted = True
        self._session, port = ShopServer.open_session(self.catalogue)
        self._client = ShopClient(port)

    def _restart_browser(self) -> None:
        """Replace a dead browser (never raises; a failed start is retried at reset)."""
        self._n_browser_restarts += 1
        try:
            self._browser.restart()
        except BrowserDied:
            self._browser.quit()

    # -- public helpers -----------------------------------------------------------
    def make_task(self, seed: int, difficulty: int | None = None) -> WebTask:
        """Return the task drawn for a task seed."""
        level = difficulty if difficulty is not None else self.difficulty
        if level is None:
            level = random.Random(seed).choice(self.levels)
        return generate_task(self.catalogue, seed, level)

    @property
    def task(self) -> dict[str, Any]:
        """Machine-readable description of the current task (for LLM modules)."""
        if self._task_dict is None:
            data: dict[str, Any] = {
                "id": f"WebShop-{self.family_id}",
                "goal": "Buy the product the instruction describes, with the options it asks "
                "for, within its price.",
                "action_format": "search[query] | click[number, element id or text] | back",
                "reward": "1 when the purchase meets the instruction, else 0"
                if self.reward_mode == "success"
                else "the WebShop-style match score of the purchase",
                "info": dict(INFO_DOC)
                if self._browser is None
                else {**INFO_DOC, **BROWSER_INFO_DOC},
            }
            if self.problem is not None:
                data.update(self.problem.to_dict())
                meta = self._instruction_meta
                if meta.get("for_task", self.problem) is self.problem:
                    data.update({k: v for k, v in meta.items() if k != "for_task"})
                else:  # a state set from elsewhere: its words' origin is not known here
                    data["instruction_source"] = "restored"
            self._task_dict = data
        return self._task_dict

    @property
    def page(self) -> Page:
        """The page shown."""
        self._require_task()
        return self._page

    def remaining_plan(self) -> list[str] | None:
        """The oracle's actions from the current page; ``None`` once the task is lost."""
        task = self._require_task()
        if self._done:
            return [] if self._score == 1.0 else None
        target_page = task.rank // PAGE_SIZE + 1

        def from_item(chosen: dict[str, str]) -> list[str]:
            opts = [f"click[{option_id(d, v)}]" for d, v in task.options if chosen.get(d) != v]
            return [*opts, "click[buy-now]"]

        def from_results(page: int) -> list[str]:
            move = "next-page" if target_page > page else "prev-page"
            moves = [f"click[{move}]"] * abs(target_page - page)
            return [*moves, f"click[item-{task.asin.lower()}]", *from_item({})]

        def from_search() -> list[str]:
            return [f"search[{task.query}]", *from_results(1)]

        kind, asin, _, params = parse_path(self._path)
        chosen = {k[2:]: v for k, v in params.items() if k.startswith("o_")}
        same_query = params.get("q") == task.query
        raw_page = params.get("page", "1")
        page = (
            int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 6 else 1
        )
        page = max(1, min(page, 5))
        if kind == "search":
            return from_search()
        if kind == "results":
            return from_results(page) if same_query else from_search()
        leave = ["click[back-to-search]", *from_search()]
        if kind in ("item", "sub") and asin == task.asin:
            return (["click[back-to-item]"] if kind == "sub" else []) + from_item(chosen)
        if kind == "item" and same_query:
            return min(leave, ["click[back-to-results]", *from_results(page)], key=len)
        return leave

    def candidate_actions(self, k: int = 8, include_oracle: bool = False) -> list[str]:
        """Return at most ``k`` distinct grounded actions for the page shown.

        Built from the page's clickable elements and search queries made of the
        instruction's words, most relevant first
        (:func:`~densegym.envs.web.candidates.grounded_actions`); the oracle's next action
        is among them only with ``include_oracle=True``. The ``candidates`` view
        (``gym.make(id, view={"id": "candidates", "k": 8})``) offers them to SB3.
        """
        from densegym.envs.web.candidates import grounded_actions

        self._require_task()
        return grounded_actions(self, k, include_oracle=include_oracle)

    def shop_progress(self) -> float:
        """Return the stage of the purchase reached, in [0, 1] (the ``web_progress`` potential).

        0 before the target is listed; 0.25 on a results page that lists it; on the
        target's item page (or a sub-page of it) 0.5 plus 0.4 times the share of asked
        options chosen; 1 after a successful Buy (0 after a wrong one).
        """
        task = self._require_task()
        if self._done:
            return 1.0 if self._score == 1.0 else 0.0
        kind, asin, _, params = parse_path(self._path)
        if kind in ("item", "sub") and asin == task.asin:
            chosen = {k[2:]: v for k, v in params.items() if k.startswith("o_")}
            hits = sum(chosen.get(d) == v for d, v in task.options)
            return 0.5 + 0.4 * hits / max(len(task.options), 1)
        if kind == "results":
            link = f"item-{task.asin.lower()}"
            return 0.25 if any(e.id == link for e in self._page.elements) else 0.0
        return 0.0

    def viewed_item_match(self) -> float:
        """The purchase score of the item on screen with its options as chosen, in [0, 1].

        The ``web_item_match`` potential: on an item page (or one of its sub-pages) the
        WebShop score the item would earn if bought now (attributes, chosen options, price,
        category); 0 on every other page. A Buy ends the episode with the score itself.
        """
        task = self._require_task()
        if self._done:
            return float(self._score or 0.0)
        kind, asin, _, params = parse_path(self._path)
        product = self.catalogue.by_asin.get(asin) if kind in ("item", "sub") else None
        if product is None:
            return 0.0
        chosen = {k[2:]: v for k, v in params.items() if k.startswith("o_")}
        return float(score_purchase(task, product, chosen))

    def target_rank_score(self) -> float:
        """``1 / rank`` of the target in the results of the query being browsed (0: absent).

        The ``web_target_rank`` potential. The query travels in the URL from the results
        page to the item pages it links to, so "the last results" are those of the query
        in the current URL; before any search (and after Buy) it is 0.
        """
        task = self._require_task()
        if self._done:
            return 0.0
        query = parse_path(self._path)[3].get("q", "")
        hits = self.catalogue.search(query) if query else []
        return 1.0 / (hits.index(task.asin) + 1) if task.asin in hits else 0.0

    def oracle_step(self) -> str:
        """Return the oracle's next action, re-planned from the current page."""
        steps = self.remaining_plan()
        return steps[0] if steps else "click[buy-now]"

    def oracle_remaining(self) -> int | None:
        """Count the actions the oracle needs from here; ``None`` once the task is lost."""
        steps = self.remaining_plan()
        return None if steps is None else len(steps)

    def observation(self) -> str:
        """Return the current observation text."""
        return self._observation()

    # -- state for rollouts -------------------------------------------------------
    def get_state(self) -> WebState:
        """Snapshot the episode (no server call)."""
        return WebState(
            task=self._require_task(),
            path=self._path,
            history=tuple(self._history),
            page=self._page,
            counters=(self._n_invalid, self._streak, self._n_steps),
            done=self._done,
            score=self._score,
        )

    def set_state(self, state: WebState) -> None:
        """Restore a snapshot from :meth:`get_state` (of this or any shop env)."""
        if state.task is not self.problem:
            self._task_dict = None
        self.problem = state.task
        self._path, self._history, self._page = state.path, list(state.history), state.page
        self._n_invalid, self._streak, self._n_steps = state.counters
        self._done, self._score = state.done, state.score

    def clone(self) -> WebShopEnv:
        """Copy this env in its current state; the copy opens its own session on the server."""
        new = copy.copy(self)
        new._np_random = copy.deepcopy(self._np_random) if self._np_random is not None else None
        new.render_mode = None
        new._client = new._session = None
        if self._browser is not None:
            new._browser = BrowserDriver(window=self._browser.window, timeout=self._browser.timeout)
        if self.problem is not None:
            new.set_state(self.get_state())
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = state["_session"] = None  # a socket; reopened on the next page
        if self._browser is not None:  # a browser of its own, started on the next page
            state["_browser"] = BrowserDriver(
                window=self._browser.window, timeout=self._browser.timeout
            )
        return state

    # -- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw a task (``options={"task": WebTask}`` sets one) and open the search page."""
        super().reset(seed=seed)
        options = dict(options or {})
        problem = options.pop("task", None)
        if problem is None:
            problem = self.make_task(
                int(self.np_random.integers(2**62)), options.pop("difficulty", None)
            )
        elif not isinstance(problem, WebTask):
            raise TypeError(f"options['task'] must be a WebTask, got {type(problem).__name__}")
        if self._writer is not None:  # PAE-style: the LLM's words, the same judge
            written = self._writer.write(
                self.catalogue, problem, f"{self.catalogue_seed}/{self.n_products}"
            )
            problem = written.task
            self._instruction_meta = {
                "for_task": problem,
                "instruction_source": written.source,
                "instruction_fallback_reason": written.reason,
                "template_instruction": written.template,
                "instruction_stats": dict(self._writer.stats),
            }
        self.problem, self._task_dict = problem, None
        self._path, self._history = "", []
        restarted = False
        self._server_restarted = False
        try:
            self._page = self._fetch("")
        except BrowserDied:  # died between episodes: one fresh browser, then give up
            self._restart_browser()
            restarted = True
            self._page = self._fetch("")
        self._n_invalid = self._streak = self._n_steps = 0
        self._done, self._score = False, 0.0
        if self.render_mode == "human":
            self.render()
        step = {"browser_restarted": restarted, "server_restarted": self._server_restarted}
        return self._observation(), self._info(step)

    def step(self, action: str):
        """Run one page action; Buy ends the episode."""
        task = self._require_task()
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
        self._n_steps += 1
        self._server_restarted = False
        step: dict[str, Any] = {}
        target, error, how = self._target(action)
        if error:
            self._n_invalid += 1
            self._streak += 1
            step["invalid_reason"] = error
        else:
            self._streak = 0
            step["stopped"] = how[0] == "stop"
            try:
                self._move(target, how)
                step["server_error"] = self._page.status == 0
            except BrowserDied:  # the page stays; the episode is cut, not failed
                self._restart_browser()
                step["browser_restarted"] = True
            step["server_restarted"] = self._server_restarted
        reward, terminated = 0.0, False
        kind, asin, _, params = parse_path(self._path)
        if not error and kind == "buy" and self._page.status == 200:
            product = self.catalogue.by_asin[asin]
            chosen = {k[2:]: v for k, v in params.items() if k.startswith("o_")}
            self._score = score_purchase(task, product, chosen)
            self._done = terminated = True
            success = self._score == 1.0
            reward = float(success) if self.reward_mode == "success" else self._score
        elif step.get("stopped", False):  # gave up (or answered) without buying
            self._done = terminated = True
        truncated = not terminated and (
            self._streak >= self.max_invalid_in_row
            or step.get("browser_restarted", False)
            or step.get("server_restarted", False)
        )
        if truncated:
            self._done = True
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, truncated, self._info(step)

    def _render_ready(self) -> bool:
        return self.problem is not None

    def render(self):
        """Return the page: ``rgb_array`` a screenshot, ``ansi`` the text; ``human`` prints.

        ``rgb_array`` gives the browser's viewport as an ``(H, W, 3)`` ``uint8`` array
        (``None`` before the first reset).
        """
        if self.render_mode != "rgb_array":
            return super().render()
        if not self._render_ready() or self._browser is None or not self._browser.running:
            return None
        try:
            return self._browser.screenshot()
        except BrowserDied:  # the next step restarts it and flags the episode
            return None

    def close(self) -> None:
        """Quit the browser; close the connection and the session (the server stops last)."""
        if self._browser is not None:
            self._browser.quit()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._session is not None:
            ShopServer.close_session(self._session)
            self._session = None
        super().close()

    # -- internals ----------------------------------------------------------------
    def _require_task(self) -> WebTask:
        if self.problem is None or self._page is None:
            raise gym.error.ResetNeeded("call reset() before using the env")
        return self.problem

    def _move(self, target: str | None, how: tuple[str, ...]) -> None:
        """Carry out a valid action (``how`` as :meth:`_target` returns it).

        Raises:
            BrowserDied: (Chromium driver) the browser is gone or hung.
        """
        kind = how[0]
        if kind == "stop":
            return
        if kind == "fill":  # no navigation: the box shows the text (typed for real in Chromium)
            if self._browser is not None:
                self._ensure_server()
                base = f"http://{HOST}:{self.port}{session_prefix(self._session)}"
                self._browser.act(base, self._path, self._path, how)
            box = next(e for e in self._page.elements if e.id == how[1])
            self._page = with_value(self._page, box, how[2])
            return
        if kind == "back":
            path, history = self._history[-1], self._history[:-1]
        else:
            path, history = target, [*self._history[-_MAX_HISTORY + 1 :], self._path]
        page = self._fetch(path, ("open",) if self._browser is None else how, self._path)
        self._page, self._path, self._history = page, path, history

    def _target(self, action: Any) -> tuple[str | None, str, tuple[str, ...]]:
        """Return ``(path to open, error, how)``; never raises.

        ``how`` says how the browser performs the action: ``("click", id)``,
        ``("search", box_id, button_id, query)``, ``("fill", box_id, text)``,
        ``("back",)``, ``("stop",)`` or ``("open",)``.
        """
        verb, arg, text, error = read_action(action)
        if error:
            return None, error, ()
        if verb == "stop":
            return None, "", ("stop",)
        if verb == "back":
            if not self._history:
                return None, "there is no page to go back to", ()
            return None, "", ("back",)
        page = self._page
        if verb == "search":
            box = page.textbox()
            if box is None:
                return None, "this page has no search box", ()
            button = next((e for e in page.elements if e.role == "button"), None)
            how = ("search", box.id, button.id if button else "", arg[:200])
            return f"{box.href}?{urlencode({'q': arg[:200], 'page': 1})}", "", how
        if verb == "select":
            element = resolve_option(page, arg, text)
            if element is None:
                return None, f"no option {text[:64]!r} in group {arg[:64]!r} on this page", ()
        else:
            element = resolve(page, arg)
            if element is None:
                return None, f"no element {arg[:64]!r} on this page", ()
        if verb == "fill":
            if element.role != "textbox" or not element.id:
                return None, f"element {arg[:64]!r} is not a text box", ()
            if len(text) > 200 or not text.isprintable():
                return None, "fill text must be printable and at most 200 characters", ()
            return None, "", ("fill", element.id, text)
        if element.role == "textbox":
            return None, 'type into the search box with search[query] or fill(id, "text")', ()
        how = ("click", element.id) if element.id else ("open",)
        if element.role == "button":  # submits the box as shown
            box = page.textbox()
            query = box.value if box is not None else ""
            return f"{element.href}?{urlencode({'q': query, 'page': 1})}", "", how
        if not element.href and element.role != "link":  # a link's "" is the search page
            return None, f"element {arg[:64]!r} leads nowhere", ()
        return element.href, "", how

    def _observation(self) -> str:
        task = self._require_task()
        head = f"Instruction: {task.instruction}\n"
        body = render_page_text(self._page, max(64, self.max_observation_chars - len(head)))
        return (head + body)[: self.max_observation_chars]

    def _info(self, step: dict[str, Any]) -> dict[str, Any]:
        task = self._require_task()
        remaining = self.oracle_remaining()
        extra = {}
        if self._browser is not None:
            extra = {
                "browser_restarted": bool(step.get("browser_restarted", False)),
                "n_browser_restarts": self._n_browser_restarts,
            }
        return {
            "is_success": self._done and self._score == 1.0,
            "score": float(self._score),
            "page": parse_path(self._path)[0],
            "invalid_action": "invalid_reason" in step,
            "invalid_reason": step.get("invalid_reason", ""),
            "n_invalid": self._n_invalid,
            "invalid_streak": self._streak,
            "server_error": bool(step.get("server_error", False)),
            "server_restarted": bool(step.get("server_restarted", False)),
            "n_server_restarts": self._n_server_restarts,
            "n_steps": self._n_steps,
            "oracle_remaining": -1 if remaining is None else remaining,
            "difficulty": task.difficulty,
            **extra,
        }
