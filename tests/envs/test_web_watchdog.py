"""The browser watchdog: a frozen Chromium is found within seconds, a busy one is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web.browser import BrowserDriver, available, browser_pids

pytestmark = pytest.mark.skipif(not available(), reason="needs chromium, chromium-driver, selenium")


def test_frozen_browser_is_detected_within_seconds_and_the_episode_truncated():
    env = gym.make("densegym/WebShop-Search-v0", driver="chromium", difficulty=1)
    base = env.unwrapped
    try:
        env.reset(seed=0)
        env.step(base.oracle_step())
        frozen = browser_pids(base._browser.profile)  # Chromium only, not chromedriver
        assert frozen
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        *_, truncated, info = env.step(base.oracle_step())
        elapsed = time.monotonic() - start
        assert truncated and info["browser_restarted"] and not info["is_success"]
        assert base._browser.n_watchdog_kills == 1
        # detection <= 5 s plus a fresh browser's start (about 1-2 s here)
        assert elapsed < 9.0, elapsed
        _, info = env.reset(seed=1)
        assert not info["browser_restarted"]
    finally:
        env.close()


def test_busy_but_alive_browser_on_a_loaded_machine_is_not_killed():
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 8: pass"]
        )
        for _ in range(2)
    ]
    driver = BrowserDriver()
    try:
        driver.start()
        # a renderer busy for 3 s, then a script that waits 3 s: both longer than the probe delay
        driver.run(
            lambda d: d.execute_script("const t = Date.now(); while (Date.now() - t < 3000) {}")
        )
        driver.run(lambda d: d.execute_async_script("setTimeout(arguments[0], 3000);"))
        assert driver.n_watchdog_kills == 0
        assert driver.run(lambda d: d.execute_script("return 1 + 1;")) == 2
    finally:
        driver.quit()
        for burner in burners:
            burner.kill()
            burner.wait()
