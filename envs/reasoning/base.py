"""Return the multi-turn text reasoning env: one reasoning step per action, outcome reward.

Task families subclass :class:`ReasoningEnv` and only say how to draw a task
(:meth:`ReasoningEnv._generate`); checking, the oracle and the episode logic are shared.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from densegym.envs.reasoning.curriculum import Curriculum
from densegym.envs.reasoning.expr import format_number
from densegym.envs.reasoning.task import ReasoningTask, StepReport, Tracker, invalid
from densegym.spaces import PermissiveText
from densegym.text_render import TextRendering

#: Reward and info fields every reasoning env documents in ``env.unwrapped.task``.
_INFO_DOC = {
    "is_success": "bool: the episode ended with a correct final answer",
    "step_kind": "'answer', 'equation', 'text' or 'invalid' (or '' after reset)",
    "invalid_step": "bool: the step was empty, unparseable or broke the rules",
    "invalid_reason": "str: why the step was invalid ('' when valid)",
    "n_invalid_steps": "int: invalid steps so far",
    "arithmetic_error": "bool: the step states a wrong result",
    "n_arithmetic_errors": "int: steps with a wrong result so far",
    "progress": "float in [0, 1]: share of the reference solution established",
    "n_steps": "int: steps taken",
    "answer": "str: the final answer read from the step ('' if none)",
    "step_truncated": "bool: the action had extra lines or was too long and was cut",
    "difficulty": "int: the difficulty level of this task (-1 when not applicable)",
}


@dataclass(frozen=True)
class ReasoningState:
    """Return a snapshot of an episode: enough to continue it in another env.

    Attributes:
        task: the task object.
        tracker: a private copy of the checking state.
        steps: the steps shown in the observation so far.
        n_invalid: invalid steps so far.
        n_arithmetic_errors: steps with a wrong stated result so far.
        done: whether a final answer was given.
        success: whether that answer was correct.
    """

    task: ReasoningTask
    tracker: Tracker
    steps: tuple[str, ...]
    n_invalid: int = 0
    n_arithmetic_errors: int = 0
    done: bool = False
    success: bool = False


class ReasoningEnv(TextRendering, gym.Env[str, str]):
    r"""Solve a question one written step at a time, then state ``Answer: <number>``.

    ## Description
    The shared base of densegym's language reasoning tasks. Each action is one
    reasoning step, a line of text such as ``3 * 4 = 12``; the final step states the
    answer (``Answer: 42``; ``The answer is 42.``, ``#### 42`` and ``\boxed{42}`` are
    read too, with commas, ``$``, units and trailing periods ignored). Every
    computation ``a op b = c`` a step states is checked and committed as an
    intermediate value, so progress and errors are visible mid-episode and
    ``oracle_step()`` can continue from any prefix.

    ## Observation Space
    ``PermissiveText``: the question, a one-line format hint, then the steps so far
    (numbered). Invalid steps appear as ``[invalid step: <reason>]``.

    ## Action Space
    ``PermissiveText``: one step. Only the first non-empty line is used and it is cut
    to ``max_step_chars``; non-strings, empty steps, a division by zero or an answer
    without a number are flagged in ``info`` and never raise.

    ## Rewards
    1.0 on a final answer that solves the task, else 0.0 (shapers add dense terms).

    ## Termination
    Terminates on the first step that states a final answer, right or wrong. The
    registered spec truncates at its ``max_episode_steps``. ``info["is_success"]`` is
    reported at every step; see ``env.unwrapped.task["info"]`` for the other fields.

    ## Registered Configurations
    See the task families: ``densegym/Arithmetic-v0``, ``densegym/WordProblems-v0``,
    ``densegym/Countdown-v0``, ``densegym/GSM8K-v0``.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1)
        >>> _ = env.reset(seed=0)
        >>> base = env.unwrapped
        >>> snapshot = base.get_state()          # cheap: for search and prover rollouts
        >>> _, _, _, _, info = env.step("")
        >>> info["invalid_step"], info["invalid_reason"]
        (True, 'empty step')
        >>> base.set_state(snapshot)
        >>> base.steps, base.clone().oracle_remaining()
        ((), 3)
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 1}
    #: Name used in ``env.unwrapped.task["id"]``.
    family_id: ClassVar[str] = "Reasoning"
    #: Difficulty levels the family supports (empty: no difficulty knob).
    levels: ClassVar[tuple[int, ...]] = ()

    def __init__(
        self,
        *,
        difficulty: int | None = None,
        curriculum: bool | dict[str, Any] | None = None,
        render_mode: str | None = None,
        max_step_chars: int = 400,
        max_observation_chars: int = 16384,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if self.levels and difficulty is not None and difficulty not in self.levels:
            raise ValueError(
                f"{self.family_id}: difficulty must be one of {self.levels}, got {difficulty!r}"
            )
        self.render_mode = render_mode
        self.max_step_chars = int(max_step_chars)
        self.max_observation_chars = int(max_observation_chars)
        self.fixed_difficulty = difficulty
        self.curriculum = Curriculum.from_option(curriculum, self.levels) if self.levels else None
        if curriculum and not self.levels:
            raise ValueError(f"{self.family_id} has no difficulty levels for a curriculum")
        self.observation_space = PermissiveText(max_length=self.max_observation_chars)
        self.action_space = PermissiveText(max_length=self.max_step_chars)
        self.problem: ReasoningTask | None = None
        self._tracker: Tracker | None = None
        self._steps: list[str] = []
        self._n_invalid = 0
        self._n_arithmetic_errors = 0
        self._done = False
        self._success = False
        self._curriculum_pending = False
        self._task_dict: dict[str, Any] | None = None

    # -- what a family provides ---------------------------------------------------
    def _generate(self, rng: random.Random, options: dict[str, Any]) -> ReasoningTask:
        """Draw a task (families override this)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot draw tasks; pass options={{'task': ...}} to reset()"
        )

    # -- public helpers -----------------------------------------------------------
    @property
    def difficulty(self) -> int | None:
        """Return the level new tasks are drawn at (the curriculum's, when one is active)."""
        return self.curriculum.level if self.curriculum is not None else self.fixed_difficulty

    def make_task(self, seed: int, options: dict[str, Any] | None = None) -> ReasoningTask:
        """Return the task drawn for a task seed (``Random(seed)`` drives the generator)."""
        return self._generate(random.Random(seed), dict(options or {}))

    @property
    def task(self) -> dict[str, Any]:
        """Machine-readable description of the current task (for LLM reward modules).

        Keys: ``id``, ``goal``, ``question``, ``answer``, ``solution_steps`` (the
        oracle's), ``intermediate_values`` and ``plan`` (chain tasks), ``step_format``,
        ``reward``, ``info`` and ``meta``.
        """
        if self._task_dict is None:
            data: dict[str, Any] = {"id": self.family_id}
            data["goal"] = (
                "Solve the question step by step, one step per action, and finish with "
                "'Answer: <number>'."
            )
            if self.problem is not None:
                data.update(self.problem.to_dict())
            data["reward"] = "1 for a correct final answer, 0 otherwise"
            data["info"] = dict(_INFO_DOC)
            self._task_dict = data
        return self._task_dict

    @property
    def steps(self) -> tuple[str, ...]:
        """Return the steps written so far, as shown in the observation."""
        return tuple(self._steps)

    def oracle_step(self, trust_written: bool = False) -> str:
        """Return the next step of a correct solution, continuing from the steps written.

        Args:
            trust_written: keep the values the steps so far stated, even wrong ones
                (errors propagate; what a prover continuing "in good faith" writes).
                By default wrong or missing values are recomputed, so following the
                oracle from any chain-task prefix reaches the right answer.
        """
        return self._require_task().oracle_step(self._tracker, trust_written)

    def wrong_step(self, rng: random.Random) -> str:
        """Return a plausible wrong next step: the trusting oracle's, its result off a little."""
        return self._require_task().oracle_step(self._tracker, True, error_rng=rng)

    def oracle_remaining(self, trust_written: bool = True) -> int | None:
        """Count the steps the oracle needs from here (answer included); ``None`` if it fails."""
        steps, solved = self._require_task().simulate(self._tracker, trust_written)
        return len(steps) if solved else None

    def committed(self) -> dict[str, Any]:
        """The intermediate values the steps so far committed to (JSON-friendly).

        Chain tasks: ``{"values": {"s1": 12, ...}, "wrong": ["s2"], "consistent": False}``
        keyed by plan step (see ``task["plan"]``); Countdown: the numbers on the board.
        """
        return self._tracker.describe() if self._tracker is not None else {}

    def observation(self) -> str:
        """Return the current observation text."""
        return self._observation()

    # -- state for rollouts -------------------------------------------------------
    def get_state(self) -> ReasoningState:
        """Snapshot the episode (cheap: the task is shared, the tracker copied)."""
        return ReasoningState(
            task=self._require_task(),
            tracker=self._tracker.copy(),
            steps=tuple(self._steps),
            n_invalid=self._n_invalid,
            n_arithmetic_errors=self._n_arithmetic_errors,
            done=self._done,
            success=self._success,
        )

    def set_state(self, state: ReasoningState) -> None:
        """Restore a snapshot from :meth:`get_state` (of this or any reasoning env)."""
        if state.task is not self.problem:
            self._task_dict = None
        self.problem = state.task
        self._tracker = state.tracker.copy()
        self._steps = list(state.steps)
        self._n_invalid = state.n_invalid
        self._n_arithmetic_errors = state.n_arithmetic_errors
        self._done = state.done
        self._success = state.success
        self._curriculum_pending = False

    def clone(self) -> ReasoningEnv:
        """Copy this env in its current state (no curriculum, no rendering)."""
        new = copy.copy(self)
        new._np_random = copy.deepcopy(self._np_random) if self._np_random is not None else None
        new.curriculum = None
        new.render_mode = None
        new.set_state(self.get_state())
        return new

    @classmethod
    def from_state(cls, state: ReasoningState) -> ReasoningEnv:
        """Return a bare env that continues ``state`` (it cannot draw new tasks)."""
        env = ReasoningEnv()
        env.set_state(state)
        return env

    # -- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw a new task; ``options={"task": task}`` sets one explicitly.

        The generator's ``random.Random`` is seeded from ``self.np_random``, so the
        same seed gives the same task.
        """
        super().reset(seed=seed)
        if self._curriculum_pending and self.curriculum is not None:
            self.curriculum.record(False)  # the previous episode was cut short
        options = dict(options or {})
        problem = options.pop("task", None)
        if problem is None:
            task_seed = int(self.np_random.integers(2**62))
            problem = self.make_task(task_seed, options)
        elif not isinstance(problem, ReasoningTask):
            raise TypeError(
                f"options['task'] must be a ReasoningTask, got {type(problem).__name__}"
            )
        self.problem = problem
        self._task_dict = None
        self._tracker = problem.new_tracker()
        self._steps = []
        self._n_invalid = self._n_arithmetic_errors = 0
        self._done = self._success = False
        self._curriculum_pending = self.curriculum is not None
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info(None, False)

    def step(self, action: str):
        """Read one reasoning step; a final answer ends the episode."""
        self._require_task()
        if self._done:
            raise RuntimeError("the episode has ended (a final answer was given); call reset()")
        line, report, cut = self._read_action(action)
        if report is None:
            report = self._tracker.process(line)
        reward, terminated = 0.0, False
        if report.invalid:
            self._n_invalid += 1
            self._steps.append(f"[invalid step: {report.invalid_reason}]")
        else:
            self._steps.append(line.strip())
        if report.arithmetic_error:
            self._n_arithmetic_errors += 1
        if report.kind == "answer":
            terminated = True
            self._done = True
            self._success = bool(self.problem.is_solved(self._tracker, report.answer))
            reward = float(self._success)
            if self.curriculum is not None and self._curriculum_pending:
                self.curriculum.record(self._success)
                self._curriculum_pending = False
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, False, self._info(report, cut)

    def _render_ready(self) -> bool:
        return self.problem is not None

    # -- internals ----------------------------------------------------------------
    def _require_task(self) -> ReasoningTask:
        if self.problem is None:
            raise gym.error.ResetNeeded("call reset() before using the env")
        return self.problem

    def _read_action(self, action: Any) -> tuple[str, StepReport | None, bool]:
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        elif isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "US":
            action = str(action)
        if not isinstance(action, str):
            return "", invalid(f"action must be a string, got {type(action).__name__}"), False
        lines = [line for line in action.splitlines() if line.strip()]
        line = lines[0].strip() if lines else ""
        cut = len(lines) > 1 or len(line) > self.max_step_chars
        return line[: self.max_step_chars], None, cut

    def _observation(self) -> str:
        problem = self._require_task()
        head = [
            f"Question: {problem.question}",
            f"Format: {problem.step_format}",
            "",
            "Steps so far:",
        ]
        status = problem.status_line(self._tracker)
        tail = [status] if status else []
        steps = [f"{i}. {step}" for i, step in enumerate(self._steps, start=1)] or ["(none)"]
        text = "\n".join(head + steps + tail)
        dropped = 0
        while len(text) > self.max_observation_chars and dropped < len(self._steps):
            dropped += 1
            kept = steps[dropped:]
            text = "\n".join(head + [f"({dropped} earlier steps omitted)"] + kept + tail)
        return text[: self.max_observation_chars]

    def _info(self, report: StepReport | None, cut: bool) -> dict[str, Any]:
        return {
            "is_success": self._success,
            "step_kind": report.kind if report is not None else "",
            "invalid_step": bool(report is not None and report.invalid),
            "invalid_reason": report.invalid_reason if report is not None else "",
            "n_invalid_steps": self._n_invalid,
            "arithmetic_error": bool(report is not None and report.arithmetic_error),
            "n_arithmetic_errors": self._n_arithmetic_errors,
            "progress": float(self._tracker.progress()),
            "n_steps": len(self._steps),
            "answer": format_number(report.answer)
            if report is not None and report.answer is not None
            else "",
            "step_truncated": cut,
            "difficulty": self.problem.meta.get("difficulty", -1)
            if self.problem is not None
            else -1,
        }
