"""Benchmark: the tool-use world (issue 23) — env speed, then agents at a small budget.

Section 1, env speed in one run (interleaved rounds, best round kept):

* reset/s (a new task drawn and the world restored from its bytes) and the world restore
  alone; inproc and HTTP steps/s (oracle episodes recorded once, their calls replayed;
  only ``step`` is timed); clone/s (``env.clone()`` mid-episode) and snapshot/restore
  (``get_state`` + ``set_state``);
* the reference cost, written here: a tau-bench-style world kept as a JSON document of
  the same rows (every table a list of row dicts), reset by ``json.loads`` of its text
  and cloned by ``copy.deepcopy``. Ratios: densegym / reference.

Section 2, agents on fixed tasks (task seeds ``1000 ..``) of Lookup, Orders and Config:
random choice among 8 grounded candidates, a noisy oracle (the oracle's call with
probability 0.7, else a random grounded candidate), A* (``search:astar``, progress
heuristic, grounded candidates), and SB3 PPO on the grounded-candidates view trained
with ``none`` vs ``potential`` (Φ = progress) vs ``pav`` (noisy-oracle prover): success,
score, calls per episode, invalid-call rate, wall time. Also ``best_of_n`` (4 rollouts)
and ``q_select`` (4 calls a step) in tool-env form (:class:`NoisyOracleBestOfN`,
:class:`NoisyOracleQSelect`): the grounded noisy-oracle proposer (q=0.7) and the oracle's value
plus N(0, 0.1) noise as scorer;
``sim_calls`` counts the calls they step on clones.

Section 3, BFCL multi-turn base (``densegym/BFCL-MultiTurn-v0``, the first
``--bfcl-entries`` entries): success per turn (turns never reached count as failed) and
per entry for a random call (typed placeholder arguments), the noisy oracle (q=0.7) and
the ground truth; with ``--bfcl-llm <spec>`` also, on the first ``--bfcl-llm-entries``
entries, LLM agents whose candidates are sampled through ``chat(..., tools=[schemas])``
(:class:`~densegym.agents.llm.call_proposer.LLMCallProposer`): greedy (one greedy call a
step), ``q_select`` (k=4), ``best_of_n`` (n=2 rollouts of the turn), honest A* (goal: the
model ends the turn; h=0; g = calls + tool errors + 1 − vote share) and A* whose goal is
BFCL's own turn check (an upper bound, it reads the checker); tokens and LLM calls too.

Usage::

    python benchmarks/tool_use.py                 # default budget (~5 min on 2 cores)
    python benchmarks/tool_use.py --tasks 200 --ppo-steps 20000
    python benchmarks/tool_use.py --engine ray --workers 2   # the PPO runs as Ray Tune trials

Writes ``benchmarks/results/tool_use.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401  (registers the ids)
from densegym.agents.make import make_agent
from densegym.agents.protocol import bind_agent
from densegym.envs.tools import OrdersEnv
from densegym.envs.tools.world import TABLES, world_for_seed

RESULTS = Path(__file__).resolve().parent / "results" / "tool_use.json"
FAMILIES = ("Lookup", "Orders", "Config")
K = 8


# -- section 1: env speed -------------------------------------------------------------
def _best_rate(fn, n: int, rounds: int) -> float:
    """Operations per second of ``fn(i)`` over ``n`` calls, best of ``rounds`` rounds."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = max(best, n / (time.perf_counter() - start))
    return best


def _recorded_episodes(n: int) -> list[tuple[int, list[str]]]:
    env = OrdersEnv()
    episodes = []
    for seed in range(n):
        env.reset(seed=seed)
        calls = []
        while True:
            call = env.oracle_step()
            calls.append(call)
            _, _, terminated, truncated, _ = env.step(call)
            if terminated or truncated:
                break
        episodes.append((seed, calls))
    return episodes


def _step_rate(env: OrdersEnv, episodes: list[tuple[int, list[str]]], rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        spent, steps = 0.0, 0
        for seed, calls in episodes:
            env.reset(seed=seed)
            start = time.perf_counter()
            for call in calls:
                env.step(call)
            spent += time.perf_counter() - start
            steps += len(calls)
        best = max(best, steps / spent)
    return best


def env_speed(rounds: int = 3, n: int = 400) -> dict[str, Any]:
    """Measure section 1 (see the module docs)."""
    env = OrdersEnv()
    env.reset(seed=0)
    world = world_for_seed(0)
    conn = world.connect()
    reset_rate = _best_rate(lambda i: env.reset(seed=i), n, rounds)
    restore_rate = _best_rate(lambda i: world.restore(conn), n * 5, rounds)
    episodes = _recorded_episodes(60)
    inproc = _step_rate(env, episodes, rounds)
    http_env = OrdersEnv(transport="http")
    try:
        http = _step_rate(http_env, episodes[:30], rounds)
    finally:
        http_env.close()
    env.reset(seed=1)
    env.step(env.oracle_step())
    clone_rate = _best_rate(lambda i: env.clone().close(), n, rounds)
    snapshot_rate = _best_rate(lambda i: env.set_state(env.get_state()), n, rounds)
    # The reference: the same rows as one JSON document (tau-bench keeps its world so).
    document = {
        table: [
            dict(zip([c[1] for c in conn.execute(f"PRAGMA table_info({table})")], row, strict=True))
            for row in conn.execute(f"SELECT * FROM {table}")  # noqa: S608
        ]
        for table in TABLES
    }
    text = json.dumps(document)
    json_reset = _best_rate(lambda i: json.loads(text), n, rounds)
    deepcopy_rate = _best_rate(lambda i: copy.deepcopy(document), n, rounds)
    conn.close()
    rows = sum(len(v) for v in document.values())
    return {
        "world_rows": rows,
        "world_bytes": len(world.data),
        "json_bytes": len(text),
        "reset_per_s": reset_rate,
        "reset_ms": 1000 / reset_rate,
        "world_restore_per_s": restore_rate,
        "world_restore_ms": 1000 / restore_rate,
        "inproc_steps_per_s": inproc,
        "http_steps_per_s": http,
        "clone_per_s": clone_rate,
        "clone_ms": 1000 / clone_rate,
        "snapshot_restore_per_s": snapshot_rate,
        "snapshot_restore_ms": 1000 / snapshot_rate,
        "reference_json_reload_per_s": json_reset,
        "reference_json_reload_ms": 1000 / json_reset,
        "reference_deepcopy_per_s": deepcopy_rate,
        "reference_deepcopy_ms": 1000 / deepcopy_rate,
        "ratio_reset_vs_json_reload": reset_rate / json_reset,
        "ratio_world_restore_vs_json_reload": restore_rate / json_reset,
        "ratio_clone_vs_deepcopy": clone_rate / deepcopy_rate,
        "ratio_snapshot_vs_deepcopy": snapshot_rate / deepcopy_rate,
    }


# -- section 2: agents ----------------------------------------------------------------
class CandidateRandom:
    """A uniform choice among the env's grounded candidates (text actions)."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.env: Any = None

    def bind(self, env: gym.Env) -> CandidateRandom:
        """Act in ``env``."""
        self.env = env
        return self

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        """Return a random grounded candidate."""
        return self.rng.choice(self.env.unwrapped.candidate_actions(K)), state


class NoisyOracle(CandidateRandom):
    """The oracle's call with probability ``q``, else a random grounded candidate."""

    def __init__(self, q: float = 0.7, seed: int = 0):
        super().__init__(seed)
        self.q = q

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        """Return the oracle's call with probability ``q``, else a random candidate."""
        if self.rng.random() < self.q:
            return self.env.unwrapped.oracle_step(), state
        return super().predict(obs, state)


def _noisy_call(base: Any, rng: random.Random, q: float) -> str:
    """The grounded noisy-oracle proposer's call.

    The oracle's call with probability ``q``, else a random grounded candidate.
    """
    if rng.random() < q:
        return base.oracle_step()
    return rng.choice(base.candidate_actions(K))


class _ToolSearch:
    """Shared parts of the tool-env forms of ``best_of_n`` and ``q_select``.

    The reference forms on ToolShop, with privileged parts: the proposer is the grounded
    noisy oracle
    (:func:`_noisy_call`), the scorer the oracle's value of a state, ``1 - oracle
    distance`` (a finished copy: ``is_success``), plus Gaussian noise of scale ``noise``.
    ``sim_calls`` counts the calls stepped on clones (the search's compute). The
    library's forms, with LLM or grounded proposers and an honest scorer, are
    :class:`densegym.agents.llm.tool_search.ToolBestOfN` / ``ToolQSelect``.
    """

    def __init__(self, q: float = 0.7, noise: float = 0.1, seed: int = 0):
        self.q, self.noise = q, noise
        self.rng = random.Random(seed)
        self.env: Any = None
        self.sim_calls = 0

    def bind(self, env: gym.Env) -> _ToolSearch:
        """Act in ``env``."""
        self.env = env
        return self

    def value(self, sim: Any, info: dict[str, Any], done: bool) -> float:
        """The noisy oracle scorer's value of a simulated state."""
        exact = float(info["is_success"]) if done else 1.0 - sim.oracle_distance()
        return exact + self.rng.gauss(0.0, self.noise)


class NoisyOracleBestOfN(_ToolSearch):
    """``best_of_n`` on a tool env: ``n`` proposer rollouts on clones, the best-scored one run."""

    def __init__(self, n: int = 4, max_depth: int = 16, **kwargs: Any):
        super().__init__(**kwargs)
        self.n, self.max_depth = n, max_depth
        self.queue: list[str] = []

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        """Plan at an episode's start, then follow the chosen rollout."""
        base = self.env.unwrapped
        if (episode_start is not None and bool(np.any(episode_start))) or not self.queue:
            best: tuple[float, list[str]] = (-math.inf, [])
            for _ in range(self.n):
                sim, calls, done, info = base.clone(), [], False, {}
                while not done and len(calls) < self.max_depth:
                    calls.append(_noisy_call(sim, self.rng, self.q))
                    _, _, terminated, truncated, info = sim.step(calls[-1])
                    done = terminated or truncated
                self.sim_calls += len(calls)
                value = self.value(sim, info, done) if calls else -math.inf
                if value > best[0]:
                    best = (value, calls)
                sim.close()
            self.queue = best[1] or [base.oracle_step()]
        return self.queue.pop(0), state


class NoisyOracleQSelect(_ToolSearch):
    """``q_select`` on a tool env: ``k`` proposed calls per step, the best-valued one taken."""

    def __init__(self, k: int = 4, **kwargs: Any):
        super().__init__(**kwargs)
        self.k = k

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        """Score each distinct proposed call on a clone; return the best."""
        base = self.env.unwrapped
        calls = list(dict.fromkeys(_noisy_call(base, self.rng, self.q) for _ in range(self.k)))
        values = []
        for call in calls:
            sim = base.clone()
            _, _, terminated, truncated, info = sim.step(call)
            self.sim_calls += 1
            values.append(self.value(sim, info, terminated or truncated))
            sim.close()
        return calls[int(np.argmax(values))], state


def run_agent(agent: Any, env: gym.Env, seeds: list[int], deterministic: bool = True) -> dict:
    """Run ``agent`` once per seed; report success, score, calls, invalid rate, wall time."""
    bind_agent(agent, env)
    wins, scores, calls, invalid = [], [], [], 0
    start = time.perf_counter()
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        state, first = None, np.ones((1,), dtype=bool)
        while True:
            action, state = agent.predict(
                obs, state=state, episode_start=first, deterministic=deterministic
            )
            first = np.zeros((1,), dtype=bool)
            if isinstance(action, np.ndarray):
                action = action.item() if action.size == 1 else action
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        wins.append(bool(info["is_success"]))
        scores.append(float(info["score"]))
        calls.append(int(info["n_calls"]))
        invalid += int(info["n_invalid"])
    seconds = time.perf_counter() - start
    usage = getattr(agent, "usage", None)
    return {
        "success": float(np.mean(wins)),
        "score": float(np.mean(scores)),
        "calls_per_episode": float(np.mean(calls)),
        "invalid_rate": invalid / max(sum(calls), 1),
        "wall_s": seconds,
        "tokens": int(usage.tokens) if usage is not None else 0,
        **({"sim_calls": agent.sim_calls} if hasattr(agent, "sim_calls") else {}),
    }


def _view(dim: int) -> dict[str, Any]:
    return {"id": "candidates", "k": K, "encoder": {"id": "ngram", "dim": dim}}


PPO_SHAPINGS = ("none", "potential", "pav")


def ppo_config(family: str, shaping: str, steps: int, logdir: str, dim: int) -> Any:
    """The PPO run of one family and shaping, on the grounded-candidates view."""
    from densegym.agents.runs import RunConfig

    return RunConfig(
        f"densegym/ToolShop-{family}-v0",
        algo="ppo",
        shaping=None if shaping == "none" else shaping,
        steps=steps,
        n_envs=4,
        seed=0,
        logdir=logdir,
        env_kwargs={"view": _view(dim)},
        hyperparams={"n_steps": 128, "batch_size": 128, "n_epochs": 4, "learning_rate": 1e-3},
        log_every=max(steps // 4, 512),
    )


def train_ppo(
    families: tuple[str, ...], steps: int, logdir: str, dim: int, **engine: Any
) -> dict[tuple[str, str], tuple[Any, float]]:
    """Train PPO for every (family, shaping) as one sweep; the models and their train seconds.

    ``engine``: :func:`~densegym.agents.runs.sweep.sweep_runs` options (``engine="ray"``
    sends the runs to Ray Tune).
    """
    from densegym.agents.runs.sweep import sweep_runs
    from densegym.agents.sb3.training import ALGORITHMS

    keys = [(family, shaping) for family in families for shaping in PPO_SHAPINGS]
    configs = [ppo_config(family, shaping, steps, logdir, dim) for family, shaping in keys]
    engine.setdefault("workers", 1)
    result = sweep_runs(configs, progress=False, **engine)
    out = {}
    for key, row in zip(keys, result.rows):
        if row.get("status") == "failed":
            raise RuntimeError(f"PPO on {key[0]} with {key[1]} failed: {row.get('error')}")
        model = ALGORITHMS["ppo"].load(f"{row['run_dir']}/final_model.zip", device="cpu")
        out[key] = (model, row["wall_time_s"])
    return out


def agents(
    tasks: int,
    astar_tasks: int,
    ppo_steps: int,
    dim: int,
    families: tuple[str, ...],
    logdir: str = "",
    **engine: Any,
) -> dict[str, Any]:
    """Measure section 2 (see the module docs); ``engine``: where the PPO runs train."""
    seeds = list(range(1000, 1000 + tasks))
    out: dict[str, Any] = {}
    logdir = logdir or tempfile.mkdtemp(prefix="tool_use_bench_")
    models = train_ppo(families, ppo_steps, logdir, dim, **engine) if ppo_steps else {}
    for family in families:
        env_id = f"densegym/ToolShop-{family}-v0"
        rows: dict[str, Any] = {}
        text_env = gym.make(env_id)
        rows["random (grounded candidates)"] = run_agent(CandidateRandom(0), text_env, seeds)
        rows["noisy oracle (q=0.7)"] = run_agent(NoisyOracle(0.7, 0), text_env, seeds)
        astar = make_agent("search:astar")
        rows["A* (progress h, grounded)"] = run_agent(astar, text_env, seeds[:astar_tasks])
        rows["A* (progress h, grounded)"]["tasks"] = astar_tasks
        best_of_n, q_select = NoisyOracleBestOfN(n=4), NoisyOracleQSelect(k=4)
        rows["best_of_n (n=4, noisy oracle 0.7)"] = run_agent(best_of_n, text_env, seeds)
        rows["q_select (k=4, noisy oracle 0.7)"] = run_agent(q_select, text_env, seeds)
        text_env.close()
        if ppo_steps:
            view_env = gym.make(env_id, view=_view(dim))
            for shaping in PPO_SHAPINGS:
                model, train_s = models[family, shaping]
                row = run_agent(model, view_env, seeds)
                row["train_s"] = train_s
                row["train_steps"] = ppo_steps
                rows[f"PPO + `{shaping}` ({ppo_steps} steps)"] = row
            view_env.close()
        out[family] = rows
        print(f"{family}:", json.dumps(rows, indent=1), flush=True)
    return out


# -- section 3: BFCL multi-turn base ---------------------------------------------------
_PLACEHOLDERS = {"string": "a", "integer": 0, "number": 0.0, "boolean": False, "array": []}


class BFCLRandom:
    """A uniform choice among the entry's functions (``end_turn`` included).

    Each required argument is set to a placeholder of its type (BFCL has no grounded
    candidates).
    """

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.env: Any = None

    def bind(self, env: gym.Env) -> BFCLRandom:
        """Act in ``env``."""
        self.env = env
        return self

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        """Return a random call."""
        schema = self.rng.choice(self.env.unwrapped.task["tools"])
        function = schema.get("function", schema)
        params = function.get("parameters", {})
        arguments = {
            name: _PLACEHOLDERS.get(params.get("properties", {}).get(name, {}).get("type"), "a")
            for name in params.get("required", [])
        }
        return json.dumps({"name": function["name"], "arguments": arguments}), state


class BFCLNoisyOracle(BFCLRandom):
    """The ground truth's next call with probability ``q``, else a :class:`BFCLRandom` call."""

    def __init__(self, q: float = 0.7, seed: int = 0):
        super().__init__(seed)
        self.q = q

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        """Return the oracle's call with probability ``q``, else a random call."""
        if self.rng.random() < self.q:
            return self.env.unwrapped.oracle_step(), state
        return super().predict(obs, state)


def run_bfcl_agent(agent: Any, env: gym.Env, entries: list[int]) -> dict[str, Any]:
    """Play each entry once; success per turn and per entry, calls, invalid rate, wall time."""
    agent.bind(env)
    usage = getattr(agent, "usage", None)
    before = usage.snapshot() if usage is not None else None
    turns, wins, calls, invalid = [], [], [], 0
    start = time.perf_counter()
    for entry in entries:
        obs, info = env.reset(seed=0, options={"entry": entry})
        first = True
        while True:
            action, _ = agent.predict(obs, episode_start=np.array([first]))
            first = False
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        passed = list(info["turn_success"])  # turns never reached count as failed
        turns += passed + [False] * (env.unwrapped.n_turns - len(passed))
        wins.append(bool(info["is_success"]))
        calls.append(int(info["n_calls"]))
        invalid += int(info["n_invalid"])
    return {
        "success_per_entry": float(np.mean(wins)),
        "success_per_turn": float(np.mean(turns)) if turns else 0.0,
        "turns": len(turns),
        "calls_per_entry": float(np.mean(calls)),
        "invalid_rate": invalid / max(sum(calls), 1),
        "wall_s": time.perf_counter() - start,
        **(
            {"tokens": int(usage.since(before).tokens), "llm_calls": usage.since(before).calls}
            if before is not None
            else {}
        ),
    }


def bfcl_llm_agents(spec: str) -> dict[str, Any]:
    """The LLM agents of section 3, sharing one loaded backend."""
    from densegym.agents.llm.astar import AStarAgent
    from densegym.agents.llm.tool_search import ToolBestOfN, ToolQSelect
    from densegym.llm import load

    llm = load(spec[4:] if spec.startswith("llm:") else spec)
    common = {"max_tokens": 32, "seed": 0}
    return {
        f"greedy LLM ({spec})": ToolQSelect(llm, k=1, temperature=0.0, **common),
        f"q_select (k=4, honest, {spec})": ToolQSelect(llm, k=4, **common),
        f"best_of_n (n=2, honest, {spec})": ToolBestOfN(llm, n=2, max_depth=4, **common),
        f"A* (honest: end_turn goal, h=0, {spec})": AStarAgent(
            llm,
            k=4,
            goal="end_turn",
            heuristic="zero",
            error_cost=1.0,
            vote_cost=1.0,
            budget_expansions=8,
            max_depth=6,
            **common,
        ),
        f"A* (goal = BFCL turn check: upper bound, {spec})": AStarAgent(
            llm,
            k=4,
            goal="success",
            heuristic="zero",
            budget_expansions=8,
            max_depth=6,
            **common,
        ),
    }


def bfcl(entries: int, llm: str = "", llm_entries: int = 3) -> dict[str, Any]:
    """Measure section 3 on the first ``entries`` BFCL multi-turn base entries.

    A* needs grounded candidates or an LLM proposer; BFCL has neither here, so it is left
    out (as are best_of_n and q_select, whose proposer is the grounded one).
    """
    try:
        env = gym.make("densegym/BFCL-MultiTurn-v0")
    except (ImportError, gym.error.DependencyNotInstalled) as error:
        return {"skipped": f"bfcl-eval is not installed ({error})"}
    chosen = list(range(min(entries, len(env.unwrapped.entries))))
    rows = {
        "random (typed placeholders)": run_bfcl_agent(BFCLRandom(0), env, chosen),
        "noisy oracle (q=0.7)": run_bfcl_agent(BFCLNoisyOracle(0.7, 0), env, chosen),
        "oracle (ground truth)": run_bfcl_agent(BFCLNoisyOracle(1.0, 0), env, chosen),
    }
    if llm:
        for name, agent in bfcl_llm_agents(llm).items():
            try:  # a failing agent is reported, never the end of the run
                rows[name] = run_bfcl_agent(agent, env, chosen[:llm_entries])
                rows[name]["entries"] = len(chosen[:llm_entries])
                proposer = getattr(agent, "proposer", None) or agent._call_proposer
                if proposer is not None:  # LLM samples: valid, invalid (dropped), padded
                    rows[name]["proposals"] = proposer.stats.as_dict()
            except Exception as error:  # noqa: BLE001
                rows[name] = {"error": f"{type(error).__name__}: {error}"}
            print(name, json.dumps(rows[name]), flush=True)
    env.close()
    print("BFCL:", json.dumps(rows, indent=1), flush=True)
    return {"entries": len(chosen), "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    """The README tables."""
    s = result["env_speed"]
    lines = [
        "| measure | densegym | reference (JSON world) | ratio |",
        "|---|---|---|---|",
        f"| reset (new task + world restore) | {s['reset_ms']:.3f} ms | "
        f"{s['reference_json_reload_ms']:.3f} ms (`json.loads`) | "
        f"**{s['ratio_reset_vs_json_reload']:.1f}×** faster |",
        f"| world restore alone | {s['world_restore_ms']:.4f} ms | "
        f"{s['reference_json_reload_ms']:.3f} ms | "
        f"**{s['ratio_world_restore_vs_json_reload']:.0f}×** |",
        f"| clone mid-episode | {s['clone_ms']:.3f} ms | {s['reference_deepcopy_ms']:.3f} ms "
        f"(`deepcopy`) | **{s['ratio_clone_vs_deepcopy']:.1f}×** |",
        f"| snapshot + restore | {s['snapshot_restore_ms']:.3f} ms | "
        f"{s['reference_deepcopy_ms']:.3f} ms | **{s['ratio_snapshot_vs_deepcopy']:.1f}×** |",
        f"| steps/s in process | {s['inproc_steps_per_s']:,.0f} | | |",
        f"| steps/s over HTTP | {s['http_steps_per_s']:,.0f} | | |",
        "",
        "| family | agent | tasks | success | score | calls/ep | invalid rate | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, rows in result["agents"].items():
        for name, row in rows.items():
            n = row.get("tasks", result["config"]["tasks"])
            wall = f"{row['wall_s']:.1f}"
            if "train_s" in row:
                wall += f" (+{row['train_s']:.0f} train)"
            lines.append(
                f"| {family} | {name} | {n} | {row['success']:.2f} | {row['score']:.2f} | "
                f"{row['calls_per_episode']:.1f} | {row['invalid_rate']:.3f} | {wall} |"
            )
    section = result.get("bfcl")
    if section and "rows" in section:
        lines += [
            "",
            "| BFCL multi-turn base | entries | success / entry | success / turn | calls/entry "
            "| invalid rate | wall s |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in section["rows"].items():
            if "error" in row:
                lines.append(f"| {name} | failed: {row['error']} | | | | | |")
                continue
            tokens = f", {row['tokens']:,} tokens" if row.get("llm_calls") else ""
            lines.append(
                f"| {name} | {row.get('entries', section['entries'])} | "
                f"{row['success_per_entry']:.2f} | "
                f"{row['success_per_turn']:.2f} | {row['calls_per_entry']:.1f} | "
                f"{row['invalid_rate']:.3f} | {row['wall_s']:.1f}{tokens} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100, help="fixed tasks per family")
    parser.add_argument("--astar-tasks", type=int, default=50, help="tasks per family for A*")
    parser.add_argument("--ppo-steps", type=int, default=8192, help="PPO steps (0: skip)")
    parser.add_argument("--dim", type=int, default=64, help="n-gram encoder size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--logdir", default="", help="PPO run folders (default: a temp folder)")
    parser.add_argument("--workers", type=int, default=1, help="PPO runs at a time")
    parser.add_argument("--bfcl-entries", type=int, default=50, help="BFCL entries (0: skip)")
    parser.add_argument("--bfcl-llm", default="", help="LLM spec for BFCL's LLM agents")
    parser.add_argument("--bfcl-llm-entries", type=int, default=3, help="entries for them")
    from densegym.agents.runs.sweep import add_engine_arguments, engine_options

    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    speed = env_speed(args.rounds)
    print(json.dumps(speed, indent=1), flush=True)
    families = tuple(f for f in args.families.split(",") if f)
    result = {
        "config": {
            "tasks": args.tasks,
            "astar_tasks": args.astar_tasks,
            "ppo_steps": args.ppo_steps,
            "k": K,
            "dim": args.dim,
            "rounds": args.rounds,
        },
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
        "date": time.strftime("%Y-%m-%d"),
        "env_speed": speed,
        "agents": agents(
            args.tasks,
            args.astar_tasks,
            args.ppo_steps,
            args.dim,
            families,
            args.logdir,
            workers=args.workers,
            **engine_options(args),
        ),
    }
    result["config"]["bfcl_entries"] = args.bfcl_entries
    if args.bfcl_entries:
        result["config"]["bfcl_llm"] = args.bfcl_llm
        result["bfcl"] = bfcl(args.bfcl_entries, args.bfcl_llm, args.bfcl_llm_entries)
    result["wall_s"] = time.perf_counter() - start
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    print(markdown(result))
    print(f"wrote {path} in {result['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
