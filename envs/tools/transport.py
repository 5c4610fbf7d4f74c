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

import http.client
import json
import sqlite3
from typing import Any

from densegym.envs.tools.tools import TOOLS, Tool, ToolResult, call_tool
from densegym.local_http import QuietHandler, SharedServer, connect

__all__ = ["HttpTransport", "InProcTransport", "ToolServer", "openapi"]

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


class _Handler(QuietHandler):
    def _send(self, code: int, payload: Any) -> None:
        self.send_body(code, json.dumps(payload).encode(), "application/json")

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


class ToolServer(SharedServer):
    """The process's one tool server; a session is one world ``(conn, tools)``."""

    handler = _Handler
    session_prefix = "s"
    thread_name = "densegym-toolshop-server"

    @classmethod
    def open_session(  # type: ignore[override]
        cls, conn: sqlite3.Connection, tools: dict[str, Tool]
    ) -> tuple[str, int]:
        """Register a world; start the server if needed. Returns ``(session_id, port)``."""
        return super().open_session((conn, tools))


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
        return connect(self.port, self.timeout)

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
