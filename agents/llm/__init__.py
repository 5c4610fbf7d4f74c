"""LLM-specific agents: LLM policies, verifier-guided search and LM trainers.

Example:
    >>> from densegym.agents.llm import LLMPolicy, parse_step
    >>> parse_step("1. 3 * 4 = 12")
    '3 * 4 = 12'
"""

from densegym.agents.llm.parsing import parse_step
from densegym.agents.llm.policy import LLMPolicy
from densegym.agents.llm.prompts import EXAMPLES, SYSTEM_PROMPT, WorkedExample
from densegym.agents.llm.tool_policy import TOOL_SYSTEM_PROMPT, ToolCallPolicy

__all__ = [
    "EXAMPLES",
    "SYSTEM_PROMPT",
    "TOOL_SYSTEM_PROMPT",
    "LLMPolicy",
    "ToolCallPolicy",
    "WorkedExample",
    "parse_step",
]
