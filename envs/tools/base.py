"""The tool-use env: one tool call per action over a shop world in SQLite.

Families subclass :class:`ToolEnv` and only say how to draw a task
(:meth:`ToolEnv._generate`); calls, transport, checking, the oracle and snapshots are
shared.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym

from densegym.envs.tools.calls import MAX_CALL_CHARS, parse_call
from densegym.envs.tools.candidates import grounded_calls
from densegym.envs.tools.catalog import Catalog, catalog_for_seed
from densegym.envs.tools.step_chain import wrong_call
from densegym.envs.tools.tasks import (
    Evaluation,
    PlanStep,
    ToolTask,
    answers_match,
    call_key,
    evaluate,
    replan,
)
from densegym.envs.tools.tools import CORE_TOOLS, POLICY, ToolResult, toolset
from densegym.envs.tools.transport import HttpTransport, InProcTransport
from densegym.envs.tools.world import WorldDiff, connect_bytes, world_for_seed
from densegym.spaces import PermissiveText
from densegym.text_render import TextRendering

__all__ = ["CallRecord", "ToolEnv", "ToolState"]

#: Info fields every tool env reports (also in ``env.unwrapped.task["info"]``).
INFO_DOC = {
    "is_success": "bool: the episode ended with the task done (never the shaped reward)",
    "tool": "str: the tool called ('' when the call was unreadable)",
    "invalid_call": "bool: unreadable text, unknown tool or arguments that do not fit",
    "invalid_reason": "str: why the call was invalid ('' when valid)",
    "n_invalid": "int: invalid calls so far",
    "invalid_streak": "int: invalid calls in a row (K in a row truncate)",
    "tool_error": "bool: the tool refused the call (not found, policy violation)",
    "n_tool_errors": "int: refused calls so far",
    "call_cost": "float: the tool's cost for this call (0 for an unreadable call)",
    "total_cost": "float: summed cost so far",
    "n_calls": "int: calls so far",
    "wrote": "bool: the call changed the world",
    "progress": "float in [0, 1]: verifier predicates (or facts) satisfied / all",
    "score": "float in [0, 1]: partial credit (collateral changes lower it)",
    "oracle_remaining": "int: calls the oracle needs from here (-1: the task is lost)",
    "difficulty": "int: the task's level",
}


@dataclass(frozen=True)
class CallRecord:
    """One call as the observation shows it.

    Attributes:
        call: the call in canonical form, or ``[unreadable call]``.
        result: the result text (``Error: ...`` for refused or invalid calls).
        status: ``ok``, ``error`` or ``invalid``.
    """

    call: str
    result: str
    status: str


@dataclass(frozen=True)
class ToolState:
    """A snapshot of an episode: the task, the world's bytes and the call history."""

    task: ToolTask
    data: bytes
    calls: tuple[CallRecord, ...]
    seen: str
    done_calls: frozenset[str]
    counters: tuple[int, int, int, int]
    total_cost: float
    done: bool
    success: bool
    answered: bool
    dirty: bool
    #: ``(env class, constructor kwargs)`` so :meth:`to_env` can continue the episode.
    env_config: tuple[type, tuple[tuple[str, Any], ...]] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def steps(self) -> tuple[str, ...]:
        """The calls made so far in canonical form, one step each (``HasStepChain``)."""
        return tuple(record.call for record in self.calls)

    @property
    def question(self) -> str:
        """The request (what process-reward models condition on)."""
        return self.task.request

    def to_env(self) -> ToolEnv:
        """Return a fresh in-process env that continues this episode (for prover rollouts).

        Example:
            >>> from densegym.envs.tools import LookupEnv
            >>> env = LookupEnv(); _ = env.reset(seed=1)
            >>> _ = env.step(env.oracle_step())
            >>> copy = env.get_state().to_env()
            >>> copy.steps == env.steps, copy is not env
            (True, True)
        """
        if self.env_config is None:
            raise ValueError("this ToolState does not name its env; use env.set_state(state)")
        cls, kwargs = self.env_config
        env = cls(**{**dict(kwargs), "transport": "inproc", "render_mode": None})
        env.set_state(self)
        return env


def _render_call(name: str, arguments: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in arguments.items())
    return f"{name}({args})"


class ToolEnv(TextRendering, gym.Env[str, str]):
    """Serve a customer request by calling tools over a shop world, one call per action.

    ## Description
    The shared base of densegym's tool-use tasks. The world is a generated shop in
    SQLite (users, payment methods, settings, products with variants and stock, orders
    with items and payment history); each reset restores it from its serialised bytes,
    so no episode sees another's writes. Tools are plain functions with OpenAI
    function-calling schemas (``env.unwrapped.task["tools"]``); write tools enforce a
    written policy and answer a violation with ``Error: policy: ...``, writing nothing.
    With ``transport="http"`` every call goes through a real local HTTP API
    (``POST /api/<tool>`` on 127.0.0.1) and gives the same episode.

    ## Observation Space
    ``PermissiveText``: the request, the policy, the tool signatures, then the last
    ``history`` calls with their results (cut to ``max_result_chars``).

    ## Action Space
    ``PermissiveText``: one tool call, JSON ``{"name": ..., "arguments": {...}}`` or call
    syntax ``get_order(order_id="#W1234567")`` (read with ``ast``, constants only).
    Unreadable text, an unknown tool or arguments that do not fit the schema are
    flagged (``info["invalid_call"]``), counted and answered with ``Error: ...``; the
    episode goes on, but ``max_invalid_in_row`` invalid calls in a row truncate it.

    ## Rewards
    0 per step; 1 on the final call when the task is done, else 0. ``info["progress"]``,
    ``info["score"]`` and ``info["oracle_remaining"]`` are there for shapers;
    ``shaping="potential"`` uses Φ = progress (``default_potential``), and
    ``{"id": "potential", "potential": "oracle_distance"}`` Φ = −oracle distance.

    ## Termination
    Terminates on ``answer(...)`` or ``report_infeasible(...)``; truncates after
    ``max_invalid_in_row`` invalid calls in a row. The registered specs also truncate
    at their ``max_episode_steps``.

    ## Registered Configurations
    See the families: ``densegym/ToolShop-Lookup-v0``, ``densegym/ToolShop-Orders-v0``.

    Args:
        difficulty: the level of new tasks (``None``: drawn uniformly from ``levels``).
        world_seed: the seed of the first world.
        n_worlds: tasks are drawn over worlds ``world_seed .. world_seed + n_worlds - 1``.
        n_distractors: near-duplicate and off-domain tools added to the tool list.
        transport: ``"inproc"`` or ``"http"``.
        infeasible_rate: share of infeasible tasks.
        max_invalid_in_row: invalid calls in a row that truncate the episode.
        history: calls shown in the observation.
        max_result_chars: each result is cut to this many characters in the observation.
        max_call_chars: longer actions are invalid.
        max_observation_chars: the observation's length bound.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.

    Example:
        >>> from densegym.envs.tools import OrdersEnv
        >>> env = OrdersEnv(difficulty=2)
        >>> _ = env.reset(seed=0)
        >>> snapshot = env.get_state()           # the world's bytes: microseconds
        >>> branch = env.clone()                 # an independent copy
        >>> _, _, _, _, info = branch.step(branch.oracle_step())
        >>> info["oracle_remaining"] == env.oracle_remaining() - 1
        True
        >>> _, _, _, _, info = env.step("get_order(order_id=#W1)")
        >>> info["invalid_call"], info["n_invalid"]
        (True, 1)
        >>> env.set_state(snapshot)
        >>> env.calls
        ()
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 1}
    #: Family name used in ``task["id"]``.
    family_id: ClassVar[str] = "ToolShop"
    #: Difficulty levels.
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3)
    #: The potential ``shaping="potential"`` uses (``densegym.rewards.potential``):
    #: Φ = :meth:`progress`; ``"oracle_distance"`` (Φ = −:meth:`oracle_distance`) also fits.
    default_potential: ClassVar[str] = "tool_progress"
    #: The prompt an LLM prover (``pav`` with ``prover="llm:..."``) continues an episode with.
    prover_prompt: ClassVar[str] = (
        "You serve a shop customer by calling tools. Write only the next tool call, on one "
        'line, for example get_order(order_id="#W1234567"); finish with answer(answer="...") '
        'or report_infeasible(reason="...").\n\n{observation}\n\nNext call:'
    )

    def __init__(
        self,
        *,
        difficulty: int | None = None,
        world_seed: int = 0,
        n_worlds: int = 1,
        n_distractors: int = 0,
        transport: str = "inproc",
        infeasible_rate: float = 0.07,
        max_invalid_in_row: int = 3,
        history: int = 8,
        max_result_chars: int = 800,
        max_call_chars: int = MAX_CALL_CHARS,
        max_observation_chars: int = 32768,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if difficulty is not None and difficulty not in self.levels:
            raise ValueError(
                f"{self.family_id}: difficulty must be one of {self.levels}, got {difficulty!r}"
            )
        if transport not in ("inproc", "http"):
            raise ValueError(f"transport must be 'inproc' or 'http', got {transport!r}")
        if n_worlds < 1 or max_invalid_in_row < 1 or history < 1:
            raise ValueError("n_worlds, max_invalid_in_row and history must be at least 1")
        self._config = (
            type(self),
            tuple(
                {
                    "difficulty": difficulty,
                    "world_seed": world_seed,
                    "n_worlds": n_worlds,
                    "n_distractors": n_distractors,
                    "infeasible_rate": infeasible_rate,
                    "max_invalid_in_row": max_invalid_in_row,
                    "history": history,
                    "max_result_chars": max_result_chars,
                    "max_call_chars": max_call_chars,
                    "max_observation_chars": max_observation_chars,
                }.items()
            ),
        )
        self.difficulty = difficulty
        self.world_seed = int(world_seed)
        self.n_worlds = int(n_worlds)
        self.transport_kind = transport
        self.infeasible_rate = float(infeasible_rate)
        self.max_invalid_in_row = int(max_invalid_in_row)
        self.history = int(history)
        self.max_result_chars = int(max_result_chars)
        self.max_call_chars = int(max_call_chars)
        self.max_observation_chars = int(max_observation_chars)
        self.render_mode = render_mode
        self.tools = toolset(tuple(t.name for t in CORE_TOOLS), n_distractors)
        self.observation_space = PermissiveText(max_length=self.max_observation_chars)
        self.action_space = PermissiveText(max_length=self.max_call_chars)
        self._header_lines = (
            ["Policy:"]
            + [f"- {rule}" for rule in POLICY]
            + ["Tools:"]
            + [f"- {tool.signature()}" for tool in self.tools.values()]
            + [
                'Call one tool per turn: name(arg="value", ...) or '
                '{"name": ..., "arguments": {...}}.',
            ]
        )
        self.problem: ToolTask | None = None
        self._conn = None
        self._transport: InProcTransport | HttpTransport | None = None
        self._task_dict: dict[str, Any] | None = None
        self._new_episode_state()

    def _new_episode_state(self) -> None:
        self._calls: list[CallRecord] = []
        self._done_calls: set[str] = set()
        self._seen = self.problem.request if self.problem is not None else ""
        self._n_invalid = self._invalid_streak = self._n_tool_errors = self._n_calls = 0
        self._total_cost = 0.0
        self._done = self._success = self._answered = False
        self._dirty = False
        self._diff_cache: WorldDiff | None = WorldDiff()

    # -- what a family provides ---------------------------------------------------
    def _generate(
        self, rng: random.Random, catalog: Catalog, difficulty: int, infeasible: bool
    ) -> ToolTask:
        """Draw a task (families override this)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot draw tasks; pass options={{'task': ...}} to reset()"
        )

    def _score(self, evaluation: Evaluation) -> float:
        """Partial credit (families may override)."""
        return 1.0 if self._success else evaluation.score

    # -- public helpers -----------------------------------------------------------
    def make_task(self, seed: int, difficulty: int | None = None) -> ToolTask:
        """Return the task drawn for a task seed (``Random(seed)`` drives the generator)."""
        rng = random.Random(seed)
        world_seed = self.world_seed + rng.randrange(self.n_worlds)
        level = difficulty if difficulty is not None else self.difficulty
        if level is None:
            level = rng.choice(self.levels)
        infeasible = rng.random() < self.infeasible_rate
        return self._generate(rng, catalog_for_seed(world_seed), level, infeasible)

    @property
    def task(self) -> dict[str, Any]:
        """Machine-readable description of the current task (for LLM modules).

        Keys: ``id``, ``goal``, ``request``, ``tools`` (OpenAI function schemas),
        ``policy``, ``action_format``, ``reward``, ``info``, and the task's own fields
        (``plan``: the gold calls, ``predicates``: the SQL verifier, ``answer``, ...).
        """
        if self._task_dict is None:
            data: dict[str, Any] = {
                "id": f"ToolShop-{self.family_id}",
                "goal": "Fulfil the request by calling tools, one call per action; finish with "
                "answer(...) or report_infeasible(...).",
                "tools": [tool.schema() for tool in self.tools.values()],
                "tool_costs": {name: tool.cost for name, tool in self.tools.items()},
                "policy": list(POLICY),
                "action_format": 'name(arg="value") or {"name": ..., "arguments": {...}}',
                "reward": "1 when the final call completes the task, 0 otherwise",
                "info": dict(INFO_DOC),
            }
            if self.problem is not None:
                data.update(self.problem.to_dict())
            self._task_dict = data
        return self._task_dict

    @property
    def calls(self) -> tuple[CallRecord, ...]:
        """Return the calls made so far."""
        return tuple(self._calls)

    def world_diff(self) -> WorldDiff:
        """Return what the episode changed in the world (rows added and removed)."""
        if self._diff_cache is None:
            self._diff_cache = world_for_seed(self._require_task().world_seed).diff(self._conn)
        return self._diff_cache

    def remaining_plan(self) -> list[PlanStep] | None:
        """Return the oracle's calls from here, ``None`` if the task can no longer be done."""
        task = self._require_task()
        if self._done:
            return [] if self._success else None
        return replan(task, self._conn, self.world_diff(), self._seen, self._done_calls)

    def oracle_step(self, trust_written: bool = True) -> str:
        """Return the oracle's next call (JSON), re-planned from the current state.

        A lost task gets the plan's final call (the episode then ends unsuccessfully).
        ``trust_written`` is accepted for the provers' sake: the tool oracle always
        re-plans from the world as it is, so it continues from every call made.
        """
        steps = self.remaining_plan()
        if steps:
            return steps[0].action()
        return self._require_task().plan[-1].action()

    def candidate_actions(self, k: int = 8, include_oracle: bool = False) -> list[str]:
        """Return at most ``k`` distinct grounded calls for the current state.

        Built from the tools, the ids seen so far and the request's literals
        (:func:`~densegym.envs.tools.candidates.grounded_calls`); the oracle's next call
        is among them only with ``include_oracle=True``. The ``candidates`` view
        (``gym.make(id, view={"id": "candidates", "k": 8})``) offers them to SB3.
        """
        self._require_task()
        return grounded_calls(self, k, include_oracle=include_oracle)

    def needed_entities(self) -> frozenset[str]:
        """Return the ids the task needs: every value a read of the gold plan reveals."""
        return frozenset(value for step in self._require_task().plan for value in step.reveals)

    def seen_entities(self) -> frozenset[str]:
        """Return the needed ids shown so far, in the request or in a tool result.

        Seen text only grows within an episode, so this set never shrinks before a reset.
        """
        seen = self._seen
        return frozenset(value for value in self.needed_entities() if value in seen)

    def oracle_remaining(self, trust_written: bool = True) -> int | None:
        """Count the calls the oracle needs from here (final call included); ``None`` if lost."""
        steps = self.remaining_plan()
        return None if steps is None else len(steps)

    def progress(self) -> float:
        """Return the share of the task's checks met, as ``info["progress"]`` reports it."""
        return 1.0 if self._success else self.evaluation().progress

    def oracle_distance(self) -> float:
        """Return the oracle's calls still needed over the gold plan's length, in [0, 1].

        1 when the task is lost (and at most 1 when re-planning adds calls).
        """
        remaining = self.oracle_remaining()
        if remaining is None:
            return 1.0
        return min(1.0, remaining / max(len(self._require_task().plan), 1))

    def evaluation(self) -> Evaluation:
        """Return how the state measures against the task's checks."""
        return evaluate(
            self._require_task(),
            self._conn,
            self.world_diff(),
            self._seen,
            self._done_calls,
            self._answered,
        )

    def observation(self) -> str:
        """Return the current observation text."""
        return self._observation()

    # -- the step chain (HasStepChain: process rewards and provers) -----------------
    @property
    def steps(self) -> tuple[str, ...]:
        """Return the calls made so far in canonical form (``[unreadable call]`` if invalid)."""
        return tuple(record.call for record in self._calls)

    def wrong_step(self, rng: random.Random) -> str:
        """Return a plausible wrong next call, built from the oracle's and the world.

        The oracle's next call with an id or value swapped for another of the same
        column of the world, a read instead of the needed write, a near-duplicate tool,
        or a wrong answer (:func:`~densegym.envs.tools.step_chain.wrong_call`).

        Example:
            >>> import random
            >>> from densegym.envs.tools import LookupEnv
            >>> env = LookupEnv(); _ = env.reset(seed=0)
            >>> env.wrong_step(random.Random(0)) != env.oracle_step()
            True
        """
        task = self._require_task()
        steps = self.remaining_plan()
        step = steps[0] if steps else task.plan[-1]
        return wrong_call(step, task.world_seed, self.tools, rng, infeasible=task.infeasible)

    def committed(self) -> dict[str, Any]:
        """What the calls so far committed to (JSON-friendly).

        ``ids``: the ids the task needs that were seen; ``writes``: the write calls the
        world accepted; ``answered``: a final call was made; ``consistent``: the task
        can still be done (no collateral or wrong write).

        Example:
            >>> from densegym.envs.tools import OrdersEnv
            >>> env = OrdersEnv(difficulty=1); _ = env.reset(seed=0)
            >>> env.committed()["writes"], env.committed()["consistent"]
            ([], True)
        """
        self._require_task()
        writes = [
            record.call
            for record in self._calls
            if record.status == "ok"
            and record.call.split("(", 1)[0] in self.tools
            and self.tools[record.call.split("(", 1)[0]].writes
        ]
        return {
            "ids": sorted(self.seen_entities()),
            "writes": writes,
            "answered": self._done,
            "consistent": self.remaining_plan() is not None,
        }

    # -- state for rollouts -------------------------------------------------------
    def get_state(self) -> ToolState:
        """Snapshot the episode (the world is serialised: microseconds)."""
        return ToolState(
            task=self._require_task(),
            data=self._conn.serialize(),
            calls=tuple(self._calls),
            seen=self._seen,
            done_calls=frozenset(self._done_calls),
            counters=(self._n_invalid, self._invalid_streak, self._n_tool_errors, self._n_calls),
            total_cost=self._total_cost,
            done=self._done,
            success=self._success,
            answered=self._answered,
            dirty=self._dirty,
            env_config=self._config,
        )

    def set_state(self, state: ToolState) -> None:
        """Restore a snapshot from :meth:`get_state` (of this or any tool env)."""
        if state.task is not self.problem:
            self._task_dict = None
        self.problem = state.task
        self._ensure_world(state.data)
        self._calls = list(state.calls)
        self._seen = state.seen
        self._done_calls = set(state.done_calls)
        self._n_invalid, self._invalid_streak, self._n_tool_errors, self._n_calls = state.counters
        self._total_cost = state.total_cost
        self._done, self._success, self._answered = state.done, state.success, state.answered
        self._dirty = state.dirty
        self._diff_cache = None if state.dirty else WorldDiff()

    def clone(self) -> ToolEnv:
        """Copy this env in its current state; the copy runs its tools in process."""
        new = copy.copy(self)
        new._np_random = copy.deepcopy(self._np_random) if self._np_random is not None else None
        new.render_mode = None
        new._conn = None
        new._transport = None
        new.transport_kind = "inproc"
        new.set_state(self.get_state())
        return new

    # -- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw a new task and restore its world; ``options={"task": task}`` sets one.

        Options ``difficulty`` sets the level of this task. The generator's
        ``random.Random`` is seeded from ``self.np_random``.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        problem = options.pop("task", None)
        if problem is None:
            problem = self.make_task(
                int(self.np_random.integers(2**62)), options.pop("difficulty", None)
            )
        elif not isinstance(problem, ToolTask):
            raise TypeError(f"options['task'] must be a ToolTask, got {type(problem).__name__}")
        self.problem = problem
        self._task_dict = None
        self._ensure_world(None)
        self._new_episode_state()
        if self.render_mode == "human":
            self.render()
        evaluation = self.evaluation()
        return self._observation(), self._info(evaluation, {})

    def step(self, action: str):
        """Run one tool call; ``answer`` and ``report_infeasible`` end the episode."""
        task = self._require_task()
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
        name, arguments, error = self._read(action)
        tool = self.tools.get(name)
        if error:
            result = ToolResult("invalid", error)
        else:
            result = self._transport.call(name, arguments)
        step: dict[str, Any] = {"tool": name if tool is not None else ""}
        self._n_calls += 1
        cost = tool.cost if tool is not None else 0.0
        self._total_cost += cost
        step["call_cost"] = cost
        if result.status == "invalid":
            self._n_invalid += 1
            self._invalid_streak += 1
            step["invalid_reason"] = str(result.content)
        else:
            self._invalid_streak = 0
            if result.status == "error":
                self._n_tool_errors += 1
                step["tool_error"] = True
        if result.wrote:
            self._dirty = True
            self._diff_cache = None
            step["wrote"] = True
        text = result.text
        if result.status != "invalid":
            self._seen += "\n" + text
            self._done_calls.add(call_key(name, arguments))
        shown = _render_call(name, arguments) if name and not error else "[unreadable call]"
        self._calls.append(CallRecord(shown, text, result.status))
        reward, terminated = 0.0, False
        if tool is not None and tool.terminal and result.status == "ok":
            terminated = True
            self._done = True
            self._success, self._answered = self._judge(task, name, arguments)
            reward = float(self._success)
        truncated = not terminated and self._invalid_streak >= self.max_invalid_in_row
        if truncated:
            self._done = True
        if self.render_mode == "human":
            self.render()
        info = self._info(self.evaluation(), step)
        return self._observation(), reward, terminated, truncated, info

    def _render_ready(self) -> bool:
        return self.problem is not None

    def close(self) -> None:
        """Close the transport (the HTTP server stops with its last session) and the world."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        super().close()

    # -- internals ----------------------------------------------------------------
    def _require_task(self) -> ToolTask:
        if self.problem is None or self._conn is None:
            raise gym.error.ResetNeeded("call reset() before using the env")
        return self.problem

    def _ensure_world(self, data: bytes | None) -> None:
        world = world_for_seed(self.problem.world_seed)
        if self._conn is None:
            self._conn = connect_bytes(world.data if data is None else data)
        else:
            world.restore(self._conn, data)
        if self._transport is None:
            if self.transport_kind == "http":
                self._transport = HttpTransport(self._conn, self.tools)
            else:
                self._transport = InProcTransport(self._conn, self.tools)

    def _read(self, action: Any) -> tuple[str, dict[str, Any], str]:
        """Return ``(name, arguments, error)`` for an action; never raises."""
        parsed = parse_call(action, self.max_call_chars)
        if not parsed.ok:
            return "", {}, parsed.error
        tool = self.tools.get(parsed.name)
        if tool is None:
            return parsed.name[:64], {}, f"unknown tool {parsed.name[:64]!r}"
        arguments = dict(parsed.arguments)
        if parsed.positional:
            if len(parsed.positional) > len(tool.params):
                return tool.name, {}, f"{tool.name} takes at most {len(tool.params)} arguments"
            for param, value in zip(tool.params, parsed.positional, strict=False):
                if param.name in arguments:
                    return tool.name, {}, f"{tool.name} got '{param.name}' twice"
                arguments[param.name] = value
        return tool.name, arguments, ""

    def _judge(self, task: ToolTask, name: str, arguments: dict[str, Any]) -> tuple[bool, bool]:
        """Return ``(success, answered)`` for a final call."""
        clean = not self.world_diff()
        if name == "report_infeasible":
            return task.infeasible and clean, task.infeasible
        if task.infeasible:
            return False, False
        if task.kind == "answer":
            correct = answers_match(arguments.get("answer", ""), task.answer or "")
            return correct and clean, correct
        evaluation = self.evaluation()
        done = evaluation.satisfied == evaluation.total
        return done and self.world_diff() == task.expected_diff, False

    def _observation(self) -> str:
        task = self._require_task()
        head = [f"Request: {task.request}", *self._header_lines, ""]
        records = []
        for i, record in enumerate(self._calls, start=1):
            result = record.result
            if len(result) > self.max_result_chars:
                result = result[: self.max_result_chars] + " ...[cut]"
            records.append(f"{i}. {record.call}\n   -> {result}")
        first = max(0, len(records) - self.history)
        while True:
            shown = records[first:]
            lines = [f"Calls so far: {len(records)}"]
            if first:
                lines.append(f"({first} earlier calls omitted)")
            text = "\n".join(head + lines + (shown or ["(none)"]))
            if len(text) <= self.max_observation_chars or first >= len(records):
                return text[: self.max_observation_chars]
            first += 1

    def _info(self, evaluation: Evaluation, step: dict[str, Any]) -> dict[str, Any]:
        remaining = self.oracle_remaining()
        progress = 1.0 if self._success else evaluation.progress
        return {
            "is_success": self._success,
            "tool": step.get("tool", ""),
            "invalid_call": "invalid_reason" in step,
            "invalid_reason": step.get("invalid_reason", ""),
            "n_invalid": self._n_invalid,
            "invalid_streak": self._invalid_streak,
            "tool_error": step.get("tool_error", False),
            "n_tool_errors": self._n_tool_errors,
            "call_cost": step.get("call_cost", 0.0),
            "total_cost": self._total_cost,
            "n_calls": self._n_calls,
            "wrote": step.get("wrote", False),
            "progress": float(progress),
            "score": float(self._score(evaluation)),
            "oracle_remaining": -1 if remaining is None else remaining,
            "difficulty": self._require_task().difficulty,
        }
