"""densegym environments, grouped by world (control, reasoning, tools, web, multiagent).

Environments are registered by ``import densegym``; make them with ``gym.make``.
"""

if __name__ != "densegym.envs":  # pragma: no cover - guard against `import envs`
    raise ImportError(
        "The envs/ folder is installed as `densegym.envs`; import it under that name "
        "(a bare `import envs` would register environments twice)."
    )
