"""PAE-style shop tasks: LLM-written instructions, programmatic judge, flagged fallbacks."""

from __future__ import annotations

import pickle
import time

import pytest

from densegym.envs.web import WebShopEnv, pae
from densegym.envs.web.catalog import catalogue_for_seed
from densegym.envs.web.pae import (
    InstructionWriter,
    clean_instruction,
    instruction_problem,
    item_page_text,
)
from densegym.envs.web.tasks import generate_task

N_SEEDS = 20


def _play_oracle(env: WebShopEnv) -> dict:
    info: dict = {}
    for _ in range(40):
        _, _, terminated, truncated, info = env.step(env.oracle_step())
        if terminated or truncated:
            break
    return info


@pytest.fixture(autouse=True)
def _fresh_memory():
    pae._MEMORY.clear()  # each test sees its own cache state
    yield
    pae._MEMORY.clear()


def test_template_instructions_pass_the_check_and_missing_facts_are_caught():
    cat = catalogue_for_seed(0, 1000)
    for seed in range(60):
        task = generate_task(cat, seed, difficulty=1 + seed % 3)
        assert instruction_problem(task.instruction, task) == ""
        # dropping any scored fact is caught, whichever it is
        for fact in (task.category, *task.attributes, *(v for _, v in task.options)):
            assert instruction_problem(task.instruction.replace(fact, "thing"), task) != ""
        wrong_price = task.instruction.replace(f"{task.price_bound:.2f}", "9999")
        assert "price" in instruction_problem(wrong_price, task)
    task = generate_task(cat, 1, difficulty=2)
    assert instruction_problem("  ", task) == "empty"
    assert instruction_problem(task.instruction + " x" * 200, task).startswith("too long")
    noisy = "%%%%;### " * 30 + task.instruction
    assert instruction_problem(noisy, task, max_chars=2000).startswith("garbage")
    assert instruction_problem(task.instruction + "\x00", task) == "not printable"
    assert clean_instruction('2) "Instruction: buy a hat";\nsecond line') == "buy a hat"
    assert len(item_page_text(cat, task.asin)) <= 900


@pytest.mark.parametrize("mode", ["paraphrase", "propose"])
def test_tiny_random_instructions_fall_back_flagged_and_the_oracle_still_succeeds(mode):
    env = WebShopEnv(instruction=mode, instruction_llm="tiny-random")
    sources = []
    for seed in range(N_SEEDS):
        obs, _ = env.reset(seed=seed)
        task = env.task
        sources.append(task["instruction_source"])
        assert task["instruction_source"] in ("llm", "template_fallback")
        assert obs.startswith(f"Instruction: {task['instruction']}\n")
        if task["instruction_source"] == "template_fallback":
            assert task["instruction"] == task["template_instruction"]
            assert task["instruction_fallback_reason"]
        else:  # kept only when it names every scored fact
            assert instruction_problem(task["instruction"], env.problem) == ""
        info = _play_oracle(env)
        assert info["is_success"] and info["score"] == 1.0
    writer = env._writer
    assert writer.stats["writes"] == N_SEEDS
    assert writer.stats["fallbacks"] == sources.count("template_fallback") > 0
    assert writer.stats["llm"] == sources.count("llm")
    assert env.task["instruction_stats"] == writer.stats
    env.close()


def test_same_seed_same_instruction_and_the_cache_serves_resets():
    env = WebShopEnv(difficulty=2, instruction="paraphrase", instruction_llm="tiny-random")
    first = []
    for seed in range(6):
        env.reset(seed=seed)
        first.append((env.task["instruction"], env.task["instruction_source"]))
    calls = env._writer.llm.usage.calls
    start = time.perf_counter()
    for seed in range(6):
        env.reset(seed=seed)
        assert (env.task["instruction"], env.task["instruction_source"]) == first[seed]
    assert env._writer.llm.usage.calls == calls  # no new LLM call: all from the cache
    assert env._writer.stats["cached"] == 6
    assert (time.perf_counter() - start) / 6 < 0.1
    env.close()


def test_sqlite_cache_survives_the_process_memory(tmp_path):
    cat = catalogue_for_seed(0, 600)
    task = generate_task(cat, 5, difficulty=1)
    path = tmp_path / "pae.sqlite"
    first = InstructionWriter("tiny-random", cache=path).write(cat, task, "0/600")
    assert not first.cached
    pae._MEMORY.clear()
    again = InstructionWriter("tiny-random", cache=path).write(cat, task, "0/600")
    assert again.cached and again[:4] == first[:4]
    broken = tmp_path / "not-a-db"
    broken.mkdir()
    writer = InstructionWriter("tiny-random", cache=broken)  # a folder: cache off, no crash
    assert writer._sqlite.broken and writer.write(cat, task, "0/600").task.asin == task.asin


def test_a_failing_llm_falls_back_counted_and_is_retried_later():
    spec = {"id": "openai:none@http://127.0.0.1:9/v1", "max_retries": 0, "timeout": 1}
    env = WebShopEnv(difficulty=1, instruction="propose", instruction_llm=spec)
    for _ in range(2):
        env.reset(seed=3)
        assert env.task["instruction_source"] == "template_fallback"
        assert env.task["instruction_fallback_reason"].startswith("llm error")
        assert _play_oracle(env)["is_success"]
    assert env._writer.stats["errors"] == 2 and env._writer.stats["cached"] == 0
    env.close()


def test_bad_arguments_and_pickling():
    with pytest.raises(ValueError, match="instruction"):
        WebShopEnv(instruction="llm")
    with pytest.raises(ValueError, match="mode"):
        InstructionWriter("tiny-random", mode="template")
    env = WebShopEnv(difficulty=1, instruction="paraphrase", instruction_llm="tiny-random")
    env.reset(seed=2)
    copy = pickle.loads(pickle.dumps(env))
    assert copy._writer._llm is None and copy.task["instruction"] == env.task["instruction"]
    assert copy.task["instruction_source"] == env.task["instruction_source"] != "restored"
    copy.close()
    twin = env.clone()
    assert twin.task["instruction_source"] == env.task["instruction_source"]
    other = WebShopEnv(difficulty=1, instruction="paraphrase", instruction_llm="tiny-random")
    other.reset(seed=9)
    twin.set_state(other.get_state())  # words written for another env's reset
    assert twin.task["instruction"] == other.task["instruction"]
    assert twin.task["instruction_source"] == "restored"
    twin.close()
    other.close()
    env.close()
    plain = WebShopEnv(difficulty=1)
    plain.reset(seed=2)
    assert plain.task["instruction_source"] == "template"
    plain.close()


def test_smollm2_writes_or_flags_and_the_oracle_succeeds():
    """Real SmolLM2 on a few seeds (each call takes seconds on 2 loaded CPU cores)."""
    try:
        writer = InstructionWriter("smollm2", mode="paraphrase", cache=False)
        assert writer.llm is not None  # loads the checkpoint
    except Exception as error:  # noqa: BLE001 - no cached checkpoint offline
        pytest.skip(f"smollm2 unavailable: {error}")
    env = WebShopEnv(difficulty=1, instruction="paraphrase", instruction_llm=writer)
    written = {}
    for seed in (0, 1):
        env.reset(seed=seed)
        task = env.task
        written[seed] = (task["instruction"], task["instruction_source"])
        if task["instruction_source"] == "llm":
            assert instruction_problem(task["instruction"], env.problem) == ""
        else:
            assert task["instruction_source"] == "template_fallback"
            assert task["instruction_fallback_reason"]
        assert _play_oracle(env)["is_success"]
    env.reset(seed=0)  # cache off: the LLM is asked again and, greedy, says the same
    assert (env.task["instruction"], env.task["instruction_source"]) == written[0]
    assert writer.stats["writes"] == 3 and writer.stats["cached"] == 0
    env.close()
