"""Write ``08_web.ipynb``: ``python notebooks/make_08_web.py``.

The notebook is generated so that its cells stay reviewable as plain Python; the test
suite executes the ``.ipynb`` with ``DENSEGYM_NOTEBOOK_STEPS=1024`` and
``DENSEGYM_NOTEBOOK_TINY=1`` (fewer tasks, a few hundred PPO steps). Text driver, plus
one Chromium episode's screenshots when Chromium is installed.
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# 08 — Web: a generated shop on a real local server

`densegym/WebShop-Search-v0` serves a generated catalogue (SQLite, FTS5 search) from a
real HTTP server on 127.0.0.1. The agent reads the instruction and the page as text and
acts with one line: `search[query]`, `click[id]`, `fill(id, "text")`,
`select(group, "option")`, `back` or `stop`. Success is buying an item that meets every
asked attribute, option and the price. This notebook uses the fast text driver; the
Chromium driver (`driver="chromium"`) gives the same observations.

We play the oracle, try the browser-style grammar, then train SB3 PPO on the
grounded-candidates view with and without the `web_progress` potential.""",
    ),
    (
        "code",
        """import os

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

import densegym

torch.set_num_threads(1)
TINY = os.environ.get("DENSEGYM_NOTEBOOK_TINY") == "1"
STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "8192"))
PPO_STEPS = min(STEPS, 256) if TINY else STEPS
TASKS = 5 if TINY else 50
print(densegym.__version__, "| PPO budget:", PPO_STEPS, "| tasks:", TASKS)""",
    ),
    (
        "code",
        """env = gym.make("densegym/WebShop-Search-v0", difficulty=2)
obs, info = env.reset(seed=0)
print(obs)
base = env.unwrapped
while True:
    action = base.oracle_step()
    obs, reward, terminated, truncated, info = env.step(action)
    print(">>", action, "| page:", info["page"])
    if terminated or truncated:
        break
print("reward", reward, "| success", info["is_success"], "| score", info["score"])""",
    ),
    (
        "md",
        """## The browser-style grammar

`fill` types into the search box without submitting; the Search button submits it;
`select` picks an option radio by its group and text; bad lines are flagged, never
raised.""",
    ),
    (
        "code",
        """obs, info = env.reset(seed=3)
task = base.problem
for action in [f'fill(search-input, "{task.query}")', "click(search-button)", "jump!"]:
    obs, reward, terminated, truncated, info = env.step(action)
    print(f"{action!r:50} page={info['page']:8} invalid={info['invalid_reason']!r}")
print("candidates:", base.candidate_actions(4))""",
    ),
    (
        "md",
        """## A real Chromium episode

With `driver="chromium"` the same episode runs in real headless Chromium;
`render_mode="rgb_array"` returns a screenshot when `render()` is called (never
otherwise), and `write_strip` lays an episode's frames side by side in one PNG. Skipped
without Debian's `chromium` and `chromium-driver`.""",
    ),
    (
        "code",
        """import tempfile

import matplotlib.pyplot as plt

from densegym.envs.web.browser import available
from densegym.frames import write_strip

if available():
    shop = gym.make(
        "densegym/WebShop-Search-v0", driver="chromium", difficulty=1, render_mode="rgb_array"
    )
    shop.reset(seed=0)
    frames = [shop.render()]
    while True:
        *_, terminated, truncated, info = shop.step(shop.unwrapped.oracle_step())
        frames.append(shop.render())
        if terminated or truncated:
            break
    shop.close()
    strip = os.path.join(tempfile.mkdtemp(), "episode.png")
    print(write_strip(frames, strip, height=200, per_row=4), frames[0].shape, info["is_success"])
    plt.figure(figsize=(12, 6))
    plt.imshow(plt.imread(strip))
    plt.axis("off")
    plt.show()
else:
    print("chromium or chromium-driver missing: no screenshots")""",
    ),
    (
        "md",
        """## PPO on grounded candidates: `none` vs `potential`

The candidates view offers 8 actions built from the page (no oracle), encoded with
n-grams; `shaping={"id": "potential"}` adds Φ = the purchase stage.""",
    ),
    (
        "code",
        """view = {"id": "candidates", "k": 8}
scores = {}
for shaping in ("none", "potential"):
    kwargs = {"difficulty": 1, "view": view}
    if shaping == "potential":
        kwargs["shaping"] = {"id": "potential", "gamma": 0.99}
    train = gym.make("densegym/WebShop-Search-v0", **kwargs)
    model = PPO("MlpPolicy", train, n_steps=128, batch_size=64, seed=0, device="cpu")
    model.learn(PPO_STEPS)
    test = gym.make("densegym/WebShop-Search-v0", difficulty=1, view=view)
    wins = []
    for i in range(TASKS):
        obs, info = test.reset(seed=1000 + i)
        while True:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = test.step(int(action))
            if terminated or truncated:
                break
        wins.append(info["is_success"])
    scores[shaping] = float(np.mean(wins))
    train.close()
    test.close()
print(scores)
env.close()""",
    ),
]

if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("08_web.ipynb"))
