"""The ``densegym`` command line: list, train, eval and compare.

Example:
    $ densegym list
    $ densegym train --env densegym/MountainCarSparse-v0 --shaping potential --steps 50000
    $ densegym compare --env densegym/MiniHack-Room-5x5-v0 --shaping none,count,potential
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from densegym.agents.sb3 import ALGORITHM_NAMES

LIST_BEGIN = "<!-- densegym list: begin -->"
LIST_END = "<!-- densegym list: end -->"


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_hyperparams(pairs: list[str]) -> dict[str, Any]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--hp expects key=value, got {pair!r}")
        params[key.strip()] = _parse_value(value.strip())
    return params


def _parse_shaping(text: str | None) -> Any:
    if text is None:
        return None
    text = text.strip()
    return json.loads(text) if text.startswith(("{", "[")) else text


def _split_shapings(text: str) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [part.strip() for part in text.split(",") if part.strip()]


def list_markdown() -> str:
    """The env and shaper listing, as the Markdown block kept in the README."""
    import gymnasium as gym

    from densegym import rewards
    from densegym.registration import ENTRIES
    from densegym.rewards.potential import available_potentials
    from densegym.rewards.registry import shaper_class

    lines = [LIST_BEGIN, "", "| env id | world | extra | time limit |", "|---|---|---|---|"]
    for entry in ENTRIES:
        limit = gym.registry[entry.id].max_episode_steps
        lines.append(f"| `{entry.id}` | {entry.world} | {entry.extra or 'core'} | {limit} |")
    lines += ["", "| shaper | what it adds |", "|---|---|"]
    for name in rewards.available():
        doc = (shaper_class(name).__doc__ or "").strip().splitlines()
        lines.append(f"| `{name}` | {doc[0] if doc else ''} |")
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
    for column in ("id", "world", "extra"):
        envs.add_column(column)
    for entry in ENTRIES:
        envs.add_row(entry.id, entry.world, entry.extra or "core")
    console.print(envs)
    shapers = Table(title="shapers")
    shapers.add_column("name")
    shapers.add_column("description")
    for name in rewards.available():
        doc = (shaper_class(name).__doc__ or "").strip().splitlines()
        shapers.add_row(name, doc[0] if doc else "")
    console.print(shapers)
    return 0


def _base_config(args: argparse.Namespace, shaping: Any):
    from densegym.agents.sb3.training import RunConfig

    return RunConfig(
        env_id=args.env,
        algo=args.algo,
        shaping=shaping,
        steps=args.steps,
        n_envs=args.n_envs,
        seed=getattr(args, "seed", 0),
        logdir=args.logdir,
        hyperparams=_parse_hyperparams(args.hp),
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        torch_threads=args.torch_threads,
        batched_shaping=_parse_shaping(args.batched_shaping),
        env_kwargs=json.loads(args.env_kwargs) if args.env_kwargs else {},
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from densegym.agents.sb3.training import resume_run, train

    if args.resume:
        summary = resume_run(args.resume, steps=args.steps_given, progress=not args.no_progress)
    else:
        if not args.env:
            raise SystemExit("train needs --env (or --resume RUN_DIR)")
        config = _base_config(args, _parse_shaping(args.shaping))
        summary = train(config, progress=not args.no_progress)
    print(json.dumps(summary, indent=2))
    print(f"TensorBoard: tensorboard --logdir {summary['run_dir']}")
    return 0


def _load_agent(args: argparse.Namespace):
    from densegym.agents.sb3.training import ALGORITHMS, CONFIG_FILE, RunConfig

    if args.agent.startswith("llm:"):
        try:
            from densegym.agents.llm import LLMPolicy
        except ImportError as error:
            raise SystemExit(f"LLM agents are not available in this install: {error}") from None
        if not args.env:
            raise SystemExit("--agent llm:<backend> needs --env")
        return LLMPolicy(backend=args.agent.removeprefix("llm:")), args.env, None, {}
    if args.agent.startswith("search:"):  # search:<name> or search:{"name": ..., kwargs}
        from densegym.agents.llm.search import make_search_agent

        if not args.env:
            raise SystemExit("--agent search:<name> needs --env")
        text = args.agent.removeprefix("search:")
        options = json.loads(text) if text.startswith("{") else {"name": text}
        agent = make_search_agent(options.pop("name"), seed=args.seed, **options)
        return agent, args.env, None, {}
    if args.agent == "random":
        if not args.env:
            raise SystemExit("--agent random needs --env")
        return "random", args.env, None, {}
    if not args.run:
        raise SystemExit("eval needs --run RUN_DIR (a densegym train output) or --agent random")
    run_dir = Path(args.run)
    config = RunConfig.load(run_dir / CONFIG_FILE)
    model_path = run_dir / "final_model.zip"
    if not model_path.exists():
        from densegym.agents.sb3.checkpoints import MODEL_FILE, latest_checkpoint

        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            raise SystemExit(f"no model in {run_dir}")
        model_path = checkpoint / MODEL_FILE
    model = ALGORITHMS[config.algo].load(model_path, device="cpu")
    # The run's env kwargs (e.g. a text view) define its observation space; keep them
    # unless the user evaluates on another env.
    env_kwargs = config.env_kwargs if not args.env or args.env == config.env_id else {}
    return model, args.env or config.env_id, config.shaping, env_kwargs


def _cmd_eval(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import torch

    from densegym.agents import RandomAgent, evaluate

    torch.set_num_threads(1)
    agent, env_id, run_shaping, env_kwargs = _load_agent(args)
    if args.env_kwargs:
        env_kwargs = json.loads(args.env_kwargs)
    shaping = _parse_shaping(args.shaping) if args.shaping is not None else run_shaping
    if shaping:
        env_kwargs = {**env_kwargs, "shaping": shaping}
    env = gym.make(env_id, **env_kwargs)
    if agent == "random":
        agent = RandomAgent(env.action_space, seed=args.seed)
    if hasattr(agent, "bind"):  # search agents plan on the env they are evaluated on
        agent.bind(env)
    result = evaluate(
        agent, env, n_episodes=args.episodes, seed=args.seed, deterministic=not args.stochastic
    )
    env.close()
    print(json.dumps({"env_id": env_id, **result.as_dict()}, indent=2))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from densegym.agents.sb3.compare import compare

    console = Console()
    shapings = [
        _parse_shaping(s) if isinstance(s, str) else s for s in _split_shapings(args.shaping)
    ]
    base = _base_config(args, None)
    seeds = list(range(args.seed, args.seed + args.seeds))
    paths = compare(base, shapings, seeds, workers=args.workers, rerun=args.rerun, console=console)
    import pandas as pd

    summary = pd.read_csv(paths["summary_csv"])
    table = Table(title=f"{args.env}: final success rate (last episodes) by shaping")
    for column in ("shaping", "seeds", "success mean", "success per seed", "env-steps/s"):
        table.add_column(column)
    for shaping, group in summary.groupby("shaping", sort=False):
        table.add_row(
            str(shaping),
            str(len(group)),
            f"{group['success_rate'].mean():.2f}",
            " ".join(f"{v:.2f}" for v in group["success_rate"]),
            f"{group['env_steps_per_s'].mean():.0f}",
        )
    console.print(table)
    console.print(f"Summary CSV: {paths['summary_csv']}")
    console.print(f"Curves CSV:  {paths['curves_csv']}")
    console.print(f"Plot:        {paths['plot']}")
    console.print(f"TensorBoard: tensorboard --logdir {paths['logdir']}")
    return 0


def _cmd_design_reward(args: argparse.Namespace) -> int:
    from densegym.rewards.llm import design_reward

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


def _add_run_options(parser: argparse.ArgumentParser, steps_default: int) -> None:
    parser.add_argument("--env", help="registered env id, e.g. densegym/MiniHack-Room-5x5-v0")
    parser.add_argument(
        "--algo",
        default="ppo",
        choices=ALGORITHM_NAMES,
        help="recurrent_ppo: sb3-contrib's PPO with an LSTM policy (memory across steps)",
    )
    parser.add_argument("--steps", type=int, default=steps_default, help="total env steps")
    parser.add_argument("--n-envs", type=int, default=8, help="parallel sub-envs per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", default="runs", help="root folder of the run directories")
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="algorithm hyperparameter override (JSON value), repeatable",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="env steps between checkpoints (0: only at the end)",
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda or auto")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest for small nets on few cores)",
    )
    parser.add_argument(
        "--env-kwargs",
        default=None,
        metavar="JSON",
        help="extra gym.make kwargs as JSON, e.g. '{\"difficulty\": 3}'",
    )
    parser.add_argument(
        "--batched-shaping",
        default=None,
        help="one learned-intrinsic spec computed for all sub-envs in one batch (e.g. e3b), "
        "trained at rollout end",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``densegym`` command."""
    parser = argparse.ArgumentParser(prog="densegym", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list env ids and shapers")
    listing.add_argument("--markdown", action="store_true", help="print the README block")
    listing.set_defaults(func=_cmd_list)

    train = commands.add_parser("train", help="train an SB3 agent on a (shaped) env")
    _add_run_options(train, 50_000)
    train.add_argument("--shaping", help="name, a+b stack or JSON spec (default: none)")
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint"
    )
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(func=_cmd_train)

    evaluate = commands.add_parser("eval", help="success rate and returns of an agent")
    evaluate.add_argument("--run", help="run directory written by `densegym train`")
    evaluate.add_argument("--env", help="env id (default: the run's)")
    evaluate.add_argument("--agent", default="sb3", help="sb3 (default), random, or llm:<backend>")
    evaluate.add_argument("--shaping", help="shaping for the eval env (default: the run's)")
    evaluate.add_argument(
        "--env-kwargs", metavar="JSON", help="gym.make kwargs for the eval env (default: the run's)"
    )
    evaluate.add_argument("--episodes", type=int, default=20)
    evaluate.add_argument("--seed", type=int, default=10_000)
    evaluate.add_argument("--stochastic", action="store_true", help="sample actions")
    evaluate.set_defaults(func=_cmd_eval)

    comp = commands.add_parser("compare", help="one run per shaping x seed, CSV and plot")
    _add_run_options(comp, 50_000)
    comp.add_argument(
        "--shaping",
        default="none,count,potential",
        help="comma-separated specs (each a name or a+b), or a JSON list",
    )
    comp.add_argument("--seeds", type=int, default=2, help="number of seeds per shaping")
    comp.add_argument("--workers", type=int, default=None, help="parallel runs (default: cores)")
    comp.add_argument("--rerun", action="store_true", help="retrain finished runs")
    comp.set_defaults(func=_cmd_compare)

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``densegym`` command."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command == "train":
        args.steps_given = args.steps if "--steps" in argv else None
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
