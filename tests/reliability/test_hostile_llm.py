"""Hostile cases of issue 21 for LLM-backed terms: dead, hanging and lying servers, and a
label cache that cannot be used.

A server fault may cost a step a bounded time, never an exception; after
``breaker_threshold`` failed calls in a row the backend's circuit breaker stops calling the
server, the term pays 0, ``info["<term>_disabled"]`` is set and ``info["<term>_stats"]``
counts what happened. A cache file that is corrupt, locked or read-only only turns the
cache off (``cache_errors``, ``cache_disabled``).
"""

from __future__ import annotations

import logging
import sqlite3
import time

import gymnasium as gym
import pytest
from conftest import closed_port

import densegym  # noqa: F401 - registers the ids
import densegym.llm
from densegym.llm import LLMConnectionError, LLMUnavailableError
from densegym.llm.http import CircuitBreaker
from densegym.rewards.llm import labels
from densegym.rewards.llm.labels import LabelCache

ENV = "densegym/MountainCarSparse-v0"
#: Fast client settings: one attempt of at most 0.3 s, a retry, the breaker after 2 calls.
FAST = {"timeout": 0.3, "total_timeout": 0.6, "max_retries": 1, "backoff": 0.05}


def _judge_env(spec: dict, cache: bool | str = False) -> gym.Env:
    shaping = {"id": "llm_judge", "backend": spec, "cache": cache, "subgoals": ["Reach the flag"]}
    return gym.make(ENV, shaping=shaping)


def _run(env: gym.Env, steps: int) -> tuple[list[dict], list[float]]:
    env.reset(seed=0)
    infos, times = [], []
    for _ in range(steps):
        start = time.monotonic()
        *_, info = env.step(2)
        times.append(time.monotonic() - start)
        infos.append(info)
    return infos, times


@pytest.mark.timeout(30)
def test_a_trickling_answer_is_cut_at_the_total_bound(fault_server):
    """Issue 21, medium: a server trickling a byte every 0.5 s blocked a call for over 30 s."""
    server = fault_server("trickle", trickle_s=0.05)  # the whole answer takes 4 s
    llm = densegym.llm.load(
        server.spec(timeout=5.0, total_timeout=1.0, max_retries=3, breaker_threshold=0)
    )
    start = time.monotonic()
    with pytest.raises(LLMConnectionError, match="no answer within"):
        llm.generate("hi", max_tokens=1)
    assert time.monotonic() - start < 2.5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["closed_port", "hang", "http500", "garbage", "truncated"])
def test_a_failing_server_disables_the_llm_term_and_the_run_goes_on(fault, fault_server, caplog):
    """Issue 21, medium: a dead server cost every step seconds, forever, with no counter."""
    if fault == "closed_port":
        spec = {"id": f"openai:fault@http://127.0.0.1:{closed_port()}/v1"}
    else:
        spec = fault_server(fault).spec()
    spec.update(FAST, breaker_threshold=2, breaker_cooldown=60.0)
    env = _judge_env(spec)
    with caplog.at_level(logging.WARNING):
        infos, times = _run(env, 12)
    env.close()
    stats = infos[-1]["llm_judge_stats"]
    # a step asks two questions at once (yes and no), so the breaker may trip in one step
    assert 2 <= stats["llm_failures"] <= 4 and stats["llm_breaker_trips"] == 1
    assert stats["llm_disabled"] == 1 and stats["llm_refused"] >= 10
    assert infos[-1]["llm_judge_disabled"] and infos[-1]["reward_terms"]["llm_judge"] == 0.0
    assert "LLM calls are off" in caplog.text
    assert sum(times[:2]) < 4.0  # each failing call stays inside its total bound
    assert max(times[2:]) < 0.1  # and a refused one costs nothing


@pytest.mark.timeout(30)
def test_the_breaker_calls_the_server_again_after_the_cooldown(fault_server):
    server = fault_server("http500")
    spec = server.spec(**FAST, breaker_threshold=2, breaker_cooldown=0.3)
    env = _judge_env(spec)
    infos, _ = _run(env, 3)
    assert infos[-1]["llm_judge_disabled"]
    server.mode = "ok"
    time.sleep(0.35)
    *_, info = env.step(2)
    env.close()
    assert "llm_judge_disabled" not in info and info["llm_judge_stats"]["llm_disabled"] == 0
    assert info["reward_terms"]["llm_judge"] == 1.0  # the server said yes


def test_a_failed_probe_opens_the_breaker_again():
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10.0, clock=lambda: now[0])
    breaker.failure()
    breaker.before_call()  # one failure: still closed
    breaker.failure()
    with pytest.raises(LLMUnavailableError):
        breaker.before_call()
    now[0] = 11.0
    breaker.before_call()  # the probe
    with pytest.raises(LLMUnavailableError):
        breaker.before_call()  # only one probe at a time
    breaker.failure()
    assert breaker.is_open and breaker.stats["trips"] == 2
    now[0] = 22.0
    breaker.before_call()
    breaker.success()
    assert not breaker.is_open and breaker.stats["open"] == 0


# ------------------------------------------------------------------ the label cache
def _corrupt(path) -> None:
    path.write_bytes(b"\x00garbage, not SQLite\xff" * 64)


def _half_corrupt(path) -> None:
    cache = LabelCache(path)
    cache.put_many({f"k{i}": float(i) for i in range(2000)})
    cache.close()
    data = bytearray(path.read_bytes())
    data[200:] = b"\xff" * (len(data) - 200)  # header intact, pages destroyed
    path.write_bytes(bytes(data))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage", [_corrupt, _half_corrupt])
def test_a_corrupt_label_cache_turns_the_cache_off(damage, tmp_path, fault_server, caplog):
    """Issue 21, medium: a corrupt cache file raised out of ``env.step``."""
    path = tmp_path / "labels.sqlite"
    damage(path)
    env = _judge_env(fault_server("ok").spec(), cache=str(path))
    with caplog.at_level(logging.WARNING):
        infos, _ = _run(env, 4)
    env.close()
    stats = infos[-1]["llm_judge_stats"]
    assert stats["cache_disabled"] == 1 and stats["cache_errors"] >= 1
    assert infos[0]["reward_terms"]["llm_judge"] == 1.0  # judged by the server instead
    assert "going on without a disk cache" in caplog.text


@pytest.mark.timeout(60)
def test_a_cache_locked_by_another_process_is_a_miss_then_off(tmp_path, fault_server, monkeypatch):
    """Issue 21, medium: a lock held elsewhere blocked ``step`` 30 s, then raised."""
    monkeypatch.setattr(LabelCache, "LOCK_TIMEOUT", 0.05)
    path = tmp_path / "labels.sqlite"
    LabelCache(path).close()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        env = _judge_env(fault_server("ok").spec(), cache=str(path))
        infos, times = _run(env, 6)
        env.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    stats = infos[-1]["llm_judge_stats"]
    assert stats["cache_errors"] == 3 and stats["cache_disabled"] == 1
    assert max(times) < 1.0


@pytest.mark.timeout(60)
def test_a_read_only_cache_turns_the_cache_off(tmp_path, fault_server, monkeypatch):
    """Root ignores file modes, so the cache is opened read-only the way SQLite does it."""
    path = tmp_path / "labels.sqlite"
    LabelCache(path).close()
    connect = sqlite3.connect

    def read_only(database: str, **kwargs):
        return connect(f"file:{database}?mode=ro", uri=True, **kwargs)

    monkeypatch.setattr(labels.sqlite3, "connect", read_only)
    env = _judge_env(fault_server("ok").spec(), cache=str(path))
    infos, _ = _run(env, 3)
    env.close()
    stats = infos[-1]["llm_judge_stats"]
    assert stats["cache_disabled"] == 1 and stats["cache_errors"] == 1
    assert infos[0]["reward_terms"]["llm_judge"] == 1.0


@pytest.mark.timeout(60)
def test_llm_feedback_reports_its_cache_and_breaker(tmp_path, fault_server):
    path = tmp_path / "labels.sqlite"
    _corrupt(path)
    spec = fault_server("http500").spec(**FAST, breaker_threshold=1, breaker_cooldown=60.0)
    env = gym.make(ENV, shaping={"id": "llm_feedback", "backend": spec, "cache": str(path)})
    feedback = env.get_wrapper_attr("annotator")
    env.reset(seed=0)
    for _ in range(3):
        env.step(2)
        feedback.wait(10)  # the annotator thread has asked (and failed)
    info = env.step(2)[4]
    env.close()
    stats = info["llm_feedback_stats"]
    assert stats["cache_disabled"] == 1 and stats["llm_disabled"] == 1
    assert stats["llm_breaker_trips"] == 1 and info["llm_feedback_disabled"]
