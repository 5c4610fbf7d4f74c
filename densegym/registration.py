"""Registration of every densegym id through one entry point that applies shaping.

This core module holds the registry data only: which ids exist, their base classes and
defaults. Every id's entry point is named by the string ``"densegym.make:make_env"``
(:func:`densegym.make.make_env`, a composition root): it builds the base environment named
in the spec, then wraps it with the shapers requested by the ``shaping`` kwarg (data only,
so ``env.spec.to_json()`` round-trips).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from densegym import miniwob_tasks

NAMESPACE = "densegym"


@dataclass(frozen=True)
class EnvEntry:
    """One registered densegym id.

    Attributes:
        name: id without namespace or version, e.g. ``"MountainCarSparse"``.
        base: ``"module:Class"`` of the base environment.
        max_episode_steps: time limit applied by ``gym.make``.
        kwargs: default kwargs for the base environment.
        world: which densegym world the env belongs to (for listings).
        extra: the pip extra its dependencies come from (``None`` for core).
        version: the id's version suffix (``-v<version>``).
        nondeterministic: same seed and actions may not give the same episode (passed
            to ``gym.register``; the contract test skips its determinism check).
        kind: ``"single"`` (a ``gymnasium.Env``) or ``"parallel"`` (a PettingZoo
            ``ParallelEnv``).
        train_defaults: per trainer (``"ppo"``, ``"a2c"``, ``"dqn"``, ``"recurrent_ppo"``),
            hyperparameters that override the trainer's defaults on this env. A value
            under ``policy_kwargs["features_extractor_class"]`` may be a ``"module:Class"``
            string (core data names agent code by string).
    """

    name: str
    base: str
    max_episode_steps: int | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    world: str = "control"
    extra: str | None = None
    version: int = 0
    nondeterministic: bool = False
    kind: str = "single"
    train_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The full Gymnasium id, ``densegym/<name>-v<version>``."""
        return f"{NAMESPACE}/{self.name}-v{self.version}"


def entry_for(env_id: str) -> EnvEntry | None:
    """The entry registered as ``env_id``, ``None`` for an id densegym does not register.

    Example:
        >>> entry_for("densegym/MountainCarSparse-v0").max_episode_steps
        200
        >>> entry_for("CartPole-v1") is None
        True
    """
    return _BY_ID.get(env_id)


#: PPO-family settings measured on MountainCar (benchmarks/llm_rewards.py): with lr 3e-4
#: and no entropy bonus PPO never reached the flag in 120k steps, even with potential
#: shaping.
_MOUNTAIN_CAR_PPO: dict[str, Any] = {"ent_coef": 0.01, "learning_rate": 1e-3}


def _minihack_train_defaults() -> dict[str, dict[str, Any]]:
    """Glyph-CNN features and small heads; PPO-family rollouts of 128 with an entropy bonus."""
    extractor = "densegym.agents.sb3.extractors:MiniHackExtractor"

    def policy(arch: Any) -> dict[str, Any]:
        return {"policy_kwargs": {"features_extractor_class": extractor, "net_arch": arch}}

    heads = {"pi": [64], "vf": [64]}
    ppo = {"n_steps": 128, "ent_coef": 0.01, **policy(heads)}
    return {"ppo": ppo, "recurrent_ppo": ppo, "a2c": policy(heads), "dqn": policy([64, 64])}


def _minihack(task: str, steps: int) -> EnvEntry:
    return EnvEntry(
        name=f"MiniHack-{task}",
        base="densegym.envs.control.minihack:MiniHackNavigation",
        max_episode_steps=steps,
        kwargs={"task": f"MiniHack-{task}-v0"},
        extra="minihack",
        train_defaults=_minihack_train_defaults(),
    )


def _miniwob(task: str) -> EnvEntry:
    return EnvEntry(
        name=f"MiniWoB-{task}",
        base="densegym.envs.web.miniwob:MiniWoBEnv",
        max_episode_steps=miniwob_tasks.max_steps(task),
        kwargs={"task": task},
        world="web",
        extra="web",
        nondeterministic=task in miniwob_tasks.NONDETERMINISTIC,
    )


# Time limits follow MiniHack's own defaults for each task.
ENTRIES: tuple[EnvEntry, ...] = (
    EnvEntry(
        name="MountainCarSparse",
        base="densegym.envs.control.mountain_car:MountainCarSparseEnv",
        max_episode_steps=200,
        train_defaults={"ppo": _MOUNTAIN_CAR_PPO, "recurrent_ppo": _MOUNTAIN_CAR_PPO},
    ),
    _minihack("Room-5x5", 100),
    _minihack("Room-15x15", 300),
    _minihack("Room-Dark-15x15", 300),
    _minihack("Corridor-R2", 1000),
    _minihack("Corridor-R3", 1000),
    _minihack("KeyRoom-S5", 200),
    _minihack("KeyRoom-S15", 400),
    _minihack("MultiRoom-N2", 40),
    _minihack("MultiRoom-N4", 120),
    _minihack("MultiRoom-N6", 240),
    _minihack("MultiRoom-N6-OpenDoor", 240),
    _minihack("MultiRoom-N10-OpenDoor", 360),
    _minihack("MultiRoom-N4-Monster", 120),
    _minihack("River", 350),
    # Language reasoning: one step per action; budgets leave room beyond the longest
    # oracle solution (Arithmetic 7+1, WordProblems 8+1, Countdown 5+1 steps).
    EnvEntry(
        name="Arithmetic",
        base="densegym.envs.reasoning.arithmetic:ArithmeticEnv",
        max_episode_steps=16,
        world="reasoning",
    ),
    EnvEntry(
        name="WordProblems",
        base="densegym.envs.reasoning.word_problems:WordProblemsEnv",
        max_episode_steps=16,
        world="reasoning",
    ),
    EnvEntry(
        name="Countdown",
        base="densegym.envs.reasoning.countdown:CountdownEnv",
        max_episode_steps=12,
        world="reasoning",
    ),
    # path= names a GSM8K-format JSONL file; without it a small generated set is played.
    EnvEntry(
        name="GSM8K",
        base="densegym.envs.reasoning.gsm8k:GSM8KEnv",
        max_episode_steps=24,
        world="reasoning",
    ),
    # Tool use: a shop world in SQLite; the longest oracle plan is 8 calls (4x headroom).
    EnvEntry(
        name="ToolShop-Lookup",
        base="densegym.envs.tools.lookup:LookupEnv",
        max_episode_steps=32,
        world="tools",
    ),
    EnvEntry(
        name="ToolShop-Orders",
        base="densegym.envs.tools.orders:OrdersEnv",
        max_episode_steps=32,
        world="tools",
    ),
    EnvEntry(
        name="ToolShop-Config",
        base="densegym.envs.tools.config:ConfigEnv",
        max_episode_steps=32,
        world="tools",
    ),
    # BFCL's multi-turn base set (the bfcl-eval wheel, installed with --no-deps); the
    # longest ground truth is 16 steps with one end_turn() per turn (4x headroom).
    EnvEntry(
        name="BFCL-MultiTurn",
        base="densegym.envs.tools.bfcl:BFCLMultiTurnEnv",
        max_episode_steps=64,
        world="tools",
        extra="tools",
    ),
    # Web: a generated shop on a real local HTTP server (stdlib only); the longest oracle
    # plan is 11 actions.
    EnvEntry(
        name="WebShop-Search",
        base="densegym.envs.web.env:WebShopEnv",
        max_episode_steps=40,
        world="web",
    ),
    # MiniWoB++ (miniwob 1.1.0's shipped pages) in headless Chromium; the task names, time
    # limits and the tasks with known reward bugs are data in densegym/miniwob_tasks.py.
    *(_miniwob(task) for task in miniwob_tasks.MINIWOB_TASKS),
)


#: PPO on the small cooperative tasks (one row per agent): short rollouts and an entropy
#: bonus, as densegym.agents.sb3.multiagent's PPO_DEFAULTS.
_MULTIAGENT_PPO: dict[str, Any] = {"n_steps": 128, "ent_coef": 0.01}


def _multiagent(name: str, base: str, cycles: int, **kwargs: Any) -> EnvEntry:
    return EnvEntry(
        name=f"MA-{name}",
        base=f"densegym.envs.multiagent.{base}",
        max_episode_steps=cycles,
        kwargs=kwargs,
        world="multiagent",
        extra="multiagent",
        kind="parallel",
        train_defaults={"ppo": _MULTIAGENT_PPO, "recurrent_ppo": _MULTIAGENT_PPO},
    )


#: Multi-agent ids (``kind="parallel"``, PettingZoo ``ParallelEnv``s): registered in
#: PettingZoo's registry (``pettingzoo.make("parallel", id)``, or
#: ``densegym.make_parallel(id, shaping=...)``), never with Gymnasium, and kept out of
#: ``ENTRIES``/``ENV_IDS`` so every single-agent loop stays single-agent.
#: ``max_episode_steps`` is PettingZoo's ``max_cycles``.
PARALLEL_ENTRIES: tuple[EnvEntry, ...] = (
    _multiagent("SwitchDoor-N2-S7", "grid:SwitchDoorEnv", 50, size=7, n_agents=2),
    _multiagent("SwitchDoor-N2-S9", "grid:SwitchDoorEnv", 80, size=9, n_agents=2),
    _multiagent("SwitchDoor-N3-S9", "grid:SwitchDoorEnv", 80, size=9, n_agents=3),
    _multiagent("GridSpread-N2-S6", "grid:GridSpreadEnv", 30, size=6, n_agents=2),
    _multiagent("GridSpread-N3-S8", "grid:GridSpreadEnv", 50, size=8, n_agents=3),
    _multiagent("SparseSpread", "spread:SparseSpreadEnv", 50, N=2),
    # Text games (turn-taking, text spaces): one speaker step and up to 3 answer tries;
    # N = 8 alternating negotiation turns.
    _multiagent("Referential", "referential:ReferentialEnv", 4),
    _multiagent("Negotiation", "negotiation:NegotiationEnv", 8),
)


def _single_view(name: str, view: str, parallel_name: str, learner: str) -> EnvEntry:
    """A Gymnasium id of one learner in a multi-agent id, its partners the scripted oracle."""
    parallel = next(entry for entry in PARALLEL_ENTRIES if entry.name == parallel_name)
    return EnvEntry(
        name=name,
        base=f"densegym.envs.multiagent.single_view:{view}",
        max_episode_steps=parallel.max_episode_steps,
        kwargs={
            "parallel": parallel.base,
            "learner": learner,
            "partner": "oracle",
            "max_cycles": parallel.max_episode_steps,
            **parallel.kwargs,
        },
        world="multiagent",
        extra="multiagent",
        train_defaults={"ppo": _MULTIAGENT_PPO, "recurrent_ppo": _MULTIAGENT_PPO},
    )


#: Single-agent views of multi-agent ids (``kind="single"``, Gymnasium ids): one learner,
#: the other agents played by the env's scripted oracle, the team reward
#: (:mod:`densegym.envs.multiagent.single_view`). The text views take the ``candidates``
#: view (``view={"id": "candidates", "k": 4, "include_oracle": True}``) for SB3. The speaker's
#: side of the referential game is ``gym.make("densegym/MA-Referential-Listener-v0",
#: learner="speaker")`` (a one-step episode).
SINGLE_VIEW_ENTRIES: tuple[EnvEntry, ...] = (
    _single_view("MA-SwitchDoor-N2-S7-Solo", "OracleAgentView", "MA-SwitchDoor-N2-S7", "agent_0"),
    _single_view("MA-SwitchDoor-N2-S9-Solo", "OracleAgentView", "MA-SwitchDoor-N2-S9", "agent_0"),
    _single_view("MA-GridSpread-N2-S6-Solo", "OracleAgentView", "MA-GridSpread-N2-S6", "agent_0"),
    _single_view("MA-Referential-Listener", "TextAgentView", "MA-Referential", "listener"),
    _single_view("MA-Negotiation-Solo", "TextAgentView", "MA-Negotiation", "agent_0"),
)
ENTRIES = (*ENTRIES, *SINGLE_VIEW_ENTRIES)

ENV_IDS: tuple[str, ...] = tuple(entry.id for entry in ENTRIES)
PARALLEL_IDS: tuple[str, ...] = tuple(entry.id for entry in PARALLEL_ENTRIES)
_BY_ID: dict[str, EnvEntry] = {entry.id: entry for entry in (*ENTRIES, *PARALLEL_ENTRIES)}


def register_parallel_envs() -> None:
    """Register every multi-agent id in PettingZoo's registry (idempotent).

    Does nothing without the ``multiagent`` extra (PettingZoo not installed).
    """
    try:
        import pettingzoo
    except ImportError:
        return
    for entry in PARALLEL_ENTRIES:
        if entry.id in pettingzoo.parallel_registry:
            continue
        pettingzoo.register(
            "parallel",
            entry.id,
            entry_point="densegym.make:make_parallel_env",
            max_cycles=entry.max_episode_steps,
            kwargs={"base": entry.base, **entry.kwargs},
        )


def register_envs() -> None:
    """Register every densegym id: Gymnasium's single-agent ids, PettingZoo's parallel ones."""
    register_parallel_envs()
    for entry in ENTRIES:
        if entry.id in gym.registry:
            continue
        gym.register(
            id=entry.id,
            entry_point="densegym.make:make_env",
            max_episode_steps=entry.max_episode_steps,
            nondeterministic=entry.nondeterministic,
            kwargs={"base": entry.base, **entry.kwargs},
        )
