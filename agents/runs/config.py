"""What a run is: :class:`RunConfig` (plain data) and the trainers a config can name.

A config names its trainer as ``"<kind>:<algorithm>"`` (``"sb3:ppo"``, ``"sb3:dqn"``,
later ``"lm:grpo"``). The kind is looked up in :data:`TRAINERS`, a
:class:`~densegym.registry.Registry` of train functions with the signature of
:func:`densegym.agents.sb3.training.train`: ``train(config, *, resume=False,
progress=True, callbacks=None) -> summary dict``.

Each field that the command line exposes carries its flag and help text in the field's
metadata (:func:`option`), so ``densegym train`` and ``densegym compare`` build their
options from this class (:func:`cli_options`) instead of a second list.

Example:
    >>> config = RunConfig("densegym/MountainCarSparse-v0", trainer="sb3:a2c", seed=3)
    >>> config.algo, config.run_dir.as_posix()
    ('a2c', 'runs/MountainCarSparse-v0/none/a2c-seed3')
    >>> RunConfig("densegym/MountainCarSparse-v0", algo="dqn").trainer  # the older spelling
    'sb3:dqn'
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from densegym import logging as names
from densegym.agents.sb3 import ALGORITHM_NAMES
from densegym.registry import Registry

#: Train functions by trainer kind (the part of ``RunConfig.trainer`` before the colon).
TRAINERS: Registry[Callable[..., dict[str, Any]]] = Registry("trainer")
TRAINERS.register("sb3", "densegym.agents.sb3.training:train")

#: The algorithms each trainer kind takes after the colon (a kind not listed takes any).
TRAINER_ALGORITHMS: dict[str, tuple[str, ...]] = {"sb3": tuple(ALGORITHM_NAMES)}

#: Trainer of a config that names none.
DEFAULT_TRAINER = "sb3:ppo"


def register_trainer(
    kind: str, train: Callable[..., dict[str, Any]] | str, algorithms: tuple[str, ...] = ()
) -> None:
    """Make ``"<kind>:<algorithm>"`` a trainer a :class:`RunConfig` can name.

    Args:
        kind: the part before the colon, e.g. ``"lm"``.
        train: the train function, or its lazy ``"module:attr"`` path.
        algorithms: the names allowed after the colon (empty: any).
    """
    TRAINERS.register(kind, train)
    if algorithms:
        TRAINER_ALGORITHMS[kind] = tuple(algorithms)
    else:
        TRAINER_ALGORITHMS.pop(kind, None)


# GRPO (process / outcome / PAV advantages) and RLOO on text envs
# (densegym.agents.llm.trainers; needs the llm extra, LoRA the lmrl extra).
register_trainer("lm", "densegym.agents.llm.trainers:train", ("grpo", "rloo"))


def trainer_names() -> list[str]:
    """Every trainer a config can name, ``"<kind>:<algorithm>"``.

    Example:
        >>> [name for name in trainer_names() if name.startswith("sb3:")]
        ['sb3:a2c', 'sb3:dqn', 'sb3:ppo', 'sb3:recurrent_ppo']
    """
    out = []
    for kind in TRAINERS.names():
        algorithms = TRAINER_ALGORITHMS.get(kind)
        out += [f"{kind}:{a}" for a in sorted(algorithms)] if algorithms else [f"{kind}:<name>"]
    return out


def check_trainer(trainer: str) -> tuple[str, str]:
    """Split a trainer name into (kind, algorithm); an unknown one fails with one sentence.

    Example:
        >>> check_trainer("sb3:ppo")
        ('sb3', 'ppo')
        >>> check_trainer("sb3:sac")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown trainer 'sb3:sac' (algo 'sac'); registered trainers: ...
    """
    kind, sep, algorithm = str(trainer).partition(":")
    allowed = TRAINER_ALGORITHMS.get(kind)
    known = kind in TRAINERS and sep and algorithm and (not allowed or algorithm in allowed)
    if not known:
        detail = f" (algo {algorithm!r})" if kind in TRAINERS and algorithm else ""
        raise ValueError(
            f"unknown trainer {trainer!r}{detail}; registered trainers: "
            + ", ".join(trainer_names())
        )
    return kind, algorithm


def trainer_function(trainer: str) -> Callable[..., dict[str, Any]]:
    """The train function of a trainer name (imported on first use).

    Example:
        >>> trainer_function("sb3:ppo").__module__
        'densegym.agents.sb3.training'
    """
    kind, _ = check_trainer(trainer)
    return TRAINERS.get(kind)


@dataclass(frozen=True)
class CliOption:
    """How a :class:`RunConfig` field appears on the command line.

    Attributes:
        help: the option's help text.
        flag: the option, e.g. ``"--n-envs"`` (default: the field name with dashes).
        metavar: shown for the value in ``--help``.
        parse: turns the command-line text into the field's value (default: the type
            of the field's default, or the text itself).
        repeat: the option may be given several times; ``parse`` receives the list.
    """

    help: str
    flag: str | None = None
    metavar: str | None = None
    parse: Callable[[Any], Any] | None = None
    repeat: bool = False


def option(help: str, flag: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Field metadata that puts a :class:`RunConfig` field on the command line."""
    return {"cli": CliOption(help, flag, **kwargs)}


def parse_shaping(text: str | None) -> Any:
    """A shaping spec from the command line: a name, ``a+b``, or JSON.

    Example:
        >>> parse_shaping("count+potential"), parse_shaping('{"id": "e3b", "coef": 0.1}')
        ('count+potential', {'id': 'e3b', 'coef': 0.1})
    """
    if text is None:
        return None
    text = text.strip()
    return json.loads(text) if text.startswith(("{", "[")) else text


def parse_key_values(pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` into a dict; each value is read as JSON when it is JSON.

    Example:
        >>> parse_key_values(["learning_rate=1e-3", "policy=MlpPolicy"])
        {'learning_rate': 0.001, 'policy': 'MlpPolicy'}
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            params[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            params[key.strip()] = value.strip()
    return params


def parse_json_object(text: str | None) -> dict[str, Any]:
    """A JSON object from the command line (``None`` or empty: ``{}``).

    Example:
        >>> parse_json_object('{"difficulty": 3}')
        {'difficulty': 3}
    """
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {text!r}")
    return value


@dataclass
class RunConfig:
    """Everything that defines one training run; saved as ``config.json`` in the run dir.

    ``algo="a2c"``, the older spelling of ``trainer="sb3:a2c"``, is still accepted as an
    argument (scripts and ``config.json`` files from before trainers); when given it
    replaces ``trainer``. ``config.algo`` reads the trainer's algorithm.

    Attributes:
        env_id: registered densegym id (a multi-agent ``densegym/MA-...`` id trains one
            policy shared by every agent; ``steps`` then counts agent-steps).
        trainer: ``"<kind>:<algorithm>"``, e.g. ``"sb3:ppo"``, ``"sb3:a2c"``,
            ``"sb3:dqn"``, ``"sb3:recurrent_ppo"`` (see :func:`trainer_names`).
        shaping: a shaping spec (data).
        steps: total env steps to train for.
        n_envs: number of sub-envs in the vectorised env.
        seed: run seed (envs are seeded ``seed + i``).
        logdir: root folder; the run goes to ``logdir/<env>/<shaping>/<algo>-seed<seed>``.
        hyperparams: overrides of the algorithm's defaults.
        checkpoint_every: env steps between checkpoints (0: only at the end).
        log_every: env steps between two TensorBoard/curve points.
        device: torch device for the agent (``"cpu"``, ``"cuda"``, ``"auto"``).
        torch_threads: torch intra-op threads (1 is ~10x faster for small nets on 2 cores).
        env_kwargs: extra kwargs for ``gym.make``.
        batched_shaping: the older spelling of ``{"id": ..., "batched": true}`` entries
            in ``shaping`` (computed for all sub-envs in one batch by
            :class:`~densegym.rewards.intrinsic.vec.VecIntrinsicBonus`, trained at rollout
            end); folded into ``shaping`` on construction, so the run directory and label
            are the same either way.
        time_limit_s: wall-clock seconds one training call may take (0: no limit). A
            trainer stops at the limit and says so in its summary
            (``stopped_at_time_limit``); the run is then unfinished, so a repeated sweep
            continues it for up to as long again.

    Example:
        >>> import tempfile
        >>> from dataclasses import replace
        >>> config = RunConfig("densegym/MountainCarSparse-v0", shaping="potential")
        >>> replace(config, algo="a2c").trainer, replace(config, trainer="sb3:dqn").algo
        ('sb3:a2c', 'dqn')
        >>> path = Path(tempfile.mkdtemp()) / "config.json"
        >>> config.save(path)
        >>> RunConfig.load(path) == config
        True
        >>> RunConfig("densegym/MountainCarSparse-v0", trainer="gym:ppo")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown trainer 'gym:ppo'; registered trainers: ...
    """

    env_id: str = field(
        metadata=option("registered env id, e.g. densegym/MiniHack-Room-5x5-v0", "--env")
    )
    trainer: str = field(
        default=DEFAULT_TRAINER,
        metadata=option(
            "what trains the agent, <kind>:<algorithm>: sb3:ppo (default), sb3:a2c, sb3:dqn, "
            "sb3:recurrent_ppo, lm:grpo, lm:rloo"
        ),
    )
    shaping: Any = None
    steps: int = field(default=50_000, metadata=option("total env steps"))
    n_envs: int = field(default=8, metadata=option("parallel sub-envs per run"))
    seed: int = field(default=0, metadata=option("run seed"))
    logdir: str = field(default="runs", metadata=option("root folder of the run directories"))
    hyperparams: dict[str, Any] = field(
        default_factory=dict,
        metadata=option(
            "algorithm hyperparameter override (JSON value), repeatable",
            "--hp",
            metavar="KEY=VALUE",
            parse=parse_key_values,
            repeat=True,
        ),
    )
    checkpoint_every: int = field(
        default=0, metadata=option("env steps between checkpoints (0: only at the end)")
    )
    log_every: int = field(
        default=1000, metadata=option("env steps between two TensorBoard/curve points")
    )
    device: str = field(default="cpu", metadata=option("torch device: cpu, cuda or auto"))
    torch_threads: int = field(
        default=1, metadata=option("torch threads (1 is fastest for small nets on few cores)")
    )
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata=option(
            "extra gym.make kwargs as JSON, e.g. '{\"difficulty\": 3}'",
            metavar="JSON",
            parse=parse_json_object,
        ),
    )
    batched_shaping: Any = field(
        default=None,
        metadata=option(
            "one learned-intrinsic spec computed for all sub-envs in one batch (e.g. e3b), "
            "trained at rollout end",
            parse=parse_shaping,
        ),
    )
    time_limit_s: float = 0.0

    def __post_init__(self) -> None:
        import gymnasium as gym

        import densegym
        from densegym.rewards import normalize_spec

        if ":" not in str(self.trainer) and self.trainer in TRAINER_ALGORITHMS["sb3"]:
            self.trainer = f"sb3:{self.trainer}"  # a bare SB3 algorithm (older positional use)
        check_trainer(self.trainer)
        from densegym.registration import PARALLEL_IDS

        # Multi-agent ids live in PettingZoo's registry; their runs train with parameter
        # sharing (one row per agent, see densegym.agents.sb3.multiagent).
        if self.env_id not in gym.registry and self.env_id not in PARALLEL_IDS:
            known = ", ".join((*densegym.ENV_IDS, *PARALLEL_IDS))
            raise ValueError(f"unknown env id {self.env_id!r}; densegym ids: {known}")
        if self.steps <= 0 or self.n_envs <= 0:
            raise ValueError("steps and n_envs must be positive")
        if self.checkpoint_every < 0:
            raise ValueError(
                f"checkpoint_every must be 0 (only at the end) or more, not {self.checkpoint_every}"
            )
        if not self.time_limit_s >= 0:
            raise ValueError(f"time_limit_s must be 0 (no limit) or more, not {self.time_limit_s}")
        from densegym.rewards.batching import fold_batched, split_batched

        normalize_spec(self.shaping)  # fail early on a malformed spec
        if normalize_spec(self.batched_shaping):
            # The older separate field: fold it into `shaping` as {"batched": true} entries.
            self.shaping = fold_batched(self.shaping, self.batched_shaping)
            self.batched_shaping = None
        split_batched(self.shaping)  # bad "batched" values, two terms of one name

    @property
    def algo(self) -> str:
        """The trainer's algorithm, e.g. ``"ppo"`` for ``"sb3:ppo"``."""
        return self.trainer.partition(":")[2]

    @property
    def trainer_kind(self) -> str:
        """The trainer's kind, e.g. ``"sb3"``."""
        return self.trainer.partition(":")[0]

    @property
    def label(self) -> str:
        """Short name of the run's shaping (per-env and batched), used in paths and plots."""
        from densegym.rewards.batching import run_shaping_label

        return run_shaping_label(self.shaping)

    @property
    def agent_name(self) -> str:
        """The trainer's part of the run folder name: the algorithm for SB3 (``ppo``)."""
        kind, algorithm = self.trainer.partition(":")[::2]
        return algorithm if kind == "sb3" else f"{kind}-{algorithm}"

    @property
    def run_dir(self) -> Path:
        """Where this run writes TensorBoard events, checkpoints and summaries."""
        return Path(self.logdir) / names.run_name(
            self.env_id, self.label, self.agent_name, self.seed
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready data (``algo`` included for older readers)."""
        return {**asdict(self), "algo": self.algo}

    def save(self, path: Path) -> None:
        """Write the config as JSON, atomically."""
        path = Path(path)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        os.replace(partial, path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """A config from :meth:`to_dict`'s data, or from a ``config.json`` of any version."""
        if not isinstance(data, dict):
            raise ValueError(f"a run config is a JSON object, got {type(data).__name__}")
        data = dict(data)
        if data.get("algo") == str(data.get("trainer", "")).partition(":")[2]:
            data.pop("algo")  # written by to_dict: the trainer says it already
        known = {f.name for f in fields(cls)} | {"algo"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown run config fields {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a config written by :meth:`save` (or by an older densegym)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"run config {path} is not valid JSON: {error}") from None
        return cls.from_dict(data)


def _accept_algo(init: Callable[..., None]) -> Callable[..., None]:
    """Let ``RunConfig(..., algo="a2c")`` mean ``trainer="sb3:a2c"``.

    ``algo`` is an argument, not a field: ``dataclasses.replace`` passes every field,
    so an ``algo`` field would undo a replaced ``trainer``. Given (also through
    ``replace(config, algo=...)``), it wins over ``trainer``.
    """

    @functools.wraps(init)
    def __init__(self: RunConfig, *args: Any, algo: str | None = None, **kwargs: Any) -> None:
        if algo is not None:
            if len(args) > 1:  # trainer given by position
                args = (args[0], f"sb3:{algo}", *args[2:])
            else:
                kwargs["trainer"] = f"sb3:{algo}"
        init(self, *args, **kwargs)

    signature = inspect.signature(init)
    extra = inspect.Parameter("algo", inspect.Parameter.KEYWORD_ONLY, default=None)
    __init__.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    return __init__


RunConfig.__init__ = _accept_algo(RunConfig.__init__)  # type: ignore[method-assign]


def cli_options() -> Iterator[tuple[str, Any, CliOption]]:
    """Each command-line field of :class:`RunConfig`: ``(name, default, option)``.

    The default is ``None`` for a field without one (``env_id``).

    Example:
        >>> [(name, opt.flag) for name, _, opt in cli_options()][:3]
        [('env_id', '--env'), ('trainer', None), ('steps', None)]
    """
    for item in fields(RunConfig):
        cli = item.metadata.get("cli")
        if cli is None:
            continue
        if item.default is not MISSING:
            default = item.default
        elif item.default_factory is not MISSING:
            default = item.default_factory()
        else:
            default = None
        yield item.name, default, cli
