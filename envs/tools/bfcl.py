"""BFCL multi-turn as an external tool-use set: BFCL's own data and executable APIs.

The Berkeley Function Calling Leaderboard (BFCL, Apache-2.0) ships its multi-turn tasks
and the Python classes behind their functions (a file system, messaging, posting,
ticketing, trading, travel booking, vehicle control, math) in the PyPI wheel
``bfcl-eval``. Its declared dependencies are heavy (LLM SDKs, faiss, a numpy pin) and
none of them is needed here, so it is installed without them::

    pip install --no-deps "bfcl-eval==2026.3.23"

Only the data files and the API-class modules are loaded (the classes import nothing
beyond the standard library and ``mpmath``, which torch's ``sympy`` already brings).
BFCL's evaluation code is not used: the checker below is densegym's own, and follows
what BFCL's multi-turn checker does per turn:

* **state check**: after the turn, every public attribute of every API instance the
  agent drove equals that of a second set of instances driven by the ground-truth calls
  (both sets live across turns, from the same initial configuration);
* **response check**: the ground truth's results of this turn are all among the agent's
  results so far (as a multiset, any order; results are rendered as BFCL renders them);
* the agent made at least one call in the turn. A turn whose ground truth is empty (the
  request cannot be served) is not checked, as in BFCL.

The registered id is ``densegym/BFCL-MultiTurn-v0`` (category ``base``; ``category=``
also takes ``long_context``, ``miss_param`` and ``miss_func``).

Example:
    >>> env = BFCLMultiTurnEnv()
    >>> obs, info = env.reset(options={"entry": "multi_turn_base_1"})
    >>> print(obs.splitlines()[0])
    BFCL multi_turn_base_1 - turn 1 of 4
    >>> obs, reward, terminated, truncated, info = env.step("ls(a=True)")
    >>> print(env.calls[-1].result)
    {"current_directory_content": ["workspace"]}
    >>> _, _, _, _, info = env.step("end_turn()")
    >>> info["turn_success"], info["turn_ended"]
    ([True], True)
    >>> _, _, _, _, info = env.step("rm -rf /")
    >>> info["invalid_call"], info["n_invalid"]
    (True, 1)
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

from densegym.calls import MAX_CALL_CHARS, parse_call
from densegym.spaces import PermissiveText
from densegym.text_render import TextRendering

__all__ = [
    "BFCL_INSTALL",
    "BFCL_VERSION",
    "CATEGORIES",
    "END_TURN",
    "BFCLEntry",
    "BFCLMultiTurnEnv",
    "BFCLState",
    "load_entries",
    "to_openai_schema",
]

#: The wheel version densegym is tested with.
BFCL_VERSION = "2026.3.23"
#: How to install it (its declared dependencies are not needed, and heavy).
BFCL_INSTALL = f'pip install --no-deps "bfcl-eval=={BFCL_VERSION}" mpmath'
#: Multi-turn categories this env plays.
CATEGORIES = ("base", "long_context", "miss_param", "miss_func")
#: The action that ends the agent's turn.
END_TURN = "end_turn"

_PACKAGE = "bfcl_eval"
_API_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
#: API class -> (its module in the wheel, its function-doc file).
_CLASSES = {
    "GorillaFileSystem": ("gorilla_file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}
#: Classes that take no initial configuration.
_STATELESS = frozenset({"MathAPI"})
#: The user message BFCL sends when functions are added (miss_func).
_MORE_FUNCTIONS = "I have updated some more functions you can choose from. What about now?"
#: Arguments that make a call arbitrarily slow (mpmath precision, big powers): bounded.
_BOUNDS = {"precision": 1000, "exponent": 10_000}
_MAX_INT = 10**18
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None}
_SHORT = {
    "string": "str",
    "integer": "int",
    "float": "float",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "dict": "dict",
    "object": "dict",
}
_END_TURN_SCHEMA = {
    "type": "function",
    "function": {
        "name": END_TURN,
        "description": "End your turn: the user's request is done (or cannot be done).",
        "parameters": {"type": "object", "properties": {}, "required": []},
    },
}

INFO_DOC = {
    "is_success": "bool: every turn passed BFCL's checks (never the shaped reward)",
    "turn": "int: the current turn (0-based; the number of turns once the episode ends)",
    "turn_ended": "bool: this step ended a turn",
    "turn_success": "list[bool]: per finished turn, whether it passed",
    "turn_checks": "dict: the checks of the turn this step ended (state, response, called)",
    "tool": "str: the function called ('' when unreadable)",
    "invalid_call": "bool: unreadable text, unknown function or arguments that do not fit",
    "invalid_reason": "str: why the call was invalid ('' when valid)",
    "n_invalid": "int: invalid calls so far",
    "invalid_streak": "int: invalid calls in a row (K in a row end the turn)",
    "tool_error": "bool: the function ran and answered with an error",
    "n_tool_errors": "int: such calls so far",
    "forced_end_turn": "bool: the turn was ended for the agent (step or invalid limit)",
    "n_calls": "int: calls executed so far",
    "progress": "float in [0, 1]: turns passed / turns",
    "score": "float in [0, 1]: the same partial credit",
    "oracle_remaining": "int: steps the ground truth needs from here (end_turn included)",
}


def _bfcl() -> Any:
    """Import the ``bfcl_eval`` package, or raise with the install command."""
    try:
        return importlib.import_module(_PACKAGE)
    except ImportError as error:
        raise gym.error.DependencyNotInstalled(
            f"BFCL multi-turn needs the bfcl-eval wheel (without its dependencies): {BFCL_INSTALL}"
        ) from error


def data_dir() -> Path:
    """Return the folder of BFCL's data files inside the installed wheel."""
    return Path(_bfcl().__file__).parent / "data"


def api_class(name: str) -> type:
    """Return BFCL's API class ``name``, importing only its own module."""
    if name not in _CLASSES:
        raise KeyError(f"unknown BFCL API class {name!r}; known: {sorted(_CLASSES)}")
    _bfcl()
    try:
        module = importlib.import_module(f"{_API_PACKAGE}.{_CLASSES[name][0]}")
    except ImportError as error:  # e.g. mpmath for MathAPI
        raise gym.error.DependencyNotInstalled(
            f"BFCL's {name} needs {error.name!r}: {BFCL_INSTALL}"
        ) from error
    return getattr(module, name)


@dataclass(frozen=True)
class BFCLEntry:
    """One BFCL multi-turn task.

    Attributes:
        id: BFCL's id, e.g. ``multi_turn_base_0``.
        turns: per turn, the user's messages (empty for a turn that adds functions).
        initial_config: per API class, the state it starts from.
        involved_classes: the API classes of the task.
        excluded: functions left out of the docs.
        missed: per turn index, functions revealed at that turn (``miss_func``).
        ground_truth: per turn, the ground-truth calls (call syntax).
    """

    id: str
    turns: tuple[tuple[str, ...], ...]
    initial_config: dict[str, Any] = field(repr=False)
    involved_classes: tuple[str, ...]
    excluded: tuple[str, ...]
    missed: dict[int, tuple[str, ...]]
    ground_truth: tuple[tuple[str, ...], ...] = field(repr=False)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@functools.cache
def load_entries(category: str = "base") -> tuple[BFCLEntry, ...]:
    """Read one multi-turn category (questions and ground truth) from the wheel.

    Example:
        >>> entries = load_entries("base")
        >>> len(entries), entries[0].id, entries[0].involved_classes
        (200, 'multi_turn_base_0', ('TwitterAPI', 'GorillaFileSystem'))
    """
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
    root = data_dir()
    name = f"BFCL_v4_multi_turn_{category}.json"
    questions = _read_jsonl(root / name)
    answers = {
        row["id"]: row["ground_truth"] for row in _read_jsonl(root / "possible_answer" / name)
    }
    entries = []
    for row in questions:
        turns = tuple(
            tuple(m.get("content", "") for m in turn if m.get("role") == "user")
            for turn in row["question"]
        )
        entries.append(
            BFCLEntry(
                id=row["id"],
                turns=turns,
                initial_config=row.get("initial_config", {}),
                involved_classes=tuple(row["involved_classes"]),
                excluded=tuple(row.get("excluded_function", ())),
                missed={int(k): tuple(v) for k, v in row.get("missed_function", {}).items()},
                ground_truth=tuple(tuple(turn) for turn in answers[row["id"]]),
            )
        )
    return tuple(entries)


@functools.cache
def function_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    """Return BFCL's function docs of one API class (one dict per function)."""
    return tuple(_read_jsonl(data_dir() / "multi_turn_func_doc" / _CLASSES[class_name][1]))


def _convert(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_convert(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if _TYPES.get(value, value) is not None:
                out[key] = _TYPES.get(value, value)
        else:
            out[key] = _convert(value)
    return out


def _description(doc: dict[str, Any]) -> str:
    text = str(doc.get("description", ""))
    marker = "Tool description: "
    return text.split(marker, 1)[1].strip() if marker in text else text.strip()


def to_openai_schema(doc: dict[str, Any]) -> dict[str, Any]:
    """Turn a BFCL function doc into an OpenAI function-calling schema.

    BFCL's types ``dict``/``float``/``tuple`` become ``object``/``number``/``array``;
    ``any`` drops the type.

    Example:
        >>> doc = {"name": "cd", "description": "x. Tool description: Change directory.",
        ...        "parameters": {"type": "dict", "properties": {
        ...            "folder": {"type": "string", "description": "Where."}},
        ...            "required": ["folder"]}}
        >>> schema = to_openai_schema(doc)["function"]
        >>> schema["description"], schema["parameters"]["type"]
        ('Change directory.', 'object')
    """
    parameters = _convert(doc.get("parameters") or {"type": "dict", "properties": {}})
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    return {
        "type": "function",
        "function": {
            "name": doc["name"],
            "description": _description(doc),
            "parameters": parameters,
        },
    }


def _signature(doc: dict[str, Any], chars: int) -> str:
    params = (doc.get("parameters") or {}).get("properties", {})
    required = set((doc.get("parameters") or {}).get("required", []))
    args = []
    for name, spec in params.items():
        kind = _SHORT.get(str(spec.get("type", "")), "any")
        default = "" if name in required else f" = {spec.get('default', None)!r}"
        args.append(f"{name}: {kind}{default}")
    text = _description(doc)
    if len(text) > chars:
        text = text[: chars - 3].rstrip() + "..."
    return f"{doc['name']}({', '.join(args)}) - {text}"


def render_result(value: Any) -> str:
    """Render a function's result as BFCL compares it (str as is, dict as JSON, else str).

    Example:
        >>> render_result({"result": 3}), render_result([1, 2]), render_result("ok")
        ('{"result": 3}', '[1, 2]', 'ok')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _public_state(instance: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > _MAX_INT
    if isinstance(value, float):
        return not math.isfinite(value) or abs(value) > _MAX_INT
    if isinstance(value, list):
        return any(_too_big(v) for v in value)
    if isinstance(value, dict):
        return any(_too_big(v) for v in value.values())
    return False


@dataclass(frozen=True)
class CallRecord:
    """One executed (or refused) call as the observation shows it."""

    call: str
    result: str
    status: str  # "ok", "error" (the function answered with an error) or "invalid"


@dataclass
class BFCLState:
    """A snapshot of an episode: both sets of API instances and the counters."""

    index: int
    model: dict[str, Any]
    truth: dict[str, Any]
    turn: int
    turn_calls: list[str]
    calls: list[CallRecord]
    results: list[str]
    turn_success: list[bool]
    counters: tuple[int, int, int, int, int]
    done: bool


class BFCLMultiTurnEnv(TextRendering, gym.Env[str, str]):
    """Serve BFCL's multi-turn requests with BFCL's executable APIs, one call per action.

    ## Description
    Each episode is one BFCL multi-turn entry: a user asks for something over several
    turns, and the agent acts on BFCL's Python API instances (file system, messaging,
    trading, travel, vehicle, ...), loaded from the entry's initial configuration. A turn
    ends when the agent calls ``end_turn()``; it is then checked the way BFCL checks it
    (see the module docstring): state equal to the ground truth's, the ground truth's
    results among the agent's, at least one call made.

    ## Observation Space
    ``PermissiveText``: the entry id and turn, the earlier user turns, this turn's
    request, the functions on offer (one line each, plus ``end_turn()``), and the calls
    of this turn with their (cut) results.

    ## Action Space
    ``PermissiveText``: one call, call syntax ``cd(folder="document")`` (read with
    ``ast``, constants, lists and dicts only; positional arguments allowed) or JSON
    ``{"name": ..., "arguments": {...}}``; ``end_turn()`` ends the turn. Unreadable text,
    an unknown function or arguments that do not fit the function are flagged
    (``info["invalid_call"]``), counted and answered with ``Error: ...``, never raised.
    A function that fails answers ``Error during execution: ...`` (as in BFCL).

    ## Rewards
    0 per step; at the end of the last turn 1 if every turn passed, else 0.
    ``info["turn_success"]`` holds the per-turn results, ``info["progress"]`` the share
    of turns passed.

    ## Termination
    Terminates when the last turn ends. A turn is ended for the agent after
    ``max_steps_per_turn`` steps (the turn then fails, as BFCL fails an entry past its
    limit of 20 model replies; a reply may hold several calls, and one long-context turn
    needs 34 calls, so the default is 40) or after
    ``max_invalid_in_row`` invalid calls in a row (like a reply without a call in BFCL;
    the turn is checked as it stands).

    ## Registered Configurations
    ``densegym/BFCL-MultiTurn-v0``: category ``base`` (200 entries, at most 16 oracle
    steps; ``max_episode_steps=64``), extra ``tools``.

    Args:
        category: ``"base"``, ``"long_context"``, ``"miss_param"`` or ``"miss_func"``.
        entries: restrict resets to these entries (BFCL ids or indices).
        max_steps_per_turn: steps after which a turn is ended for the agent (and fails).
        max_invalid_in_row: invalid calls in a row that end the turn.
        history: calls of the current turn shown in the observation.
        max_result_chars: each result is cut to this many characters in the observation.
        doc_chars: each function's description is cut to this many characters.
        max_call_chars: longer actions are invalid (BFCL's long-context calls reach 7,000).
        max_observation_chars: the observation's length bound.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.

    Example:
        >>> env = BFCLMultiTurnEnv(entries=["multi_turn_base_0"])
        >>> _ = env.reset(seed=0)
        >>> env.oracle_step()
        "cd(folder='document')"
        >>> branch = env.clone()
        >>> while True:
        ...     *_, terminated, truncated, info = branch.step(branch.oracle_step())
        ...     if terminated or truncated:
        ...         break
        >>> info["is_success"], info["turn_success"], env.calls
        (True, [True, True, True, True], ())
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 1}
    #: ``shaping="potential"`` uses Φ = turns passed / turns (``tool_progress``);
    #: ``oracle_distance`` (Φ = −ground-truth steps left / all) also fits.
    default_potential: ClassVar[str] = "tool_progress"

    def __init__(
        self,
        *,
        category: str = "base",
        entries: Sequence[str | int] | None = None,
        max_steps_per_turn: int = 40,
        max_invalid_in_row: int = 3,
        history: int = 8,
        max_result_chars: int = 600,
        doc_chars: int = 160,
        max_call_chars: int = 4 * MAX_CALL_CHARS,
        max_observation_chars: int = 32768,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if min(max_steps_per_turn, max_invalid_in_row, history) < 1:
            raise ValueError("max_steps_per_turn, max_invalid_in_row and history must be >= 1")
        self.category = category
        self.entries = load_entries(category)
        by_id = {entry.id: i for i, entry in enumerate(self.entries)}
        if entries is None:
            self.pool = tuple(range(len(self.entries)))
        else:
            pool = []
            for item in entries:
                if isinstance(item, str) and item in by_id:
                    pool.append(by_id[item])
                elif isinstance(item, int) and 0 <= item < len(self.entries):
                    pool.append(item)
                else:
                    raise ValueError(f"no BFCL {category} entry {item!r}")
            if not pool:
                raise ValueError("entries is empty")
            self.pool = tuple(pool)
        self.max_steps_per_turn = int(max_steps_per_turn)
        self.max_invalid_in_row = int(max_invalid_in_row)
        self.history = int(history)
        self.max_result_chars = int(max_result_chars)
        self.doc_chars = int(doc_chars)
        self.max_call_chars = int(max_call_chars)
        self.max_observation_chars = int(max_observation_chars)
        self.render_mode = render_mode
        self.observation_space = PermissiveText(max_length=self.max_observation_chars)
        self.action_space = PermissiveText(max_length=self.max_call_chars)
        self.entry: BFCLEntry | None = None
        self._index = -1
        self._model: dict[str, Any] = {}
        self._truth: dict[str, Any] = {}
        self._new_episode_state()

    def _new_episode_state(self) -> None:
        self._turn = 0
        self._turn_calls: list[str] = []  # canonical keys of this turn's executed calls
        self._calls: list[CallRecord] = []  # this turn's records (observation)
        self._results: list[str] = []  # every executed result, all turns (response check)
        self._turn_success: list[bool] = []
        self._n_invalid = self._invalid_streak = self._n_tool_errors = self._n_calls = 0
        self._turn_steps = 0
        self._done = False
        self._last_checks: dict[str, Any] = {}

    # -- the APIs -----------------------------------------------------------------
    def _instances(self, entry: BFCLEntry) -> dict[str, Any]:
        out = {}
        for name in entry.involved_classes:
            instance = api_class(name)()
            if name not in _STATELESS:
                config = copy.deepcopy(entry.initial_config.get(name, {}))
                instance._load_scenario(config, long_context=self.category == "long_context")
            out[name] = instance
        return out

    def _visible_docs(self) -> dict[str, dict[str, Any]]:
        """The function docs on offer at the current turn (by function name)."""
        entry = self._require_entry()
        hidden = set(entry.excluded)
        for turn, names in entry.missed.items():
            if turn > self._turn:
                hidden.update(names)
        docs = {}
        for class_name in entry.involved_classes:
            for doc in function_docs(class_name):
                if doc["name"] not in hidden:
                    docs[doc["name"]] = doc
        return docs

    @staticmethod
    def _method(instances: dict[str, Any], name: str) -> Any:
        """The bound method ``name`` (a later class wins a name clash, as in BFCL)."""
        found = None
        for instance in instances.values():
            method = getattr(instance, name, None)
            if not name.startswith("_") and inspect.ismethod(method):
                found = method
        return found

    def _bind(
        self, instances: dict[str, Any], text: str, docs: dict[str, Any] | None
    ) -> tuple[str, Any, inspect.BoundArguments | None, str]:
        """Read a call against ``instances``: ``(name, method, arguments, error)``."""
        parsed = parse_call(text, self.max_call_chars, allow_dicts=True)
        if not parsed.ok:
            return "", None, None, parsed.error
        name = parsed.name
        if name == END_TURN:
            return name, None, None, ""
        if docs is not None and name not in docs:
            return name[:64], None, None, f"unknown function {name[:64]!r}"
        method = self._method(instances, name)
        if method is None:
            return name[:64], None, None, f"unknown function {name[:64]!r}"
        try:
            bound = inspect.signature(method).bind(*parsed.positional, **parsed.arguments)
        except TypeError as error:
            return name, None, None, f"{name}: {error}"
        for key, limit in _BOUNDS.items():
            value = bound.arguments.get(key)
            if isinstance(value, (int, float)) and abs(value) > limit:
                return name, None, None, f"{name}: '{key}' is limited to {limit}"
        if any(_too_big(v) for v in bound.arguments.values()):
            return name, None, None, f"{name}: numbers are limited to {_MAX_INT:.0e}"
        return name, method, bound, ""

    @staticmethod
    def _key(name: str, bound: inspect.BoundArguments) -> str:
        return f"{name}({json.dumps(dict(bound.arguments), sort_keys=True, default=str)})"

    @staticmethod
    def _run(method: Any, bound: inspect.BoundArguments) -> tuple[str, bool]:
        """Run a call; return its rendered result and whether it failed."""
        try:
            value = method(*bound.args, **bound.kwargs)
        except Exception as error:  # the API's own failure is the call's answer, as in BFCL
            return f"Error during execution: {error}", True
        text = render_result(value)
        failed = isinstance(value, dict) and "error" in value
        return text, failed

    # -- public helpers -----------------------------------------------------------
    @property
    def task(self) -> dict[str, Any]:
        """Machine-readable description of the current task (for LLM modules).

        Keys: ``id``, ``goal``, ``category``, ``entry``, ``turns`` (the user's messages
        per turn), ``turn``, ``tools`` (OpenAI function schemas on offer now, with
        ``end_turn``), ``action_format``, ``reward``, ``info``.
        """
        data: dict[str, Any] = {
            "id": "BFCL-MultiTurn",
            "goal": "Serve each user turn by calling functions, one call per action; end "
            "each turn with end_turn().",
            "category": self.category,
            "action_format": 'name(arg="value") or {"name": ..., "arguments": {...}}',
            "reward": "1 when every turn passed BFCL's state and response checks, else 0",
            "info": dict(INFO_DOC),
        }
        if self.entry is not None:
            data.update(
                entry=self.entry.id,
                turns=[list(turn) for turn in self.entry.turns],
                turn=self._turn,
                tools=[to_openai_schema(d) for d in self._visible_docs().values()]
                + [copy.deepcopy(_END_TURN_SCHEMA)],
            )
        else:
            data["tools"] = [copy.deepcopy(_END_TURN_SCHEMA)]
        return data

    @property
    def calls(self) -> tuple[CallRecord, ...]:
        """Return the calls of the current turn."""
        return tuple(self._calls)

    @property
    def n_turns(self) -> int:
        """Return the number of turns of the current entry."""
        return len(self._require_entry().turns)

    def _oracle_position(self) -> int:
        """How many ground-truth calls of this turn the agent's calls cover, in order."""
        entry = self._require_entry()
        if self._turn >= len(entry.ground_truth):
            return 0
        matched, made = 0, iter(self._turn_calls)
        for text in entry.ground_truth[self._turn]:
            name, _, bound, error = self._bind(self._model, text, None)
            if error or bound is None or self._key(name, bound) not in made:
                break
            matched += 1
        return matched

    def oracle_step(self) -> str:
        """Return the ground truth's next call of this turn, or ``end_turn()``.

        The ground truth is replayed: its calls of this turn that the agent has not made
        yet (in order), then ``end_turn()``.
        """
        entry = self._require_entry()
        if self._done or self._turn >= len(entry.ground_truth):
            return f"{END_TURN}()"
        gold = entry.ground_truth[self._turn]
        position = self._oracle_position()
        return gold[position] if position < len(gold) else f"{END_TURN}()"

    def oracle_remaining(self) -> int:
        """Count the ground truth's steps from here (one ``end_turn()`` per turn included)."""
        entry = self._require_entry()
        if self._done:
            return 0
        gold = entry.ground_truth
        here = len(gold[self._turn]) - self._oracle_position() + 1
        return here + sum(len(turn) + 1 for turn in gold[self._turn + 1 :])

    def oracle_distance(self) -> float:
        """Return the oracle's steps left over all its steps, in [0, 1]."""
        total = sum(len(turn) + 1 for turn in self._require_entry().ground_truth)
        return min(1.0, self.oracle_remaining() / max(total, 1))

    def progress(self) -> float:
        """Return the share of turns passed so far."""
        return sum(self._turn_success) / max(self.n_turns, 1)

    def observation(self) -> str:
        """Return the current observation text."""
        return self._observation()

    # -- state for rollouts -------------------------------------------------------
    def get_state(self) -> BFCLState:
        """Snapshot the episode (a deep copy of both sets of API instances)."""
        self._require_entry()
        return BFCLState(
            index=self._index,
            model=copy.deepcopy(self._model),
            truth=copy.deepcopy(self._truth),
            turn=self._turn,
            turn_calls=list(self._turn_calls),
            calls=list(self._calls),
            results=list(self._results),
            turn_success=list(self._turn_success),
            counters=(
                self._n_invalid,
                self._invalid_streak,
                self._n_tool_errors,
                self._n_calls,
                self._turn_steps,
            ),
            done=self._done,
        )

    def set_state(self, state: BFCLState) -> None:
        """Restore a snapshot from :meth:`get_state` (it can be restored again later)."""
        self._index = state.index
        self.entry = self.entries[state.index]
        self._model = copy.deepcopy(state.model)
        self._truth = copy.deepcopy(state.truth)
        self._turn = state.turn
        self._turn_calls = list(state.turn_calls)
        self._calls = list(state.calls)
        self._results = list(state.results)
        self._turn_success = list(state.turn_success)
        (
            self._n_invalid,
            self._invalid_streak,
            self._n_tool_errors,
            self._n_calls,
            self._turn_steps,
        ) = state.counters
        self._done = state.done
        self._last_checks = {}

    def clone(self) -> BFCLMultiTurnEnv:
        """Copy this env in its current state."""
        new = copy.copy(self)
        new._np_random = copy.deepcopy(self._np_random) if self._np_random is not None else None
        new.render_mode = None
        new.set_state(self.get_state())
        return new

    # -- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an entry: drawn from the pool, or ``options={"entry": id_or_index}``."""
        super().reset(seed=seed)
        options = dict(options or {})
        choice = options.get("entry")
        if choice is None:
            index = self.pool[int(self.np_random.integers(len(self.pool)))]
        elif isinstance(choice, str):
            matches = [i for i, entry in enumerate(self.entries) if entry.id == choice]
            if not matches:
                raise ValueError(f"no BFCL {self.category} entry {choice!r}")
            index = matches[0]
        else:
            index = int(choice)
            if not 0 <= index < len(self.entries):
                raise ValueError(f"entry index {index} is out of range")
        self._index = index
        self.entry = self.entries[index]
        self._model = self._instances(self.entry)
        self._truth = self._instances(self.entry)
        self._new_episode_state()
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info({})

    def step(self, action: str):
        """Run one call; ``end_turn()`` ends the turn (the last one ends the episode)."""
        self._require_entry()
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
        step: dict[str, Any] = {}
        name, method, bound, error = self._bind(self._model, action, self._visible_docs())
        self._turn_steps += 1
        end_turn = False
        if error:
            self._n_invalid += 1
            self._invalid_streak += 1
            step["invalid_reason"] = error
            shown = f"{name}(...)" if name else "[unreadable call]"
            self._calls.append(CallRecord(shown, f"Error: {error}", "invalid"))
            step["tool"] = name if self._method(self._model, name) is not None else ""
        elif name == END_TURN:
            self._invalid_streak = 0
            end_turn = True
            step["tool"] = END_TURN
        else:
            self._invalid_streak = 0
            text, failed = self._run(method, bound)
            self._n_calls += 1
            self._results.append(text)
            self._turn_calls.append(self._key(name, bound))
            if failed:
                self._n_tool_errors += 1
                step["tool_error"] = True
            args = ", ".join(f"{k}={v!r}" for k, v in bound.arguments.items())
            self._calls.append(CallRecord(f"{name}({args})", text, "error" if failed else "ok"))
            step["tool"] = name
        forced = False
        if not end_turn and (
            self._invalid_streak >= self.max_invalid_in_row
            or self._turn_steps >= self.max_steps_per_turn
        ):
            end_turn = forced = True
            step["forced_end_turn"] = True
        reward, terminated = 0.0, False
        if end_turn:
            # BFCL fails an entry whose turn runs past its step limit.
            self._end_turn(failed=forced and self._turn_steps >= self.max_steps_per_turn)
            step["turn_ended"] = True
            if self._turn >= self.n_turns:
                self._done = terminated = True
                reward = float(all(self._turn_success))
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, False, self._info(step)

    def _render_ready(self) -> bool:
        return self.entry is not None

    # -- internals ----------------------------------------------------------------
    def _require_entry(self) -> BFCLEntry:
        if self.entry is None:
            raise gym.error.ResetNeeded("call reset() before using the env")
        return self.entry

    def _end_turn(self, failed: bool) -> None:
        """Run the ground truth of this turn and check the agent's turn against it."""
        entry = self._require_entry()
        gold = entry.ground_truth[self._turn] if self._turn < len(entry.ground_truth) else ()
        expected = []
        for text in gold:
            name, method, bound, error = self._bind(self._truth, text, None)
            expected.append(f"Error: {error}" if error else self._run(method, bound)[0])
        if not gold:  # nothing can be done this turn: BFCL does not check it
            checks = {"checked": False, "called": bool(self._turn_calls)}
            passed = True
        else:
            differ = sorted(
                f"{cls}.{attr}"
                for cls, truth in self._truth.items()
                for attr, value in _public_state(truth).items()
                if getattr(self._model[cls], attr, None) != value
            )
            missing = Counter(expected) - Counter(self._results)
            checks = {
                "checked": True,
                "called": bool(self._turn_calls),
                "state": not differ,
                "state_diff": differ,
                "response": not missing,
                "missing_results": sorted(missing),
                "forced_fail": failed,
            }
            passed = bool(self._turn_calls) and not differ and not missing and not failed
        self._turn_success.append(passed)
        self._last_checks = checks
        self._turn += 1
        self._turn_calls = []
        self._calls = []
        self._turn_steps = 0
        self._invalid_streak = 0

    def _observation(self) -> str:
        entry = self._require_entry()
        n = len(entry.turns)
        if self._done:
            passed = sum(self._turn_success)
            return f"BFCL {entry.id} - finished: {passed} of {n} turns passed"
        lines = [f"BFCL {entry.id} - turn {self._turn + 1} of {n}"]
        if self._turn:
            lines.append("Earlier turns:")
            for i, turn in enumerate(entry.turns[: self._turn], start=1):
                said = " ".join(turn) or _MORE_FUNCTIONS
                lines.append(f"{i}. {said[:300]}")
        request = " ".join(entry.turns[self._turn]) or _MORE_FUNCTIONS
        lines += [f"User: {request}", "Functions:"]
        lines += [f"- {_signature(doc, self.doc_chars)}" for doc in self._visible_docs().values()]
        lines += [
            f"- {END_TURN}() - End your turn (the request is done, or cannot be done).",
            "Call one function per step: name(arg=value, ...) or "
            '{"name": ..., "arguments": {...}}; then end_turn().',
            "",
        ]
        records = []
        for i, record in enumerate(self._calls, start=1):
            result = record.result
            if len(result) > self.max_result_chars:
                result = result[: self.max_result_chars] + " ...[cut]"
            records.append(f"{i}. {record.call}\n   -> {result}")
        head = "\n".join(lines)
        first = max(0, len(records) - self.history)
        while True:
            shown = records[first:]
            tail = [f"Calls this turn: {len(records)}"]
            if first:
                tail.append(f"({first} earlier calls omitted)")
            text = "\n".join([head, *tail, *(shown or ["(none)"])])
            if len(text) <= self.max_observation_chars or first >= len(records):
                return text[: self.max_observation_chars]
            first += 1

    def _info(self, step: dict[str, Any]) -> dict[str, Any]:
        progress = self.progress()
        return {
            "is_success": bool(self._done and all(self._turn_success)),
            "turn": self._turn,
            "turn_ended": step.get("turn_ended", False),
            "turn_success": list(self._turn_success),
            "turn_checks": dict(self._last_checks) if step.get("turn_ended") else {},
            "tool": step.get("tool", ""),
            "invalid_call": "invalid_reason" in step,
            "invalid_reason": step.get("invalid_reason", ""),
            "n_invalid": self._n_invalid,
            "invalid_streak": self._invalid_streak,
            "tool_error": step.get("tool_error", False),
            "n_tool_errors": self._n_tool_errors,
            "forced_end_turn": step.get("forced_end_turn", False),
            "n_calls": self._n_calls,
            "progress": float(progress),
            "score": float(progress),
            "oracle_remaining": self.oracle_remaining(),
        }
