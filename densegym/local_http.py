"""One local HTTP server per process, shared by sessions: what the tool and web worlds serve.

The design's rule for servers: bind to 127.0.0.1 on a free port, and let the object that
started a server shut it down. :class:`SharedServer` does that once for every world: a
subclass names its request handler, and each env opens a *session* (its world, its
catalogue) on the process's one server, which starts with the first session, stops when the
last one closes, and at interpreter exit. Nagle's algorithm is off on both ends: keep-alive
requests would otherwise wait ~40 ms for a delayed ACK.

Example:
    >>> class Echo(QuietHandler):
    ...     def do_GET(self):
    ...         session = self.server.sessions.get(self.path.strip("/"))
    ...         self.send_body(200 if session else 404, str(session).encode(), "text/plain")
    >>> class EchoServer(SharedServer):
    ...     handler = Echo
    >>> session, port = EchoServer.open_session("hello")
    >>> client = connect(port, timeout=5)
    >>> client.request("GET", f"/{session}"); client.getresponse().read()
    b'hello'
    >>> client.close(); EchoServer.close_session(session)
    >>> EchoServer.running()
    False
"""

from __future__ import annotations

import atexit
import http.client
import itertools
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

__all__ = ["HOST", "QuietHandler", "SessionHTTPServer", "SharedServer", "connect"]

#: Every densegym server binds here, and clients only ever call here.
HOST = "127.0.0.1"


class SessionHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server holding the open sessions (``sessions[id] -> payload``)."""

    daemon_threads = True
    sessions: dict[str, Any]


class QuietHandler(BaseHTTPRequestHandler):
    """A keep-alive request handler with Nagle off that logs nothing."""

    protocol_version = "HTTP/1.1"  # keep-alive
    server: SessionHTTPServer

    def setup(self) -> None:
        """Turn Nagle's algorithm off on the accepted socket."""
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Stay quiet (one line per request would flood training logs)."""

    def send_body(self, code: int, body: bytes, content_type: str) -> None:
        """Answer with ``body`` and its length (keep-alive needs the length)."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SharedServer:
    """The process's one server of a kind, shared by every session (reference counted).

    Subclasses set :attr:`handler` (and may set :attr:`session_prefix` and
    :attr:`thread_name`); each subclass has its own server, lock and session ids.
    """

    #: The request handler class; its ``self.server.sessions`` holds the payloads.
    handler: ClassVar[type[BaseHTTPRequestHandler]]
    #: First letter(s) of a session id.
    session_prefix: ClassVar[str] = "s"
    #: Name of the serving thread (shows in thread dumps).
    thread_name: ClassVar[str] = "densegym-local-server"

    _lock: ClassVar[threading.Lock]
    _server: ClassVar[SessionHTTPServer | None]
    _thread: ClassVar[threading.Thread | None]
    _ids: ClassVar[itertools.count]
    _atexit: ClassVar[bool]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lock = threading.Lock()
        cls._server = None
        cls._thread = None
        cls._ids = itertools.count()
        cls._atexit = False

    @classmethod
    def open_session(cls, payload: Any) -> tuple[str, int]:
        """Serve ``payload`` under a new session; start the server if needed.

        Returns:
            ``(session_id, port)``.
        """
        with cls._lock:
            if cls._server is None:
                server = SessionHTTPServer((HOST, 0), cls.handler)
                server.sessions = {}
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=cls.thread_name,
                    daemon=True,
                )
                thread.start()
                cls._server, cls._thread = server, thread
                if not cls._atexit:
                    atexit.register(cls.stop)
                    cls._atexit = True
            session = f"{cls.session_prefix}{next(cls._ids)}"
            cls._server.sessions[session] = payload
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


def connect(port: int, timeout: float) -> http.client.HTTPConnection:
    """Open a keep-alive connection to ``127.0.0.1:port`` with Nagle's algorithm off."""
    client = http.client.HTTPConnection(HOST, port, timeout=timeout)
    client.connect()
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client
