r"""LLM-generated reward modules: reward code, LLM-feedback intrinsic rewards, LLM subgoal judges.

- ``llm_code`` (:mod:`.code_shaper`): a saved reward function written by an LLM, run in
  a sandboxed worker process (:mod:`.sandbox`, :mod:`.worker`, :mod:`.policy`), and the
  parts of Eureka-style design that need no agent (:mod:`.designer`, :mod:`.critic`,
  :mod:`.evolution`); the loop that trains one agent per candidate is
  :func:`densegym.agents.reward_design.design_reward`.

Example:
    >>> from densegym.rewards.llm import check_code
    >>> check_code("def reward(obs, action, next_obs, info):\n    return open('x')")
    ["line 2: name 'open' is not allowed"]
"""

from densegym.rewards.llm.critic import Verdict, critique, sample_transitions
from densegym.rewards.llm.policy import CodeRejected, check_code, validate_code
from densegym.rewards.llm.sandbox import CallResult, Sandbox, SandboxError

__all__ = [
    "CallResult",
    "CodeRejected",
    "Sandbox",
    "SandboxError",
    "Verdict",
    "check_code",
    "critique",
    "sample_transitions",
    "validate_code",
]
