"""Screenshots of the Chromium driver (``render_mode="rgb_array"``) and the episode PNG strip."""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web.browser import available
from densegym.frames import write_strip

ENV_ID = "densegym/WebShop-Search-v0"


def test_text_driver_refuses_rgb_array():
    with pytest.raises(ValueError, match="needs driver='chromium'"):
        gym.make(ENV_ID, render_mode="rgb_array")


def test_strip_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_strip([], tmp_path / "a.png")
    with pytest.raises(ValueError, match="uint8"):
        write_strip([np.zeros((4, 4, 3), np.float32)], tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


def test_strip_keeps_order_and_spreads_long_episodes(tmp_path):
    frames = [np.full((10, 20, 3), i, np.uint8) for i in range(100)]
    rows, columns = write_strip(frames, tmp_path / "s.png", height=10, per_row=4, max_frames=8)
    assert (rows, columns) == (2, 4)
    sheet = np.asarray(Image.open(tmp_path / "s.png"))
    firsts = [int(sheet[0, c * 24, 0]) for c in range(4)]
    assert firsts == sorted(firsts) and firsts[0] == 0
    assert int(sheet[14, 3 * 24, 0]) == 99  # the last frame is kept


@pytest.mark.skipif(not available(), reason="needs chromium, chromium-driver and selenium")
def test_webshop_chromium_screenshots_follow_the_episode(tmp_path):
    env = gym.make(ENV_ID, driver="chromium", difficulty=1, render_mode="rgb_array")
    base = env.unwrapped
    try:
        assert base.render() is None  # nothing before reset, no browser started
        assert not base._browser.running
        env.reset(seed=0)
        frames = [env.render()]
        for _ in range(3):
            env.step(base.oracle_step())
            frames.append(env.render())
        for frame in frames:
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
            assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 2
        assert not np.array_equal(frames[0], frames[1])  # the page changed
        rows, columns = write_strip(frames, tmp_path / "episode.png", height=120)
        assert (rows, columns) == (1, 4)
        assert Image.open(tmp_path / "episode.png").size[1] == 120
    finally:
        pids = base._browser.pids()
        env.close()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(Path(f"/proc/{p}").exists() for p in pids)
