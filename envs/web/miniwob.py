"""MiniWoB++ tasks in real headless Chromium, with the shop envs' text observation and actions.

The ``miniwob`` package (``pip install --no-deps "miniwob==1.1.0"``) ships each task as a
local HTML file; :class:`MiniWoBEnv` opens it in the same headless Debian Chromium as the
shop's Chromium driver (:class:`~densegym.envs.web.browser.BrowserDriver`: no Selenium
Manager, no download, one browser per env for its lifetime). Reset navigates to the task
page (a clean page per episode; the browser stays), seeds the task's ``Math.random``, raises
the task's wall-clock limit (MiniWoB's 10 s default turns a slow CPU LLM into timeouts) and
starts the episode. One script call per step reads MiniWoB's own DOM walk
(``core.getDOMInfo``), which tags the visible elements with refs, plus the instruction and
the episode's state; the page becomes a :class:`~densegym.envs.web.text.Page`, rendered by
the shop's :func:`~densegym.envs.web.text.render_page_text`::

    Instruction: Select DKkQH and click Submit.
    Page: Click Checkboxes Task
    [1] checkbox "USa" #ch0
    [2] checkbox "DKkQH" #ch1
    [3] button "Submit" #subbtn

Actions are the shop's grammar (:func:`~densegym.envs.web.text.read_action`):
``click(<number | id | text>)`` (a quoted argument, ``click("653")``, names the element by
its text first), ``fill(<textbox>, "text")`` (cleared, then typed),
``select(<list>, "option")``, ``stop`` / ``stop("answer")``, plus ``press("Enter")``
(a key to the focused element). Clicks are real Selenium clicks; an element Chromium cannot
click (covered, off-screen) is clicked through MiniWoB's ``core.elementClick``.

Success is the task's raw reward exactly 1 (``info["is_success"]``); ``info["score"]`` is
the raw reward; the env pays success (0/1), or the raw reward with ``reward_mode="raw"``.
Tasks whose shipped reward is known to be wrong are listed in
:data:`densegym.miniwob_tasks.KNOWN_REWARD_ISSUES` (``env.task["reward_issue"]``).
Tasks that need coordinates (drawing, dragging, canvas clicks) reset and step, but the text
grammar cannot solve them.

Example:
    >>> env = MiniWoBEnv("click-test")  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> print(obs)  # doctest: +SKIP
    Instruction: Click the button.
    Page: Click Test Task
    [1] button "Click Me!" #subbtn
    >>> env.step("click(1)")[1:3]  # doctest: +SKIP
    (1.0, True)
    >>> env.close()  # doctest: +SKIP
    >>> read_press('press("Enter")'), read_press("click(3)")
    ('Enter', None)
"""

from __future__ import annotations

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

from densegym.envs.web.browser import BrowserDied, BrowserDriver, available
from densegym.envs.web.text import (
    MAX_ACTION_CHARS,
    Element,
    Page,
    read_action,
    render_page_text,
    resolve,
)
from densegym.miniwob_tasks import KNOWN_REWARD_ISSUES, MINIWOB_TASKS
from densegym.spaces import PermissiveText
from densegym.text_render import TextRendering

__all__ = ["INFO_DOC", "MiniWoBEnv", "html_dir", "read_press"]

#: Info fields every MiniWoB env reports.
INFO_DOC = {
    "is_success": "bool: the task's raw reward is exactly 1",
    "score": "float in [-1, 1]: the task's raw reward (0 before the episode ends)",
    "reason": "str: the task's reason for its reward ('' before the end)",
    "timed_out": "bool: the task's wall-clock limit ran out (the episode is truncated)",
    "invalid_action": "bool: unreadable action, unknown element or impossible move",
    "invalid_reason": "str: why the action was invalid ('' when valid)",
    "n_invalid": "int: invalid actions so far",
    "invalid_streak": "int: invalid actions in a row (K in a row truncate)",
    "js_click": "bool: the click went through MiniWoB's core.elementClick (not clickable)",
    "left_task": "bool: the action navigated away from the task page (a link out); the "
    "episode is truncated, the last page stays",
    "n_steps": "int: actions so far",
    "browser_restarted": "bool: the browser died or hung and was restarted (the episode is "
    "truncated; not a task failure)",
    "n_browser_restarts": "int: browser restarts over this env's life",
}

_PRESS = re.compile(r"press\s*[\[(]\s*([\"']?)([^\"'\[\]()]{1,16})\1\s*[\])]", re.IGNORECASE)
_QUOTED = re.compile(r"\s*[A-Za-z_]{1,12}\s*[\[(]\s*[\"']")
_KEYS = {
    "enter": "ENTER",
    "return": "ENTER",
    "tab": "TAB",
    "backspace": "BACKSPACE",
    "delete": "DELETE",
    "escape": "ESCAPE",
    "esc": "ESCAPE",
    "space": "SPACE",
    "arrowup": "ARROW_UP",
    "arrowdown": "ARROW_DOWN",
    "arrowleft": "ARROW_LEFT",
    "arrowright": "ARROW_RIGHT",
    "up": "ARROW_UP",
    "down": "ARROW_DOWN",
    "left": "ARROW_LEFT",
    "right": "ARROW_RIGHT",
}
_ROLES = {
    "A": "link",
    "BUTTON": "button",
    "TEXTAREA": "textbox",
    "SELECT": "combobox",
    "INPUT_checkbox": "checkbox",
    "INPUT_radio": "radio",
    "INPUT_button": "button",
    "INPUT_submit": "button",
    "INPUT_reset": "button",
    "INPUT_range": "slider",
}
_SHAPES = {"circle", "rect", "polygon", "path", "ellipse", "line", "text", "CANVAS"}
_MAX_NAME = 120
_MAX_LIMIT_MS = 2**31 - 1  # setTimeout's bound

#: One script call per observation: MiniWoB's DOM walk (it tags elements with refs), the
#: selected option of every list, the instruction and the episode's state.
_OBSERVE_JS = """
if (typeof core === 'undefined' || typeof WOB_DONE_GLOBAL === 'undefined') return {lost: true};
const dom = core.getDOMInfo();
const lists = {};
for (const [ref, el] of Object.entries(core.previousDOMInfo)) {
  if (el instanceof HTMLSelectElement) {
    const chosen = el.selectedIndex >= 0 ? el.options[el.selectedIndex].text : '';
    lists[ref] = {value: chosen, options: Array.from(el.options).map(o => o.text)};
  }
}
let utterance = core.getUtterance();
if (utterance && typeof utterance === 'object') utterance = utterance.utterance;
return {dom: dom, lists: lists, utterance: String(utterance || ''), title: document.title,
        done: WOB_DONE_GLOBAL, raw: WOB_RAW_REWARD_GLOBAL,
        reason: WOB_REWARD_REASON == null ? '' : String(WOB_REWARD_REASON)};
"""
_START_JS = """
Math.seedrandom(arguments[0]);
core.setDataMode(arguments[1]);
core.EPISODE_MAX_TIME = arguments[2];
core.startEpisodeReal();
"""
#: Actions on elements Selenium cannot reach from the top page (the flight tasks' frame).
_JS_ACT = """
const [kind, ref, text] = arguments;
const child = core.flightChildWindow ? core.flightChildWindow() : null;
const wob = child && child.$miniwob ? child.$miniwob : core;
if (kind === 'click') return wob.elementClick(ref);
const el = wob.previousDOMInfo[ref];
if (kind === 'select') {
  for (const option of el.options) if (option.text === text) option.selected = true;
} else {
  el.focus(); el.value = text;
  el.dispatchEvent(new Event('input', {bubbles: true}));
}
el.dispatchEvent(new Event('change', {bubbles: true}));
return true;
"""
_READY_JS = "return typeof core !== 'undefined' && typeof WOB_TASK_READY !== 'undefined' " \
    "&& WOB_TASK_READY === true;"  # fmt: skip


def html_dir() -> Path:
    """The folder of the ``miniwob`` package's task pages.

    Raises:
        gymnasium.error.DependencyNotInstalled: the package is missing.
    """
    try:
        import miniwob
    except ImportError as err:
        raise gym.error.DependencyNotInstalled(
            'MiniWoB++ tasks need the miniwob package: pip install --no-deps "miniwob==1.1.0" '
            "(its gymnasium>=1.2.3 pin conflicts with densegym's gymnasium==1.2.0)"
        ) from err
    return Path(miniwob.__file__).parent / "html"


def read_press(action: object) -> str | None:
    """The key of a ``press(key)`` action (``None`` when the line is not one).

    Example:
        >>> read_press("press[Tab]"), read_press("PRESS('a')"), read_press("press()")
        ('Tab', 'a', None)
    """
    if not isinstance(action, str) or len(action) > MAX_ACTION_CHARS:
        return None
    match = _PRESS.fullmatch(action.strip())
    return match.group(2) if match else None


class _LeftTask(Exception):
    """The browser no longer shows the task page (an action followed a link out)."""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass


def _mixed(children: list) -> bool:
    """Whether children hold text pieces and no form control (a clickable text block)."""
    kinds = {str(c.get("tag", "")) for c in children}
    controls = any(k in _ROLES or k.startswith("INPUT_") for k in kinds)
    return "t" in kinds and not controls


def _flatten(node: dict, lists: dict, items: list, refs: list) -> None:
    """Turn MiniWoB's DOM tree into page items (text and elements) and element refs."""
    children = node.get("children") or []
    tag = str(node.get("tag", ""))
    role = _ROLES.get(tag)
    if role is None and tag.startswith("INPUT_"):
        role = "textbox"
    if role is not None or (not children and tag != "t"):
        ref = node.get("ref")
        text = " ".join(str(node.get("text") or "").split())[:_MAX_NAME]
        value = node.get("value")
        if role in ("checkbox", "radio"):
            value = "checked" if value is True else ""
        elif role == "combobox":
            value = lists.get(str(ref), {}).get("value", "")
        if role is None:  # a leaf: its text, else a coloured box or a shape
            if text:
                role = "text"
            elif tag in _SHAPES:
                role, text = "shape", tag.lower()
            elif str(node.get("bgColor", "")) not in ("", "rgba(0, 0, 0, 0)"):
                role, text = "box", str(node["bgColor"])
            else:
                return
        items.append(Element(str(node.get("id") or ""), role, text, "", str(value or "")[:200]))
        refs.append(ref)
        if role not in ("link", "button", "text"):
            return
    elif tag == "t":
        text = " ".join(str(node.get("text") or "").split())
        if text:
            items.append(text)
        return
    elif node.get("ref") is not None and _mixed(children):
        # Text beside elements (a section header with an icon): the element is clickable
        # by that text; its element children follow.
        name = " ".join(
            " ".join(str(c.get("text") or "").split()) for c in children if c.get("tag") == "t"
        )
        items.append(Element(str(node.get("id") or ""), "text", name[:_MAX_NAME], "", ""))
        refs.append(node.get("ref"))
        children = [c for c in children if c.get("tag") != "t"]
    index = 0
    while index < len(children):
        child = children[index]
        _flatten(child, lists, items, refs)
        if (
            child.get("tag") in ("INPUT_checkbox", "INPUT_radio")
            and index + 1 < len(children)
            and children[index + 1].get("tag") == "t"
            and items
            and isinstance(items[-1], Element)
            and not items[-1].name
        ):
            label = " ".join(str(children[index + 1].get("text") or "").split())[:_MAX_NAME]
            last = items[-1]
            items[-1] = Element(last.id, last.role, label, "", last.value)
            index += 1
        index += 1


class MiniWoBEnv(TextRendering, gym.Env[str, str]):
    """A MiniWoB++ task in real headless Chromium, read and acted on as text.

    ## Description
    One of the 128 tasks of ``miniwob==1.1.0`` (its shipped HTML, offline), in Debian's
    headless Chromium through Selenium. Reset navigates to the task's page, seeds it and
    starts an episode with a raised wall-clock limit.

    ## Observation Space
    ``PermissiveText``: ``Instruction: <the task's utterance>``, ``Page: <title>``, then the
    visible elements numbered, ``[3] button "Submit" #subbtn``, ``[1] checkbox "x" (checked)``,
    and text lines, as the shop envs show pages.

    ## Action Space
    ``PermissiveText``: one line, ``click(<number | id | text>)``, ``fill(<box>, "text")``,
    ``select(<list>, "option")``, ``press("Enter")``, ``stop`` / ``stop("answer")``.
    Unreadable or impossible actions are flagged (``info["invalid_action"]``) and counted;
    ``max_invalid_in_row`` in a row truncate the episode.

    ## Rewards
    0 per step; when the task ends, 1 if its raw reward is exactly 1 (``info["is_success"]``),
    else 0; with ``reward_mode="raw"`` the raw reward (``info["score"]``).

    ## Termination
    Terminates when the task ends its episode or at ``stop``; truncates when its wall-clock
    limit runs out (``info["timed_out"]``), after ``max_invalid_in_row`` invalid actions in a
    row, on a browser restart and at the registered ``max_episode_steps``.

    ## Registered Configurations
    ``densegym/MiniWoB-<task>-v0`` for every task of :data:`densegym.miniwob_tasks.MINIWOB_TASKS`.

    Args:
        task: the MiniWoB task name, e.g. ``"click-test"``.
        reward_mode: ``"success"`` or ``"raw"``.
        time_limit_s: the task's wall-clock limit per episode (MiniWoB's default is 10 s).
        data_mode: MiniWoB's data mode (``"train"`` or ``"test"``).
        max_invalid_in_row: invalid actions in a row that truncate the episode.
        max_observation_chars: the observation's length bound.
        render_mode: ``None``, ``"ansi"``, ``"human"`` or ``"rgb_array"`` (a screenshot of
            the task area, taken only when :meth:`render` is called).
        browser_timeout: seconds a page or script may take before the browser counts as hung.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human", "rgb_array"],
        "render_fps": 2,
    }

    def __init__(
        self,
        task: str = "click-test",
        *,
        reward_mode: str = "success",
        time_limit_s: float = 3600.0,
        data_mode: str = "train",
        max_invalid_in_row: int = 5,
        max_observation_chars: int = 4096,
        render_mode: str | None = None,
        browser_timeout: float = 20.0,
    ):
        if task not in MINIWOB_TASKS:
            raise ValueError(f"unknown MiniWoB task {task!r}; see densegym.miniwob_tasks")
        if reward_mode not in ("success", "raw"):
            raise ValueError(f"reward_mode must be 'success' or 'raw', got {reward_mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if not 0 < time_limit_s <= _MAX_LIMIT_MS / 1000:
            raise ValueError(f"time_limit_s must be in (0, {_MAX_LIMIT_MS // 1000}]")
        if data_mode not in ("train", "test") or max_invalid_in_row < 1:
            raise ValueError("data_mode must be 'train' or 'test', max_invalid_in_row >= 1")
        self._html = html_dir()
        if not available():
            raise gym.error.DependencyNotInstalled(
                "MiniWoB++ tasks need selenium (pip install 'densegym[web]') and Debian's "
                "chromium and chromium-driver (apt-get install chromium chromium-driver)"
            )
        self.task_name = task
        self.reward_mode = reward_mode
        self.time_limit_s = float(time_limit_s)
        self.data_mode = data_mode
        self.max_invalid_in_row = int(max_invalid_in_row)
        self.max_observation_chars = int(max_observation_chars)
        self.render_mode = render_mode
        self.browser_timeout = float(browser_timeout)
        self.observation_space = PermissiveText(max_length=self.max_observation_chars)
        self.action_space = PermissiveText(max_length=MAX_ACTION_CHARS)
        self._browser = BrowserDriver(window=(500, 400), timeout=self.browser_timeout)
        self._server: ThreadingHTTPServer | None = None
        self._utterance = ""
        self._page: Page | None = None
        self._refs: list[Any] = []
        self._state: dict[str, Any] = {}
        self._n_invalid = self._streak = self._n_steps = 0
        self._n_browser_restarts = 0
        self._done = False

    # -- the page -------------------------------------------------------------------
    def _url(self) -> str:
        if not self.task_name.startswith("flight."):
            return (self._html / "miniwob" / f"{self.task_name}.html").as_uri()
        if self._server is None:  # flight tasks fetch data: served over HTTP, 127.0.0.1
            handler = functools.partial(_QuietHandler, directory=str(self._html))
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/flight/{self.task_name[7:]}/wrapper.html"

    def _open(self, seed: int) -> None:
        """Navigate to the task, wait until it is ready, start a seeded episode.

        Raises:
            BrowserDied: the browser is gone or hung.
        """
        from selenium.webdriver.support.ui import WebDriverWait

        url = self._url()
        limit_ms = int(self.time_limit_s * 1000)

        def go(driver):
            driver.get(url)
            WebDriverWait(driver, self.browser_timeout, poll_frequency=0.01).until(
                lambda d: d.execute_script(_READY_JS)
            )
            driver.execute_script(_START_JS, seed, self.data_mode, limit_ms)
            WebDriverWait(driver, self.browser_timeout, poll_frequency=0.01).until(
                lambda d: d.execute_script("return WOB_TASK_READY === true;")
            )

        self._browser.run(go)
        try:
            self._observe()
        except _LeftTask as err:
            raise BrowserDied(f"the task page {url} did not load") from err

    def _observe(self) -> None:
        """Read the page, the instruction and the episode's state (one script call).

        Raises:
            BrowserDied: the browser is gone or hung.
            _LeftTask: the page is not the task's any more.
        """
        from selenium.common.exceptions import JavascriptException

        def read(driver) -> dict:
            try:
                return driver.execute_script(_OBSERVE_JS)
            except JavascriptException:  # the task's scripts are gone (a frame left)
                return {"lost": True}

        state = self._browser.run(read)
        if state.get("lost"):
            raise _LeftTask
        items: list[str | Element] = []
        refs: list[Any] = []
        if state.get("dom"):
            _flatten(state["dom"], state.get("lists") or {}, items, refs)
        self._page = Page(" ".join(str(state.get("title", "")).split()), tuple(items))
        self._refs = refs
        self._utterance = " ".join(str(state.get("utterance", "")).split())
        self._state = state

    # -- gymnasium API ----------------------------------------------------------------
    @property
    def task(self) -> dict[str, Any]:
        """Machine-readable description of the current task (for LLM modules)."""
        data: dict[str, Any] = {
            "id": f"MiniWoB-{self.task_name}",
            "goal": self._utterance or "Do what the instruction on the page says.",
            "instruction": self._utterance,
            "action_format": 'click(element) | fill(element, "text") | '
            'select(element, "option") | press("key") | stop',
            "reward": "1 when the task's raw reward is exactly 1, else 0"
            if self.reward_mode == "success"
            else "the task's raw reward in [-1, 1]",
            "info": dict(INFO_DOC),
        }
        if self.task_name in KNOWN_REWARD_ISSUES:
            data["reward_issue"] = KNOWN_REWARD_ISSUES[self.task_name]
        return data

    @property
    def task_id(self) -> str:
        """The MiniWoB task name (the registered ``task`` kwarg)."""
        return self.task_name

    @property
    def page(self) -> Page:
        """The page shown."""
        self._require_page()
        return self._page

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Navigate to the task's page and start a seeded episode."""
        super().reset(seed=seed)
        task_seed = int(self.np_random.integers(2**31))
        restarted = False
        try:
            self._open(task_seed)
        except BrowserDied:  # died between episodes: one fresh browser, then give up
            self._restart_browser()
            restarted = True
            self._open(task_seed)
        self._n_invalid = self._streak = self._n_steps = 0
        self._done = False
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info({"browser_restarted": restarted})

    def step(self, action: str):
        """Perform one action in the browser; the task decides when the episode ends."""
        self._require_page()
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
        self._n_steps += 1
        step: dict[str, Any] = {}
        how, error = self._target(action)
        stopped = False
        if error:
            self._n_invalid += 1
            self._streak += 1
            step["invalid_reason"] = error
        else:
            self._streak = 0
            stopped = how[0] == "stop"
            try:
                if not stopped:
                    step["js_click"] = self._act(how)
                    self._observe()
            except BrowserDied:
                self._restart_browser()
                step["browser_restarted"] = True
            except _LeftTask:  # the last page stays; the task cannot go on
                step["left_task"] = True
        ended = bool(self._state.get("done")) and not step.get("browser_restarted", False)
        timed_out = ended and self._state.get("reason") == "timed out"
        raw = float(self._state.get("raw") or 0.0) if ended else 0.0
        success = ended and raw == 1.0
        step["timed_out"] = timed_out
        terminated = (ended and not timed_out) or stopped
        truncated = not terminated and (
            timed_out
            or self._streak >= self.max_invalid_in_row
            or step.get("browser_restarted", False)
            or step.get("left_task", False)
        )
        reward = 0.0
        if terminated:
            reward = float(success) if self.reward_mode == "success" else raw
        self._done = terminated or truncated
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, truncated, self._info(step)

    def render(self):
        """``rgb_array``: a screenshot of the task area; ``ansi``/``human``: the text."""
        if self.render_mode != "rgb_array":
            return super().render()
        if self._page is None:
            return None
        box = self._browser.run(
            lambda driver: driver.execute_script(
                "const r = document.getElementById('wrap').getBoundingClientRect();"
                "return [r.left, r.top - 50, r.width, r.height + 50];"  # with the query
            )
        )
        return self._browser.screenshot(tuple(box) if box else None)

    def close(self) -> None:
        """Quit the browser and stop the flight tasks' page server."""
        self._browser.quit()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        super().close()

    def observation(self) -> str:
        """Return the current observation text."""
        return self._observation()

    def browser_pids(self) -> list[int]:
        """The processes of this env's browser (chromedriver and Chromium)."""
        return self._browser.pids()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_browser"] = BrowserDriver(window=(500, 400), timeout=self.browser_timeout)
        state["_server"] = None
        return state

    # -- internals ----------------------------------------------------------------------
    def _restart_browser(self) -> None:
        self._n_browser_restarts += 1
        try:
            self._browser.restart()
        except BrowserDied:
            self._browser.quit()

    def _require_page(self) -> None:
        if self._page is None:
            raise gym.error.ResetNeeded("call reset() before using the env")

    def _render_ready(self) -> bool:
        return self._page is not None

    def _target(self, action: Any) -> tuple[tuple[Any, ...], str]:
        """Return ``(how, error)`` for an action line; never raises.

        ``how`` is ``("click", ref)``, ``("fill", ref, text)``, ``("select", ref, option)``,
        ``("press", key)`` or ``("stop",)``.
        """
        key = read_press(action)
        if key is not None:
            if len(key) != 1 and key.lower() not in _KEYS:
                return (), f"unknown key {key!r}; use one character or one of {sorted(_KEYS)}"
            return ("press", key), ""
        verb, arg, text, error = read_action(action)
        if error:
            return (), error + ', press("key")'
        if verb == "stop":
            return ("stop",), ""
        if verb in ("back", "search"):
            return (), f"{verb} is not available on a MiniWoB task; use click, fill or select"
        element = None
        if _QUOTED.match(action):  # click("653"): the element named 653, not the 653rd
            key = " ".join(arg.split()).casefold()
            element = next(
                (e for e in self._page.elements if " ".join(e.name.split()).casefold() == key),
                None,
            )
        element = element or resolve(self._page, arg)
        if element is None:
            return (), f"no element {arg[:64]!r} on this page"
        ref = self._refs[self._page.elements.index(element)]
        if verb == "fill":
            if element.role != "textbox":
                return (), f"element {arg[:64]!r} is not a text box"
            if len(text) > 200 or not text.isprintable():
                return (), "fill text must be printable and at most 200 characters"
            return ("fill", ref, text), ""
        if verb == "select":
            if element.role != "combobox":
                return (), f"element {arg[:64]!r} is not a list"
            options = (self._state.get("lists") or {}).get(str(ref), {}).get("options", [])
            match = [o for o in options if o.strip().casefold() == text.strip().casefold()]
            if not match:
                return (), f"no option {text[:64]!r} in list {arg[:64]!r}"
            return ("select", ref, match[0]), ""
        return ("click", ref), ""

    def _act(self, how: tuple[Any, ...]) -> bool:
        """Perform a valid action; return whether a click fell back to JavaScript.

        Raises:
            BrowserDied: the browser is gone or hung.
        """
        from selenium.common.exceptions import (
            ElementClickInterceptedException,
            ElementNotInteractableException,
            JavascriptException,
            MoveTargetOutOfBoundsException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import Select

        missed = (
            ElementClickInterceptedException,
            ElementNotInteractableException,
            JavascriptException,
            MoveTargetOutOfBoundsException,
            StaleElementReferenceException,
        )
        kind = how[0]

        def act(driver) -> bool:
            if kind == "press":
                key = how[1]
                name = _KEYS.get(key.lower()) if len(key) != 1 else None
                ActionChains(driver).send_keys(getattr(Keys, name) if name else key).perform()
                return False
            target = driver.execute_script("return core.previousDOMInfo[arguments[0]];", how[1])
            if target is None:  # in a frame (the flight tasks): MiniWoB's own JS acts
                driver.execute_script(_JS_ACT, *how)
                return kind == "click"
            if kind == "fill":
                try:
                    target.clear()
                    target.send_keys(how[2])
                except missed:
                    pass
                if target.get_attribute("value") != how[2]:  # not typeable: set it
                    driver.execute_script(
                        "arguments[0].value = arguments[1];"
                        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
                        "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
                        target,
                        how[2],
                    )
                return False
            if kind == "select":
                Select(target).select_by_visible_text(how[2])
                return False
            try:
                target.click()
                return False
            except missed:
                driver.execute_script("return core.elementClick(arguments[0]);", how[1])
                return True

        return bool(self._browser.run(act))

    def _observation(self) -> str:
        self._require_page()
        head = f"Instruction: {self._utterance}\n"
        body = render_page_text(self._page, max(64, self.max_observation_chars - len(head)))
        return (head + body)[: self.max_observation_chars]

    def _info(self, step: dict[str, Any]) -> dict[str, Any]:
        ended = bool(self._state.get("done"))
        raw = float(self._state.get("raw") or 0.0) if ended else 0.0
        return {
            "is_success": ended and raw == 1.0 and not step.get("browser_restarted", False),
            "score": raw,
            "reason": str(self._state.get("reason") or "") if ended else "",
            "timed_out": bool(step.get("timed_out", False)),
            "invalid_action": "invalid_reason" in step,
            "invalid_reason": step.get("invalid_reason", ""),
            "n_invalid": self._n_invalid,
            "invalid_streak": self._streak,
            "js_click": bool(step.get("js_click", False)),
            "left_task": bool(step.get("left_task", False)),
            "n_steps": self._n_steps,
            "browser_restarted": bool(step.get("browser_restarted", False)),
            "n_browser_restarts": self._n_browser_restarts,
        }
