"""PAE-style shop tasks: an LLM writes the instruction, the judge stays programmatic.

In PAE (Proposer-Agent-Evaluator) a model proposes tasks from what a site shows. Here the
task is still drawn by :func:`~densegym.envs.web.tasks.generate_task` (a target product,
asked attributes, options and a price bound the oracle query can reach), so it stays
solvable by construction, and the purchase is still scored by
:func:`~densegym.envs.web.tasks.score_purchase` against those sampled facts. Only the
*words* change: an LLM is shown the target's item page (and its description) as the
agent would see it, and either

- ``"paraphrase"``: rewrites the templated instruction in its own words, or
- ``"propose"``: writes a shopping instruction from the page and the facts the judge
  scores (no template wording shown).

A written instruction is kept only when it names every fact the judge scores: the
category, each asked attribute, each asked option value and the price bound, and is
non-empty, at most ``max_chars`` characters, printable and mostly words. Otherwise (or
when the LLM fails) the template instruction is used and the task says so:
``instruction_source`` is ``"template_fallback"`` with ``instruction_fallback_reason``,
and :attr:`InstructionWriter.stats` counts it. Written instructions are cached per
(model, mode, catalogue, task), in memory for the process and optionally in an SQLite
file, so resets after the first stay fast and the same seed gives the same words.

Example:
    >>> from densegym.envs.web.catalog import catalogue_for_seed
    >>> from densegym.envs.web.tasks import generate_task
    >>> cat = catalogue_for_seed(0, 600)
    >>> task = generate_task(cat, 3, difficulty=1)
    >>> instruction_problem(task.instruction, task)  # the template names every fact
    ''
    >>> instruction_problem("please buy something nice for me", task)
    "omits the category 'running shoes'"
    >>> writer = InstructionWriter("tiny-random", mode="paraphrase", cache=False)
    >>> written = writer.write(cat, task, catalogue_key="0/600")
    >>> written.source in ("llm", "template_fallback"), written.task.asin == task.asin
    (True, True)
    >>> written.source == "llm" or written.task.instruction == task.instruction
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, NamedTuple

from densegym.envs.web.catalog import Catalogue
from densegym.envs.web.site import render_page
from densegym.envs.web.tasks import WebTask
from densegym.envs.web.text import parse_page, render_page_text

__all__ = [
    "INSTRUCTION_MODES",
    "InstructionWriter",
    "Written",
    "clean_instruction",
    "instruction_problem",
    "item_page_text",
]

#: ``"template"`` (no LLM) and the two LLM modes.
INSTRUCTION_MODES = ("template", "paraphrase", "propose")
#: Bump when the prompts or the checks change (old cache entries are then not reused).
PROMPT_VERSION = 1
_PAGE_CHARS = 900
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_LEAD = re.compile(
    r"^(?:\d+[.)]\s*|[-*]\s*)?(?:(?:new |rewritten |shopping )?instruction\s*:\s*)?",
    re.IGNORECASE,
)

_SYSTEM = (
    "You write one-sentence shopping instructions for an online shop. Keep every fact you "
    "are given word for word: the product type, each feature, each option and the price "
    "limit. Answer with the instruction only."
)

#: In-process cache shared by every writer: key -> (instruction, source, reason).
_MEMORY: dict[str, tuple[str, str, str]] = {}
_MEMORY_LOCK = threading.Lock()


class Written(NamedTuple):
    """An instruction written for a task.

    Attributes:
        task: the task with the instruction to show (scoring fields unchanged).
        source: ``"llm"``, ``"template"`` or ``"template_fallback"``.
        reason: why the LLM's text was refused (``""`` unless a fallback).
        template: the templated instruction.
        cached: whether it came from the cache.
    """

    task: WebTask
    source: str
    reason: str
    template: str
    cached: bool


def item_page_text(cat: Catalogue, asin: str, max_chars: int = _PAGE_CHARS) -> str:
    """The target's item page and description page as the agent's observation text.

    Example:
        >>> from densegym.envs.web.catalog import catalogue_for_seed
        >>> cat = catalogue_for_seed(0, 600)
        >>> text = item_page_text(cat, cat.products[0].asin)
        >>> text.startswith("Page: "), len(text) <= 900
        (True, True)
    """
    parts = []
    for path in (f"item/{asin}", f"item/{asin}/description"):
        status, html = render_page(cat, "pae", path)
        if status == 200:
            parts.append(render_page_text(parse_page(html, "/s/pae/", status), max_chars))
    return "\n".join(parts)[:max_chars]


def _facts(task: WebTask) -> list[tuple[str, str]]:
    """``(kind, text)`` of every fact the judge scores."""
    return [
        ("category", task.category),
        *(("attribute", a) for a in task.attributes),
        *(("option", v) for _, v in task.options),
    ]


def instruction_problem(text: str, task: WebTask, max_chars: int = 300) -> str:
    """Why ``text`` cannot stand for ``task``'s instruction (``""``: it can).

    It must be non-empty, at most ``max_chars`` characters, printable, mostly letters,
    and name (case-insensitively, as whole words, a plural ``s`` allowed) the category, each
    asked attribute, each asked option value and the price bound.

    Example:
        >>> task = WebTask("B1", "shoe", ("red",), (("size", "9"),), 40.0, "", "shoe red", 0, 1)
        >>> instruction_problem("a red shoe in size 9 under 40 dollars", task)
        ''
        >>> instruction_problem("Red shoes, size 9, at most $40.00, please", task)
        ''
        >>> instruction_problem("a red shoe in size 9 under 45 dollars", task)
        'omits the price bound 40'
        >>> instruction_problem("a red shoe in size 19 under 40 dollars", task)
        "omits the option '9'"
        >>> instruction_problem("", task), instruction_problem("x" * 301, task)
        ('empty', 'too long (301 > 300 characters)')
    """
    text = text.strip()
    if not text:
        return "empty"
    if len(text) > max_chars:
        return f"too long ({len(text)} > {max_chars} characters)"
    if not text.isprintable():
        return "not printable"
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if letters < 0.7 * len(text) or len(text.split()) < 4:
        return "garbage (too few words)"
    low = text.lower()
    for kind, fact in _facts(task):
        if not re.search(rf"(?<![a-z0-9]){re.escape(fact.lower())}(?:e?s)?(?![a-z0-9])", low):
            return f"omits the {kind} {fact!r}"
    numbers = {float(n.replace(",", ".")) for n in _NUMBER.findall(text)}
    if task.price_bound not in numbers:
        return f"omits the price bound {task.price_bound:g}"
    return ""


def clean_instruction(text: str) -> str:
    r"""The first non-empty line of a completion, without quotes or an ``Instruction:`` label.

    Example:
        >>> clean_instruction('\n Instruction: "find a red shoe"\nmore')
        'find a red shoe'
        >>> clean_instruction("1. find a red shoe;")
        'find a red shoe'
    """
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _LEAD.sub("", line).strip().rstrip(";,").strip()
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
        line = _LEAD.sub("", line[1:-1].strip())
    return line.rstrip(";,").strip()


def _messages(mode: str, task: WebTask, page: str) -> list[dict[str, str]]:
    if mode == "paraphrase":
        ask = (
            f"Product page:\n{page}\n\nInstruction: {task.instruction}\n\n"
            "Rewrite the instruction in different words. Keep the product type, every "
            "feature, every option and the price limit exactly as written."
        )
    else:
        options = ", ".join(v for _, v in task.options) or "none"
        ask = (
            f"Product page:\n{page}\n\nWrite one instruction asking a shopping assistant to "
            f"buy a product like this one. It must say: product type {task.category}; "
            f"features {', '.join(task.attributes)}; options {options}; price lower than "
            f"{task.price_bound:.2f} dollars."
        )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]


class _SQLiteCache:
    """A ``key -> JSON`` table; any database error turns it off (``broken``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.broken = ""
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS pae (key TEXT PRIMARY KEY, value TEXT)")
        except (sqlite3.Error, OSError) as err:
            self.broken = f"{type(err).__name__}: {err}"

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def get(self, key: str) -> tuple[str, str, str] | None:
        if self.broken:
            return None
        try:
            with self._lock, self._connect() as db:
                row = db.execute("SELECT value FROM pae WHERE key = ?", (key,)).fetchone()
            return tuple(json.loads(row[0])) if row else None  # type: ignore[return-value]
        except (sqlite3.Error, OSError, ValueError, TypeError) as err:
            self.broken = f"{type(err).__name__}: {err}"
            return None

    def put(self, key: str, value: tuple[str, str, str]) -> None:
        if self.broken:
            return
        try:
            with self._lock, self._connect() as db:
                db.execute(
                    "INSERT OR REPLACE INTO pae (key, value) VALUES (?, ?)",
                    (key, json.dumps(list(value))),
                )
        except (sqlite3.Error, OSError) as err:
            self.broken = f"{type(err).__name__}: {err}"


class InstructionWriter:
    """Has an LLM write (or paraphrase) shop instructions; falls back to the template.

    Args:
        llm: a :func:`densegym.llm.load` spec (``"tiny-random"`` for tests, ``"smollm2"``,
            ``"qwen2.5-coder-1.5b"``) or a loaded backend; loaded on first use, shared
            in the process.
        mode: ``"paraphrase"`` or ``"propose"`` (see the module docstring).
        max_chars: the longest instruction kept.
        max_tokens: the LLM's completion budget.
        cache: ``True``/``None`` (in-process memory only), ``False`` (no cache at all) or
            the path of an SQLite file shared across processes (memory is used too).

    Attributes:
        stats: counts of ``writes``, ``llm`` (kept LLM instructions), ``fallbacks``,
            ``errors`` (LLM calls that raised) and ``cached`` (served from the cache).
    """

    def __init__(
        self,
        llm: Any = "smollm2",
        mode: str = "paraphrase",
        *,
        max_chars: int = 300,
        max_tokens: int = 72,
        cache: bool | str | Path | None = True,
    ):
        if mode not in INSTRUCTION_MODES[1:]:
            raise ValueError(f"mode must be one of {INSTRUCTION_MODES[1:]}, got {mode!r}")
        if max_chars < 40 or max_tokens < 8:
            raise ValueError("max_chars must be at least 40 and max_tokens at least 8")
        self.mode = mode
        self.max_chars = int(max_chars)
        self.max_tokens = int(max_tokens)
        self._spec = llm
        self._llm: Any = None if isinstance(llm, (str, dict)) else llm
        self.model_name = llm if isinstance(llm, str) else getattr(llm, "name", repr(llm))
        self.memory = cache is not False
        self._sqlite = (
            _SQLiteCache(Path(cache)) if isinstance(cache, (str, Path)) and cache else None
        )
        self.stats = {"writes": 0, "llm": 0, "fallbacks": 0, "errors": 0, "cached": 0}

    @property
    def llm(self) -> Any:
        """The backend (loaded on first use, one instance per spec in the process)."""
        if self._llm is None:
            import densegym.llm

            self._llm = densegym.llm.load(self._spec, shared=True)
        return self._llm

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(self._spec, (str, dict)):
            state["_llm"] = None  # reloaded from the spec on first use
        return state

    def _key(self, task: WebTask, catalogue_key: str) -> str:
        facts = [self.model_name, self.mode, PROMPT_VERSION, self.max_chars, self.max_tokens]
        facts += [catalogue_key, task.asin, task.category, list(task.attributes)]
        facts += [[list(o) for o in task.options], task.price_bound, task.instruction]
        return hashlib.sha256(json.dumps(facts).encode()).hexdigest()

    def _ask(self, cat: Catalogue, task: WebTask) -> tuple[str, str, str]:
        """``(instruction, source, reason)`` from the LLM, checked."""
        messages = _messages(self.mode, task, item_page_text(cat, task.asin))
        try:
            out = self.llm.chat(
                messages, max_tokens=self.max_tokens, temperature=0.0, seed=0, stop=["\n"]
            )
            text = clean_instruction(out[0].text)
        except Exception as err:  # noqa: BLE001 - any LLM failure: the template, flagged
            self.stats["errors"] += 1
            return task.instruction, "template_fallback", f"llm error: {type(err).__name__}"
        problem = instruction_problem(text, task, self.max_chars)
        if problem:
            return task.instruction, "template_fallback", problem
        return text, "llm", ""

    def write(self, cat: Catalogue, task: WebTask, catalogue_key: str = "") -> Written:
        """Return ``task`` with an LLM-written instruction, or the template (flagged).

        Args:
            cat: the catalogue the task is drawn from (for the item page).
            task: a templated task.
            catalogue_key: what identifies ``cat`` in the cache (e.g. ``"0/1000"``).
        """
        self.stats["writes"] += 1
        key = self._key(task, catalogue_key)
        got, cached = None, False
        if self.memory:
            with _MEMORY_LOCK:
                got = _MEMORY.get(key)
        if got is None and self._sqlite is not None:
            got = self._sqlite.get(key)
        if got is not None:
            cached = True
            self.stats["cached"] += 1
        else:
            got = self._ask(cat, task)
            if self._sqlite is not None and not got[2].startswith("llm error"):
                self._sqlite.put(key, got)
        if self.memory and not got[2].startswith("llm error"):  # an error is retried later
            with _MEMORY_LOCK:
                _MEMORY[key] = got
        text, source, reason = got
        self.stats["llm" if source == "llm" else "fallbacks"] += 1
        new = dataclasses.replace(task, instruction=text) if source == "llm" else task
        return Written(new, source, reason, task.instruction, cached)
