"""The shop env in real headless Chromium: same observations as the text driver, restarts, close."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web import WebShopEnv
from densegym.envs.web.browser import CHROMEDRIVER, CHROMIUM, available

pytestmark = pytest.mark.skipif(
    not available(),
    reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver) "
    "and selenium (the web extra)",
)
ENV_ID = "densegym/WebShop-Search-v0"
_BROWSER_KEYS = ("browser_restarted", "n_browser_restarts")


def _gone(pid: int) -> bool:
    """Whether a process has exited (a zombie awaiting its reaper counts as exited)."""
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


@pytest.fixture(scope="module")
def pair():
    browser = gym.make(ENV_ID, driver="chromium")
    text = gym.make(ENV_ID)
    yield browser.unwrapped, text.unwrapped
    pids = browser.unwrapped._browser.pids()
    browser.close()
    text.close()
    assert not _wait_gone(pids)


def _detours(env: WebShopEnv, done: set[str]) -> list[str]:
    """Extra actions that exercise typing into a filled box, Back and sub-pages."""
    kind = env.page.title
    if kind.startswith("Results") and "research" not in done:
        done.add("research")
        return [f"search[{env.task['query']}]", "click[nothing such]"]
    if env.page.textbox() is None and "item" not in done and env.page.title != "Thank you":
        done.add("item")
        return ["click[description]", "back", "click[reviews]", "click[back-to-item]"]
    return []


@pytest.mark.parametrize("level", [1, 2, 3])
def test_oracle_episode_same_as_text_driver(pair, level):
    browser, text = pair
    seed = 100 + level
    obs_b, info_b = browser.reset(seed=seed, options={"difficulty": level})
    obs_t, info_t = text.reset(seed=seed, options={"difficulty": level})
    assert obs_b == obs_t and browser.task == {**text.task, "info": browser.task["info"]}
    assert not info_b["browser_restarted"]
    assert {k: v for k, v in info_b.items() if k not in _BROWSER_KEYS} == info_t
    done: set[str] = set()
    queue: list[str] = []
    for _ in range(40):
        queue = queue or _detours(text, done) or [text.oracle_step()]
        action = queue.pop(0)
        obs_b, reward_b, term_b, trunc_b, info_b = browser.step(action)
        obs_t, reward_t, term_t, trunc_t, info_t = text.step(action)
        assert obs_b == obs_t, action
        assert (reward_b, term_b, trunc_b) == (reward_t, term_t, trunc_t), action
        assert {k: v for k, v in info_b.items() if k not in _BROWSER_KEYS} == info_t, action
        assert not info_b["browser_restarted"]
        if term_b or trunc_b:
            break
    assert term_b and info_b["is_success"] and reward_b == 1.0
    assert done == {"research", "item"}
    assert browser._browser.n_resyncs == 0  # every real click landed where the text driver went


def test_killed_browser_is_restarted_and_flagged_and_close_quits():
    env = gym.make(ENV_ID, driver="chromium", difficulty=1)
    base = env.unwrapped
    env.reset(seed=0)
    env.step(base.oracle_step())
    old = base._browser.pids()
    assert len(old) >= 2  # chromedriver and Chromium
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    assert not _wait_gone(old)
    obs_before = base.observation()
    obs, reward, terminated, truncated, info = env.step(base.oracle_step())  # must not raise
    assert truncated and not terminated and reward == 0.0 and not info["is_success"]
    assert info["browser_restarted"] and info["n_browser_restarts"] == 1
    assert obs == obs_before  # the page stays
    new = base._browser.pids()
    assert new and not set(new) & set(old)

    _, info = env.reset(seed=1)  # the restarted browser plays on
    assert not info["browser_restarted"] and info["n_browser_restarts"] == 1
    while True:
        _, _, terminated, truncated, info = env.step(base.oracle_step())
        if terminated or truncated:
            break
    assert info["is_success"] and not info["browser_restarted"]

    profile = base._browser.profile
    env.close()
    assert not base._browser.running and not Path(profile).exists()
    assert not _wait_gone(new), "Chromium processes left after close()"


def test_issue_grammar_same_as_text_driver(pair):
    browser, text = pair
    obs_b, _ = browser.reset(seed=7, options={"difficulty": 2})
    obs_t, _ = text.reset(seed=7, options={"difficulty": 2})
    task = text.problem
    actions = [
        'fill(search-input, "zzz")',  # typed, then typed over
        f'fill(search-input, "{task.query}")',
        "click(search-button)",
        'select(size, "no such size")',  # invalid
    ]
    for _ in range(40):
        action = actions.pop(0) if actions else text.oracle_step()
        if action.startswith("click[opt-"):
            dim, value = next(
                (d, v)
                for d, v in task.options
                if action == f"click[opt-{d}-" + v.replace(" ", "-") + "]"
            )
            action = f'select({dim}, "{value}")'
        obs_b, reward_b, term_b, trunc_b, info_b = browser.step(action)
        obs_t, reward_t, term_t, trunc_t, info_t = text.step(action)
        assert obs_b == obs_t, action
        assert (reward_b, term_b, trunc_b) == (reward_t, term_t, trunc_t), action
        assert {k: v for k, v in info_b.items() if k not in _BROWSER_KEYS} == info_t, action
        if term_b or trunc_b:
            break
    assert term_b and info_b["is_success"] and reward_b == 1.0
    assert browser._browser.n_resyncs == 0
