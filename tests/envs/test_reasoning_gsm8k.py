import json
import re
from fractions import Fraction

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.reasoning.gsm8k import (
    GSM8KFormatError,
    generated_records,
    load_gsm8k,
    task_from_record,
)

RECORDS = [
    {
        "question": "Betty needs $100 for a wallet. She has half of it. Her parents give her "
        "$15 and her grandparents twice as much. How much more does she need?",
        "answer": "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\n"
        "Betty's grandparents gave her 15 * 2 = $<<15*2=30>>30.\n"
        "This means, Betty needs 100 - 50 - 30 - 15 = $<<100-50-30-15=5>>5 more.\n#### 5",
    },
    {
        "question": "Albert buys 2 large pizzas with 16 slices and 2 small ones with 8 slices. "
        "How many slices does he eat if he eats them all?",
        "answer": "He eats 32 from the largest pizzas because 2 x 16 = <<2*16=32>>32\n"
        "He eats 16 from the small pizza because 2 x 8 = <<2*8=16>>16\n"
        "He eats 48 pieces because 32 + 16 = <<32+16=48>>48\n#### 48",
    },
    {
        "question": "A tank loses 3 liters a day for 4 days. How does its level change?",
        "answer": "It changes by -3*4=<<-3*4=-12>>-12 liters.\n#### -12",
    },
]

ANNOTATION = re.compile(r"<<[^<>=]+=[^<>]+>>")


def write(tmp_path, lines, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def path(tmp_path):
    return write(tmp_path, [json.dumps(r) for r in RECORDS])


def test_loads_a_written_file(path):
    records = load_gsm8k(path)
    assert len(records) == 3 and records[0]["question"].startswith("Betty")
    env = gym.make("densegym/GSM8K-v0", path=path)
    assert len(env.unwrapped) == 3


def test_record_becomes_a_checked_plan():
    task = task_from_record(RECORDS[0])
    assert task.answer == 5
    assert [int(v) for v in task.values] == [50, 30, 5]
    assert task.lines[0] == "In the beginning, Betty has only 100 / 2 = $50."
    assert task.to_dict()["intermediate_values"] == [50, 30, 5]
    negative = task_from_record(RECORDS[2])
    assert negative.answer == Fraction(-12)


def test_oracle_and_index_option(path):
    env = gym.make("densegym/GSM8K-v0", path=path)
    for index, record in enumerate(RECORDS):
        obs, _ = env.reset(options={"index": index})
        assert record["question"] in obs
        while True:
            _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
            if terminated or truncated:
                break
        assert reward == 1.0 and info["is_success"]


def test_free_form_solutions_are_scored(path):
    env = gym.make("densegym/GSM8K-v0", path=path)
    env.reset(options={"index": 1})
    for step in ["2 * 16 = 32 slices of large pizza", "2*8 = 16", "32 + 16 = 48"]:
        _, _, _, _, info = env.step(step)
        assert not info["invalid_step"]
    assert info["progress"] == 1.0
    _, reward, terminated, _, _ = env.step("The answer is 48 slices.")
    assert (reward, terminated) == (1.0, True)


def test_without_path_the_generated_set_is_played_and_solvable():
    env = gym.make("densegym/GSM8K-v0")
    assert env.unwrapped.path is None
    assert env.unwrapped.records == generated_records() == generated_records(64, 0)
    assert len({r["question"] for r in env.unwrapped.records}) == 64
    for index, record in enumerate(env.unwrapped.records):
        assert ANNOTATION.search(record["answer"]) and "\n#### " in record["answer"]
        env.reset(options={"index": index})
        for _ in range(env.spec.max_episode_steps):
            _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
            if terminated or truncated:
                break
        assert (reward, terminated, info["progress"]) == (1.0, True, 1.0), index
    env.close()


def test_generated_records_load_like_a_file(tmp_path):
    lines = [json.dumps(r) for r in generated_records(8, seed=3)]
    assert load_gsm8k(write(tmp_path, lines)) == generated_records(8, seed=3)
    assert generated_records(8, seed=3) != generated_records(8, seed=4)


def test_missing_file_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="GSM8K file not found.*grade-school-math"):
        gym.make("densegym/GSM8K-v0", path=str(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], r"data.jsonl:1: not valid JSON"),
        ([json.dumps({"question": "q"})], r":1: expected \{\"question\": str, \"answer\": str\}"),
        ([json.dumps(RECORDS[0]), json.dumps(["a", "b"])], r":2: expected"),
        ([json.dumps({"question": "q", "answer": "no marker"})], r":1: .*'#### <number>'"),
        ([json.dumps({"question": "q", "answer": "x\n#### many"})], r":1: .*'#### <number>'"),
        ([""], r"no records"),
    ],
)
def test_malformed_files_give_clear_errors(tmp_path, lines, message):
    path = write(tmp_path, lines)
    with pytest.raises(GSM8KFormatError, match=message):
        gym.make("densegym/GSM8K-v0", path=path)


def test_loader_caches_by_content(tmp_path, path):
    assert load_gsm8k(path) is load_gsm8k(path)
    other = write(tmp_path, [json.dumps(RECORDS[0])], name="other.jsonl")
    assert len(load_gsm8k(other)) == 1
