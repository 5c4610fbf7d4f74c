"""``RecordFrames`` keeps an episode's frames; ``densegym eval --record`` writes them as a PNG."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from densegym.cli import main
from densegym.frames import RecordFrames


def test_records_only_the_first_episode_and_only_up_to_the_cap():
    env = RecordFrames(gym.make("MountainCar-v0", render_mode="rgb_array"), max_frames=5)
    for seed in (0, 1):
        env.reset(seed=seed)
        for _ in range(7):
            env.step(2)
    assert [len(f) for f in env.frames] == [5, 0]
    first = env.frames[0]
    assert all(f.dtype == np.uint8 and f.shape == (400, 600, 3) for f in first)
    assert not np.array_equal(first[0], first[-1])  # the car moved
    env.close()


def test_refuses_an_env_that_does_not_render_arrays():
    with pytest.raises(ValueError, match="rgb_array"):
        RecordFrames(gym.make("MountainCar-v0"))


def test_eval_record_writes_the_first_episode_as_a_strip(tmp_path, capsys):
    path = tmp_path / "episode.png"
    argv = ["eval", "--env", "densegym/MountainCarSparse-v0", "--agent", "random"]
    assert main([*argv, "--episodes", "2", "--record", str(path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(printed[printed.index("{") :])
    assert report["recorded"] == {"path": str(path), "frames": 200}  # MountainCar's time limit
    image = Image.open(path)
    assert image.mode == "RGB" and image.width > image.height > 0
    pixels = np.asarray(image)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 2  # not one blank colour
