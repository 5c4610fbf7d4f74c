"""The Chromium driver: the shop's pages in real headless Chromium, driven through Selenium.

:class:`BrowserDriver` owns one headless Chromium (Debian's ``chromium`` and
``chromium-driver``; no Selenium Manager, no download) for as long as its env lives. It
performs the env's actions for real, typing the query into the search box and clicking
the button, clicking links and option radios, pressing Back, and returns the page's
source (WebDriver's ``page_source`` serializer), which
:func:`densegym.envs.web.text.parse_page` turns into the same
:class:`~densegym.envs.web.text.Page`, and so the same observation, as the text driver's.

Speed (about 2x the plain Selenium calls, 5.9 -> ~12 steps/s on a loaded 2-core machine):
the clicks and the typing are the browser's own trusted input events sent over DevTools
(``Input.dispatchMouseEvent`` at the element's centre, ``Input.insertText``) instead of
WebDriver's click and per-key typing, whose waits cost ~50 ms a step; one script call per
page checks the document is a new one and parsed, and returns its URL, status and source
(no ``current_url``, ``page_source`` or staleness polling).

A browser that dies or hangs (a page not loaded within ``timeout`` seconds) makes every
method raise :class:`BrowserDied`; :meth:`BrowserDriver.restart` gives a fresh one. The
env turns that into a truncated episode with ``info["browser_restarted"]``.

Every browser gets its own ``--user-data-dir``; the processes that name it are the
browser's, and :meth:`BrowserDriver.quit` (also run when the driver is garbage collected
and at interpreter exit) ends them and deletes the folder.

Example:
    >>> available()  # doctest: +SKIP
    True
    >>> same_page("results?q=a+b", "results?page=1&q=a%20b")
    True
    >>> same_page("item/B01?q=a", "item/B02?q=a")
    False
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
import weakref
from pathlib import Path

from densegym.envs.web.site import parse_path

__all__ = [
    "CHROMEDRIVER",
    "CHROMIUM",
    "BrowserDied",
    "BrowserDriver",
    "available",
    "browser_pids",
    "decode_png",
    "same_page",
]

#: Debian's browser and its WebDriver (``apt-get install chromium chromium-driver``).
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)
#: One script call reads a page: ``null`` while the document is still ``arguments[0]`` (the
#: one read last, told apart by ``performance.timeOrigin``: a navigation may start after
#: WebDriver answers), still parsing, or not under ``arguments[1]`` (the session's URL
#: prefix; a fresh browser shows ``about:blank``); else ``[origin, url, status, source]``, where
#: ``source`` is what WebDriver's ``page_source`` returns (the same serializer), so the text
#: driver's parser gives the same observation.
#: WebDriver's page-load strategy (``none`` and ``eager`` measured no faster here, and
#: :mod:`densegym.envs.web.miniwob` relies on ``get`` waiting for the page).
_PAGE_LOAD = "normal"
_SNAPSHOT_JS = (
    "const t = String(performance.timeOrigin);"
    "if (t === arguments[0] || document.readyState === 'loading'"
    " || !location.href.startsWith(arguments[1])) return null;"
    "const e = performance.getEntriesByType('navigation')[0];"
    "return [t, location.href, e && e.responseStatus !== undefined ? e.responseStatus : 200,"
    " new XMLSerializer().serializeToString(document)];"
)
#: Scroll element ``arguments[0]`` into view and return the centre of its box, or ``null``
#: when the element is missing or another element covers that point (then WebDriver clicks).
#: With ``arguments[1]`` the element is a text box: focus it and select its text, so what
#: is typed next replaces it.
_AIM_JS = (
    "const el = document.getElementById(arguments[0]);"
    "if (!el) return null;"
    "el.scrollIntoView({block: 'center', inline: 'center'});"
    "if (arguments[1]) { el.focus(); el.select(); return []; }"
    "const r = el.getBoundingClientRect();"
    "const x = r.left + r.width / 2, y = r.top + r.height / 2;"
    "const hit = document.elementFromPoint(x, y);"
    "return hit && (hit === el || el.contains(hit)) ? [x, y] : null;"
)


#: The watchdog: a WebDriver command running longer than ``_PROBE_AFTER`` seconds makes it
#: look at the browser every ``_PROBE_EVERY`` seconds. A browser process stopped by a signal
#: (state ``T``) twice in a row, or ``_PROBE_FAILS`` unanswered DevTools requests in a row
#: (``/json/version``, served by the browser process even while a page is busy, each given
#: ``_PROBE_TIMEOUT`` seconds), count as frozen: the watchdog kills the browser, and the
#: command in flight fails at once (``BrowserDied``). Detection takes about 2 s for a stopped
#: browser and under 5 s for an unanswering one; a slow page on a loaded machine still
#: answers the probe, so it is never killed (its page-load timeout still applies).
_PROBE_AFTER = 1.0
_PROBE_EVERY = 0.25
_PROBE_TIMEOUT = 1.0
_PROBE_FAILS = 3


def _answers(address: str) -> bool:
    """Whether the browser's DevTools endpoint answers within ``_PROBE_TIMEOUT``."""
    try:
        with urllib.request.urlopen(f"http://{address}/json/version", timeout=_PROBE_TIMEOUT) as r:
            return r.status == 200
    except Exception:  # noqa: BLE001 - refused, reset, timed out: no answer
        return False


def _stopped(profile: str) -> bool:
    """Whether a browser process of ``profile`` is stopped by a signal (``SIGSTOP``)."""
    for pid in browser_pids(profile):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] in ("T", "t"):
            return True
    return False


def _watch(owner: weakref.ref, address: str, profile: str, stop: threading.Event) -> None:
    """The watchdog thread of one browser (see ``_PROBE_AFTER``); ends with ``stop``."""
    stopped = failed = 0
    while not stop.wait(_PROBE_EVERY):
        driver = owner()
        if driver is None:
            return
        since = driver._busy_since
        del driver
        if since is None or time.monotonic() - since < _PROBE_AFTER:
            stopped = failed = 0
            continue
        stopped = stopped + 1 if _stopped(profile) else 0
        if not stopped and address:
            failed = 0 if _answers(address) else failed + 1
        if (stopped >= 2 or failed >= _PROBE_FAILS) and not stop.is_set():
            driver = owner()
            if driver is not None:
                driver.n_watchdog_kills += 1
                try:
                    own = driver._driver.service.process.pid
                except AttributeError:  # quit meanwhile
                    own = None
                for pid in {*browser_pids(profile), *([own] if own else [])}:
                    try:  # the command in flight fails now; quit() cleans up the rest
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            return


class BrowserDied(RuntimeError):
    """The browser or its WebDriver is gone, or did not answer in time."""


def available(chromium: str = CHROMIUM, chromedriver: str = CHROMEDRIVER) -> bool:
    """Whether the browser, its WebDriver and Selenium are installed."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return all(os.access(p, os.X_OK) for p in (chromium, chromedriver))


def same_page(a: str, b: str) -> bool:
    """Whether two session-relative paths show the same page (``page=1`` is the default)."""
    kind_a, asin_a, sub_a, params_a = parse_path(a)
    kind_b, asin_b, sub_b, params_b = parse_path(b)
    params_a.setdefault("page", "1")
    params_b.setdefault("page", "1")
    return (kind_a, asin_a, sub_a, params_a) == (kind_b, asin_b, sub_b, params_b)


def decode_png(png: bytes, box: tuple[int, int, int, int] | None = None):
    """Decode PNG bytes into an ``(H, W, 3)`` ``uint8`` array, cropped to ``box``.

    Example:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGBA", (4, 3), (255, 0, 0, 255)).save(buffer, format="PNG")
        >>> frame = decode_png(buffer.getvalue(), box=(1, 0, 2, 2))
        >>> frame.shape, frame.dtype.name, frame[0, 0].tolist()
        ((2, 2, 3), 'uint8', [255, 0, 0])
    """
    import io

    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if box is not None:
        left, top, width, height = (max(0, int(round(v))) for v in box)
        image = image.crop((left, top, left + max(1, width), top + max(1, height)))
    return np.asarray(image, dtype=np.uint8).copy()


def browser_pids(marker: str) -> list[int]:
    """Ids of the live processes whose command line contains ``marker`` (Linux ``/proc``)."""
    if not marker:  # an empty marker would match every process
        return []
    pids = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _end(pids: list[int], profile: str) -> None:
    """Kill what is left of a browser and delete its profile folder (never raises)."""
    for pid in {*pids, *browser_pids(profile)}:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        try:  # reap our own child (chromedriver); others are not ours to wait for
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass
    shutil.rmtree(profile, ignore_errors=True)


class BrowserDriver:
    """One headless Chromium under Selenium, started lazily, restarted on demand.

    Args:
        window: the window size in pixels, ``(width, height)``.
        timeout: seconds a page may take to load (or a script to run) before the
            browser counts as hung.
        chromium: the browser binary.
        chromedriver: its WebDriver binary.
    """

    def __init__(
        self,
        *,
        window: tuple[int, int] = (1280, 1024),
        timeout: float = 20.0,
        chromium: str = CHROMIUM,
        chromedriver: str = CHROMEDRIVER,
    ):
        if not available(chromium, chromedriver):
            raise RuntimeError(
                f"driver='chromium' needs selenium (pip install 'densegym[web]'), {chromium} "
                f"and {chromedriver} (apt-get install chromium chromium-driver)"
            )
        self.window = window
        self.timeout = float(timeout)
        self.chromium = chromium
        self.chromedriver = chromedriver
        self.n_starts = 0
        self.n_resyncs = 0  # pages the browser had to be sent to (not where an action led)
        self._driver = None
        self._profile = ""
        self._finalizer: weakref.finalize | None = None
        self._busy_since: float | None = None  # when the command in flight started
        self._origin: str | None = None  # performance.timeOrigin of the page read last
        self._url: str | None = None  # its URL (None: ask the browser)
        self._watch_stop: threading.Event | None = None
        self.n_watchdog_kills = 0  # frozen browsers the watchdog killed

    # -- life ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a browser has been started (and not quit)."""
        return self._driver is not None

    @property
    def profile(self) -> str:
        """The running browser's ``--user-data-dir`` (``""`` when none runs)."""
        return self._profile

    def pids(self) -> list[int]:
        """The running browser's processes: chromedriver and every Chromium process."""
        if self._driver is None:
            return []
        own = self._driver.service.process
        return sorted({*browser_pids(self._profile), *([own.pid] if own else [])})

    def start(self) -> None:
        """Start the browser (a no-op while one runs).

        Raises:
            BrowserDied: it could not be started.
        """
        if self._driver is not None:
            return
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="densegym-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = self.chromium
        options.page_load_strategy = _PAGE_LOAD
        for flag in (*_FLAGS, f"--window-size={self.window[0]},{self.window[1]}"):
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        try:
            driver = webdriver.Chrome(options=options, service=Service(self.chromedriver))
            driver.set_page_load_timeout(self.timeout)
            driver.set_script_timeout(self.timeout)
            # The watchdog: no WebDriver command may wait longer (a frozen browser).
            driver.command_executor.client_config.timeout = self.timeout + 5.0
        except Exception as err:  # selenium, OSError, urllib3: all mean no browser
            _end([], self._profile)
            self._profile = ""
            raise BrowserDied(f"could not start Chromium: {err}") from err
        self._driver = driver
        self.n_starts += 1
        address = (driver.capabilities.get("goog:chromeOptions") or {}).get("debuggerAddress", "")
        self._watch_stop = threading.Event()
        threading.Thread(
            target=_watch,
            args=(weakref.ref(self), address, self._profile, self._watch_stop),
            name="densegym-browser-watchdog",
            daemon=True,
        ).start()
        process = driver.service.process
        self._finalizer = weakref.finalize(
            self, _end, [process.pid] if process else [], self._profile
        )

    def quit(self, *, polite: bool = True) -> None:
        """Quit the browser and end every process it left (never raises).

        Args:
            polite: ask WebDriver to quit first (``False``: just kill, for a dead or
                frozen browser, which would not answer).
        """
        driver, self._driver = self._driver, None
        self._origin = self._url = None
        if self._watch_stop is not None:
            self._watch_stop.set()
            self._watch_stop = None
        if driver is None:
            return
        process = driver.service.process
        if polite:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 - a dead browser cannot be quit politely
                pass
        if process is not None:
            try:
                process.kill()
                process.wait(timeout=5)
            except Exception:  # noqa: BLE001 - already gone
                pass
        if self._finalizer is not None:
            self._finalizer()  # kills leftovers, deletes the profile
            self._finalizer = None
        self._profile = ""

    def restart(self) -> None:
        """Quit whatever is left of the browser and start a new one.

        Raises:
            BrowserDied: the new one could not be started.
        """
        self.quit(polite=False)
        self.start()

    # -- pages ----------------------------------------------------------------------
    def run(self, fn):
        """Start the browser if needed and return ``fn(webdriver)`` (a Selenium ``Chrome``).

        Raises:
            BrowserDied: the browser is gone or hung (any WebDriver error ``fn`` lets out).
        """
        self.start()
        self._url = None  # fn may navigate: ask the browser where it is next time
        return self._call(fn, self._driver)

    def screenshot(self, box: tuple[int, int, int, int] | None = None):
        """The viewport as an ``(H, W, 3)`` ``uint8`` array (PNG screenshot, decoded).

        Args:
            box: crop to ``(left, top, width, height)`` in CSS pixels.

        Raises:
            BrowserDied: the browser is gone or hung.
        """
        self.start()
        png = self._call(lambda: self._driver.get_screenshot_as_png())
        return decode_png(png, box)

    def _call(self, fn, *args):
        from selenium.common.exceptions import WebDriverException
        from urllib3.exceptions import HTTPError

        if self._driver is None:
            raise BrowserDied("the browser is not running")
        self._busy_since = time.monotonic()
        try:
            return fn(*args)
        except (WebDriverException, HTTPError, OSError) as err:
            raise BrowserDied(f"{type(err).__name__}: {str(err).splitlines()[0:1]}") from err
        finally:
            self._busy_since = None

    def _snapshot(self, base: str = "") -> tuple[int, str]:
        """Read the page shown (one script call; polled while the last one read is shown).

        A navigation that does not leave the page read last within ``timeout`` seconds
        counts as a hung browser.
        """
        from selenium.common.exceptions import TimeoutException

        driver = self._driver
        deadline = time.monotonic() + self.timeout
        while True:
            got = driver.execute_script(_SNAPSHOT_JS, self._origin, base)
            if got:
                break
            if time.monotonic() > deadline:
                raise TimeoutException(f"no new page within {self.timeout:g} s")
            time.sleep(0.002)
        self._origin, self._url, status, source = got
        return int(status or 0), source

    def _relative(self, base: str) -> str | None:
        """Where the browser is, relative to ``base`` (as read with the last page)."""
        url = self._url if self._url is not None else self._driver.current_url
        return url[len(base) :] if url.startswith(base) else None

    def _land(self, base: str, expect: str) -> tuple[int, str]:
        """Read the page reached; if it is not ``expect``, send the browser there."""
        status, source = self._snapshot(base)
        where = self._relative(base)
        if where is None or not same_page(where, expect):
            self.n_resyncs += 1
            self._driver.get(base + expect)
            status, source = self._snapshot(base)
        return status, source

    def open(self, base: str, path: str) -> tuple[int, str]:
        """Load ``base + path`` (the address bar); return ``(status, page_source)``.

        Raises:
            BrowserDied: the browser is gone or hung.
        """
        self.start()
        return self._call(lambda: (self._driver.get(base + path), self._snapshot(base))[1])

    def act(self, base: str, here: str, expect: str, how: tuple[str, ...]) -> tuple[int, str]:
        """Perform one action on page ``base + here`` for real; return the page it leads to.

        Args:
            base: the session's URL prefix, ``http://127.0.0.1:<port>/s/<session>/``.
            here: the path the env shows (the browser is sent there first if it is not).
            expect: the path the action leads to (where the browser is sent if the
                action lands elsewhere, counted in ``n_resyncs``).
            how: ``("click", element_id)``, ``("search", box_id, button_id, query)``,
                ``("fill", box_id, text)`` (typed, not submitted: returns ``(200, "")``),
                ``("back",)`` or ``("open",)``.

        Returns:
            ``(status, page_source)`` of the page reached.

        Raises:
            BrowserDied: the browser is gone or hung.
        """
        self.start()
        return self._call(self._act, base, here, expect, how)

    def _click(self, element_id: str) -> None:
        """Click an element with real mouse events (DevTools ``Input``) at its centre.

        Trusted press and release events, as a user's, through the browser's input
        pipeline; WebDriver's own click (the same events, then a slower wait) is the
        fallback for an element another one covers.
        """
        driver = self._driver
        aim = driver.execute_script(_AIM_JS, element_id, False)
        if not aim:
            driver.find_element("id", element_id).click()
            return
        for kind in ("mousePressed", "mouseReleased"):
            driver.execute_cdp_cmd(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": aim[0], "y": aim[1], "button": "left", "clickCount": 1},
            )

    def _type(self, box_id: str, text: str) -> None:
        """Replace the text of box ``box_id`` with ``text``, typed as real input."""
        driver = self._driver
        if driver.execute_script(_AIM_JS, box_id, True) is None:
            raise _no_such(box_id)
        if text:  # trusted text input into the focused box (replaces the selection)
            driver.execute_cdp_cmd("Input.insertText", {"text": text})
        else:
            driver.execute_cdp_cmd(
                "Input.dispatchKeyEvent",
                {
                    "type": "keyDown",
                    "key": "Backspace",
                    "code": "Backspace",
                    "windowsVirtualKeyCode": 8,
                },
            )
            driver.execute_cdp_cmd(
                "Input.dispatchKeyEvent",
                {
                    "type": "keyUp",
                    "key": "Backspace",
                    "code": "Backspace",
                    "windowsVirtualKeyCode": 8,
                },
            )

    def _act(self, base: str, here: str, expect: str, how: tuple[str, ...]) -> tuple[int, str]:
        driver = self._driver
        where = self._relative(base)
        if where is None or not same_page(where, here):
            self.n_resyncs += 1
            driver.get(base + here)
            self._snapshot(base)
        kind = how[0]
        if kind == "back":
            driver.back()
        elif kind == "click" and how[1]:
            self._click(how[1])
        elif kind in ("search", "fill"):
            box_id, query = how[1], how[-1]
            self._type(box_id, query)
            if kind == "fill":  # typed, not submitted: the page stays
                return 200, ""
            if how[2]:
                self._click(how[2])
            else:
                driver.find_element("id", box_id).submit()
        else:
            driver.get(base + expect)
        return self._land(base, expect)


def _no_such(element_id: str):
    from selenium.common.exceptions import NoSuchElementException

    return NoSuchElementException(f"no element with id {element_id!r}")
