"""LLM labels of captions: yes/no questions, an on-disk cache, and an asynchronous annotator.

The :class:`Annotator` runs in a background thread and batches LLM calls, so an env's
``step`` only ever enqueues work. Labels are cached in SQLite, keyed by backend, prompt
and caption, so repeated runs do not pay twice.

Example:
    >>> import tempfile, pathlib
    >>> cache = LabelCache(pathlib.Path(tempfile.mkdtemp()) / "labels.sqlite")
    >>> key = cache.key("tiny-random", "Is it good? {text}", "a door")
    >>> cache.put_many({key: 1.0}); cache.get_many([key])
    {...: 1.0}
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: ONI's question: is this state interesting or helpful for the task?
LABEL_PROMPT = (
    "Task: {goal}\nObservation: {text}\n"
    "Is this observation interesting or helpful for making progress on the task? "
    "Answer yes or no."
)
#: Motif's question: which of two states shows more progress?
PREFERENCE_PROMPT = (
    "Task: {goal}\nObservation A: {a}\nObservation B: {b}\n"
    "Which observation shows more progress on the task? Answer A or B."
)


class LabelCache:
    """A SQLite table of ``key -> value`` (thread-safe; one file, many processes).

    The cache only saves LLM calls, so it never fails a step: a file that cannot be
    opened, read or written (corrupt, read-only, a full disk) turns the cache off
    (:attr:`disabled`, logged once), and a lock another process holds longer than
    ``timeout`` seconds is a miss; ``max_locked`` such misses in a row turn it off too.
    :attr:`stats` counts the errors (shapers report them in ``info["<term>_stats"]``).

    Args:
        path: database file (created with its folder).
        timeout: seconds to wait for another process's lock before counting a miss
            (default :attr:`LOCK_TIMEOUT`).
        max_locked: lock timeouts in a row after which the cache is turned off.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.sqlite"
        >>> _ = path.write_bytes(b"not a database" * 100)
        >>> cache = LabelCache(path)
        >>> cache.get_many(["k"]), cache.stats
        ({}, {'cache_errors': 1, 'cache_disabled': 1})
    """

    #: Seconds to wait for another process's lock (when ``timeout`` is not given).
    LOCK_TIMEOUT = 1.0

    def __init__(self, path: str | Path, timeout: float | None = None, max_locked: int = 3):
        self.path = Path(path)
        self.timeout = float(self.LOCK_TIMEOUT if timeout is None else timeout)
        self.max_locked = int(max_locked)
        self.errors = 0
        self.disabled = False
        self.last_error: str | None = None
        self._locked_in_a_row = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=self.timeout, check_same_thread=False
            )
            with self._lock, self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, value REAL)"
                )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS texts (key TEXT PRIMARY KEY, value TEXT)"
                )
        except (sqlite3.Error, OSError) as error:
            self._failed(error)

    @property
    def stats(self) -> dict[str, int]:
        """``cache_errors`` (failed reads and writes) and ``cache_disabled`` (0 or 1)."""
        return {"cache_errors": self.errors, "cache_disabled": int(self.disabled)}

    def _failed(self, error: BaseException) -> None:
        """Count a failed operation; turn the cache off unless it was a passing lock."""
        self.errors += 1
        self.last_error = f"{type(error).__name__}: {error}"
        message = str(error).lower()
        locked = isinstance(error, sqlite3.OperationalError) and (
            "locked" in message or "busy" in message
        )
        self._locked_in_a_row = self._locked_in_a_row + 1 if locked else 0
        if locked and self._locked_in_a_row < self.max_locked:
            if self.errors == 1:
                logger.warning("LLM label cache %s is locked (%s); a miss", self.path, error)
            return
        if not self.disabled:
            self.disabled = True
            logger.warning(
                "LLM label cache %s failed (%s); going on without a disk cache",
                self.path,
                self.last_error,
            )
            if self._db is not None:
                try:
                    self._db.close()
                except sqlite3.Error:
                    pass
                self._db = None

    @staticmethod
    def key(backend: str, prompt: str, text: str) -> str:
        """The cache key of one question: a digest of backend, prompt template and text."""
        return hashlib.sha256("\x1f".join((backend, prompt, text)).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        """The cached values of those ``keys`` that have one (none when the cache failed)."""
        found: dict[str, float] = {}
        keys = list(keys)
        with self._lock:
            if self._db is None:
                return found
            try:
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    query = f"SELECT key, value FROM labels WHERE key IN ({marks})"  # noqa: S608
                    found.update(self._db.execute(query, chunk).fetchall())
            except sqlite3.Error as error:
                self._failed(error)
                return {}
            self._locked_in_a_row = 0
        return found

    def put_many(self, values: dict[str, float]) -> None:
        """Store values (replacing old ones); a failed write is counted, not raised."""
        with self._lock:
            if self._db is None:
                return
            try:
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO labels VALUES (?, ?)", values.items()
                    )
            except sqlite3.Error as error:
                self._failed(error)

    def get_json(self, key: str) -> Any:
        """A JSON value stored with :meth:`put_json` (``None`` when missing or unreadable)."""
        with self._lock:
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT value FROM texts WHERE key = ?", (key,)).fetchone()
                return json.loads(row[0]) if row else None
            except (sqlite3.Error, ValueError, TypeError) as error:
                self._failed(error)
                return None

    def put_json(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (e.g. a list of subgoals)."""
        with self._lock:
            if self._db is None:
                return
            try:
                with self._db:
                    self._db.execute(
                        "INSERT OR REPLACE INTO texts VALUES (?, ?)", (key, json.dumps(value))
                    )
            except sqlite3.Error as error:
                self._failed(error)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def llm_health(llm: Any, cache: LabelCache | None) -> dict[str, int]:
    """Counters of an LLM term's backend breaker and label cache, for ``info[...]["_stats"]``.

    ``llm_failures`` (failed calls), ``llm_refused`` (calls the open breaker refused),
    ``llm_disabled`` (1 while the breaker is open), ``llm_breaker_trips``, and the
    cache's ``cache_errors`` and ``cache_disabled``. Backends without a breaker (local
    models) report zeros.

    Example:
        >>> llm_health(None, None)["llm_disabled"]
        0
    """
    breaker = getattr(llm, "breaker", None)
    stats = breaker.stats if breaker is not None else {}
    out = {
        "llm_failures": int(stats.get("failures", 0)),
        "llm_refused": int(stats.get("refused", 0)),
        "llm_disabled": int(breaker.is_open) if breaker is not None else 0,
        "llm_breaker_trips": int(stats.get("trips", 0)),
    }
    out.update(cache.stats if cache is not None else {"cache_errors": 0, "cache_disabled": 0})
    return out


_CLAIMED: weakref.WeakKeyDictionary[Any, dict[str, float]] = weakref.WeakKeyDictionary()
_CLAIMED_LOCK = threading.Lock()


def claim_usage(llm: Any) -> dict[str, float]:
    """Tokens and calls ``llm`` spent since anyone last claimed them, each counted once.

    Shapers of several sub-envs share one backend; each reports the usage it claims in
    ``info["llm_usage"]``, so the sum over sub-envs is what the backend really spent.

    Example:
        >>> import densegym.llm
        >>> llm = densegym.llm.load("tiny-random")
        >>> _ = llm.generate("Hi", max_tokens=2)
        >>> claim_usage(llm)["calls"], claim_usage(llm)["calls"]
        (1.0, 0.0)
    """
    usage = llm.usage
    now = {
        "tokens": float(usage["prompt_tokens"] + usage["completion_tokens"]),
        "calls": float(usage["calls"]),
    }
    with _CLAIMED_LOCK:
        seen = _CLAIMED.get(llm, {"tokens": 0.0, "calls": 0.0})
        _CLAIMED[llm] = now
    return {key: now[key] - seen[key] for key in now}


def default_cache_path() -> Path:
    """``<densegym cache>/llm_labels.sqlite``."""
    from densegym.llm.cache import cache_dir

    return cache_dir() / "llm_labels.sqlite"


def _as_chat(llm: Any, prompt: str) -> str:
    try:
        return llm.format_chat([{"role": "user", "content": prompt}])
    except NotImplementedError:
        return prompt + "\nAnswer:"


def ask_choice(
    llm: Any, prompts: Sequence[str], options: tuple[str, str] = ("yes", "no")
) -> list[float | None]:
    """For each prompt, 1.0 if the model prefers ``options[0]`` over ``options[1]``, else 0.0.

    Compares the log-probabilities of the two answers (robust even for tiny models);
    backends that cannot score fall back to generating and reading the answer, where an
    answer naming neither option gives ``None``.
    """
    if not prompts:
        return []
    texts = [_as_chat(llm, p) for p in prompts]
    first, second = options
    try:
        scored = llm.logprobs(texts * 2, [first] * len(texts) + [second] * len(texts))
    except NotImplementedError:
        answers = llm.generate(texts, max_tokens=3, temperature=0.0)
        out: list[float | None] = []
        for answer in answers:
            word = answer.text.strip().lower()
            out.append(
                1.0
                if word.startswith(first.lower())
                else 0.0
                if word.startswith(second.lower())
                else None
            )
        return out
    n = len(texts)
    totals = [s.mean for s in scored]  # mean: fair to answers of different token lengths
    return [1.0 if totals[i] > totals[n + i] else 0.0 for i in range(n)]


class Annotator:
    """A background thread that labels captions (or pairs of them) with an LLM, in batches.

    ``submit`` never blocks: an item goes on a queue (dropped and counted when the
    queue is full). The thread loads the backend lazily, takes up to ``batch_size``
    items at a time, answers cached ones from the :class:`LabelCache`, asks the LLM
    about the rest, and appends ``(item, value)`` to :attr:`results`. Readers keep
    their own cursor into it, so several shapers can share one annotator.

    Args:
        backend: ``densegym.llm`` spec or a loaded backend.
        goal: the task in words (goes into the prompt).
        mode: ``"label"`` (ONI yes/no per caption) or ``"preference"`` (Motif A/B per pair).
        batch_size: most questions per LLM call.
        cache: a :class:`LabelCache`, or ``None`` for no disk cache.
        max_queue: most items waiting; more are dropped (and counted).
    """

    def __init__(
        self,
        backend: Any,
        goal: str,
        *,
        mode: str = "label",
        batch_size: int = 8,
        cache: LabelCache | None = None,
        max_queue: int = 4096,
    ):
        if mode not in ("label", "preference"):
            raise ValueError(f"mode must be 'label' or 'preference', got {mode!r}")
        self.backend = backend
        self.goal = goal
        self.mode = mode
        self.batch_size = int(batch_size)
        self.cache = cache
        self.results: list[tuple[Any, float]] = []
        self.stats = {"submitted": 0, "labels": 0, "cache_hits": 0, "llm_calls": 0}
        self.stats.update(dropped=0, errors=0)
        self.last_error: str | None = None
        self.llm: Any = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._seen: set[Any] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="densegym-annotator", daemon=True)
        self._thread.start()

    @property
    def template(self) -> str:
        """The prompt template of this annotator's questions."""
        return LABEL_PROMPT if self.mode == "label" else PREFERENCE_PROMPT

    @property
    def queue_length(self) -> int:
        """Items waiting for the LLM."""
        return self._queue.qsize()

    def submit(self, item: Any) -> bool:
        """Queue a caption (label mode) or an ``(a, b)`` pair (preference mode); never blocks."""
        with self._lock:
            if item in self._seen:
                return False
            self._seen.add(item)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self._seen.discard(item)
            self.stats["dropped"] += 1
            return False
        self._idle.clear()
        self.stats["submitted"] += 1
        return True

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the queue is empty (for tests and notebooks, never in ``step``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._idle.wait(0.05) and self._queue.empty():
                return True
        return False

    def close(self) -> None:
        """Stop the thread (waits for the current batch)."""
        self._stop.set()
        self._thread.join(timeout=30)

    # ----------------------------------------------------------------- the thread
    def _prompt(self, item: Any) -> str:
        if self.mode == "label":
            return self.template.format(goal=self.goal, text=item)
        return self.template.format(goal=self.goal, a=item[0], b=item[1])

    def _key_text(self, item: Any) -> str:
        return item if self.mode == "label" else "\x1e".join(item)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.1)]
            except queue.Empty:
                self._idle.set()
                continue
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._annotate(batch)
            except Exception as error:  # noqa: BLE001 - a dead LLM must not stop training
                self.stats["errors"] += 1
                self.last_error = f"{type(error).__name__}: {error}"
                if self.stats["errors"] == 1:
                    logger.warning("LLM annotator failed (%s); retrying later", self.last_error)
                with self._lock:  # allow these items to be submitted again later
                    self._seen.difference_update(batch)
                self._stop.wait(min(30.0, 0.5 * self.stats["errors"]))
            if self._queue.empty():
                self._idle.set()

    def _annotate(self, batch: list[Any]) -> None:
        import densegym.llm

        if self.llm is None:
            self.llm = densegym.llm.load(self.backend)
        name = self.llm.name
        keys = [LabelCache.key(name, self.template + self.goal, self._key_text(i)) for i in batch]
        cached = self.cache.get_many(keys) if self.cache is not None else {}
        self.stats["cache_hits"] += sum(k in cached for k in keys)
        todo = [(i, k) for i, k in zip(batch, keys) if k not in cached]
        fresh: dict[str, float] = {}
        if todo:
            options = ("yes", "no") if self.mode == "label" else ("A", "B")
            answers = ask_choice(self.llm, [self._prompt(i) for i, _ in todo], options)
            self.stats["llm_calls"] += 1
            fresh = {k: a for (_, k), a in zip(todo, answers) if a is not None}
            if self.cache is not None and fresh:
                self.cache.put_many(fresh)
        values = {**cached, **fresh}
        with self._lock:
            for item, key in zip(batch, keys):
                if key in values:
                    self.results.append((item, float(values[key])))
                    self.stats["labels"] += 1
