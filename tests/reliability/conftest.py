"""A fault-injection LLM server for the hostile tests: an OpenAI-compatible HTTP server on
127.0.0.1 that answers, hangs, trickles, fails with HTTP 500, sends garbage or cuts its
answer short, as its ``mode`` says (switchable while it runs)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

#: What :class:`FaultServer` can do with a request.
MODES = ("ok", "hang", "trickle", "http500", "garbage", "truncated")
#: An answer every densegym backend call accepts: one choice that says "yes".
OK_ANSWER = {
    "choices": [
        {
            "index": 0,
            "text": "yes",
            "message": {"role": "assistant", "content": "yes"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
}


class FaultServer:
    """An OpenAI-compatible server that misbehaves on purpose, shut down by its owner.

    Args:
        mode: one of :data:`MODES`.
        trickle_s: seconds between two bytes in ``trickle`` mode.

    Example:
        >>> with FaultServer("http500") as server:
        ...     server.base_url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(self, mode: str = "ok", trickle_s: float = 0.1):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.trickle_s = trickle_s
        self.requests = 0
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                getattr(server, f"_{server.mode}")(self)

            do_GET = do_POST  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def spec(self, **options: object) -> dict[str, object]:
        """A ``densegym.llm.load`` spec for a client of this server."""
        return {"id": f"openai:fault@{self.base_url}", **options}

    def close(self) -> None:
        """Release hanging handlers and stop serving."""
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- the modes
    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, length: int) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    def _ok(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(OK_ANSWER).encode()
        self._send(handler, 200, body, len(body))

    def _hang(self, handler: BaseHTTPRequestHandler) -> None:
        self.stop.wait(30)
        handler.close_connection = True

    def _trickle(self, handler: BaseHTTPRequestHandler) -> None:
        """A valid answer, one byte every ``trickle_s`` (never trips a per-read timeout)."""
        body = json.dumps(OK_ANSWER).encode().ljust(80)
        self._send(handler, 200, b"", len(body))
        for byte in body:
            if self.stop.wait(self.trickle_s):
                break
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:  # the client gave up
                break
        handler.close_connection = True

    def _http500(self, handler: BaseHTTPRequestHandler) -> None:
        body = b'{"error": {"message": "internal error"}}'
        self._send(handler, 500, body, len(body))

    def _garbage(self, handler: BaseHTTPRequestHandler) -> None:
        body = b"<html>\x00\xff not json"
        self._send(handler, 200, body, len(body))

    def _truncated(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(OK_ANSWER).encode()
        self._send(handler, 200, body[:10], len(body))
        handler.connection.shutdown(socket.SHUT_RDWR)
        handler.close_connection = True


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fault_server() -> Iterator[type[FaultServer]]:
    """Start :class:`FaultServer` instances (``fault_server(mode)``), closed after the test."""
    started: list[FaultServer] = []

    def start(mode: str = "ok", **kwargs: float) -> FaultServer:
        server = FaultServer(mode, **kwargs)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.close()
