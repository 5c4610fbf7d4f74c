"""The shop's local HTTP server: one per process, on 127.0.0.1 and a free port.

A stdlib ``ThreadingHTTPServer`` serves ``GET /s/<session>/<page>`` for every open
session (a session names the catalogue it shows). It starts with the first session and
stops when the last one closes, and at interpreter exit; Nagle's algorithm is off on both
ends (keep-alive requests would otherwise wait ~40 ms for a delayed ACK).

Example:
    >>> from densegym.envs.web.catalog import catalogue_for_seed
    >>> session, port = ShopServer.open_session(catalogue_for_seed(0, 600))
    >>> client = ShopClient(port)
    >>> status, html = client.get(f"/s/{session}/")
    >>> status, 'id="search-input"' in html
    (200, True)
    >>> client.get("/s/nosuchsession/")[0]
    404
    >>> client.close(); ShopServer.close_session(session)
    >>> # Stopped, unless another env of this process still has a session open:
    >>> not ShopServer.running() or ShopClient(port).get(f"/s/{session}/")[0] == 404
    True
"""

from __future__ import annotations

import http.client

from densegym.envs.web.catalog import Catalogue
from densegym.envs.web.site import render_page
from densegym.local_http import HOST, QuietHandler, SharedServer, connect

__all__ = ["HOST", "ShopClient", "ShopServer"]

#: Longest request path the server reads.
MAX_PATH = 4096


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """Serve one page of a session."""
        status, body = 404, "<html><body><p>No such session.</p></body></html>"
        parts = self.path[:MAX_PATH].split("/", 3)  # '', 's', session, page
        if len(parts) >= 3 and parts[1] == "s":
            catalogue = self.server.sessions.get(parts[2])
            if catalogue is not None:
                status, body = render_page(catalogue, parts[2], parts[3] if len(parts) > 3 else "")
        self.send_body(status, body.encode(), "text/html; charset=utf-8")


class ShopServer(SharedServer):
    """The process's one shop server; a session serves one catalogue."""

    handler = _Handler
    session_prefix = "w"
    thread_name = "densegym-webshop-server"

    @classmethod
    def open_session(cls, catalogue: Catalogue) -> tuple[str, int]:  # type: ignore[override]
        """Serve a catalogue under a new session; start the server if needed.

        Returns:
            ``(session, port)``.
        """
        return super().open_session(catalogue)


class ShopClient:
    """A keep-alive HTTP client of the shop server.

    Args:
        port: the server's port.
        timeout: seconds to wait for one page.
    """

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        return connect(self.port, self.timeout)

    def get(self, path: str) -> tuple[int, str]:
        """Fetch a page (one retry on a dropped connection).

        Returns:
            ``(status, html)``; status 0 when the server cannot be reached.
        """
        for attempt in range(2):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.request("GET", path)
                response = self._conn.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as err:
                self.close()
                if attempt == 1:
                    return 0, f"<html><body><p>shop server unreachable: {err}</p></body></html>"
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
