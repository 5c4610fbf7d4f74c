"""densegym agents: SB3 training and LLM-specific agents, one evaluation runner.

Every agent follows one contract (:mod:`densegym.agents.protocol`), is built from a
string by :func:`make_agent` and is run by :func:`evaluate`.
"""

if __name__ != "densegym.agents":  # pragma: no cover - guard against `import agents`
    raise ImportError(
        "The agents/ folder is installed as `densegym.agents`; import it under that name."
    )

from densegym.agents.evaluate import EvalResult, RandomAgent, evaluate
from densegym.agents.make import AGENTS, make_agent
from densegym.agents.protocol import Agent, Bindable, HasUsage

__all__ = [
    "AGENTS",
    "Agent",
    "Bindable",
    "EvalResult",
    "HasUsage",
    "RandomAgent",
    "evaluate",
    "make_agent",
]
