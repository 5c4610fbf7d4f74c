"""A tiny OpenAI-compatible HTTP server in front of any densegym backend.

For tests and local sharing of one model between processes: ``/v1/completions`` (with
``echo`` + ``logprobs`` scoring), ``/v1/chat/completions``, ``/v1/models`` and
``/health``. Standard-library ``http.server`` with one thread per connection; the
backend is called under a lock. It binds 127.0.0.1 on a free port and is shut down by
the object that started it (use it as a context manager). It is not a production
server: no streaming, no batching across requests, no authentication.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from densegym.llm.base import LLM
from densegym.llm.results import Completion

logger = logging.getLogger(__name__)


class RequestError(ValueError):
    """A request the server rejects with HTTP 400."""


def _params(body: Mapping[str, Any], default_max_tokens: int) -> dict[str, Any]:
    """Translate OpenAI request fields into ``generate``/``chat`` keyword arguments."""
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    params = {
        "n": body.get("n", 1),
        "max_tokens": default_max_tokens if max_tokens is None else max_tokens,
        "temperature": 1.0 if body.get("temperature") is None else body["temperature"],
        "top_p": 1.0 if body.get("top_p") is None else body["top_p"],
        "stop": body.get("stop"),
        "seed": body.get("seed"),
    }
    if not isinstance(params["n"], int) or params["n"] < 1:
        raise RequestError(f"n must be a positive integer, got {params['n']!r}")
    if not isinstance(params["max_tokens"], int) or params["max_tokens"] < 0:
        raise RequestError(f"max_tokens must be a non-negative integer, got {max_tokens!r}")
    return params


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class OpenAICompatServer:
    """Serve a densegym backend over the OpenAI HTTP API on 127.0.0.1.

    Args:
        backend: A loaded backend, or a spec for :func:`densegym.llm.load`.
        port: 0 picks a free port.
        model: The model id the server reports; default the backend's name.

    Example:
        >>> import densegym.llm
        >>> with OpenAICompatServer("tiny-random") as server:
        ...     client = densegym.llm.load(server.spec)
        ...     answer = client.chat([{"role": "user", "content": "Hi"}], max_tokens=4)
        >>> server.base_url.startswith("http://127.0.0.1:"), len(answer)
        (True, 1)
    """

    host = "127.0.0.1"

    def __init__(
        self,
        backend: LLM | str | Mapping[str, Any] = "tiny-random",
        *,
        port: int = 0,
        model: str | None = None,
    ):
        if not isinstance(backend, LLM):
            from densegym.llm.loading import load

            backend = load(backend)
        self.backend = backend
        self.model = model or backend.name
        self._port = port
        self._lock = threading.Lock()
        self._bound: int | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> OpenAICompatServer:
        """Bind and serve in a background thread; returns ``self``."""
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = ThreadingHTTPServer((self.host, self._port), handler)
        self._httpd.daemon_threads = True
        self._bound = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"densegym-llm-server:{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("serving %s at %s", self.model, self.base_url)
        return self

    def close(self) -> None:
        """Stop serving and release the port (safe to call twice)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The bound port (once :meth:`start` has run)."""
        if self._bound is None:
            raise RuntimeError("the server has not been started; call start()")
        return self._bound

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def spec(self) -> str:
        """A :func:`densegym.llm.load` spec that talks to this server."""
        return f"openai:{self.model}@{self.base_url}"

    # -------------------------------------------------------------- endpoints
    def completions(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Handle ``POST /v1/completions``."""
        prompts = body.get("prompt", "")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise RequestError(
                "prompt must be a string or a list of strings (token ids unsupported)"
            )
        params = _params(body, default_max_tokens=16)
        echo, logprobs = bool(body.get("echo")), body.get("logprobs")
        if logprobs is not None and not (echo and params["max_tokens"] == 0):
            raise RequestError(
                "logprobs are only supported for scoring: echo=true with max_tokens=0"
            )
        choices: list[dict[str, Any]] = []
        prompt_tokens = completion_tokens = 0
        if params["max_tokens"] == 0:
            scored = []
            if echo and logprobs is not None:
                try:
                    with self._lock:
                        scored = self.backend.prompt_logprobs(prompts)
                except NotImplementedError as error:
                    raise RequestError(f"this backend cannot score prompts: {error}") from None
                prompt_tokens = sum(len(s) for s in scored)
            for i, prompt in enumerate(prompts):
                for j in range(params["n"]):
                    choice = {
                        "index": i * params["n"] + j,
                        "text": prompt if echo else "",
                        "logprobs": None,
                        "finish_reason": "length",
                    }
                    if scored:
                        s = scored[i]
                        values = [None if math.isnan(v) else v for v in s.logprobs]
                        choice["logprobs"] = {
                            "tokens": list(s.tokens),
                            "token_logprobs": values,
                            "text_offset": list(s.offsets),
                            "top_logprobs": [
                                None if v is None else {t: v} for t, v in zip(s.tokens, values)
                            ],
                        }
                    choices.append(choice)
        else:
            with self._lock:
                out = self.backend.generate(prompts, **params)
            prompt_tokens, completion_tokens = self._totals(out)
            for index, c in enumerate(out):
                text = prompts[c.prompt_index] + c.text if echo else c.text
                choices.append(
                    {
                        "index": index,
                        "text": text,
                        "logprobs": None,
                        "finish_reason": c.finish_reason,
                    }
                )
        return self._answer("text_completion", choices, prompt_tokens, completion_tokens)

    def chat_completions(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Handle ``POST /v1/chat/completions``."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("messages must be a non-empty list")
        params = _params(body, default_max_tokens=256)
        if params["max_tokens"] < 1:
            raise RequestError("max_tokens must be at least 1 for chat")
        with self._lock:
            out = self.backend.chat(messages, **params)
        prompt_tokens, completion_tokens = self._totals(out)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": c.text},
                "logprobs": None,
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(out)
        ]
        return self._answer("chat.completion", choices, prompt_tokens, completion_tokens)

    def models(self) -> dict[str, Any]:
        """Handle ``GET /v1/models``."""
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "owned_by": "densegym"}],
        }

    @staticmethod
    def _totals(out: list[Completion]) -> tuple[int, int]:
        prompts = sum(c.prompt_tokens for c in out if c.sample_index == 0)
        return prompts, sum(c.completion_tokens for c in out)

    def _answer(
        self, kind: str, choices: list[dict[str, Any]], prompt: int, completion: int
    ) -> dict[str, Any]:
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
            "usage": _usage(prompt, completion),
        }


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the :class:`OpenAICompatServer` in ``app``."""

    app: OpenAICompatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": None}})

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.rstrip("/")
        if path in ("/v1/models", "/models"):
            self._send(200, self.app.models())
        elif path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}", "not_found_error")

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        routes = {
            "/v1/completions": self.app.completions,
            "/v1/chat/completions": self.app.chat_completions,
        }
        route = routes.get(self.path.rstrip("/"))
        if route is None:
            self._error(404, f"no route {self.path}", "not_found_error")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise RequestError("the request body must be a JSON object")
            self._send(200, route(body))
        except (RequestError, json.JSONDecodeError, ValueError, TypeError) as error:
            self._error(400, str(error), "invalid_request_error")
        except Exception as error:  # a backend failure must answer, not kill the thread
            logger.exception("request to %s failed", self.path)
            self._error(500, f"{type(error).__name__}: {error}", "server_error")
