"""JSON over HTTP with bounded retries and exponential backoff (standard library only).

Written with ``urllib`` rather than ``requests``/``httpx`` so the core install stays
small; the OpenAI-compatible client needs nothing more than POSTing JSON.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from densegym.llm.errors import LLMConnectionError, LLMServerError, LLMUnavailableError

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a remote server before giving up.

    Both bounds hold for the whole exchange, however slowly a server trickles its answer:
    a watchdog closes the connection when one runs out.

    Args:
        timeout: Seconds one attempt may take (connect + answer).
        max_retries: Retries after the first attempt.
        backoff: First wait between attempts, doubled after each failure.
        max_backoff: Longest single wait.
        total_timeout: Bound on the whole call, waits included.

    Example:
        >>> RetryPolicy(backoff=0.5).wait(3)
        4.0
    """

    timeout: float = 60.0
    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    total_timeout: float = 300.0

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return min(self.max_backoff, self.backoff * 2**attempt)


class _Watchdog:
    """Cuts the connections of one HTTP attempt when its time is up.

    A socket timeout bounds each read, not the whole answer: a server that trickles a
    byte at a time never trips it. The watchdog's timer shuts the attempt's sockets down
    at the deadline, which ends any blocked read at once.
    """

    def __init__(self, seconds: float):
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener whose connections this watchdog can cut (proxies still apply)."""
        return urllib.request.build_opener(_WatchedHTTPHandler(self), _WatchedHTTPSHandler(self))

    def register(self, sock: socket.socket | None) -> None:
        """Watch a freshly connected socket (cut at once if the time is already up)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def cancel(self) -> None:
        """Stop the timer (the attempt ended in time)."""
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, watch: _Watchdog, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._watch = watch

    def connect(self) -> None:
        super().connect()
        self._watch.register(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watch: _Watchdog, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._watch = watch

    def connect(self) -> None:
        super().connect()
        self._watch.register(self.sock)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watchdog):
        super().__init__()
        self._watch = watch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPConnection, watch=self._watch), req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watchdog):
        super().__init__()
        self._watch = watch

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        factory = functools.partial(_WatchedHTTPSConnection, watch=self._watch)
        return self.do_open(factory, req, context=self._context)


class CircuitBreaker:
    """Stops calling a server that keeps failing, and tries it again after a cool-down.

    Closed (calls go through) until ``threshold`` calls in a row fail; then open: every
    call is refused at once with :class:`~densegym.llm.errors.LLMUnavailableError` (so a
    dead server costs a step nothing) for ``cooldown`` seconds. After that one call is let
    through as a probe: success closes the breaker, failure opens it again. Tripping is
    logged once per trip; :attr:`stats` counts everything. Thread-safe.

    Args:
        threshold: failed calls in a row that open the breaker (``0`` never opens it).
        cooldown: seconds the breaker stays open before a probe.
        name: what is guarded, for the log line.
        clock: a monotonic clock (for tests).

    Example:
        >>> breaker = CircuitBreaker(threshold=2, cooldown=60.0, name="demo")
        >>> breaker.failure(); breaker.failure()
        >>> breaker.is_open, breaker.stats["trips"]
        (True, 1)
        >>> breaker.before_call()
        Traceback (most recent call last):
        ...
        densegym.llm.errors.LLMUnavailableError: demo failed 2 calls in a row; ...
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 60.0,
        name: str = "LLM server",
        clock: Callable[[], float] = time.monotonic,
    ):
        if threshold < 0 or cooldown < 0:
            raise ValueError("breaker threshold and cooldown must be >= 0")
        self.threshold = int(threshold)
        self.cooldown = float(cooldown)
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._probing = False
        self.consecutive = 0
        self.stats = {"calls": 0, "failures": 0, "refused": 0, "trips": 0, "open": 0}

    @property
    def is_open(self) -> bool:
        """Whether calls are refused now (open and not yet due for a probe)."""
        with self._lock:
            return self._opened_at is not None and (
                self._probing or self._clock() - self._opened_at < self.cooldown
            )

    def before_call(self) -> None:
        """Let a call through, or refuse it while the breaker is open.

        Raises:
            LLMUnavailableError: the breaker is open (counted in ``stats["refused"]``).
        """
        with self._lock:
            if self._opened_at is not None:
                waited = self._clock() - self._opened_at
                if self._probing or waited < self.cooldown:
                    self.stats["refused"] += 1
                    left = max(0.0, self.cooldown - waited)
                    raise LLMUnavailableError(
                        f"{self.name} failed {self.consecutive} calls in a row; not calling it "
                        f"for {left:.0f} s more (circuit breaker open)"
                    )
                self._probing = True  # one probe at a time
            self.stats["calls"] += 1

    def success(self) -> None:
        """Record a call that the server answered; closes an open breaker."""
        with self._lock:
            if self._opened_at is not None:
                logger.warning("%s answers again; LLM calls resume", self.name)
            self.consecutive = 0
            self._opened_at, self._probing = None, False
            self.stats["open"] = 0

    def failure(self) -> None:
        """Record a failed call; opens the breaker after ``threshold`` in a row."""
        with self._lock:
            self.stats["failures"] += 1
            self.consecutive += 1
            reopen = self._probing
            self._probing = False
            if reopen or (self.threshold and self.consecutive >= self.threshold):
                if self._opened_at is None or reopen:
                    self.stats["trips"] += 1
                    logger.warning(
                        "%s failed %d calls in a row; LLM calls are off for %.0f s "
                        "(the LLM term gives 0 meanwhile)",
                        self.name,
                        self.consecutive,
                        self.cooldown,
                    )
                self._opened_at = self._clock()
                self.stats["open"] = 1


def post_json(
    url: str, payload: dict[str, Any], policy: RetryPolicy, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST ``payload`` as JSON and return the decoded JSON answer.

    Connection failures, timeouts and 408/429/5xx answers are retried with exponential
    backoff until ``policy.max_retries`` or ``policy.total_timeout`` runs out.

    Raises:
        LLMConnectionError: The server was down, too slow, or kept failing.
        LLMServerError: It answered with a client error (4xx) or invalid JSON.
    """
    body = json.dumps(payload).encode("utf-8")
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    start = time.monotonic()
    deadline = start + policy.total_timeout
    failures: list[str] = []
    for attempt in range(policy.max_retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        request = urllib.request.Request(url, data=body, headers=all_headers, method="POST")
        limit = min(policy.timeout, remaining)
        watch = _Watchdog(limit)
        try:
            with watch.opener().open(request, timeout=limit) as answer:
                raw = answer.read()
            if watch.fired:  # the connection was cut: what was read is a fragment
                raise TimeoutError
        except urllib.error.HTTPError as error:
            detail = _error_detail(error)
            if error.code not in RETRY_STATUS:
                raise LLMServerError(
                    f"{url} answered HTTP {error.code}: {detail}", error.code
                ) from None
            failures.append(f"HTTP {error.code}: {detail}")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError) or watch.fired:
                reason = f"no answer within {limit:.1f} s"
            failures.append(str(reason) or type(error).__name__)
        else:
            try:
                return json.loads(raw)
            except json.JSONDecodeError as error:
                raise LLMServerError(f"{url} answered with invalid JSON: {error}") from None
        finally:
            watch.cancel()
        if attempt < policy.max_retries:
            time.sleep(max(0.0, min(policy.wait(attempt), deadline - time.monotonic())))
    elapsed = time.monotonic() - start
    raise LLMConnectionError(
        f"OpenAI-compatible server at {url} failed {len(failures)} time(s) in {elapsed:.1f} s "
        f"(last error: {failures[-1] if failures else 'no time left'}). Is the server running, "
        "and is base_url right? Retries are set by timeout=, max_retries=, total_timeout=."
    )


def get_json(
    url: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """GET ``url`` once and decode its JSON answer (no retries)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise LLMConnectionError(f"GET {url} failed: {getattr(error, 'reason', error)}") from None


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(error.read() or b"{}")
        message = data.get("error", data)
        return str(message.get("message", message) if isinstance(message, dict) else message)
    except (json.JSONDecodeError, OSError, AttributeError):
        return str(error.reason)
