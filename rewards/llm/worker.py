"""The sandbox worker: runs LLM-written reward code in a separate, locked-down process.

Run as a script (``python -I -B worker.py '<limits json>'``) by
:class:`~densegym.rewards.llm.sandbox.Sandbox`; never imported into the worker's own
process through ``densegym`` (that would load gymnasium and torch for nothing). The
parent imports it only for the message framing, which both sides share.

Protocol: each message is a 4-byte big-endian length followed by that many bytes of
UTF-8 JSON (no pickle: a pickle from a compromised worker could run code in the
parent). Requests are ``{"op": "load", "code": ..., "function": ...}``,
``{"op": "call", "batch": [[arg, ...], ...]}`` and ``{"op": "ping"}``; every answer
has ``"ok"``. Arrays travel as ``{"$nd": nested list, "dtype": name}``.

Layers inside the worker, on top of the parent's AST allow-list and wall-clock kill:
resource limits (address space, CPU time, no file writes, few file descriptors, no new
processes), dropping root to ``nobody`` (when it really is root), a watch that ends the
worker when its parent dies, an audit hook that refuses every sensitive
event (open, import, fork, exec, sockets, ...) once the code may run, a namespace with
a small set of builtins, and an importer that hands out only ``math`` and ``numpy``.

Example:
    >>> import io
    >>> buffer = io.BytesIO()
    >>> write_message(buffer, {"op": "ping"})
    >>> _ = buffer.seek(0)
    >>> read_message(buffer)
    {'op': 'ping'}
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from typing import Any

HEADER = struct.Struct(">I")
#: Largest message either side accepts (bytes); a bigger length header is an error.
MAX_MESSAGE_BYTES = 64 * 2**20
#: Longest error text sent back, so a hostile message cannot flood the parent's logs.
MAX_ERROR_CHARS = 300
#: The only audit events allowed once untrusted code may run (loading it needs both).
#: Documentation only: the hook (``_audit``) holds them as constants of its own code.
ALLOWED_EVENTS = frozenset({"compile", "exec"})


# ----------------------------------------------------------------------------- framing
def write_message(stream: Any, message: Any) -> None:
    """Write one length-prefixed JSON message to a binary stream and flush it."""
    data = json.dumps(message, allow_nan=True, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: Any, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(stream: Any) -> Any:
    """Read one message from a binary stream; ``None`` at end of stream."""
    header = _read_exact(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
    data = _read_exact(stream, size)
    if data is None:
        return None
    return json.loads(data.decode("utf-8"))


def decode_value(value: Any) -> Any:
    """Turn the JSON form of an argument back into Python and numpy values.

    Example:
        >>> decode_value({"$nd": [1.5, 2.0], "dtype": "float32"}).dtype.name
        'float32'
    """
    if isinstance(value, dict):
        if "$nd" in value:
            import numpy as np

            return np.asarray(value["$nd"], dtype=value.get("dtype") or None)
        return {key: decode_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    return value


# --------------------------------------------------------------------- worker process
def _audit(event: str, args: tuple) -> None:
    # Installed only once the code may run, and reads no state the code could change: the
    # allowed events are constants of this function's code object (replacing a function's
    # code is itself an audit event, refused here). A module-level flag or set would be
    # one assignment away from disarming it.
    if event == "compile" or event == "exec":
        return
    raise PermissionError(f"sandbox: {event!r} is not allowed")


def _restricted_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
    if level == 0 and name in ("math", "numpy"):
        return sys.modules[name]
    raise ImportError(f"sandbox: import of {name!r} is not allowed (only math and numpy)")


def _safe_builtins() -> dict[str, Any]:
    import builtins

    names = (
        "abs all any bool dict divmod enumerate filter float int isinstance len list map "
        "max min pow range reversed round set slice sorted str sum tuple zip"
    ).split()
    safe = {name: getattr(builtins, name) for name in names}
    safe["__import__"] = _restricted_import
    return safe


def _as_number(value: Any) -> dict[str, Any]:
    import numpy as np

    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return {"v": float(value)}
    return {"b": f"reward returned {type(value).__name__}, not a number"}


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def _initial_user_namespace() -> bool:
    """Whether this process lives in the initial user namespace (so uid 0 is the real root).

    Under ``unshare -r`` a non-root user appears as uid 0 with only that one uid mapped; the
    initial namespace maps every uid onto itself (``0 0 4294967295``).
    """
    try:
        with open("/proc/self/uid_map", encoding="ascii") as handle:
            return handle.read().split()[:3] == ["0", "0", "4294967295"]
    except OSError:  # no /proc (not Linux): no user namespaces either
        return True


def drop_root() -> bool:
    """Drop root to ``nobody`` when this process really can; return whether it did.

    A uid 0 inside a user namespace (``unshare -r`` for a non-root user) is unprivileged
    outside it: ``setgroups`` fails with EPERM and ``nobody`` is not mapped (EINVAL). Such a
    worker keeps its namespace uid; only a failure of the real root is an error.

    Raises:
        OSError: the real root (initial user namespace) could not drop its privileges.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError:
        if _initial_user_namespace():
            raise
        return False
    return True


def apply_limits(limits: dict[str, Any]) -> None:
    """Apply the resource limits, then drop root (if we are root) to ``nobody``."""
    import resource

    def limit(kind: int, soft: int, hard: int | None = None) -> None:
        try:
            resource.setrlimit(kind, (soft, soft if hard is None else hard))
        except (ValueError, OSError):  # pragma: no cover - a platform without the limit
            pass

    memory = int(limits.get("memory_mb", 1024)) * 2**20
    limit(resource.RLIMIT_AS, memory)
    limit(resource.RLIMIT_DATA, memory)
    cpu = int(limits.get("cpu_seconds", 600))
    limit(resource.RLIMIT_CPU, cpu, cpu + 5)
    limit(resource.RLIMIT_FSIZE, 0)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, int(limits.get("nofile", 16)))
    if limits.get("drop_root", True):
        # Root ignores RLIMIT_NPROC; ``nobody`` cannot write anywhere and owns no processes.
        drop_root()
    if hasattr(resource, "RLIMIT_NPROC"):
        limit(resource.RLIMIT_NPROC, 0)


class _Worker:
    def __init__(self) -> None:
        self.function: Any = None

    def load(self, message: dict[str, Any]) -> dict[str, Any]:
        import numpy

        namespace = {"__builtins__": _safe_builtins(), "__name__": "reward_code"}
        namespace.update(math=math, np=numpy, numpy=numpy)
        try:
            exec(compile(message["code"], "<reward code>", "exec"), namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            return {"ok": False, "error": _error_text(error)}
        function = namespace.get(message.get("function", "reward"))
        if not callable(function):
            return {"ok": False, "error": f"NameError: no function {message.get('function')!r}"}
        self.function = function
        return {"ok": True}

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.function is None:
            return {"ok": False, "error": "no code loaded"}
        results = []
        for args in message["batch"]:
            try:
                results.append(_as_number(self.function(*decode_value(args))))
            except BaseException as error:  # noqa: BLE001 - reported to the parent
                results.append({"e": _error_text(error)})
        return {"ok": True, "results": results}

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "load":
            return self.load(message)
        if op == "call":
            return self.call(message)
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "uid": os.getuid()}
        return {"ok": False, "error": f"unknown op {op!r}"}


def watch_parent(parent: int, interval: float = 0.25) -> None:
    """Exit this process as soon as ``parent`` is no longer its parent (it died).

    A daemon thread polls ``os.getppid()``: unlike ``PR_SET_PDEATHSIG`` it does not fire
    when merely the *thread* that started the worker ends, and it survives the change of
    user. It must start before the process limit (``RLIMIT_NPROC`` counts threads) and
    before the audit hook (starting a thread is an audited event).
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(3)

    if os.getppid() != parent:  # the parent is already gone
        os._exit(3)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    """Set up the limits and serve requests on stdin/stdout until the parent hangs up."""
    limits = json.loads(argv[1]) if len(argv) > 1 else {}
    # The protocol gets private copies of the pipes; fds 0/1 and sys.stdout point at
    # /dev/null, so nothing the code prints can corrupt a message.
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    import warnings

    import numpy

    numpy.seterr(all="ignore")
    warnings.simplefilter("ignore")
    if limits.get("parent_pid"):
        watch_parent(int(limits["parent_pid"]))
    apply_limits(limits)
    sys.setrecursionlimit(int(limits.get("recursion_limit", 400)))
    worker = _Worker()
    if limits.get("audit_hook", True):
        sys.addaudithook(_audit)
    while True:
        message = read_message(requests)
        if message is None:
            return 0
        write_message(replies, worker.handle(message))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
