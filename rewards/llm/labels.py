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

    Args:
        path: database file (created with its folder).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, value REAL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS texts (key TEXT PRIMARY KEY, value TEXT)")

    @staticmethod
    def key(backend: str, prompt: str, text: str) -> str:
        """The cache key of one question: a digest of backend, prompt template and text."""
        return hashlib.sha256("\x1f".join((backend, prompt, text)).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, float]:
        """The cached values of those ``keys`` that have one."""
        found: dict[str, float] = {}
        keys = list(keys)
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, value FROM labels WHERE key IN ({marks})"  # noqa: S608
                found.update(self._db.execute(query, chunk).fetchall())
        return found

    def put_many(self, values: dict[str, float]) -> None:
        """Store values (replacing old ones)."""
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?)", values.items())

    def get_json(self, key: str) -> Any:
        """A JSON value stored with :meth:`put_json` (``None`` when missing)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM texts WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_json(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (e.g. a list of subgoals)."""
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO texts VALUES (?, ?)", (key, json.dumps(value)))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


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
