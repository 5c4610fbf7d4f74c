"""Benchmark: accuracy vs generated tokens of the search agents on WordProblems.

Methods (issue 5): greedy, majority, best_of_n scored by an ORM, a PRM and a PAV,
beam search scored by a PAV and by a PRM, and MCTS (PRM values), each at budgets
N ∈ {1, 2, 4, 8, 16} (N samples for the sampling methods; beam width N with 2
expansions per beam; N·2 simulations for MCTS). Every method sees the same problems
(``evaluate`` seeds episode ``i`` with ``seed + i``).

The verifiers are trained first, on Monte-Carlo rollouts of a noisy-oracle policy
(``--data-policy``, no downloads): the ORM on outcome labels, the PRM on hard step
labels, the PAV's value model on soft labels from a prover (``--prover``). They see only
the solution text. The proposer is an LLM (``--proposer llm:smollm2``) or a noisy oracle.

Usage::

    python benchmarks/search_compute.py --tiny            # seconds: tiny-random, 1 problem
    python benchmarks/search_compute.py                   # 200 problems, smollm2, N ≤ 16

Writes ``search_compute.csv``, ``search_compute.json`` and ``search_compute.png`` to
``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

import densegym  # noqa: F401  (registers the env ids)
from densegym.agents import evaluate
from densegym.agents.llm.search import make_search_agent
from densegym.agents.llm.search_parts import PAVScorer, PRMScorer, StepProposer
from densegym.rewards.progress import train_prm

ENV_ID = "densegym/WordProblems-v0"


def train_verifiers(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    common = {
        "env": ENV_ID,
        "env_kwargs": {"difficulty": args.difficulty},
        "policy": args.data_policy,
        "n_problems": args.train_problems,
        "n_rollouts": args.train_rollouts,
        "dim": 512,
        "seed": 10_000,  # problems disjoint from the evaluation seeds
    }
    orm = train_prm(labels="outcome", path=out / "orm.pt", **common)
    prm = train_prm(labels="hard", path=out / "prm.pt", **common)
    train_prm(labels="soft", completer=args.prover, path=out / "pav.pt", **common)
    return {
        "orm": PRMScorer(orm.model),
        "prm": PRMScorer(prm.model, aggregate="min"),
        "pav": PAVScorer(value_model=str(out / "pav.pt"), alpha=args.alpha),
    }


def methods(budget: int, scorers: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "greedy": ("greedy", {}),
        "majority": ("majority", {"n": budget}),
        "best_of_n/orm": ("best_of_n", {"n": budget, "scorer": scorers["orm"]}),
        "best_of_n/prm": ("best_of_n", {"n": budget, "scorer": scorers["prm"]}),
        "best_of_n/pav": ("best_of_n", {"n": budget, "scorer": scorers["pav"]}),
        "beam/pav": ("beam", {"beam_width": budget, "expansions": 2, "scorer": scorers["pav"]}),
        "beam/prm": ("beam", {"beam_width": budget, "expansions": 2, "scorer": scorers["prm"]}),
        "mcts/prm": ("mcts", {"simulations": 2 * budget, "scorer": scorers["prm"]}),
    }


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy gain of beam/PAV over best_of_n/ORM at equal N, and the token ratio."""
    by = {(r["method"], r["budget"]): r for r in rows}
    budgets = sorted({r["budget"] for r in rows})
    gains = {
        n: by[("beam/pav", n)]["accuracy"] - by[("best_of_n/orm", n)]["accuracy"]
        for n in budgets
        if ("beam/pav", n) in by and ("best_of_n/orm", n) in by
    }
    orm = [by[("best_of_n/orm", n)] for n in budgets if ("best_of_n/orm", n) in by]
    pav = [by[("beam/pav", n)] for n in budgets if ("beam/pav", n) in by]
    token_ratio = None
    if orm and pav:
        best = max(orm, key=lambda r: (r["accuracy"], -r["gen_tokens_per_problem"]))
        reach = [r for r in pav if r["accuracy"] >= best["accuracy"]]
        if reach:
            cheapest = min(reach, key=lambda r: r["gen_tokens_per_problem"])
            token_ratio = best["gen_tokens_per_problem"] / max(
                cheapest["gen_tokens_per_problem"], 1e-9
            )
    return {
        "accuracy_gain_points": {n: 100 * g for n, g in gains.items()},
        "token_ratio": token_ratio,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted(
            (r["gen_tokens_per_problem"], r["accuracy"]) for r in rows if r["method"] == method
        )
        ax.plot([max(p[0], 1) for p in pts], [p[1] for p in pts], marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("generated tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_title("WordProblems: accuracy vs generated tokens")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--difficulty", type=int, default=2)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--proposer", default="llm:smollm2")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-step-tokens", type=int, default=48)
    parser.add_argument("--max-depth", type=int, default=10)
    parser.add_argument("--data-policy", default="oracle-0.7")
    parser.add_argument("--prover", default="oracle-0.5")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--train-problems", type=int, default=200)
    parser.add_argument("--train-rollouts", type=int, default=8)
    parser.add_argument("--methods", nargs="*", default=None, help="subset of method names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--tiny", action="store_true", help="tiny-random, 1 problem, N ≤ 2")
    args = parser.parse_args(argv)
    if args.tiny:
        args.problems, args.budgets, args.proposer = 1, [1, 2], "llm:tiny-random"
        args.max_step_tokens, args.max_depth = 6, 2
        args.train_problems, args.train_rollouts = 4, 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scorers = train_verifiers(args, out)
    train_seconds = time.perf_counter() - start
    env = gym.make(ENV_ID, difficulty=args.difficulty)
    # One proposer for every method, so an LLM is loaded once; greedy decodes at T=0.
    sampler = StepProposer(args.proposer, args.temperature, args.max_step_tokens, args.seed)
    greedy = StepProposer(
        sampler.prover.model if sampler.model is not None else args.proposer,
        0.0,
        args.max_step_tokens,
        args.seed,
    )
    rows = []
    for budget in args.budgets:
        for method, (name, kwargs) in methods(budget, scorers).items():
            if args.methods and method not in args.methods:
                continue
            if method == "greedy" and budget != args.budgets[0]:
                continue
            proposer = greedy if name == "greedy" else sampler
            agent = make_search_agent(name, proposer=proposer, max_depth=args.max_depth, **kwargs)
            result = evaluate(agent.bind(env), env, n_episodes=args.problems, seed=args.seed)
            usage = agent.usage
            rows.append(
                {
                    "method": method,
                    "budget": budget,
                    "accuracy": result.success_rate,
                    "gen_tokens_per_problem": usage["completion_tokens"] / args.problems,
                    "steps_generated_per_problem": usage["steps_generated"] / args.problems,
                    "calls": usage["calls"],
                    "wall_time_s": result.wall_time_s,
                }
            )
            print(json.dumps(rows[-1]))
    with open(out / "search_compute.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, out / "search_compute.png")
    summary = {
        "config": {k: v for k, v in vars(args).items()},
        "verifier_training_s": train_seconds,
        "ratios": ratios(rows),
        "rows": rows,
    }
    (out / "search_compute.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["ratios"], indent=2))
    return summary


if __name__ == "__main__":
    main()
