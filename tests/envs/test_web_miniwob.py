"""MiniWoB++ tasks in real headless Chromium: the shop's text grammar, success = raw reward 1.

Runs one browser at a time (Chromium is CPU-heavy); every env is closed and its processes
checked gone. The sweep over every registered MiniWoB id is marked slow.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web.browser import CHROMEDRIVER, CHROMIUM, available
from densegym.miniwob_tasks import KNOWN_REWARD_ISSUES, MINIWOB_TASKS
from densegym.registration import ENV_IDS, entry_for

miniwob = pytest.importorskip("miniwob", reason='needs pip install --no-deps "miniwob==1.1.0"')
pytestmark = pytest.mark.skipif(
    not available(),
    reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver) "
    "and selenium (the web extra)",
)
MINIWOB_IDS = [i for i in ENV_IDS if i.startswith("densegym/MiniWoB-")]


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if not _gone(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


def _make(task: str, **kwargs):
    return gym.make(f"densegym/MiniWoB-{task}-v0", **kwargs)


def _close(env) -> None:
    pids = env.unwrapped.browser_pids()
    env.close()
    assert not _wait_gone(pids), "Chromium processes left after close()"


# -- scripted solvers that read only the observation text ---------------------------------
def _solve_click_test(obs: str) -> list[str]:
    return ["click(Click Me!)"]


def _solve_checkboxes(obs: str) -> list[str]:
    wanted = re.search(r"Select (.*) and click Submit", obs).group(1)
    names = [w.strip() for w in re.split(r",| and ", wanted) if w.strip()]
    if wanted == "nothing":
        names = []
    return [f'click("{name}")' for name in names] + ["click(Submit)"]


def _solve_enter_text(obs: str) -> list[str]:
    text = re.search(r'Enter "(.*)" into', obs).group(1)
    return [f'fill(tt, "{text}")', "click(Submit)"]


def _solve_choose_list(obs: str) -> list[str]:
    option = re.search(r"Select (.*) from the list", obs).group(1)
    return [f'select(options, "{option}")', "click(Submit)"]


def _solve_login(obs: str) -> list[str]:
    user = re.search(r'username "([^"]*)"', obs).group(1)
    password = re.search(r'password "([^"]*)"', obs).group(1)
    return [f'fill(username, "{user}")', f'fill(password, "{password}")', "click(Login)"]


SOLVERS = {
    "click-test": _solve_click_test,
    "click-checkboxes": _solve_checkboxes,
    "enter-text": _solve_enter_text,
    "choose-list": _solve_choose_list,
    "login-user": _solve_login,
}


def test_registration_covers_every_task_and_marks_reward_issues():
    assert len(MINIWOB_IDS) == len(MINIWOB_TASKS) == 128
    for task in KNOWN_REWARD_ISSUES:
        assert f"densegym/MiniWoB-{task}-v0" in MINIWOB_IDS
    entry = entry_for("densegym/MiniWoB-click-test-v0")
    assert (entry.extra, entry.world, entry.kwargs) == ("web", "web", {"task": "click-test"})
    assert entry_for("densegym/MiniWoB-terminal-v0").nondeterministic


@pytest.mark.parametrize("task", sorted(SOLVERS))
def test_scripted_solver_succeeds_with_raw_reward_one(task):
    env = _make(task)
    try:
        wins = 0
        for seed in (0, 1):
            obs, info = env.reset(seed=seed)
            assert obs.startswith("Instruction: ") and not info["is_success"]
            for action in SOLVERS[task](obs):
                obs, reward, terminated, truncated, info = env.step(action)
                assert not info["invalid_action"], (action, info["invalid_reason"], obs)
            assert terminated and not truncated
            assert info["score"] == 1.0 and info["is_success"] and reward == 1.0
            wins += 1
        assert wins == 2
    finally:
        _close(env)


def test_reset_navigates_in_one_browser_seeded_and_raises_the_time_limit():
    env = _make("click-checkboxes")
    base = env.unwrapped
    try:
        first, _ = env.reset(seed=3)
        pids = base.browser_pids()
        assert len(pids) >= 2
        again, _ = env.reset(seed=3)
        other, _ = env.reset(seed=4)
        assert first == again and first != other  # seeded task generation
        assert base._browser.n_starts == 1 and base.browser_pids() == pids
        limit = base._browser.run(lambda d: d.execute_script("return core.EPISODE_MAX_TIME;"))
        assert limit == 3_600_000  # MiniWoB's default is 10 000 ms
    finally:
        _close(env)


def test_wrong_answer_fails_and_score_is_the_raw_reward():
    env = _make("click-checkboxes", reward_mode="raw")
    try:
        for seed in range(10):
            obs, _ = env.reset(seed=seed)
            if "Select nothing" not in obs:
                break
        _, reward, terminated, _, info = env.step("click(Submit)")  # nothing ticked
        assert terminated and not info["is_success"]
        assert reward == info["score"] < 1.0
    finally:
        _close(env)


def test_timeout_truncates_without_success():
    env = _make("click-test", time_limit_s=0.3)
    try:
        env.reset(seed=0)
        time.sleep(0.8)
        _, reward, terminated, truncated, info = env.step("click(Click Me!)")
        assert truncated and not terminated and info["timed_out"]
        assert reward == 0.0 and not info["is_success"] and info["reason"] == "timed out"
    finally:
        _close(env)


def test_bad_actions_are_flagged_counted_and_truncate_in_a_row():
    env = _make("choose-list", max_invalid_in_row=6)
    try:
        obs, _ = env.reset(seed=0)
        bad = [
            "jump over",
            "click(99)",
            'fill(Submit, "x")',
            'select(options, "no such city")',
            "back",
            'press("F13")',
        ]
        for n, action in enumerate(bad, 1):
            obs2, reward, terminated, truncated, info = env.step(action)
            assert info["invalid_action"] and info["invalid_reason"], action
            assert info["n_invalid"] == n and obs2 == obs and reward == 0.0
        assert truncated and not terminated
    finally:
        _close(env)


def test_press_types_into_the_focused_box():
    env = _make("enter-text")
    try:
        obs, _ = env.reset(seed=0)
        text = re.search(r'Enter "(.*)" into', obs).group(1)
        env.step('fill(tt, "")')
        env.step("click(tt)")
        for char in text:
            *_, info = env.step(f'press("{char}")')
            assert not info["invalid_action"]
        obs, *_ = env.step('press("Tab")')
        assert f'textbox "" ({text}) #tt' in obs
    finally:
        _close(env)


def test_known_reward_issue_is_in_the_task_description():
    env = _make("find-greatest")
    try:
        env.reset(seed=0)
        assert "0.1" in env.unwrapped.task["reward_issue"]
    finally:
        _close(env)


def test_killed_browser_is_restarted_and_flagged():
    env = _make("click-test")
    base = env.unwrapped
    try:
        env.reset(seed=0)
        old = base.browser_pids()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        assert not _wait_gone(old)
        _, reward, terminated, truncated, info = env.step("click(1)")  # must not raise
        assert truncated and not terminated and reward == 0.0 and not info["is_success"]
        assert info["browser_restarted"] and info["n_browser_restarts"] == 1
        _, info = env.reset(seed=1)
        assert not info["browser_restarted"]
        *_, info = env.step("click(Click Me!)")
        assert info["is_success"]
    finally:
        _close(env)


def test_rgb_array_is_a_screenshot_of_the_task():
    env = _make("click-checkboxes", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.shape[0] >= 150 and frame.shape[1] >= 150
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # text and boxes drawn
    finally:
        _close(env)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", MINIWOB_IDS)
def test_every_registered_task_resets_steps_and_closes(env_id):
    env = gym.make(env_id)
    try:
        obs, info = env.reset(seed=0)
        assert obs.startswith("Instruction: ") and not info["browser_restarted"]
        action = "click(1)" if env.unwrapped.page.elements else "stop"
        *_, info = env.step(action)
        assert not info["browser_restarted"] and not info["invalid_action"]
    finally:
        _close(env)


def test_quoted_click_names_the_element_a_bare_number_counts():
    env = _make("click-checkboxes")
    try:
        for seed in range(40):
            obs, _ = env.reset(seed=seed)
            names = [e.name for e in env.unwrapped.page.elements if e.role == "checkbox"]
            numeric = [n for n in names if n.isdigit() and int(n) > len(names) + 1]
            if numeric:
                break
        else:
            pytest.skip("no numeric checkbox label in 40 seeds")
        *_, info = env.step(f"click({numeric[0]})")
        assert info["invalid_action"]  # the 653rd element does not exist
        obs, *_, info = env.step(f'click("{numeric[0]}")')
        assert not info["invalid_action"]
        assert f'checkbox "{numeric[0]}" (checked)' in obs
    finally:
        _close(env)


def test_link_out_of_the_task_truncates_without_a_browser_restart():
    env = _make("flight.AA")  # served over HTTP on 127.0.0.1; the logo link leaves the frame
    try:
        obs, _ = env.reset(seed=0)
        assert env.unwrapped.page.elements[0].role == "link"
        obs2, reward, terminated, truncated, info = env.step("click(1)")
        assert truncated and not terminated and reward == 0.0
        assert info["left_task"] and not info["browser_restarted"] and obs2 == obs
    finally:
        _close(env)
