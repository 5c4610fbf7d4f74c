"""The ``llm_code`` shaper: a saved, LLM-written ``reward(obs, action, next_obs, info)``.

The code is read from a file (so the shaping spec stays data) and runs only in the
sandbox worker (:mod:`densegym.rewards.llm.sandbox`). Sub-envs of one process that use
the same code share one worker.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium as gym

from densegym.rewards.core import ShapedReward, Transition
from densegym.rewards.llm.sandbox import Sandbox

logger = logging.getLogger(__name__)

#: Info keys the reward code does not see (they are densegym's bookkeeping).
HIDDEN_INFO_KEYS = frozenset(
    {"reward_terms", "reward_terms_nonfinite", "reward_terms_clamped", "llm_usage"}
)

_SHARED: dict[tuple[Any, ...], list[Any]] = {}  # key -> [sandbox, users]
_SHARED_LOCK = threading.Lock()


def acquire_sandbox(code: str, **options: Any) -> Sandbox:
    """A sandbox for ``code``, shared by every user in this process with the same options."""
    key = (code, tuple(sorted(options.items())))
    with _SHARED_LOCK:
        entry = _SHARED.get(key)
        if entry is None:
            entry = _SHARED[key] = [Sandbox(code, **options), 0]
        entry[1] += 1
        return entry[0]


def release_sandbox(sandbox: Sandbox) -> None:
    """Give back a sandbox from :func:`acquire_sandbox`; the last user stops its worker."""
    with _SHARED_LOCK:
        for key, entry in list(_SHARED.items()):
            if entry[0] is sandbox:
                entry[1] -= 1
                if entry[1] <= 0:
                    del _SHARED[key]
                    sandbox.close()
                return
    sandbox.close()


class LLMCodeReward(ShapedReward):
    r"""Reward code written by an LLM (Eureka, Text2Reward), run in a sandboxed subprocess.

    The file must define ``reward(obs, action, next_obs, info) -> float`` using only
    ``math``, ``numpy`` and its arguments (see :mod:`densegym.rewards.llm.policy`).
    A call that raises, times out, crashes the worker or returns a non-number gives 0
    for that step, sets ``info["<term>_error"]`` and counts in
    ``info["<term>_failures"]``. After ``max_consecutive_failures`` failures in a row
    (or ``max_failures`` in all) the shaper disables itself, logs why, and reports
    ``info["<term>_disabled"]``; the run goes on with its other terms.

    Args:
        env: environment to wrap.
        path: file holding the reward code.
        timeout: wall-clock seconds per call before the worker is killed and restarted.
        memory_mb: address-space limit of the worker.
        max_consecutive_failures: failures in a row that disable the shaper.
        max_failures: failures in all that disable the shaper.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import pathlib, tempfile, gymnasium as gym, densegym
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "reward.py"
        >>> _ = path.write_text("def reward(obs, action, next_obs, info):\n"
        ...                     "    return abs(float(next_obs[1])) * 100")
        >>> env = gym.make("densegym/MountainCarSparse-v0",
        ...                shaping={"id": "llm_code", "path": str(path)})
        >>> _ = env.reset(seed=0)
        >>> info = env.step(2)[4]
        >>> info["reward_terms"]["llm_code"] > 0, info["llm_code_failures"]
        (True, 0)
        >>> env.close()
    """

    registry_name = "llm_code"
    requires = ()

    def __init__(
        self,
        env: gym.Env,
        *,
        path: str,
        timeout: float = 1.0,
        memory_mb: int = 1024,
        max_consecutive_failures: int = 10,
        max_failures: int = 1000,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        source = Path(path)
        if not source.is_file():
            raise ValueError(f"llm_code: no reward code file at {str(path)!r}")
        self.path = str(path)
        self.code = source.read_text()
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.max_failures = int(max_failures)
        self.sandbox: Sandbox | None = acquire_sandbox(
            self.code, timeout=float(timeout), memory_mb=int(memory_mb)
        )
        self.failures = 0
        self.consecutive_failures = 0
        self.failure_kinds: Counter[str] = Counter()
        self.disabled_reason: str | None = None

    def _code_info(self, info: dict[str, Any]) -> dict[str, Any]:
        prefix = f"{self.term_name}_"
        return {
            k: v for k, v in info.items() if k not in HIDDEN_INFO_KEYS and not k.startswith(prefix)
        }

    def reward_term(self, transition: Transition) -> float:
        """Run the code on this transition in the sandbox; 0 (and a flag) on failure."""
        info = transition.info
        if self.disabled_reason is not None or self.sandbox is None:
            info[f"{self.term_name}_disabled"] = self.disabled_reason
            info[f"{self.term_name}_failures"] = self.failures
            return 0.0
        result = self.sandbox.call(
            transition.obs, transition.action, transition.next_obs, self._code_info(info)
        )
        value = 0.0
        if result.ok:
            self.consecutive_failures = 0
            value = float(result.value)  # type: ignore[arg-type]
        else:
            self._record_failure(result.kind, result.error or "", info)
        info[f"{self.term_name}_failures"] = self.failures
        return value

    def _record_failure(self, kind: str, error: str, info: dict[str, Any]) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.failure_kinds[kind] += 1
        info[f"{self.term_name}_error"] = f"{kind}: {error}"
        if self.failures == 1:
            logger.warning(
                "%s: reward code %s failed (%s: %s); the term is 0 for failing steps",
                self.term_name,
                self.path,
                kind,
                error,
            )
        too_many = None
        if self.consecutive_failures >= self.max_consecutive_failures:
            too_many = f"{self.consecutive_failures} failures in a row"
        elif self.failures >= self.max_failures:
            too_many = f"{self.failures} failures in all"
        if too_many:
            self.disable(f"{too_many} (last: {kind}: {error})")
            info[f"{self.term_name}_disabled"] = self.disabled_reason

    def disable(self, reason: str) -> None:
        """Stop calling the code (the term is 0 from now on) and log why."""
        self.disabled_reason = reason
        logger.warning(
            "%s: disabled the reward code from %s: %s; training goes on without this term",
            self.term_name,
            self.path,
            reason,
        )
        if self.sandbox is not None:
            release_sandbox(self.sandbox)
            self.sandbox = None

    def state_dict(self) -> dict[str, Any]:
        """Failure counters and the reason the code was disabled (if it was)."""
        state = super().state_dict()
        state.update(
            failures=self.failures,
            failure_kinds=dict(self.failure_kinds),
            disabled_reason=self.disabled_reason,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters; a shaper saved disabled stays disabled."""
        super().load_state_dict(state)
        self.failures = int(state.get("failures", 0))
        self.failure_kinds = Counter(state.get("failure_kinds", {}))
        if state.get("disabled_reason"):
            self.disable(state["disabled_reason"])

    def close(self) -> None:
        """Stop the sandbox worker (when no other sub-env shares it) and the env."""
        if self.sandbox is not None:
            release_sandbox(self.sandbox)
            self.sandbox = None
        super().close()
