"""The Chromium driver's per-step work: few WebDriver round trips, real input, same pages."""

from __future__ import annotations

import collections

import pytest
from selenium.webdriver.remote.remote_connection import RemoteConnection

from densegym.envs.web import WebShopEnv
from densegym.envs.web.browser import CHROMEDRIVER, CHROMIUM, available

pytestmark = pytest.mark.skipif(
    not available(),
    reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver) "
    "and selenium (the web extra)",
)


def test_each_step_is_a_few_round_trips_of_real_input_and_lands_where_the_text_driver_goes(
    monkeypatch,
):
    commands: list[str] = []
    execute = RemoteConnection.execute

    def counted(self, command, params):  # the real call, only counted
        commands.append(command)
        return execute(self, command, params)

    monkeypatch.setattr(RemoteConnection, "execute", counted)
    browser = WebShopEnv(difficulty=3, driver="chromium")
    text = WebShopEnv(difficulty=3)
    try:
        browser.reset(seed=0)  # starts the browser (not counted below)
        per_step, per_reset = [], []
        for seed in (1, 2, 3):
            del commands[:]
            obs_b, _ = browser.reset(seed=seed)
            per_reset.append(len(commands))
            obs_t, _ = text.reset(seed=seed)
            assert obs_b == obs_t
            while True:
                action = text.oracle_step()
                del commands[:]
                obs_b, _, term_b, trunc_b, info_b = browser.step(action)
                per_step.append(collections.Counter(commands))
                obs_t, _, term_t, trunc_t, info_t = text.step(action)
                assert obs_b == obs_t and (term_b, trunc_b) == (term_t, trunc_t)
                if term_t or trunc_t:
                    break
            assert info_b["is_success"] and info_t["is_success"]
        assert browser._browser.n_resyncs == 0
        assert max(per_reset) <= 3  # navigate + one read (+ a re-read while it loads)
        for counts in per_step:
            # clicks and typing are trusted DevTools input events, not scripted clicks
            assert counts["executeCdpCommand"] in (1, 2, 3)
            assert counts["getPageSource"] == 0 and counts["getCurrentUrl"] == 0
        assert sum(sum(c.values()) for c in per_step) / len(per_step) <= 6
    finally:
        browser.close()
        text.close()
    assert not browser._browser.running
