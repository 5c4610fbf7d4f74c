"""Multi-agent shaping: what it costs per step, and whether it helps PPO on a grid task.

1. **Speed**, in one run with interleaved rounds (medians): agent-steps/s of a multi-agent
   id with no shaping (raw) and with per-agent ``count``, team ``potential`` and per-agent
   ``potential``, each as the bare PettingZoo env (random joint actions) and as the SB3
   ``ParallelVecEnv`` that training uses (8 copies, one row per agent; plus the batched
   ``e3b`` there: one module, one row per agent). Ratios are shaped / raw of the same
   form; the overhead is the extra microseconds per agent-step. Rates are per CPU-second
   of this process (``time.process_time``: the machine is shared, and wall time would
   count other people's jobs). The same on every id of ``--speed-envs`` (a grid task of
   each family and MPE's spread), and, on ``--env``, SuperSuit's parameter-sharing VecEnv
   (``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1``) against densegym's
   adapter: random-action steps, and PPO agent-steps/s through each (skipped with a
   note when SuperSuit is not installed: ``pip install supersuit``).
2. **Learning**: PPO with parameter sharing on each id of ``--learn-envs`` (default MPE's
   ``MA-SparseSpread-v0`` with N = 2 and the grid ``MA-SwitchDoor-N2-S9-v0``, each with its
   own agent-step budget, ``id:steps``) with ``none``, team ``potential``, per-agent
   ``count`` and batched ``e3b`` (one module, one row per agent), ``--seeds`` seeds,
   trained by densegym's sweep (``--engine local|ray`` like every grid benchmark). Per run:
   the team success rate at the end (last 30 team episodes) and the agent-steps at which
   the logged team success first reached 50 %; per env, the sweep's ``success_rate.png``
   (per-agent success) and ``team_success_rate.png`` (team success, from each run's
   ``progress.csv``). ``--learning-only`` runs this part alone and replaces only the
   ``learning`` entry of the results file.

3. **Text games**: the scripted oracle team, a uniformly random team (over each game's
   legal lines) and LLM teams (``TeamLLMPolicy``: one prompted policy per agent, two
   oracle demonstrations per role, greedy; ``--text-llm``, default SmolLM2) on
   ``MA-Referential-v0`` and ``MA-Negotiation-v0``: team success rate, mean team reward
   and per-agent tokens over ``--text-episodes`` episodes (default 10: SmolLM2 takes
   ~5 s per referential and ~20 s per negotiation episode on 2 cores, ~5 min in all).
   ``--text-only`` runs this part alone and writes ``results/multiagent_text.json``.

Writes ``benchmarks/results/multiagent.json`` (and the sweep's ``summary.csv``,
``curves.csv`` and ``success_rate.png`` under ``--logdir``); the ratios of the file it
replaces are kept under ``previous_speed`` for comparison.

Usage:
    python benchmarks/multiagent.py                      # ~10 min on 2 cores
    python benchmarks/multiagent.py --skip-learning      # the speed part only (~1 min)
    python benchmarks/multiagent.py --steps 20000 --seeds 1 --speed-steps 2000   # smoke
    python benchmarks/multiagent.py --text-only --text-episodes 5   # section 3 (~3 min)
    OMP_NUM_THREADS=1 python benchmarks/multiagent.py --learning-only   # section 2 (~30 min)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

import densegym
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.sweep import add_engine_arguments, engine_options, sweep
from densegym.agents.sb3.multiagent import make_parallel_vec_env
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus

RESULTS = Path(__file__).parent / "results" / "multiagent.json"

#: The shapings of the speed part, by label (``None``: raw).
SPEED_SHAPINGS: dict[str, Any] = {
    "none": None,
    "count (per agent)": {"id": "count"},
    "potential (team)": {"id": "potential", "scope": "team"},
    "potential (per agent)": {"id": "potential"},
}
#: The shapings of the learning part.
LEARN_SHAPINGS: list[Any] = [
    None,
    {"id": "potential", "scope": "team"},
    {"id": "count", "coef": 0.05},
    {"id": "e3b", "batched": True},
]
#: The ids of the learning part with their agent-step budgets (``--learn-envs``): sized so
#: that 2 ids x 4 shapings x 3 seeds fit in ~35 min on 2 loaded cores (2026-12-05).
LEARN_ENVS = "densegym/MA-SparseSpread-v0:250000,densegym/MA-SwitchDoor-N2-S9-v0:500000"
#: The team success level whose first crossing the learning table reports.
LEARN_LEVEL = 0.5


#: The ids of the speed part: a grid task of each family and MPE's spread (N = 2).
SPEED_ENVS = (
    "densegym/MA-SwitchDoor-N2-S7-v0",
    "densegym/MA-GridSpread-N2-S6-v0",
    "densegym/MA-SparseSpread-v0",
)
#: The speed part's clock: CPU seconds of this process (the machine is shared).
CLOCK = time.process_time


def bare_rate(env_id: str, shaping: Any, steps: int, seed: int = 0) -> float:
    """Agent-steps/s of the bare parallel env under random joint actions."""
    env = densegym.make_parallel(env_id, shaping=shaping)
    agents = list(env.possible_agents)
    actions = np.random.default_rng(seed).integers(0, 5, size=(steps, len(agents))).tolist()
    env.reset(seed=seed)
    episode = 0
    start = CLOCK()
    for row in actions:
        env.step(dict(zip(agents, row)))
        if not env.agents:
            episode += 1
            env.reset(seed=seed + episode)
    wall = CLOCK() - start
    env.close()
    return steps * len(agents) / wall


def supersuit_vec_env(env_id: str, shaping: Any, n_envs: int = 8) -> Any:
    """SuperSuit's parameter-sharing VecEnv for SB3 over ``n_envs`` copies (one row per agent)."""
    import supersuit

    venv = supersuit.pettingzoo_env_to_vec_env_v1(densegym.make_parallel(env_id, shaping=shaping))
    return supersuit.concat_vec_envs_v1(venv, n_envs, num_cpus=0, base_class="stable_baselines3")


def supersuit_rate(env_id: str, shaping: Any, steps: int, n_envs: int = 8, seed: int = 0) -> float:
    """:func:`vec_rate` through SuperSuit's VecEnv instead of densegym's adapter."""
    venv = supersuit_vec_env(env_id, shaping, n_envs)
    actions = np.random.default_rng(seed).integers(0, 5, size=(steps, venv.num_envs))
    venv.reset()
    start = CLOCK()
    for row in actions:
        venv.step(row)
    wall = CLOCK() - start
    rows = venv.num_envs
    venv.close()
    return steps * rows / wall


def ppo_rate(env_id: str, via: str, steps: int, n_envs: int = 8, seed: int = 0) -> float:
    """PPO (parameter sharing, densegym's PPO defaults) agent-steps/s through ``via``.

    ``via`` is ``"adapter"`` (densegym's ParallelVecEnv) or ``"supersuit"``. SuperSuit's
    VecEnv has no ``seed``, so neither model is given one (``PPO(..., seed=s)`` raises on
    SuperSuit's: one of the faults the adapter fixes).
    """
    from stable_baselines3 import PPO

    from densegym.agents.sb3.multiagent import PPO_DEFAULTS

    if via == "adapter":
        venv = make_parallel_vec_env(env_id, n_envs, seed)
    else:
        venv = supersuit_vec_env(env_id, None, n_envs)
    model = PPO("MlpPolicy", venv, device="cpu", verbose=0, **PPO_DEFAULTS)
    start = CLOCK()
    model.learn(steps)
    wall = CLOCK() - start
    done = model.num_timesteps
    venv.close()
    return done / wall


def has_supersuit() -> bool:
    """Whether SuperSuit is importable (the comparison is skipped otherwise)."""
    try:
        import supersuit  # noqa: F401
    except ImportError:
        return False
    return True


def adapter_vs_supersuit(env_id: str, steps: int, ppo_steps: int, rounds: int) -> dict[str, Any]:
    """VecEnv random-action steps and PPO agent-steps/s, adapter vs SuperSuit, medians.

    Interleaved rounds (adapter, SuperSuit, each round); ``ratio`` is adapter / SuperSuit.
    """
    if not has_supersuit():
        return {"skipped": "SuperSuit is not installed: pip install supersuit"}
    measures = {
        "vecenv (random actions)": (
            lambda: vec_rate(env_id, None, steps),
            lambda: supersuit_rate(env_id, None, steps),
        ),
        "ppo": (
            lambda: ppo_rate(env_id, "adapter", ppo_steps),
            lambda: ppo_rate(env_id, "supersuit", ppo_steps),
        ),
    }
    out: dict[str, Any] = {}
    for label, (ours, theirs) in measures.items():
        adapter, supersuit = [], []
        for _ in range(rounds):
            adapter.append(ours())
            supersuit.append(theirs())
        ratios = [a / s for a, s in zip(adapter, supersuit)]
        out[label] = {
            "adapter_agent_steps_per_s": statistics.median(adapter),
            "supersuit_agent_steps_per_s": statistics.median(supersuit),
            "ratio": statistics.median(ratios),
        }
    return out


def vec_rate(env_id: str, shaping: Any, steps: int, n_envs: int = 8, seed: int = 0) -> float:
    """Agent-steps/s of the SB3 ParallelVecEnv (``steps`` vector steps, random actions).

    A spec with ``"batched": true`` becomes a VecIntrinsicBonus around the VecEnv.
    """
    batched = isinstance(shaping, dict) and shaping.get("batched")
    venv = make_parallel_vec_env(env_id, n_envs, seed, None if batched else shaping)
    if batched:
        venv = VecIntrinsicBonus(venv, shaping)
    actions = np.random.default_rng(seed).integers(0, 5, size=(steps, venv.num_envs))
    venv.reset()
    start = CLOCK()
    for row in actions:
        venv.step(row)
    wall = CLOCK() - start
    rows = venv.num_envs
    venv.close()
    return steps * rows / wall


def speed(env_id: str, steps: int, rounds: int) -> dict[str, Any]:
    """Both forms, every shaping, ``rounds`` interleaved rounds; medians and ratios."""
    forms = {
        "env": (bare_rate, dict(SPEED_SHAPINGS), steps),
        "vecenv": (
            vec_rate,
            {**SPEED_SHAPINGS, "e3b (batched)": {"id": "e3b", "batched": True}},
            max(1, steps // 8),
        ),
    }
    samples: dict[str, dict[str, list[float]]] = {
        form: {label: [] for label in specs} for form, (_, specs, _) in forms.items()
    }
    for _ in range(rounds):
        for form, (measure, specs, n) in forms.items():
            for label, shaping in specs.items():
                samples[form][label].append(measure(env_id, shaping, n))
    out: dict[str, Any] = {}
    for form, by_label in samples.items():
        raw_values = by_label["none"]
        raw = statistics.median(raw_values)
        rows = {}
        for label, values in by_label.items():
            rate = statistics.median(values)
            # Each round measures raw and shaped back to back: the median of the
            # per-round ratios is steadier on a shared machine than a ratio of medians.
            ratios = [v / r for v, r in zip(values, raw_values)]
            rows[label] = {
                "agent_steps_per_s": rate,
                "ratio": statistics.median(ratios),
                "ratio_per_round": [round(x, 3) for x in ratios],
                "overhead_us_per_agent_step": 1e6 * (1 / rate - 1 / raw),
            }
        out[form] = rows
    return out


def print_speed(env_id: str, forms: dict[str, Any], rounds: int) -> None:
    """The speed rows of one id, as the README's table reads them."""
    for form, rows in forms.items():
        print(f"\n{env_id} {form}: agent-steps/CPU-s (median of {rounds}), shaped / raw")
        for label, row in rows.items():
            print(
                f"  {label:24s} {row['agent_steps_per_s']:>10,.0f}  {row['ratio']:.2f}  "
                f"+{row['overhead_us_per_agent_step']:.1f} us/agent-step"
            )


def parse_learn_envs(text: str, default_steps: int) -> list[tuple[str, int]]:
    """``id[:steps],...`` as ``(id, agent-steps)`` pairs; a bare id gets ``default_steps``.

    Example:
        >>> parse_learn_envs("densegym/MA-SparseSpread-v0:1000,densegym/MA-GridSpread-N2-S6-v0", 5)
        [('densegym/MA-SparseSpread-v0', 1000), ('densegym/MA-GridSpread-N2-S6-v0', 5)]
    """
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        env_id, _, steps = item.partition(":")
        pairs.append((env_id, int(steps) if steps else default_steps))
    if not pairs:
        raise ValueError(f"--learn-envs names no id: {text!r}")
    return pairs


def team_curve(run_dir: str | Path) -> Any:
    """A run's team success curve from its ``progress.csv``: ``timesteps, success_rate``.

    The rows are SB3's log rows (one per PPO iteration) where the team success window
    had at least one team episode; an empty frame when the file is missing.
    """
    import pandas as pd

    path = Path(run_dir) / "progress.csv"
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError):
        return pd.DataFrame(columns=["timesteps", "success_rate"])
    columns = {"time/total_timesteps": "timesteps", "episode/team_success_rate": "success_rate"}
    if not set(columns) <= set(frame.columns):
        return pd.DataFrame(columns=["timesteps", "success_rate"])
    return frame[list(columns)].rename(columns=columns).dropna().reset_index(drop=True)


def steps_to(curve: Any, level: float = LEARN_LEVEL) -> int | None:
    """The first logged agent-step count at which ``success_rate`` reached ``level``."""
    hit = curve[curve["success_rate"] >= level]
    return None if hit.empty else int(hit["timesteps"].iloc[0])


def learning(args: argparse.Namespace) -> dict[str, Any]:
    """PPO (parameter sharing) on each ``--learn-envs`` id, every shaping and seed."""
    start = time.perf_counter()
    by_env = {}
    for env_id, steps in parse_learn_envs(args.learn_envs, args.steps):
        by_env[env_id] = learning_env(args, env_id, steps)
    return {
        "seeds": args.seeds,
        "level": LEARN_LEVEL,
        "wall_s": time.perf_counter() - start,
        "by_env": by_env,
    }


def learning_env(args: argparse.Namespace, env_id: str, steps: int) -> dict[str, Any]:
    """PPO (parameter sharing) on one id with each shaping and seed; the team success per run."""
    import pandas as pd

    from densegym.agents.sb3.plotting import plot_success

    base = RunConfig(
        env_id,
        steps=steps,
        n_envs=8,
        logdir=str(args.logdir),
        log_every=max(1, steps // 20),
    )
    result = sweep(
        [env_id],
        LEARN_SHAPINGS,
        list(range(args.seeds)),
        base=base,
        workers=args.workers,
        **engine_options(args),
    )
    runs = [
        {
            key: row.get(key)
            for key in (
                "shaping",
                "seed",
                "status",
                "timesteps",
                "team_success_rate",
                "success_rate",
                "team_episodes",
                "env_steps_per_s",
                "run_dir",
            )
        }
        for row in result.rows
    ]
    table: dict[str, Any] = {}
    frames = []
    for row in runs:
        curve = team_curve(row["run_dir"]) if row.get("run_dir") else team_curve("")
        row["steps_to_team_success_50"] = steps_to(curve, LEARN_LEVEL)
        row["team_success_peak"] = float(curve["success_rate"].max()) if len(curve) else None
        if len(curve):
            frames.append(curve.assign(shaping=row["shaping"], seed=row["seed"]))
        entry = table.setdefault(
            row["shaping"],
            {"team_success": [], "steps_to_team_success_50": [], "agent_steps_per_s": []},
        )
        entry["team_success"].append(row["team_success_rate"])
        entry["steps_to_team_success_50"].append(row["steps_to_team_success_50"])
        entry["agent_steps_per_s"].append(row["env_steps_per_s"])
    for entry in table.values():
        finite = [v for v in entry["team_success"] if v is not None and np.isfinite(v)]
        entry["mean_team_success"] = float(np.mean(finite)) if finite else float("nan")
        entry["seeds_reaching_50"] = sum(s is not None for s in entry["steps_to_team_success_50"])
    report = result.reports.get(env_id, {})
    plot = Path(report.get("plot", Path(args.logdir) / "success_rate.png"))
    team_plot = plot.with_name("team_success_rate.png")
    if frames:
        plot_success(
            pd.concat(frames, ignore_index=True),
            team_plot,
            title=f"{env_id} — PPO, team success",
            order=list(table),
        )
    return {
        "env": env_id,
        "steps": steps,
        "seeds": args.seeds,
        "wall_s": result.wall_s,
        "runs": runs,
        "by_shaping": table,
        "plot": str(plot),
        "team_plot": str(team_plot) if frames else "",
    }


def print_learning(part: dict[str, Any]) -> None:
    """The learning table: per id and shaping, final team success per seed and steps to 50 %."""
    for env_id, env_part in part["by_env"].items():
        print(f"\nPPO on {env_id}, {env_part['steps']} agent-steps, {env_part['seeds']} seeds:")
        for label, entry in env_part["by_shaping"].items():
            per_seed = " ".join(f"{v:.2f}" for v in entry["team_success"])
            reached = entry["steps_to_team_success_50"]
            reach = " ".join("-" if s is None else f"{s:,}" for s in reached)
            print(
                f"  {label:24s} team success {entry['mean_team_success']:.2f} ({per_seed})  "
                f"steps to 50 %: {reach}"
            )
        print(f"  curves: {env_part['plot']}, {env_part['team_plot']}")


def learning_only(args: argparse.Namespace) -> None:
    """Run section 2 alone; replace only the ``learning`` entry of ``--out``."""
    part = learning(args)
    try:  # read after training: the other parts may have been rewritten meanwhile
        record = json.loads(args.out.read_text())
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    record["learning"] = part
    record["learning_date"] = date.today().isoformat()
    record["learning_command"] = (
        "OMP_NUM_THREADS=1 python benchmarks/multiagent.py --learning-only "
        f"--learn-envs {args.learn_envs} --seeds {args.seeds} --workers {args.workers}"
    )
    print_learning(record["learning"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {args.out} (learning part {record['learning']['wall_s']:.0f} s)")


#: The text games of section 3.
TEXT_GAMES = ("densegym/MA-Referential-v0", "densegym/MA-Negotiation-v0")
TEXT_RESULTS = Path(__file__).parent / "results" / "multiagent_text.json"


def text_games(args: argparse.Namespace) -> dict[str, Any]:
    """Section 3: oracle, random and LLM teams on the text games (same seeds for all)."""
    import densegym.llm
    from densegym.agents.llm.team_policy import TeamLLMPolicy, evaluate_team

    llms = {name: densegym.llm.load(name) for name in args.text_llm}  # loaded once
    keys = ("team_success_rate", "mean_team_reward", "mean_length", "invalid_actions",
            "agent_tokens", "agent_calls", "wall_time_s")  # fmt: skip
    by_game: dict[str, Any] = {}
    for env_id in TEXT_GAMES:
        rows: dict[str, Any] = {}
        for label in ("oracle", "random", *(f"llm:{name}" for name in args.text_llm)):
            team: Any = label
            if label.startswith("llm:"):
                team = TeamLLMPolicy(llms[label[4:]], shots=args.text_shots, seed=0)
            result = evaluate_team(team, env_id, n_episodes=args.text_episodes, seed=10_000)
            rows[label] = {key: result[key] for key in keys}
            print(
                f"  {env_id:28s} {label:22s} team success {result['team_success_rate']:.2f}  "
                f"reward {result['mean_team_reward']:.2f}  tokens {result['agent_tokens']}",
                flush=True,
            )
        by_game[env_id] = rows
    return {"episodes": args.text_episodes, "shots": args.text_shots, "by_game": by_game}


def text_only(args: argparse.Namespace) -> None:
    """Run section 3 alone; write ``--text-out``."""
    start = time.perf_counter()
    record: dict[str, Any] = {
        "command": "python benchmarks/multiagent.py --text-only "
        f"--text-episodes {args.text_episodes}",
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
    }
    print(f"text games, {args.text_episodes} episodes per team:")
    record["text_games"] = text_games(args)
    record["wall_s"] = time.perf_counter() - start
    args.text_out.parent.mkdir(parents=True, exist_ok=True)
    args.text_out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {args.text_out} ({record['wall_s']:.0f} s)")


def previous_speed(path: Path) -> dict[str, Any] | None:
    """The speed ratios of the results file this run replaces, to compare against.

    Returns:
        ``{"date": ..., "ratio": {form: {label: ratio}}}``, or ``None`` when the file
        is absent or holds no speed part.
    """
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    speed_part = old.get("speed") if isinstance(old, dict) else None
    if not isinstance(speed_part, dict):
        return None
    ratios = {
        form: {label: row["ratio"] for label, row in rows.items()}
        for form, rows in speed_part.items()
    }
    return {"date": old.get("date"), "ratio": ratios}


def main() -> None:
    """Run the benchmark and write ``benchmarks/results/multiagent.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="densegym/MA-SwitchDoor-N2-S7-v0")
    parser.add_argument("--speed-steps", type=int, default=20_000, help="joint steps per sample")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds")
    parser.add_argument(
        "--steps", type=int, default=150_000, help="agent-steps per PPO run (ids without :steps)"
    )
    parser.add_argument(
        "--learn-envs", default=LEARN_ENVS, help="comma-separated id[:agent-steps] to learn on"
    )
    parser.add_argument("--learning-only", action="store_true", help="run section 2 alone")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--logdir", type=Path, default=Path("runs/bench_multiagent"))
    parser.add_argument("--skip-learning", action="store_true")
    parser.add_argument(
        "--speed-envs",
        default=",".join(SPEED_ENVS),
        help="comma-separated ids for the speed part besides --env ('' for --env only)",
    )
    parser.add_argument(
        "--mpe-speed-steps", type=int, default=2_000, help="joint steps per MPE speed sample"
    )
    parser.add_argument(
        "--ppo-steps", type=int, default=8_192, help="agent-steps per PPO speed sample"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--text-episodes", type=int, default=10, help="episodes per team")
    parser.add_argument("--text-llm", nargs="+", default=["smollm2"], help="LLM team backends")
    parser.add_argument("--text-shots", type=int, default=2, help="demonstrations per role")
    parser.add_argument("--skip-text", action="store_true", help="skip section 3")
    parser.add_argument("--text-only", action="store_true", help="run section 3 alone")
    parser.add_argument("--text-out", type=Path, default=TEXT_RESULTS)
    add_engine_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.text_only:
        text_only(args)
        return
    if args.learning_only:
        learning_only(args)
        return
    record: dict[str, Any] = {
        "command": "python benchmarks/multiagent.py",
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "env": args.env,
    }
    start = time.perf_counter()

    def speed_steps(env_id: str) -> int:
        return args.mpe_speed_steps if "SparseSpread" in env_id else args.speed_steps

    record["speed"] = speed(args.env, speed_steps(args.env), args.rounds)
    print_speed(args.env, record["speed"], args.rounds)
    record["speed_envs"] = {}
    for env_id in [e for e in args.speed_envs.split(",") if e and e != args.env]:
        record["speed_envs"][env_id] = speed(env_id, speed_steps(env_id), args.rounds)
        print_speed(env_id, record["speed_envs"][env_id], args.rounds)
    record["adapter_vs_supersuit"] = adapter_vs_supersuit(
        args.env, max(1, speed_steps(args.env) // 8), args.ppo_steps, args.rounds
    )
    print(f"\n{args.env}: densegym's adapter vs SuperSuit, agent-steps/CPU-s (medians)")
    for label, row in record["adapter_vs_supersuit"].items():
        if isinstance(row, str):
            print(f"  {label}: {row}")
            continue
        print(
            f"  {label:24s} adapter {row['adapter_agent_steps_per_s']:>9,.0f}  "
            f"SuperSuit {row['supersuit_agent_steps_per_s']:>9,.0f}  ratio {row['ratio']:.2f}"
        )
    if not args.skip_learning:
        record["learning"] = learning(args)
        print_learning(record["learning"])
    if not args.skip_text:
        print(f"\ntext games, {args.text_episodes} episodes per team:")
        record["text_games"] = text_games(args)
    # A partial run keeps the parts it skipped from the file it replaces (with their date).
    try:
        old = json.loads(args.out.read_text())
    except (OSError, ValueError):
        old = {}
    for part in ("learning", "text_games"):
        if isinstance(old, dict) and part not in record and part in old:
            record[part] = old[part]
            record[f"{part}_date"] = old.get(f"{part}_date", old.get("date"))
    record["wall_s"] = time.perf_counter() - start
    previous = previous_speed(args.out)
    if previous:
        record["previous_speed"] = previous
        print(f"\nprevious run ({previous['date']}): shaped / raw")
        for form, ratios in previous["ratio"].items():
            now = record["speed"].get(form, {})
            for label, ratio in ratios.items():
                if label in now and label != "none":
                    print(f"  {form:7s} {label:24s} {ratio:.2f} -> {now[label]['ratio']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {args.out} ({record['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
