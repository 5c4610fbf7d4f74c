"""How tool calls reach the world: in process, or over a real local HTTP API.

* :class:`InProcTransport` calls :func:`~densegym.envs.tools.tools.call_tool` directly.
* :class:`HttpTransport` sends ``POST /api/<tool>`` with the JSON arguments to one
  :class:`ToolServer` per process (stdlib ``ThreadingHTTPServer`` on ``127.0.0.1``, a
  free port), which runs the same function on the session's world and answers with the
  result as JSON. ``GET /openapi.json`` describes every tool. The server starts with the
  first HTTP session and stops when the last one closes (and at interpreter exit).
  Nagle's algorithm is disabled on both ends: with it, each keep-alive call waits
  ~40 ms for a delayed ACK.

Both give the same :class:`~densegym.envs.tools.tools.ToolResult` for the same call.

Example:
    >>> from densegym.envs.tools.tools import toolset
    >>> from densegym.envs.tools.world import world_for_seed
    >>> conn = world_for_seed(0).connect()
    >>> http = HttpTransport(conn, toolset())
    >>> port = http.port
    >>> http.call("calculate", {"expression": "1 + 2"}).text
    '{"result": 3.0}'
    >>> http.call("get_order", {"order_id": "#W0"}) == InProcTransport(conn, toolset()).call(
    ...     "get_order", {"order_id": "#W0"})
    True
    >>> http.close()
    >>> ToolServer.running()
    False
"""

from __future__ import annotations

import atexit
import http.client
import itertools
import json
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from densegym.envs.tools.tools import TOOLS, Tool, ToolResult, call_tool

__all__ = ["HttpTransport", "InProcTransport", "ToolServer", "openapi"]

HOST = "127.0.0.1"
MAX_BODY = 1 << 20
_SESSION_HEADER = "X-Session"


def openapi(tools: dict[str, Tool] | None = None) -> dict[str, Any]:
    """Return an OpenAPI 3 document for the tools (``POST /api/<name>``), from their schemas.

    Example:
        >>> doc = openapi()
        >>> "/api/get_order" in doc["paths"], doc["openapi"]
        (True, '3.0.3')
    """
    tools = TOOLS if tools is None else tools
    paths = {}
    for tool in tools.values():
        params = tool.schema()["function"]["parameters"]
        paths[f"/api/{tool.name}"] = {
            "post": {
                "operationId": tool.name,
                "summary": tool.description,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": params}},
                },
                "responses": {
                    "200": {
                        "description": "status 'ok', 'error' (refused) or 'invalid', content",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "densegym ToolShop", "version": "0"},
        "paths": paths,
    }


class InProcTransport:
    """Call the tools directly on a connection.

    Args:
        conn: the world's connection.
        tools: the tools on offer.
    """

    kind = "inproc"

    def __init__(self, conn: sqlite3.Connection, tools: dict[str, Tool]):
        self.conn = conn
        self.tools = tools

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Run one call."""
        return call_tool(self.conn, name, arguments, self.tools)

    def close(self) -> None:
        """Nothing to release."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Stay quiet (one line per call would flood training logs)."""

    def _send(self, code: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """Serve ``/openapi.json``."""
        if self.path == "/openapi.json":
            self._send(200, openapi())
        else:
            self._send(404, {"status": "invalid", "content": f"no such path {self.path}"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        """Run ``POST /api/<tool>`` on the session's world."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._send(413, {"status": "invalid", "content": "request body too large"})
            return
        raw = self.rfile.read(length)
        session = self.server.sessions.get(self.headers.get(_SESSION_HEADER, ""))
        if session is None:
            self._send(404, {"status": "invalid", "content": "unknown session"})
            return
        if not self.path.startswith("/api/"):
            self._send(404, {"status": "invalid", "content": f"no such path {self.path}"})
            return
        try:
            arguments = json.loads(raw or b"{}")
        except (ValueError, RecursionError):
            self._send(400, {"status": "invalid", "content": "the body is not valid JSON"})
            return
        conn, tools = session
        result = call_tool(conn, self.path[len("/api/") :], arguments, tools)
        self._send(200, result.to_json())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sessions: dict[str, tuple[sqlite3.Connection, dict[str, Tool]]]


class ToolServer:
    """The process's one tool server, shared by every HTTP session (reference counted)."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _server: ClassVar[_Server | None] = None
    _thread: ClassVar[threading.Thread | None] = None
    _ids: ClassVar[itertools.count] = itertools.count()
    _atexit: ClassVar[bool] = False

    @classmethod
    def open_session(cls, conn: sqlite3.Connection, tools: dict[str, Tool]) -> tuple[str, int]:
        """Register a world; start the server if needed. Returns ``(session_id, port)``."""
        with cls._lock:
            if cls._server is None:
                server = _Server((HOST, 0), _Handler)
                server.sessions = {}
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name="densegym-toolshop-server",
                    daemon=True,
                )
                thread.start()
                cls._server, cls._thread = server, thread
                if not cls._atexit:
                    atexit.register(cls.stop)
                    cls._atexit = True
            session_id = f"s{next(cls._ids)}"
            cls._server.sessions[session_id] = (conn, tools)
            return session_id, cls._server.server_address[1]

    @classmethod
    def close_session(cls, session_id: str) -> None:
        """Forget a world; stop the server when it was the last one."""
        with cls._lock:
            server = cls._server
            if server is None:
                return
            server.sessions.pop(session_id, None)
            if server.sessions:
                return
        cls.stop()

    @classmethod
    def running(cls) -> bool:
        """Whether the server is up."""
        return cls._server is not None

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


class HttpTransport:
    """Call the tools through the process's local HTTP tool server.

    Args:
        conn: the world's connection (the server's handler thread uses it while this
            client waits for the answer, one call at a time).
        tools: the tools on offer.
        timeout: seconds to wait for one answer.
    """

    kind = "http"

    def __init__(self, conn: sqlite3.Connection, tools: dict[str, Tool], timeout: float = 30.0):
        self.tools = tools
        self.timeout = timeout
        self.session_id, self.port = ToolServer.open_session(conn, tools)
        self._client: http.client.HTTPConnection | None = None
        self.closed = False

    def _connect(self) -> http.client.HTTPConnection:
        client = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        client.connect()
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Run one call over HTTP (one retry on a dropped connection); never raises."""
        if self.closed:
            return ToolResult("error", "the transport is closed")
        if name not in self.tools:  # the same answer inproc gives, without a round trip
            return call_tool(None, name, arguments, self.tools)  # type: ignore[arg-type]
        try:
            body = json.dumps(arguments).encode()
        except (TypeError, ValueError):
            return ToolResult("invalid", f"{name}: arguments are not JSON")
        headers = {"Content-Type": "application/json", _SESSION_HEADER: self.session_id}
        for attempt in range(2):
            try:
                if self._client is None:
                    self._client = self._connect()
                self._client.request("POST", f"/api/{name}", body, headers)
                response = self._client.getresponse()
                payload = response.read()
                return ToolResult.from_json(json.loads(payload))
            except (OSError, http.client.HTTPException, ValueError) as err:
                if self._client is not None:
                    self._client.close()
                    self._client = None
                if attempt == 1:
                    return ToolResult("error", f"tool server unreachable: {err}")
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the client and the session (the server stops with its last session)."""
        if self.closed:
            return
        self.closed = True
        if self._client is not None:
            self._client.close()
            self._client = None
        ToolServer.close_session(self.session_id)
