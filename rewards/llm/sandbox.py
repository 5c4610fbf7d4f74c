r"""Run LLM-written reward code in a long-lived, locked-down worker subprocess.

The trainer's process never executes generated code. :class:`Sandbox` checks the code
against the AST allow-list (:mod:`densegym.rewards.llm.policy`), then starts
``densegym/rewards/llm/worker.py`` with ``sys.executable -I -B`` in a scrubbed
environment and an empty temporary working directory, inside a fresh network namespace
when ``unshare`` allows one, and talks to it over length-prefixed JSON on its pipes.
The worker limits its own address space, CPU time, file size, open files and process
count before any code arrives; the parent enforces a wall-clock timeout per request and
kills and restarts a worker that overruns or dies.

A failed call never raises: it comes back as a :class:`CallResult` with ``ok=False``
and a ``kind`` (``"error"``, ``"timeout"``, ``"crash"``, ``"bad_value"``).

Example:
    >>> code = "def reward(obs, action, next_obs, info):\n    return float(next_obs[0])"
    >>> with Sandbox(code) as box:
    ...     results = box.call_batch([([0.0], 1, [0.5], {}), ([0.5], 1, [0.25], {})])
    >>> [r.value for r in results]
    [0.5, 0.25]
"""

from __future__ import annotations

import functools
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densegym.rewards.llm.policy import CodeRejected, validate_code
from densegym.rewards.llm.worker import HEADER, MAX_MESSAGE_BYTES, write_message

logger = logging.getLogger(__name__)

WORKER_PATH = Path(__file__).with_name("worker.py")
#: Seconds the worker may take to start and load the code.
START_TIMEOUT = 20.0
#: Name prefix of the workers' working directories (followed by the owner's pid).
WORKDIR_PREFIX = "densegym-sandbox-"
_CALL_KINDS = ("ok", "error", "timeout", "crash", "bad_value")


class SandboxError(RuntimeError):
    """The worker could not be started at all (not a failure of the reward code)."""


@dataclass(frozen=True)
class CallResult:
    """The outcome of one call of the reward function.

    Attributes:
        value: the finite float returned, or ``None`` on failure.
        kind: ``"ok"``, ``"error"`` (the code raised), ``"timeout"`` (wall clock),
            ``"crash"`` (the worker died, e.g. a CPU-time limit), ``"bad_value"``
            (not a number, or not finite).
        error: a one-line reason on failure.
    """

    value: float | None
    kind: str = "ok"
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the call returned a finite number."""
        return self.kind == "ok"


def encode_value(value: Any, depth: int = 0) -> Any:
    """Turn an observation, action or info value into JSON data for the worker.

    Arrays become ``{"$nd": nested list, "dtype": name}``; values JSON cannot carry
    become their (truncated) ``repr``.

    Example:
        >>> encode_value({"pos": np.array([1, 2], dtype=np.int8), "ok": np.bool_(True)})
        {'pos': {'$nd': [1, 2], 'dtype': 'int8'}, 'ok': True}
    """
    if isinstance(value, np.ndarray):
        return {"$nd": value.tolist(), "dtype": value.dtype.name}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 6:
        return repr(value)[:200]
    if isinstance(value, dict):
        return {str(k): encode_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v, depth + 1) for v in value]
    return repr(value)[:200]


def remove_stale_workdirs() -> int:
    """Remove the working directories of sandboxes whose trainer died without cleaning up.

    Each directory is named after the pid of the process that made it; a directory whose
    process is gone belongs to nobody (a SIGKILLed trainer) and is removed.

    Returns:
        How many directories were removed.
    """
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        owner = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            os.kill(int(owner), 0)
            continue  # its process still runs
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):  # another user's live process, or junk
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


@functools.cache
def network_isolation_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that gives the worker an empty network namespace, or ``()``.

    Root can create a network namespace directly (and the worker then drops to
    ``nobody``); other users need a user namespace as well (``-r``). Returns ``()``
    where neither works (no ``unshare``, or namespaces disabled).
    """
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    prefix = (unshare, "-n") if os.geteuid() == 0 else (unshare, "-r", "-n")
    try:
        probe = subprocess.run(
            [*prefix, "true"], capture_output=True, timeout=5, env={"PATH": os.defpath}
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return prefix if probe.returncode == 0 else ()


class Sandbox:
    """A worker subprocess that runs one checked reward function, batch by batch.

    Args:
        code: Python source defining ``function`` (checked by the AST allow-list).
        function: name of the function to call.
        n_args: number of positional arguments of ``function``.
        timeout: wall-clock seconds allowed per call (a batch gets
            ``timeout + per_item_timeout * len(batch)``); an overrun kills the worker.
        per_item_timeout: extra seconds per item of a batch.
        memory_mb: address-space limit of the worker (``RLIMIT_AS``).
        cpu_seconds: CPU-time limit of one worker's life (``RLIMIT_CPU``); a worker that
            reaches it dies and the next call starts a fresh one.
        network: ``"auto"`` (an empty network namespace when ``unshare`` allows it),
            ``"require"`` (fail without one) or ``"off"``.
        check: run the AST allow-list first. Only tests of the inner layers turn it off.
        audit_hook: refuse sensitive audit events in the worker. Only tests of the
            other layers turn it off.

    Raises:
        CodeRejected: the code fails the allow-list, or raises while it is loaded.
        SandboxError: the worker cannot be started.
    """

    def __init__(
        self,
        code: str,
        *,
        function: str = "reward",
        n_args: int = 4,
        timeout: float = 1.0,
        per_item_timeout: float = 0.01,
        memory_mb: int = 1024,
        cpu_seconds: int = 600,
        network: str = "auto",
        check: bool = True,
        audit_hook: bool = True,
    ):
        if check:
            validate_code(code, function=function, n_args=n_args)
        if network not in ("auto", "require", "off"):
            raise ValueError(f"network must be 'auto', 'require' or 'off', got {network!r}")
        self.code = code
        self.function = function
        self.timeout = float(timeout)
        self.per_item_timeout = float(per_item_timeout)
        self.limits = {"memory_mb": int(memory_mb), "cpu_seconds": int(cpu_seconds)}
        self.limits["audit_hook"] = bool(audit_hook)
        self.prefix = network_isolation_prefix() if network != "off" else ()
        if network == "require" and not self.prefix:
            raise SandboxError("no network namespace available (unshare -n failed)")
        self.counts = {kind: 0 for kind in _CALL_KINDS}
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None
        self._lock = threading.Lock()
        with self._lock:
            self._start()

    # ------------------------------------------------------------------ lifecycle
    @property
    def network_isolated(self) -> bool:
        """Whether the worker runs in its own (empty) network namespace."""
        return bool(self.prefix)

    @property
    def pid(self) -> int | None:
        """Process id of the current worker (``None`` when none is running)."""
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        import json

        remove_stale_workdirs()
        self._workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
        env = {
            "PATH": os.defpath,
            "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        command = [*self.prefix, sys.executable, "-I", "-B", str(WORKER_PATH)]
        # The worker watches this pid and exits when its parent dies (a SIGKILLed trainer).
        limits = {**self.limits, "parent_pid": os.getpid()}
        try:
            self._process = subprocess.Popen(
                [*command, json.dumps(limits)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=self._workdir,
                env=env,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as error:
            raise SandboxError(f"cannot start the sandbox worker: {error}") from error
        reply = self._request(
            {"op": "load", "code": self.code, "function": self.function}, START_TIMEOUT
        )
        if isinstance(reply, CallResult):
            self._kill()
            raise SandboxError(f"sandbox worker failed to start: {reply.error}")
        if not reply.get("ok"):
            self._kill()
            raise CodeRejected([f"loading the code failed: {reply.get('error')}"])

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.kill()
            except ProcessLookupError:
                pass
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def close(self) -> None:
        """Stop the worker and remove its working directory."""
        with self._lock:
            self._kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._kill()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ------------------------------------------------------------------ requests
    def _read_frame(self, deadline: float) -> bytes | str:
        """Read one reply frame before ``deadline``; a string names why it failed."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        buffer = b""
        needed = HEADER.size
        header_done = False
        while True:
            while len(buffer) < needed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                ready, _, _ = select.select([fd], [], [], remaining)
                if not ready:
                    return "timeout"
                chunk = os.read(fd, max(needed - len(buffer), 65536))
                if not chunk:
                    return "crash"
                buffer += chunk
            if header_done:
                return buffer[HEADER.size :]
            (size,) = HEADER.unpack(buffer[: HEADER.size])
            if size > MAX_MESSAGE_BYTES:
                return "crash"
            needed = HEADER.size + size
            header_done = True

    def _request(self, message: dict[str, Any], timeout: float) -> dict[str, Any] | CallResult:
        import json

        if self._process is None:
            self.restarts += 1
            self._start()
        assert self._process is not None and self._process.stdin is not None
        try:
            write_message(self._process.stdin, message)
        except (BrokenPipeError, OSError):
            code = self._process.poll()
            self._kill()
            return CallResult(None, "crash", f"sandbox worker died (exit code {code})")
        outcome = self._read_frame(time.monotonic() + timeout)
        if outcome == "timeout":
            self._kill()
            return CallResult(None, "timeout", f"timed out after {timeout:.2f} s; worker killed")
        if outcome == "crash":
            code = self._process.poll() if self._process else None
            self._kill()
            return CallResult(None, "crash", f"sandbox worker died (exit code {code})")
        try:
            reply = json.loads(outcome.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            reply = None
        problem = _reply_problem(reply, message)
        if problem:  # a worker that says something else is not trusted again
            self._kill()
            return CallResult(None, "crash", f"sandbox worker sent an invalid reply ({problem})")
        return reply

    def call_batch(self, batch: Sequence[Sequence[Any]]) -> list[CallResult]:
        """Call the function once per argument tuple, in one round trip to the worker.

        A timeout or crash fails the whole batch (the worker is restarted for the next
        call); errors and bad values fail only their own item.
        """
        if not batch:
            return []
        payload = [[encode_value(arg) for arg in args] for args in batch]
        timeout = self.timeout + self.per_item_timeout * len(batch)
        with self._lock:
            try:
                reply = self._request({"op": "call", "batch": payload}, timeout)
            except SandboxError as error:
                reply = CallResult(None, "crash", str(error))
            except CodeRejected as error:  # cannot happen after a successful first load
                reply = CallResult(None, "crash", str(error))
        if isinstance(reply, CallResult):
            results = [reply] * len(batch)
        elif not reply.get("ok"):
            results = [CallResult(None, "crash", str(reply.get("error")))] * len(batch)
        else:
            results = [_result(item) for item in reply["results"]]
        for result in results:
            self.counts[result.kind] += 1
        return results

    def call(self, *args: Any) -> CallResult:
        """Call the function once (see :meth:`call_batch`)."""
        return self.call_batch([args])[0]

    def ping(self) -> dict[str, Any]:
        """Ask the worker who it is (pid, uid); starts it if needed."""
        with self._lock:
            reply = self._request({"op": "ping"}, START_TIMEOUT)
        if isinstance(reply, CallResult):
            raise SandboxError(reply.error)
        return reply


def _reply_problem(reply: Any, request: dict[str, Any]) -> str:
    """Why a decoded reply frame does not answer ``request`` (``""`` when it does).

    The worker runs untrusted code, so nothing it sends is taken on trust: a reply is a
    dict with a boolean ``ok``; a successful ``call`` holds one result object per item,
    each with exactly one of ``v`` (a number), ``e`` or ``b`` (a string).
    """
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        return "not a reply object"
    if not reply["ok"] or request.get("op") != "call":
        return ""
    results = reply.get("results")
    if not isinstance(results, list) or len(results) != len(request["batch"]):
        return "wrong number of results"
    for item in results:
        if not isinstance(item, dict) or len(item) != 1:
            return "malformed result"
        ((key, value),) = item.items()
        if key == "v" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return "malformed result"
        if key in ("e", "b") and not isinstance(value, str):
            return "malformed result"
        if key not in ("v", "e", "b"):
            return "malformed result"
    return ""


def _result(item: dict[str, Any]) -> CallResult:
    if "e" in item:
        return CallResult(None, "error", str(item["e"]))
    if "b" in item:
        return CallResult(None, "bad_value", str(item["b"]))
    value = item.get("v")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return CallResult(None, "bad_value", f"reward returned a non-finite value ({value!r})")
    return CallResult(float(value))
