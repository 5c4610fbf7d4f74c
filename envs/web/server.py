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

import atexit
import http.client
import itertools
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from densegym.envs.web.catalog import Catalogue
from densegym.envs.web.site import render_page

__all__ = ["HOST", "ShopClient", "ShopServer"]

HOST = "127.0.0.1"
#: Longest request path the server reads.
MAX_PATH = 4096


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Stay quiet (a line per page would flood training logs)."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """Serve one page of a session."""
        status, body = 404, "<html><body><p>No such session.</p></body></html>"
        parts = self.path[:MAX_PATH].split("/", 3)  # '', 's', session, page
        if len(parts) >= 3 and parts[1] == "s":
            catalogue = self.server.sessions.get(parts[2])
            if catalogue is not None:
                status, body = render_page(catalogue, parts[2], parts[3] if len(parts) > 3 else "")
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sessions: dict[str, Catalogue]


class ShopServer:
    """The process's one shop server, shared by every session (reference counted)."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _server: ClassVar[_Server | None] = None
    _thread: ClassVar[threading.Thread | None] = None
    _ids: ClassVar[itertools.count] = itertools.count()
    _atexit: ClassVar[bool] = False

    @classmethod
    def open_session(cls, catalogue: Catalogue) -> tuple[str, int]:
        """Serve a catalogue under a new session; start the server if needed.

        Returns:
            ``(session, port)``.
        """
        with cls._lock:
            if cls._server is None:
                server = _Server((HOST, 0), _Handler)
                server.sessions = {}
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name="densegym-webshop-server",
                    daemon=True,
                )
                thread.start()
                cls._server, cls._thread = server, thread
                if not cls._atexit:
                    atexit.register(cls.stop)
                    cls._atexit = True
            session = f"w{next(cls._ids)}"
            cls._server.sessions[session] = catalogue
            return session, cls._server.server_address[1]

    @classmethod
    def close_session(cls, session: str) -> None:
        """Forget a session; stop the server when it was the last one."""
        with cls._lock:
            server = cls._server
            if server is None:
                return
            server.sessions.pop(session, None)
            if server.sessions:
                return
        cls.stop()

    @classmethod
    def has_session(cls, session: str | None) -> bool:
        """Whether the server is up and serves ``session``."""
        server = cls._server
        return server is not None and session in server.sessions

    @classmethod
    def running(cls) -> bool:
        """Whether the server is up."""
        return cls._server is not None

    @classmethod
    def port(cls) -> int | None:
        """The server's port, ``None`` when it is down."""
        server = cls._server
        return None if server is None else server.server_address[1]

    @classmethod
    def stop(cls) -> None:
        """Shut the server down and close its port (idempotent)."""
        with cls._lock:
            server, thread = cls._server, cls._thread
            cls._server = cls._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            if thread is not None:
                thread.join(timeout=5)


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
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

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
