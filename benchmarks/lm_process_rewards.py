r"""Issue 26: is LM RL with a dense progress reward more sample-efficient than with the outcome.

The seed papers' claim (PAV, "Rewarding Progress"): online RL with progress rewards is
5-6x more sample-efficient than with the outcome reward. Here: ``lm:grpo``
(:class:`densegym.agents.llm.trainers.LMTrainer`) fine-tunes SmolLM2-135M on a reasoning
env at a level where the outcome is rare but not zero (WordProblems level 1: ~2 %
greedy with one worked example, ``benchmarks/results/smollm2_accuracy.json``), one arm per
step-reward source, the same budget of optimizer steps (one group of ``--group-size``
rollouts per step) and ``--seeds`` seeds each:

* ``outcome`` -- plain GRPO on the task's reward (``advantage="outcome"``, no shaping);
* ``pav`` -- PAV progress under a noisy-oracle prover (``{"id": "pav", "prover":
  "oracle-0.7"}``), ``advantage="pav"`` (outcome advantage + later progress);
* ``prm`` -- a PRM (``rewards.progress.prm``) trained first on Monte-Carlo labels of
  noisy-oracle rollouts, its per-step score as the step reward (``advantage="pav"``);
* ``implicit_prm`` -- PRIME's implicit PRM, ``beta * log(pi_phi / pi_ref)`` per step,
  with ``pi_phi`` fitted first on outcome labels only (``train_implicit_prm``; offline,
  not updated during the run);
* ``prm_clip``, ``prm_delta`` (and ``pav_clip``, ``pav_delta`` on request) -- the same
  with densegym's Clip / Delta guards, for the reward-farming check;
* ``prime`` (on request) -- ``implicit_prm`` with PRIME's online update of ``pi_phi`` from
  each group's outcome labels (``prime_update``, :mod:`densegym.agents.llm.lm_prime`).

Every ``--eval-every`` optimizer steps the model plays ``--eval-problems`` held-out
problems greedily, unshaped (:meth:`LMTrainer.evaluate`). Reported per arm: accuracy vs
samples seen (rollouts), the samples needed to reach the outcome run's final accuracy
and its ratio to the outcome run's (> 1: more sample-efficient than outcome), and the
farming check -- the shaped return (what the step rewards paid) against the true
success over training: its first-vs-last-quarter change and their correlation.

    python benchmarks/lm_process_rewards.py --smoke            # tiny random model, < 1 min
    python benchmarks/lm_process_rewards.py --budget 100       # the real question (hours)
    python benchmarks/lm_process_rewards.py --budget 100 --device cuda --model \\
        qwen2.5-coder-1.5b --lora-r 16                          # on a GPU

Cost (issue 26's measurement, CPU, one thread): ~16 s per GRPO step of 8 completions of
<= 32 tokens with SmolLM2-135M; a multi-step episode costs that per turn, so one run of
100 steps is on the order of an hour here. Writes ``benchmarks/results/
lm_process_rewards.json`` (``--smoke``: ``lm_process_rewards_smoke.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

import densegym
from densegym.agents.llm.trainers import LMTrainer
from densegym.agents.runs import RunConfig

RESULTS = Path(__file__).parent / "results"
PROVER = "oracle-0.7"
ARMS = ("outcome", "pav", "prm", "implicit_prm", "prm_clip", "prm_delta")
EXTRA_ARMS = ("pav_clip", "pav_delta", "prime")
#: Held-out problems reset with seeds from here on (training tasks use
#: ``seed * 1_000_003 + iteration``).
EVAL_SEED_BASE = 2_000_000_000


def arm_spec(arm: str, paths: dict[str, str]) -> tuple[Any, str]:
    """The shaping spec and the advantage mode of an arm.

    Example:
        >>> arm_spec("pav_clip", {})
        ([{'id': 'pav', 'prover': 'oracle-0.7', 'guard': 'clip'}], 'pav')
    """
    base, _, guard = arm.partition("_")
    if arm in ("implicit_prm", "prime"):  # prime: the same term, pi_phi updated online
        base, guard = "implicit_prm", ""
    if base == "outcome":
        return None, "outcome"
    if base == "pav":
        spec: dict[str, Any] = {"id": "pav", "prover": PROVER}
        if paths.get("pav_rollouts"):
            spec["n_rollouts"] = int(paths["pav_rollouts"])
    elif base == "prm":
        spec = {"id": "prm", "path": paths["prm"]}
    elif base == "implicit_prm":
        spec = {"id": "implicit_prm", "checkpoint": paths["implicit_prm"]}
    else:
        raise ValueError(f"unknown arm {arm!r}; known: {', '.join(ARMS + EXTRA_ARMS)}")
    if guard:
        spec["guard"] = guard
    return [spec], "pav"


def prepare_models(args: argparse.Namespace, folder: Path, arms: list[str]) -> dict[str, str]:
    """Train the PRM and the implicit PRM the arms need (once, before every run)."""
    paths: dict[str, str] = {"pav_rollouts": "4"} if args.smoke else {}
    env_kwargs = {"difficulty": args.level}
    if any(a.startswith("prm") for a in arms):
        from densegym.rewards.progress.prm import train_prm

        started = time.perf_counter()
        result = train_prm(
            env=args.env, env_kwargs=env_kwargs, policy=PROVER,
            n_problems=8 if args.smoke else 64, n_rollouts=4 if args.smoke else 8,
            dim=64 if args.smoke else 1024, epochs=30 if args.smoke else 200,
            path=folder / "prm.pt",
        )  # fmt: skip
        paths["prm"] = str(result.path)
        seconds = time.perf_counter() - started
        print(f"PRM: {result.n_examples} labelled steps, loss {result.losses[0]:.3f} -> "
              f"{result.losses[-1]:.3f}, {seconds:.0f}s", flush=True)  # fmt: skip
    if "implicit_prm" in arms or "prime" in arms:
        from densegym.rewards.progress.implicit import train_implicit_prm

        started = time.perf_counter()
        result = train_implicit_prm(
            env=args.env, env_kwargs=env_kwargs, data_policy=PROVER,
            n_problems=4 if args.smoke else 32, policy=args.model, epochs=1 if args.smoke else 2,
            path=folder / "implicit_prm.pt",
        )  # fmt: skip
        paths["implicit_prm"] = str(folder / "implicit_prm.pt")
        print(f"implicit PRM: loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}, "
              f"{time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
    return paths


def run_arm(arm: str, seed: int, args: argparse.Namespace, paths: dict[str, str]) -> dict:
    """Train one arm for ``args.budget`` optimizer steps; return its eval and train curves."""
    shaping, advantage = arm_spec(arm, paths)
    hp = {
        "model": args.model, "group_size": args.group_size, "max_new_tokens": args.max_new_tokens,
        "max_episode_steps": args.max_episode_steps, "learning_rate": args.learning_rate,
        "advantage": advantage, "shots": args.shots, "kl_coef": args.kl_coef,
        "lora_r": args.lora_r, "save_model": False, "prime_update": arm == "prime",
    }  # fmt: skip
    config = RunConfig(
        args.env, trainer="lm:grpo", shaping=shaping, steps=1, seed=seed, device=args.device,
        env_kwargs={"difficulty": args.level}, hyperparams=hp, logdir=str(args.logdir),
    )  # fmt: skip
    torch.manual_seed(seed)
    trainer = LMTrainer(config)
    eval_seeds = [EVAL_SEED_BASE + k for k in range(args.eval_problems)]
    evals, train_rows = [], []
    started = time.perf_counter()

    def evaluate(step: int) -> None:
        result = trainer.evaluate(eval_seeds)
        samples = step * args.group_size
        evals.append({"step": step, "samples": samples, "env_steps": trainer.env_steps,
                      "accuracy": result["success_rate"]})  # fmt: skip
        print(f"  {arm:>12} seed {seed} step {step:>4}/{args.budget} samples {samples:>5} "
              f"held-out accuracy {result['success_rate']:.3f} "
              f"({time.perf_counter() - started:.0f}s)", flush=True)  # fmt: skip

    try:
        evaluate(0)
        for step in range(1, args.budget + 1):
            stats = trainer.iteration(task_seed=seed * 1_000_003 + step - 1)
            train_rows.append({
                "step": step, "success": stats["success"], "loss": stats["loss"],
                "shaped_return": stats["reward"] - stats["outcome_return"],
                "outcome_return": stats["outcome_return"],
            })  # fmt: skip
            if step % args.eval_every == 0 or step == args.budget:
                evaluate(step)
    finally:
        trainer.close()
    return {
        "arm": arm, "seed": seed, "shaping": shaping, "advantage": advantage,
        "eval": evals, "train": train_rows, "generated_tokens": trainer.generated_tokens,
        "wall_s": time.perf_counter() - started,
    }  # fmt: skip


def mean_curve(runs: list[dict]) -> list[dict]:
    """Eval points averaged over seeds (every run has the same schedule)."""
    points = []
    for i, point in enumerate(runs[0]["eval"]):
        accs = [r["eval"][i]["accuracy"] for r in runs]
        points.append({"samples": point["samples"], "accuracy": sum(accs) / len(accs)})
    return points


def samples_to_reach(curve: list[dict], target: float) -> float:
    """The first samples count at which the mean accuracy reaches ``target`` (NaN: never).

    Example:
        >>> samples_to_reach([{"samples": 0, "accuracy": 0.0}, {"samples": 8, "accuracy": .5}], .4)
        8.0
    """
    for point in curve:
        if point["accuracy"] >= target:
            return float(point["samples"])
    return math.nan


def _corr(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return math.nan
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def farming(runs: list[dict]) -> dict[str, float]:
    """Shaped return vs true success over training: quarter means and their correlation.

    A farmed reward shows the shaped return rising while success does not.
    """
    rows = [row for run in runs for row in run["train"]]
    n = max(1, len(runs[0]["train"]) // 4)
    first = [row for run in runs for row in run["train"][:n]]
    last = [row for run in runs for row in run["train"][-n:]]

    def mean(part: list[dict], key: str) -> float:
        return sum(r[key] for r in part) / len(part) if part else math.nan

    return {
        "shaped_return_first_quarter": mean(first, "shaped_return"),
        "shaped_return_last_quarter": mean(last, "shaped_return"),
        "train_success_first_quarter": mean(first, "success"),
        "train_success_last_quarter": mean(last, "success"),
        "corr_shaped_return_success": _corr(
            [r["shaped_return"] for r in rows], [r["success"] for r in rows]
        ),
    }


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per arm: final accuracy, samples to the outcome run's final accuracy, the ratio, farming."""
    summary: dict[str, dict] = {}
    outcome_curve = mean_curve(results["outcome"]) if "outcome" in results else None
    target = outcome_curve[-1]["accuracy"] if outcome_curve else math.nan
    outcome_samples = samples_to_reach(outcome_curve, target) if outcome_curve else math.nan
    # The ratio says something only when the outcome run improved on where it started.
    improved = bool(outcome_curve) and target > outcome_curve[0]["accuracy"]
    for arm, runs in results.items():
        curve = mean_curve(runs)
        reach = samples_to_reach(curve, target) if not math.isnan(target) else math.nan
        ratio = outcome_samples / reach if improved and reach > 0 else math.nan
        summary[arm] = {
            "start_accuracy": curve[0]["accuracy"],
            "final_accuracy": curve[-1]["accuracy"],
            "final_accuracy_per_seed": [r["eval"][-1]["accuracy"] for r in runs],
            "target_accuracy": target,
            "samples_to_target": reach,
            "sample_efficiency_vs_outcome": ratio,
            **farming(runs),
            "wall_s": sum(r["wall_s"] for r in runs),
        }
        if not improved:
            summary[arm]["note"] = (
                "no ratio: the outcome run ended at or below its starting accuracy "
                "(or did not run), so there is no target to reach"
            )
        elif math.isnan(reach):
            summary[arm]["note"] = "did not reach the outcome run's final accuracy"
    return summary


def table(summary: dict[str, dict]) -> str:
    """The summary as a Markdown table."""
    head = ("| arm | start acc | final acc | samples to outcome's final | x outcome | "
            "shaped return 1st->last quarter | train success 1st->last | corr |")  # fmt: skip
    lines = [head, "|" + "---|" * 8]
    for arm, s in summary.items():
        lines.append(
            f"| {arm} | {s['start_accuracy']:.3f} | {s['final_accuracy']:.3f} | "
            f"{s['samples_to_target']:.0f} | {s['sample_efficiency_vs_outcome']:.2f} | "
            f"{s['shaped_return_first_quarter']:.3f} -> {s['shaped_return_last_quarter']:.3f} | "
            f"{s['train_success_first_quarter']:.3f} -> {s['train_success_last_quarter']:.3f} | "
            f"{s['corr_shaped_return_success']:.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny random model, 2 steps per run: mechanics, < 1 min")  # fmt: skip
    parser.add_argument("--budget", type=int, default=100, help="optimizer steps per run")
    parser.add_argument("--arms", default=",".join(ARMS),
                        help=f"comma-separated, from {', '.join(ARMS + EXTRA_ARMS)}")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--model", default="smollm2", help="densegym.llm spec")
    parser.add_argument("--env", default="densegym/WordProblems-v0")
    parser.add_argument("--level", type=int, default=1, help="the env's difficulty")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-episode-steps", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--kl-coef", type=float, default=0.0)
    parser.add_argument("--lora-r", type=int, default=0, help="LoRA rank (0: full fine-tune)")
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--eval-problems", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--logdir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.budget, args.group_size = "tiny-random", 2, 2
        args.max_new_tokens, args.max_episode_steps = 4, 2
        args.eval_every, args.eval_problems, args.learning_rate = 2, 2, 1e-3
    if args.budget < 1 or args.seeds < 1 or args.eval_every < 1:
        parser.error("--budget, --seeds and --eval-every must be at least 1")
    name = "lm_process_rewards_smoke.json" if args.smoke else "lm_process_rewards.json"
    args.output = args.output or RESULTS / name
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for arm in arms:
        arm_spec(arm, {"prm": "", "implicit_prm": ""})  # unknown names fail before any work
    work = Path(args.logdir or tempfile.mkdtemp(prefix="lm_process_rewards_"))
    work.mkdir(parents=True, exist_ok=True)
    args.logdir = work
    started = time.perf_counter()
    paths = prepare_models(args, work, arms)
    results: dict[str, list[dict]] = {}
    for arm in arms:
        for seed in range(args.seeds):
            results.setdefault(arm, []).append(run_arm(arm, seed, args, paths))
    summary = summarise(results)
    report = {
        "question": "does a dense progress reward make LM RL more sample-efficient than the "
        "outcome reward? (issue 26)",
        "budget": f"{args.budget} optimizer steps x {args.group_size} rollouts per run, "
        f"{args.seeds} seeds per arm",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "summary": summary,
        "runs": results,
        "wall_s": time.perf_counter() - started,
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "densegym": densegym.__version__,
        "date": date.today().isoformat(),
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(f".{args.output.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(report, indent=2, default=str))
    os.replace(partial, args.output)
    print(table(summary))
    ratios = {a: s["sample_efficiency_vs_outcome"] for a, s in summary.items()}
    print("samples-to-outcome's-final-accuracy ratio (outcome / arm; >1 = fewer samples):",
          ", ".join(f"{a} {r:.2f}" for a, r in ratios.items()))  # fmt: skip
    print(f"wrote {args.output} ({report['wall_s']:.0f}s)")
    return report


if __name__ == "__main__":
    main()
