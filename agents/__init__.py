"""densegym agents: SB3 training and LLM-specific agents, one evaluation runner."""

if __name__ != "densegym.agents":  # pragma: no cover - guard against `import agents`
    raise ImportError(
        "The agents/ folder is installed as `densegym.agents`; import it under that name."
    )

from densegym.agents.evaluate import EvalResult, RandomAgent, evaluate

__all__ = ["EvalResult", "RandomAgent", "evaluate"]
