"""Build any agent from a string: ``make_agent("random" | "sb3:<run dir>" | ...)``.

An agent spec is ``"<kind>[:<argument>]"``; the kinds live in :data:`AGENTS`, a
:class:`~densegym.registry.Registry`, so an unknown kind fails with one sentence that
lists the registered ones. Every built agent follows :mod:`densegym.agents.protocol`.

=====================  =================================================================
spec                   agent
=====================  =================================================================
``random``             :class:`~densegym.agents.evaluate.RandomAgent` (its action space
                       comes from ``env_id`` or from ``bind``)
``sb3:<run dir>``      the SB3 model of a ``densegym train`` run: ``final_model.zip``, else
                       the latest complete checkpoint
``llm:<backend>``      :class:`~densegym.agents.llm.LLMPolicy` over
                       ``densegym.llm.load(<backend>)`` (``tiny-random``, ``smollm2``,
                       ``hf:<path>``, ``openai:<model>@<url>``, ...)
``search:<name>``      a search agent of :data:`densegym.agents.llm.search.SEARCH_AGENTS`
                       (``greedy``, ``majority``, ``best_of_n``, ``beam``, ``mcts``,
                       ``q_select``); also ``search:{"name": "beam", "scorer": ...}``
=====================  =================================================================

Keyword arguments go to the agent's constructor (``seed=`` is understood by every kind).

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym.agents import evaluate
    >>> agent = make_agent("search:beam", scorer="oracle", proposer="oracle-0.7")
    >>> evaluate(agent, "densegym/WordProblems-v0", n_episodes=2).success_rate
    1.0
    >>> type(make_agent("llm:tiny-random", max_tokens=8)).__name__
    'LLMPolicy'
    >>> make_agent("dqn")
    Traceback (most recent call last):
    ...
    ValueError: unknown agent 'dqn'; registered agents: llm, random, sb3, search
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from densegym.agents.protocol import Agent
from densegym.registry import Registry, split_spec

__all__ = ["AGENTS", "load_run_model", "make_agent"]

#: Agent kinds by name; an entry is called as ``build(argument, env_id=..., **kwargs)``.
AGENTS: Registry[Callable[..., Any]] = Registry("agent")


def make_agent(spec: str | Agent, env_id: str | None = None, **kwargs: Any) -> Agent:
    """Build an agent from a spec string (an agent object is returned as it is).

    Args:
        spec: ``"random"``, ``"sb3:<run dir>"``, ``"llm:<backend>"`` or
            ``"search:<name>"`` (see :data:`AGENTS` for every registered kind).
        env_id: the env the agent will act in, for kinds that need it up front
            (``random`` takes its action space from it); others ignore it and learn
            their env from ``bind`` (which :func:`densegym.agents.evaluate` calls).
        kwargs: passed to the agent's constructor (or SB3's ``load`` for ``sb3:``).

    Returns:
        An agent with SB3's ``predict``.

    Raises:
        ValueError: an unknown kind (the message lists the registered kinds) or a spec
            without its argument.

    Example:
        >>> agent = make_agent("random", env_id="densegym/MountainCarSparse-v0", seed=0)
        >>> agent.action_space
        Discrete(3)
        >>> make_agent(agent) is agent
        True
    """
    if not isinstance(spec, str):
        if isinstance(spec, Agent) and not kwargs:
            return spec
        raise ValueError(f"an agent spec is a string such as 'sb3:<run dir>', got {spec!r}")
    kind, argument = split_spec(spec)
    return AGENTS.get(kind)(argument.strip(), env_id=env_id, **kwargs)


def _needs(kind: str, argument: str, what: str) -> None:
    if not argument:
        raise ValueError(f"the {kind} agent spec is '{kind}:<{what}>', got {kind!r} alone")


@AGENTS.register("random")
def _random(argument: str, env_id: str | None = None, seed: int | None = None) -> Agent:
    from densegym.agents.evaluate import RandomAgent

    if argument:
        raise ValueError(f"the random agent takes no ':<argument>', got 'random:{argument}'")
    if env_id is None:
        return RandomAgent(seed=seed)
    import gymnasium as gym

    env = gym.make(env_id)
    try:
        return RandomAgent(env.action_space, seed=seed)
    finally:
        env.close()


def load_run_model(run_dir: str | Path, device: str = "cpu", **kwargs: Any) -> Any:
    """Load the SB3 model of a run directory written by ``densegym train``.

    ``final_model.zip`` when the run finished, else the model of its latest complete
    checkpoint; the algorithm comes from the run's ``config.json``.

    Args:
        run_dir: the run directory.
        device: torch device for the model.
        kwargs: passed to SB3's ``load``.

    Raises:
        FileNotFoundError: no config or no model in ``run_dir``.
        ValueError: the run was not trained by an SB3 algorithm.
    """
    from densegym.agents.sb3.checkpoints import MODEL_FILE, latest_checkpoint
    from densegym.agents.sb3.training import ALGORITHMS, CONFIG_FILE, RunConfig

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} is not a densegym run directory (no {CONFIG_FILE})")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    trainer = getattr(config, "trainer", f"sb3:{config.algo}")
    if not trainer.startswith("sb3:") or config.algo not in ALGORITHMS:
        raise ValueError(f"{run_dir} was trained by {trainer!r}, not by an SB3 algorithm")
    model_path = run_dir / "final_model.zip"
    if not model_path.exists():
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            raise FileNotFoundError(f"no model in {run_dir} (no final_model.zip, no checkpoint)")
        model_path = checkpoint / MODEL_FILE
    return ALGORITHMS[config.algo].load(model_path, device=device, **kwargs)


@AGENTS.register("sb3")
def _sb3(
    argument: str,
    env_id: str | None = None,
    device: str = "cpu",
    seed: int | None = None,
    **kwargs: Any,
) -> Agent:
    _needs("sb3", argument, "run dir")
    model = load_run_model(argument, device=device, **kwargs)
    if seed is not None:
        model.set_random_seed(seed)  # what stochastic predictions sample from
    return model


@AGENTS.register("llm")
def _llm(argument: str, env_id: str | None = None, **kwargs: Any) -> Agent:
    from densegym.agents.llm import LLMPolicy

    _needs("llm", argument, "backend")
    return LLMPolicy(backend=argument, **kwargs)


@AGENTS.register("search")
def _search(argument: str, env_id: str | None = None, **kwargs: Any) -> Agent:
    from densegym.agents.llm.search import make_search_agent

    _needs("search", argument, "name")
    if argument.startswith("{"):  # search:{"name": "beam", "scorer": "oracle", ...}
        options = json.loads(argument)
        if "name" not in options:
            raise ValueError(f"a JSON search spec needs a 'name', got {argument!r}")
        argument = options.pop("name")
        kwargs = {**kwargs, **options}
    return make_search_agent(argument, **kwargs)
