"""The ``densegym`` command line: list, train, eval, compare and sweep.

Example:
    $ densegym list
    $ densegym train --env densegym/MountainCarSparse-v0 --shaping potential --steps 50000
    $ densegym compare --env densegym/MiniHack-Room-5x5-v0 --shaping none,count,potential
    $ densegym sweep --env densegym/MountainCarSparse-v0 --shaping none,potential --engine ray

Errors are one line on stderr: a usage error (a bad option or value) exits with 2, like
argparse's own, and a failure while running exits with 1. ``--debug`` (anywhere on the
line) or ``DENSEGYM_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from densegym.agents.runs.config import RunConfig, cli_options, parse_shaping
from densegym.agents.sb3 import ALGORITHM_NAMES

LIST_BEGIN = "<!-- densegym list: begin -->"
LIST_END = "<!-- densegym list: end -->"


def _parse_shaping(text: str | None) -> Any:
    try:
        return parse_shaping(text)
    except json.JSONDecodeError as error:
        raise SystemExit(f"--shaping: not valid JSON: {error}") from None


def _check_shaping(shaping: Any, flag: str = "--shaping") -> Any:
    """Refuse a spec naming an unknown shaper or argument now, before anything trains."""
    from densegym.rewards.registry import _check_kwargs, normalize_spec, shaper_class

    try:
        for spec in normalize_spec(shaping):
            # "scope" (agent or team) is read by multi-agent shaping, not by the shaper.
            options = {k: v for k, v in spec.items() if k not in ("id", "batched", "scope")}
            _check_kwargs(spec["id"], shaper_class(spec["id"]), options)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"{flag}: {error}") from None
    return shaping


def _split_shapings(text: str) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [part.strip() for part in text.split(",") if part.strip()]


def _needs(name: str, quote: str = "") -> str:
    """What a shaper needs from an env with its default spec (capability names)."""
    from densegym.rewards.core import ShapedReward
    from densegym.rewards.registry import shaper_class

    cls = shaper_class(name)
    needs = ", ".join(f"{quote}{c}{quote}" for c in cls.requirements({})) or "nothing"
    if cls.requirements.__func__ is not ShapedReward.requirements.__func__:
        needs += " (by default; depends on the spec)"
    return needs


def _env_capabilities(env_id: str) -> str:
    """The capabilities of an id's env, or why they cannot be listed here."""
    import gymnasium as gym

    from densegym.protocols import capabilities

    try:
        env = gym.make(env_id)
    except (ImportError, gym.error.DependencyNotInstalled):
        return "(its extra is not installed)"
    names = ", ".join(capabilities(env))
    env.close()
    return names


def _parallel_rows() -> list[tuple[str, int, str, int]]:
    """The multi-agent ids: (id, agents, extra, max cycles), and their potentials registered.

    The multi-agent potentials (``ma_*``) are registered here so that the listing is the
    same whatever was imported before (they live with the PettingZoo extra).
    """
    from densegym.registration import PARALLEL_ENTRIES

    try:
        from densegym.rewards.multiagent import register_potentials
    except ImportError:  # no multiagent extra
        pass
    else:
        register_potentials()
    rows = []
    for entry in PARALLEL_ENTRIES:
        agents = int(entry.kwargs.get("n_agents", entry.kwargs.get("N", 0)))
        rows.append((entry.id, agents, entry.extra or "core", int(entry.max_episode_steps or 0)))
    return rows


def list_markdown() -> str:
    """The env and shaper listing, as the Markdown block kept in the README."""
    import gymnasium as gym

    from densegym import rewards
    from densegym.registration import ENTRIES
    from densegym.rewards.potential import available_potentials
    from densegym.rewards.registry import shaper_class

    lines = [LIST_BEGIN, "", "| env id | world | extra | time limit |", "|---|---|---|---|"]
    families: dict[str, list[Any]] = {}  # MiniWoB++'s 128 tasks: one row
    for entry in ENTRIES:
        if entry.name.startswith("MiniWoB-"):
            families.setdefault("MiniWoB", []).append(entry)
            continue
        limit = gym.registry[entry.id].max_episode_steps
        lines.append(f"| `{entry.id}` | {entry.world} | {entry.extra or 'core'} | {limit} |")
    for family, members in families.items():
        limits = sorted({gym.registry[entry.id].max_episode_steps for entry in members})
        span = "/".join(str(limit) for limit in limits)
        lines.append(
            f"| `densegym/{family}-<task>-v0` ({len(members)} tasks: `densegym list`) | "
            f"{members[0].world} | {members[0].extra or 'core'} | {span} |"
        )
    lines += ["", "| multi-agent env id | agents | extra | max cycles |", "|---|---|---|---|"]
    for env_id, agents, extra, cycles in _parallel_rows():
        lines.append(f"| `{env_id}` | {agents} | {extra} | {cycles} |")
    lines += ["", "| shaper | what it adds | needs from the env |", "|---|---|---|"]
    for name in rewards.available():
        doc = (shaper_class(name).__doc__ or "").strip().splitlines()
        lines.append(f"| `{name}` | {doc[0] if doc else ''} | {_needs(name, '`')} |")
    lines += [
        "",
        "Potentials for `potential`: " + ", ".join(f"`{p}`" for p in available_potentials()),
        "",
        LIST_END,
    ]
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(list_markdown())
        return 0
    from rich.console import Console
    from rich.table import Table

    import densegym
    from densegym import rewards
    from densegym.registration import ENTRIES
    from densegym.rewards.registry import shaper_class

    console = Console()
    envs = Table(title=f"densegym {densegym.__version__} environments")
    for column in ("id", "world", "extra", "capabilities"):
        envs.add_column(column)
    for entry in ENTRIES:
        envs.add_row(entry.id, entry.world, entry.extra or "core", _env_capabilities(entry.id))
    console.print(envs)
    teams = Table(title="multi-agent environments (shaping scope: agent or team)")
    for column in ("id", "agents", "extra", "max cycles"):
        teams.add_column(column)
    for env_id, agents, extra, cycles in _parallel_rows():
        teams.add_row(env_id, str(agents), extra, str(cycles))
    console.print(teams)
    shapers = Table(title="shapers")
    for column in ("name", "description", "needs from the env"):
        shapers.add_column(column)
    for name in rewards.available():
        doc = (shaper_class(name).__doc__ or "").strip().splitlines()
        shapers.add_row(name, doc[0] if doc else "", _needs(name))
    console.print(shapers)
    return 0


def _flag(name: str, cli: Any) -> str:
    return cli.flag or "--" + name.replace("_", "-")


def _base_config(args: argparse.Namespace, shaping: Any) -> RunConfig:
    """The run config of ``train``/``compare``: one value per :func:`cli_options` field."""
    values: dict[str, Any] = {}
    for name, _, cli in cli_options():
        value = getattr(args, name)
        if cli.parse is not None:
            try:
                value = cli.parse(value)
            except ValueError as error:  # json.JSONDecodeError included
                raise SystemExit(f"{_flag(name, cli)}: {error}") from None
        values[name] = value
    if args.algo is not None:  # the older spelling of --trainer sb3:<algo>
        if args.trainer not in (None, args.algo, f"sb3:{args.algo}"):
            raise SystemExit(f"--algo {args.algo} and --trainer {args.trainer} disagree")
        values["trainer"] = f"sb3:{args.algo}"
    if values["trainer"] is None:
        values.pop("trainer")
    try:
        return RunConfig(shaping=shaping, **values)
    except (TypeError, ValueError) as error:
        raise SystemExit(str(error)) from None


def _cmd_train(args: argparse.Namespace) -> int:
    from densegym.agents.runs import resume_run, train

    if args.resume:
        summary = resume_run(args.resume, steps=args.steps_given, progress=not args.no_progress)
    else:
        if not args.env_id:
            raise SystemExit("train needs --env (or --resume RUN_DIR)")
        config = _base_config(args, _check_shaping(_parse_shaping(args.shaping)))
        summary = train(config, progress=not args.no_progress)
    print(json.dumps(summary, indent=2))
    print(f"TensorBoard: tensorboard --logdir {summary['run_dir']}")
    return 0


def _load_agent(args: argparse.Namespace):
    """The eval agent (from :func:`densegym.agents.make_agent`), env id, shaping, env kwargs."""
    from densegym.agents import make_agent
    from densegym.registry import split_spec

    try:
        kind, argument = split_spec(args.agent)
    except ValueError as error:
        raise SystemExit(f"--agent: {error}") from None
    run_dir = argument if kind == "sb3" and argument else args.run
    env_id, shaping, env_kwargs = args.env, None, {}
    if kind == "sb3":
        from densegym.agents.sb3.training import CONFIG_FILE, RunConfig

        if not run_dir:
            raise SystemExit(
                "eval needs --run RUN_DIR (a densegym train output) or --agent <spec>, "
                "e.g. random, llm:<backend>, search:<name>"
            )
        config_path = Path(run_dir) / CONFIG_FILE
        if not config_path.is_file():
            raise SystemExit(f"{run_dir} is not a densegym run directory (no {CONFIG_FILE})")
        config = RunConfig.load(config_path)
        # The run's env kwargs (e.g. a text view) define its observation space; keep them
        # unless the user evaluates on another env.
        env_id, shaping = args.env or config.env_id, config.shaping
        env_kwargs = config.env_kwargs if not args.env or args.env == config.env_id else {}
        spec = f"sb3:{run_dir}"
    else:
        if not args.env:
            raise SystemExit(f"--agent {args.agent} needs --env")
        spec = args.agent
    try:
        agent = make_agent(spec, seed=args.seed)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise SystemExit(f"--agent {args.agent}: {error}") from None
    return agent, env_id, shaping, env_kwargs


def _cmd_eval(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import torch

    from densegym.agents import evaluate

    torch.set_num_threads(1)
    if args.episodes < 1:
        raise SystemExit(f"--episodes must be at least 1, got {args.episodes}")
    agent, env_id, run_shaping, env_kwargs = _load_agent(args)
    if args.env_kwargs:
        env_kwargs = json.loads(args.env_kwargs)
    shaping = _parse_shaping(args.shaping) if args.shaping is not None else run_shaping
    from densegym.registration import entry_for

    entry = entry_for(env_id)
    if entry is not None and entry.kind == "parallel" and (args.agent or "").startswith("llm:"):
        from densegym.agents.llm.team_policy import evaluate_team  # one LLM per agent

        team = evaluate_team(
            args.agent,
            env_id,
            n_episodes=args.episodes,
            seed=args.seed,
            deterministic=not args.stochastic,
            shaping=shaping or None,
            env_kwargs=env_kwargs,
        )
        print(json.dumps({"env_id": env_id, **team}, indent=2))
        return 0
    if entry is not None and entry.kind == "parallel":  # one policy plays every agent
        from densegym.agents.sb3.multiagent import evaluate_parallel

        team = evaluate_parallel(
            agent,
            env_id,
            n_episodes=args.episodes,
            seed=args.seed,
            deterministic=not args.stochastic,
            shaping=shaping or None,
            env_kwargs=env_kwargs,
        )
        print(json.dumps({"env_id": env_id, **team}, indent=2))
        return 0
    if shaping:
        env_kwargs = {**env_kwargs, "shaping": shaping}
    if args.record:
        from densegym.frames import RecordFrames, write_strip

        env = RecordFrames(gym.make(env_id, **{**env_kwargs, "render_mode": "rgb_array"}))
    else:
        env = gym.make(env_id, **env_kwargs)
    result = evaluate(  # binds search (and random) agents to the env itself
        agent, env, n_episodes=args.episodes, seed=args.seed, deterministic=not args.stochastic
    )
    out = {"env_id": env_id, **result.as_dict()}
    if args.record:
        frames = env.frames[0] if env.frames else []
        if frames:
            write_strip(frames, args.record)
            out["recorded"] = {"path": str(args.record), "frames": len(frames)}
        else:
            out["recorded"] = {"path": None, "frames": 0, "note": "the env rendered no frames"}
    env.close()
    print(json.dumps(out, indent=2))
    return 0


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine options of ``sweep``/``compare`` (``ray`` ones only for ``ray``)."""
    options: dict[str, Any] = {"max_failures": args.max_failures}
    if getattr(args, "engine", None) == "ray" or getattr(args, "backend", None) == "ray":
        options.update(address=args.address, cpus_per_trial=args.cpus_per_trial)
        options["storage"] = args.storage
    return options


def _print_sweep_table(console: Any, summary: Any, title: str) -> None:
    """One row per (trainer, shaping): success per seed; failed and retried runs marked."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("success_rate", "env_steps_per_s"):  # absent when every run failed
        if column not in summary:
            summary = summary.assign(**{column: float("nan")})
    several = summary["trainer"].nunique() > 1 if "trainer" in summary else False
    columns = ["shaping", "seeds", "success mean", "success per seed", "env-steps/s", "notes"]
    for column in (["trainer"] if several else []) + columns:
        table.add_column(column)
    keys = ["trainer", "shaping"] if several else ["shaping"]
    for key, group in summary.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        status = group["status"] if "status" in group else None
        failed = int((status == "failed").sum()) if status is not None else 0
        retried = int((group["retries"] > 0).sum()) if "retries" in group else 0
        notes = []
        if failed:
            notes.append(f"[red]{failed} failed[/red]")
        if retried:
            notes.append(f"[yellow]{retried} retried[/yellow]")
        per_seed = " ".join(
            "failed" if row.get("status") == "failed" else f"{row['success_rate']:.2f}"
            for _, row in group.iterrows()
        )
        table.add_row(
            *[str(part) for part in key],
            str(len(group)),
            f"{group['success_rate'].mean():.2f}",
            per_seed,
            f"{group['env_steps_per_s'].mean():.0f}",
            ", ".join(notes),
        )
    console.print(table)
    if "error" in summary:
        for _, row in summary[summary["status"] == "failed"].iterrows():
            console.print(f"[red]failed[/red] {row['run_dir']}: {row['error']}")


def _cmd_compare(args: argparse.Namespace) -> int:
    from gymnasium.error import DependencyNotInstalled
    from rich.console import Console

    from densegym.agents.sb3.compare import compare

    if not args.env_id:
        raise SystemExit("compare needs --env")
    from densegym.agents.runs import BACKENDS

    try:
        BACKENDS.get(args.backend)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    console = Console()
    shapings = [
        _check_shaping(_parse_shaping(s) if isinstance(s, str) else s)
        for s in _split_shapings(args.shaping)
    ]
    base = _base_config(args, None)
    seeds = list(range(args.seed, args.seed + args.seeds))
    try:
        paths = compare(
            base,
            shapings,
            seeds,
            workers=args.workers,
            rerun=args.rerun,
            console=console,
            backend=args.backend,
            **_engine_options(args),
        )
    except (ImportError, DependencyNotInstalled) as error:  # the ray extra is missing
        raise SystemExit(str(error)) from None
    import pandas as pd

    summary = pd.read_csv(paths["summary_csv"])
    _print_sweep_table(
        console, summary, f"{args.env_id}: final success rate (last episodes) by shaping"
    )
    console.print(f"Summary CSV: {paths['summary_csv']}")
    console.print(f"Curves CSV:  {paths['curves_csv']}")
    console.print(f"Plot:        {paths['plot']}")
    console.print(f"TensorBoard: tensorboard --logdir {paths['logdir']}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import pandas as pd
    from gymnasium.error import DependencyNotInstalled
    from rich.console import Console

    from densegym.agents.runs.sweep import sweep

    envs = [part.strip() for part in (args.env_id or "").split(",") if part.strip()]
    if not envs:
        raise SystemExit("sweep needs --env (one id or a comma-separated list)")
    trainers = [part.strip() for part in (args.trainer or "").split(",") if part.strip()]
    shapings = [
        _parse_shaping(s) if isinstance(s, str) else s for s in _split_shapings(args.shaping)
    ]
    args.env_id, args.trainer = envs[0], (trainers[0] if trainers else None)
    base = _base_config(args, None)
    checks = [{"env_id": env} for env in envs[1:]] + [{"trainer": t} for t in trainers[1:]]
    for change in checks:  # every id and trainer is checked before anything trains
        try:
            replace(base, **change)
        except ValueError as error:
            raise SystemExit(str(error)) from None
    console = Console()
    try:
        result = sweep(
            envs,
            shapings,
            list(range(args.seed, args.seed + args.seeds)),
            trainers=trainers or None,
            base=base,
            engine=args.engine,
            workers=args.workers,
            rerun=args.rerun,
            console=console,
            **_engine_options(args),
        )
    except (DependencyNotInstalled, ValueError) as error:  # no ray extra; a folder used twice
        raise SystemExit(str(error)) from None
    for env, paths in result.reports.items():
        summary = pd.read_csv(paths["summary_csv"])
        _print_sweep_table(console, summary, f"{env}: final success rate (last episodes)")
        console.print(f"Summary CSV: {paths['summary_csv']}")
        console.print(f"Curves CSV:  {paths['curves_csv']}")
        console.print(f"Plot:        {paths['plot']}")
    console.print(
        f"{len(result.rows)} runs, {len(result.trained)} trained now, {len(result.failed)} failed "
        f"({args.engine}, {result.wall_s:.0f} s). TensorBoard: tensorboard --logdir {base.logdir}"
    )
    return 1 if result.failed else 0


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Where a grid of runs trains: the options shared by ``sweep`` and ``compare``."""
    parser.add_argument("--workers", type=int, default=None, help="runs at a time (default: cores)")
    parser.add_argument("--rerun", action="store_true", help="retrain finished runs from scratch")
    parser.add_argument(
        "--max-failures",
        type=int,
        default=2,
        help="times a run whose process died (killed, out of memory) is started again",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="ray: the Ray cluster to use, e.g. auto on a node of a cluster started with "
        "`ray start` (default: $RAY_ADDRESS, else Ray starts on this machine)",
    )
    parser.add_argument(
        "--cpus-per-trial", type=float, default=1.0, help="ray: CPUs reserved per run"
    )
    parser.add_argument(
        "--storage",
        default=None,
        help="ray: Tune's experiment folder, shared by every node of a cluster "
        "(default: LOGDIR/ray_results)",
    )


def _cmd_design_reward(args: argparse.Namespace) -> int:
    from densegym.agents.reward_design import design_reward

    result = design_reward(
        args.env,
        rounds=args.rounds,
        k=args.k,
        backend=args.backend,
        budget=args.budget,
        out=args.out,
        logdir=args.logdir,
        style=args.style,
        seed=args.seed,
        n_envs=args.n_envs,
        progress=not args.no_progress,
    )
    print(json.dumps({"path": result.path, "fitness": result.fitness, "llm": result.llm_usage}))
    print(f'Use it with: --shaping \'{{"id": "llm_code", "path": "{result.path}"}}\'')
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a :class:`RunConfig`, from its fields' metadata (:func:`cli_options`)."""
    for name, default, cli in cli_options():
        flag = _flag(name, cli)
        metavar = cli.metavar or flag.lstrip("-").replace("-", "_").upper()
        kwargs: dict[str, Any] = {"dest": name, "help": cli.help, "metavar": metavar}
        if cli.repeat:
            kwargs.update(action="append", default=[])
        elif name == "trainer":
            kwargs["default"] = None  # so that --algo can name it
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            kwargs.update(type=type(default), default=default)
        elif isinstance(default, str):
            kwargs["default"] = default
        else:  # parsed from text (JSON, a spec) by _base_config
            kwargs["default"] = None
        parser.add_argument(flag, **kwargs)
    parser.add_argument(
        "--algo",
        default=None,
        choices=ALGORITHM_NAMES,
        help="the older spelling of --trainer sb3:<algo>; recurrent_ppo: sb3-contrib's PPO "
        "with an LSTM policy (memory across steps)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``densegym`` command."""
    parser = argparse.ArgumentParser(prog="densegym", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (anywhere on the line)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list env ids and shapers")
    listing.add_argument("--markdown", action="store_true", help="print the README block")
    listing.set_defaults(func=_cmd_list)

    train = commands.add_parser("train", help="train an SB3 agent on a (shaped) env")
    _add_run_options(train)
    train.add_argument("--shaping", help="name, a+b stack or JSON spec (default: none)")
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint"
    )
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(func=_cmd_train)

    evaluate = commands.add_parser("eval", help="success rate and returns of an agent")
    evaluate.add_argument("--run", help="run directory written by `densegym train`")
    evaluate.add_argument("--env", help="env id (default: the run's)")
    evaluate.add_argument(
        "--agent",
        default="sb3",
        help="agent spec: sb3 (default, the --run model), sb3:<run dir>, random, "
        "llm:<backend>, search:<name> or search:<JSON>",
    )
    evaluate.add_argument("--shaping", help="shaping for the eval env (default: the run's)")
    evaluate.add_argument(
        "--env-kwargs", metavar="JSON", help="gym.make kwargs for the eval env (default: the run's)"
    )
    evaluate.add_argument("--episodes", type=int, default=20)
    evaluate.add_argument("--seed", type=int, default=10_000)
    evaluate.add_argument("--stochastic", action="store_true", help="sample actions")
    evaluate.add_argument(
        "--record",
        metavar="PNG",
        help="write the first episode as a strip of rgb_array frames (web pages, control)",
    )
    evaluate.set_defaults(func=_cmd_eval)

    comp = commands.add_parser("compare", help="one run per shaping x seed, CSV and plot")
    _add_run_options(comp)
    comp.add_argument(
        "--shaping",
        default="none,count,potential",
        help="comma-separated specs (each a name or a+b), or a JSON list",
    )
    comp.add_argument("--seeds", type=int, default=2, help="number of seeds per shaping")
    _add_engine_options(comp)
    comp.add_argument(
        "--backend",
        default="local",
        help="where the runs train: local (this machine; default) or ray (Ray Tune trials)",
    )
    comp.set_defaults(func=_cmd_compare)

    swp = commands.add_parser(
        "sweep", help="a grid of runs (env x trainer x shaping x seed), here or on Ray"
    )
    _add_run_options(swp)
    for action in swp._actions:  # --env and --trainer take comma-separated lists here
        if action.dest == "env_id":
            action.help = "env ids, comma-separated"
        elif action.dest == "trainer":
            action.help = "trainers, comma-separated (default: sb3:ppo)"
    swp.add_argument(
        "--shaping",
        default="none",
        help="comma-separated specs (each a name or a+b), or a JSON list (default: none)",
    )
    swp.add_argument("--seeds", type=int, default=1, help="number of seeds, from --seed")
    swp.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="local: this machine (default); ray: Ray Tune trials, here or on a cluster",
    )
    _add_engine_options(swp)
    swp.set_defaults(func=_cmd_sweep)

    design = commands.add_parser("design-reward", help="LLM-written reward code (Eureka-style)")
    design.add_argument("--env", default="densegym/MountainCarSparse-v0", help="env id")
    design.add_argument("--backend", default="smollm2", help="densegym.llm spec")
    design.add_argument("--rounds", type=int, default=3, help="rounds of evolution")
    design.add_argument("--k", type=int, default=4, help="candidates per round")
    design.add_argument("--budget", type=int, default=20_000, help="env steps per candidate")
    design.add_argument("--style", default="auto", choices=["auto", "menu", "code"])
    design.add_argument("--out", default=None, help="file for the chosen reward code")
    design.add_argument("--logdir", default="runs/design", help="candidates' runs and code")
    design.add_argument("--n-envs", type=int, default=4)
    design.add_argument("--seed", type=int, default=0)
    design.add_argument("--no-progress", action="store_true")
    design.set_defaults(func=_cmd_design_reward)
    return parser


#: Exit status of a usage error (argparse's) and of a failure while running.
USAGE_ERROR, RUNTIME_ERROR = 2, 1


def one_line(error: BaseException | str) -> str:
    r"""An error as one line: its type (for exceptions) and its message, whitespace folded.

    Example:
        >>> one_line(ValueError("bad\n  value"))
        'ValueError: bad value'
    """
    if isinstance(error, str):
        return " ".join(error.split())
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``densegym`` command.

    Returns:
        0 on success, 1 when the command failed while running (after one line on
        stderr). A usage error prints one line and raises ``SystemExit`` with status 2
        (the exception's text is the message).
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("DENSEGYM_DEBUG", "") not in ("", "0")
    argv = [arg for arg in argv if arg != "--debug"]
    args = parser.parse_args(argv)  # argparse: usage and one error line, exit status 2
    if args.command == "train":
        args.steps_given = args.steps if "--steps" in argv else None
    try:
        return int(args.func(args) or 0)
    except SystemExit as error:
        if isinstance(error.code, str):  # a usage error found by a command
            print(f"densegym {args.command}: error: {one_line(error.code)}", file=sys.stderr)
            error.code = USAGE_ERROR
        raise
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"densegym {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        print(
            f"densegym {args.command}: error: {one_line(error)} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return RUNTIME_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
