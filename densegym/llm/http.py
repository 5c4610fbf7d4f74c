"""JSON over HTTP with bounded retries and exponential backoff (standard library only).

Written with ``urllib`` rather than ``requests``/``httpx`` so the core install stays
small; the OpenAI-compatible client needs nothing more than POSTing JSON.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from densegym.llm.errors import LLMConnectionError, LLMServerError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a remote server before giving up.

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
        try:
            with urllib.request.urlopen(request, timeout=min(policy.timeout, remaining)) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            detail = _error_detail(error)
            if error.code not in RETRY_STATUS:
                raise LLMServerError(
                    f"{url} answered HTTP {error.code}: {detail}", error.code
                ) from None
            failures.append(f"HTTP {error.code}: {detail}")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {min(policy.timeout, remaining):.1f} s"
            failures.append(str(reason) or type(error).__name__)
        else:
            try:
                return json.loads(raw)
            except json.JSONDecodeError as error:
                raise LLMServerError(f"{url} answered with invalid JSON: {error}") from None
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
