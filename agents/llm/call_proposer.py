"""Candidate tool calls for search agents: grounded ones, or K samples from an LLM.

A search agent over tool calls (A*, ``best_of_n``, ``q_select`` in their tool forms)
asks a *call proposer* for up to ``k`` candidate calls at a state of a tool env:

* :class:`GroundedProposer` — the env's grounded candidates
  (``env.unwrapped.candidate_actions``, ToolShop), no LLM;
* :class:`LLMCallProposer` — ``k`` samples of one ``llm.chat(..., tools=[schemas])`` call
  (the tools are the env's OpenAI schemas, ``env.unwrapped.task["tools"]``: ToolShop and
  BFCL alike). Each reply's first tool call is read (native tool calling, or the text
  fallback of :mod:`densegym.llm.tools` for models without a tool template), checked
  against the schemas (:func:`validate_call`: known name, required arguments present,
  no unknown ones, JSON types), deduplicated, and the rest padded with grounded
  candidates (the env's own, else the end-of-turn call when the env offers one, as
  BFCL's ``end_turn``) and cut to ``k``. Replies without a valid call are dropped and
  counted in :attr:`LLMCallProposer.stats`; ``votes`` says how many samples proposed
  each call (a self-consistency signal the agents may use as a cost).

Every candidate is one JSON action ``{"name": ..., "arguments": {...}}``, which every tool
env reads. Budgets (:class:`~densegym.agents.llm.search_parts.Budget`) are charged with
the samples, generated tokens, prompt tokens, LLM calls and seconds.

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/ToolShop-Lookup-v0")
    >>> _ = env.reset(seed=0)
    >>> proposer = make_call_proposer("llm:tiny-random", max_tokens=8)
    >>> calls = proposer.propose(env, k=3)
    >>> 1 <= len(calls) <= 3, proposer.stats.sampled, proposer.stats.valid + proposer.stats.invalid
    (True, 3, 3)
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from densegym.agents.llm.search_parts import Budget
from densegym.agents.llm.tool_policy import TOOL_SYSTEM_PROMPT, env_tools, tool_messages
from densegym.llm.tools import normalise_tools

__all__ = [
    "END_TURN_NAMES",
    "CallProposer",
    "GroundedProposer",
    "LLMCallProposer",
    "ProposerStats",
    "fallback_call",
    "make_call_proposer",
    "validate_call",
    "vote_cost",
]

#: Names of calls that end the agent's turn (or episode) without acting: grounded
#: padding where the env has no candidate enumerator.
END_TURN_NAMES = ("end_turn",)

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def _action(name: str, arguments: Mapping[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": dict(arguments)}, sort_keys=True)


def _fits(value: Any, spec: Any) -> bool:
    if not isinstance(spec, Mapping):
        return True
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if value is None:
        return "null" in kinds or kind is None
    ok = kind is None or any(
        isinstance(value, _TYPES.get(k, object))
        and not (k in ("integer", "number") and isinstance(value, bool))
        for k in kinds
        if k != "null"
    )
    if ok and "enum" in spec and isinstance(spec["enum"], list):
        ok = value in spec["enum"]
    return ok


def validate_call(
    name: str, arguments: Mapping[str, Any], tools: Sequence[Mapping[str, Any]]
) -> str:
    """Check one call against OpenAI function schemas; return ``""`` or why it is invalid.

    Example:
        >>> tools = [{"name": "cd", "parameters": {"type": "object",
        ...           "properties": {"folder": {"type": "string"}}, "required": ["folder"]}}]
        >>> validate_call("cd", {"folder": "docs"}, tools)
        ''
        >>> validate_call("cd", {}, tools), validate_call("cd", {"folder": 3}, tools)
        ("cd: missing 'folder'", "cd: 'folder' is not string")
        >>> validate_call("rm", {}, tools)
        "unknown function 'rm'"
    """
    schemas = {t["function"]["name"]: t["function"] for t in normalise_tools(tools)}
    if name not in schemas:
        return f"unknown function {name[:64]!r}"
    parameters = schemas[name]["parameters"]
    properties = parameters.get("properties") or {}
    for required in parameters.get("required") or ():
        if required not in arguments:
            return f"{name}: missing {required!r}"
    for key, value in arguments.items():
        if key not in properties:
            if parameters.get("additionalProperties") is True:
                continue
            return f"{name}: unknown argument {str(key)[:64]!r}"
        if not _fits(value, properties[key]):
            return f"{name}: {key!r} is not {properties[key].get('type')}"
    return ""


def fallback_call(env: Any) -> str | None:
    """A call that is always valid and costs no generation: a grounded candidate or ``end_turn``.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/ToolShop-Lookup-v0")
        >>> _ = env.reset(seed=0)
        >>> fallback_call(env).startswith("{")
        True
    """
    grounded = _grounded(env, 1)
    return grounded[0] if grounded else None


def _grounded(env: Any, k: int) -> list[str]:
    base = getattr(env, "unwrapped", env)
    if k <= 0:
        return []
    enumerate_calls = getattr(base, "candidate_actions", None)
    if callable(enumerate_calls):
        return list(enumerate_calls(k))[:k]
    names = {t["function"]["name"] for t in normalise_tools(env_tools(base) or [])}
    return [_action(name, {}) for name in END_TURN_NAMES if name in names][:k]


@dataclass
class ProposerStats:
    """What a proposer did, summed over its calls.

    Attributes:
        requests: ``propose`` calls.
        sampled: LLM samples drawn.
        valid: samples with a call that fits the schemas.
        invalid: samples without one (no call, unknown function, bad arguments): dropped.
        duplicates: valid samples equal to an earlier one of the same request.
        padded: grounded candidates added to reach ``k``.
    """

    requests: int = 0
    sampled: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    padded: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        return asdict(self)


class CallProposer:
    """Base class: ``propose(env, k, budget)`` returns up to ``k`` distinct JSON calls.

    ``votes`` maps each call of the last request to how many samples proposed it (0 for
    padding); ``stats`` sums what every request did.
    """

    #: Whether it samples from an LLM.
    uses_llm = False

    def __init__(self) -> None:
        self.stats = ProposerStats()
        self.votes: dict[str, int] = {}

    def propose(self, env: Any, k: int, budget: Budget | None = None) -> list[str]:
        """Return up to ``k`` distinct candidate calls at ``env``'s current state."""
        raise NotImplementedError

    def share(self, call: str) -> float:
        """The share of the last request's valid samples that proposed ``call`` (0..1)."""
        total = sum(self.votes.values())
        return self.votes.get(call, 0) / total if total else 0.0


class GroundedProposer(CallProposer):
    """The env's grounded candidates (``candidate_actions``), else its end-of-turn call.

    Args:
        include_oracle: ask the env to include the oracle's next call (tests only).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/ToolShop-Orders-v0")
        >>> _ = env.reset(seed=0)
        >>> calls = GroundedProposer().propose(env, 4)
        >>> 1 <= len(calls) <= 4 and len(set(calls)) == len(calls)
        True
    """

    def __init__(self, include_oracle: bool = False):
        super().__init__()
        self.include_oracle = bool(include_oracle)

    def propose(self, env: Any, k: int, budget: Budget | None = None) -> list[str]:
        """Return up to ``k`` grounded candidates (charged as steps and their words)."""
        budget = budget if budget is not None else Budget()
        wanted = budget.allow(int(k))
        self.stats.requests += 1
        base = getattr(env, "unwrapped", env)
        if not wanted:
            return []
        if self.include_oracle and callable(getattr(base, "candidate_actions", None)):
            calls = list(base.candidate_actions(wanted, include_oracle=True))
        else:
            calls = _grounded(base, wanted)
        calls = list(dict.fromkeys(calls))[:wanted]
        self.stats.padded += len(calls)
        self.votes = dict.fromkeys(calls, 0)
        budget.charge(steps=len(calls), tokens=sum(len(c.split()) for c in calls))
        return calls


class LLMCallProposer(CallProposer):
    """``k`` calls sampled from a ``densegym.llm`` backend through ``chat(..., tools=...)``.

    Args:
        llm: a spec for :func:`densegym.llm.load` (``"smollm2"``, ``"llm:smollm2"``,
            ``"tiny-random"``) or a loaded backend.
        temperature: sampling temperature (0: greedy; then one sample is drawn and the
            rest is padding).
        max_tokens: tokens per sampled reply.
        seed: base seed; each request uses the next one, so samples differ per state.
        pad: pad towards ``k`` with distinct grounded candidates (the env's own, else
            ``end_turn``); where there are fewer, fewer than ``k`` calls come back.
        compact: leave the observation's function list out of the prompt (the schemas are
            sent as ``tools`` already; this halves BFCL's prompts).
        system: the system instruction.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/ToolShop-Orders-v0")
        >>> _ = env.reset(seed=0)
        >>> proposer = LLMCallProposer("tiny-random", max_tokens=8, pad=False)
        >>> budget = Budget(max_tokens=8)
        >>> _ = proposer.propose(env, 4, budget)
        >>> proposer.propose(env, 4, budget), budget.tokens <= 8 * 4
        ([], True)
    """

    uses_llm = True

    def __init__(
        self,
        llm: Any = "smollm2",
        *,
        temperature: float = 0.8,
        max_tokens: int = 64,
        seed: int = 0,
        pad: bool = True,
        compact: bool = True,
        system: str = TOOL_SYSTEM_PROMPT,
    ):
        super().__init__()
        if isinstance(llm, str):
            from densegym.llm import load

            llm = load(llm[4:] if llm.startswith("llm:") else llm)
        if not callable(getattr(llm, "chat", None)):
            raise TypeError(f"LLMCallProposer needs a backend with chat(...), got {llm!r}")
        self.llm = llm
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.seed = int(seed)
        self.pad = bool(pad)
        self.compact = bool(compact)
        self.system = system
        self._requests = 0

    def messages(self, env: Any) -> list[dict[str, str]]:
        """The chat messages for the env's current state."""
        base = getattr(env, "unwrapped", env)
        observation = base.observation() if callable(getattr(base, "observation", None)) else ""
        if self.compact:
            observation = _without_function_list(observation)
        return tool_messages(observation, self.system)

    def propose(self, env: Any, k: int, budget: Budget | None = None) -> list[str]:
        """Sample, validate, deduplicate and pad up to ``k`` calls (see the class docs)."""
        budget = budget if budget is not None else Budget()
        k = int(k)
        wanted = budget.allow(k)
        self.stats.requests += 1
        self.votes = {}
        if not wanted:
            return []
        tools = env_tools(env) or []
        n = 1 if self.temperature <= 0 else wanted
        usage = getattr(self.llm, "usage", None)
        before = usage.snapshot() if usage is not None else None
        started = time.perf_counter()
        completions = self.llm.chat(
            [self.messages(env)],
            n=n,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=self.seed + self._requests,
            tools=tools,
        )
        self._requests += 1
        seconds = time.perf_counter() - started
        if before is not None:
            spent = usage.since(before)
            tokens, prompt = spent.completion_tokens, spent.prompt_tokens
        else:  # pragma: no cover - a backend without usage counters
            tokens = sum(c.completion_tokens for c in completions)
            prompt = completions[0].prompt_tokens if completions else 0
        budget.charge(steps=n, tokens=tokens, calls=1, prompt_tokens=prompt, seconds=seconds)
        votes: Counter[str] = Counter()
        for completion in completions:
            self.stats.sampled += 1
            calls = getattr(completion, "tool_calls", ()) or ()
            if not calls or validate_call(calls[0].name, calls[0].arguments, tools):
                self.stats.invalid += 1
                continue
            self.stats.valid += 1
            action = _action(calls[0].name, calls[0].arguments)
            if action in votes:
                self.stats.duplicates += 1
            votes[action] += 1
        out = [call for call, _ in votes.most_common()][:wanted]
        if self.pad and len(out) < wanted:
            for call in _grounded(env, wanted):
                if len(out) >= wanted:
                    break
                if call not in votes:
                    out.append(call)
                    self.stats.padded += 1
        self.votes = {call: votes.get(call, 0) for call in out}
        return out


def _without_function_list(observation: str) -> str:
    """Drop the ``Functions:`` block of an observation (it ends at a blank line)."""
    lines, out, skipping = observation.splitlines(), [], False
    for line in lines:
        if line.strip() == "Functions:":
            skipping = True
            continue
        if skipping and not line.strip():
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


def make_call_proposer(spec: Any = "grounded", **kwargs: Any) -> CallProposer:
    """Build a proposer: ``"grounded"``, an LLM spec / loaded backend, or a proposer.

    ``kwargs`` go to :class:`LLMCallProposer` (``temperature``, ``max_tokens``, ``seed``,
    ``pad``, ``compact``) or to :class:`GroundedProposer` (``include_oracle``).

    Example:
        >>> type(make_call_proposer("grounded")).__name__
        'GroundedProposer'
        >>> make_call_proposer("oracle-0.7")
        Traceback (most recent call last):
        ...
        ValueError: tool envs take proposer='grounded' or an LLM spec, not the prover spec ...
    """
    if isinstance(spec, CallProposer):
        return spec
    if spec == "grounded":
        return GroundedProposer(include_oracle=bool(kwargs.get("include_oracle", False)))
    if isinstance(spec, str) and spec.startswith("oracle"):
        raise ValueError(
            f"tool envs take proposer='grounded' or an LLM spec, not the prover spec {spec!r}"
        )
    kwargs.pop("include_oracle", None)
    return LLMCallProposer(spec, **kwargs)


def vote_cost(share: float, weight: float) -> float:
    """The cost of a call that a share ``share`` of the samples proposed: ``weight·(1-share)``.

    Example:
        >>> vote_cost(1.0, 2.0), vote_cost(0.25, 2.0)
        (0.0, 1.5)
    """
    return float(weight) * (1.0 - min(max(float(share), 0.0), 1.0)) if math.isfinite(share) else 0.0
