"""Time BrowserGym-core on a MiniWoB task; run by ``benchmarks/web.py --sections browsergym``.

This script runs in a *separate* Python environment that has ``browsergym-core``,
``browsergym-miniwob`` and ``miniwob`` installed (BrowserGym is not a densegym dependency),
so it imports nothing from densegym. It points Playwright at the Debian Chromium
(``executable_path``; Playwright cannot download its own browser offline) and
BrowserGym-miniwob at the task pages the ``miniwob`` wheel ships (``MINIWOB_URL``), then
solves ``click-checkboxes`` with the same clicks as the other MiniWoB timings (each wanted
box, then Submit), addressed by BrowserGym's ``bid`` attributes.

Usage (prints one JSON object on its last line)::

    /tmp/bgvenv/bin/python benchmarks/web_browsergym.py --episodes 10
    /tmp/bgvenv/bin/python benchmarks/web_browsergym.py --pre-observation-delay 0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BOXES_JS = """() => Array.from(document.querySelectorAll('#boxes label')).map(
    l => [l.querySelector('input').getAttribute('bid'), l.textContent.trim()])"""
SUBMIT_JS = "() => document.querySelector('#subbtn').getAttribute('bid')"


def wanted_boxes(utterance: str) -> list[str]:
    """The labels a click-checkboxes instruction asks for ("Select A, B and click Submit.").

    Example:
        >>> wanted_boxes("Select abc, de and click Submit.")
        ['abc', 'de']
    """
    wanted = utterance.split("Select ", 1)[-1].rsplit(" and click Submit", 1)[0]
    if wanted == "nothing":
        return []
    return [w.strip() for w in wanted.replace(" and ", ",").split(",") if w.strip()]


def link_browser(chromium: str, root: Path) -> Path:
    """Make ``root`` a Playwright browsers folder whose bundled Chromium is ``chromium``.

    Playwright looks for ``<root>/chromium-<revision>/chrome-linux/chrome`` (the revision
    from its ``browsers.json``) and cannot download it offline. BrowserGym launches a
    second browser (its chat window) without the caller's ``executable_path``, so a
    link there is the only way to point both launches at the Debian browser.
    """
    import playwright

    spec = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    browsers = json.loads(spec.read_text())["browsers"]
    revision = next(b["revision"] for b in browsers if b["name"] == "chromium")
    target = root / f"chromium-{revision}" / "chrome-linux" / "chrome"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(Path(chromium).resolve())
    return target


def run(task: str, episodes: int, chromium: str, delay: float) -> dict[str, Any]:
    """First reset, median reset and steps/s of BrowserGym on ``task`` with fixed clicks."""
    import browsergym.miniwob  # noqa: F401  (registers browsergym/miniwob.*)
    import gymnasium as gym

    kwargs = {"pw_chromium_kwargs": {"executable_path": chromium}, "pre_observation_delay": delay}
    start = time.perf_counter()
    env = gym.make(f"browsergym/miniwob.{task}", **kwargs)
    obs, _ = env.reset(seed=0)
    first = time.perf_counter() - start
    resets, step_time, n_steps, wins = [], 0.0, 0, 0
    try:
        for seed in range(1, episodes + 1):
            start = time.perf_counter()
            obs, _ = env.reset(seed=seed)
            resets.append(time.perf_counter() - start)
            page = env.unwrapped.page
            boxes = {name: bid for bid, name in page.evaluate(BOXES_JS)}
            bids = [boxes[name] for name in wanted_boxes(obs["goal"])]
            bids.append(page.evaluate(SUBMIT_JS))
            reward = 0.0
            for bid in bids:
                start = time.perf_counter()
                obs, reward, terminated, truncated, info = env.step(f'click("{bid}")')
                step_time += time.perf_counter() - start
                n_steps += 1
                if obs.get("last_action_error"):
                    print("action error:", obs["last_action_error"][:200], file=sys.stderr)
            wins += reward == 1.0
    finally:
        env.close()
    return {
        "first_reset_s": round(first, 3),
        "reset_ms": round(1000 * statistics.median(resets), 1),
        "steps_per_s": round(n_steps / step_time, 2),
        "success": round(wins / episodes, 3),
        "episodes": episodes,
        "steps": n_steps,
        "pre_observation_delay_s": delay,
    }


def main() -> None:
    """Parse the flags, run the timing, print the JSON result on the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="click-checkboxes")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument(
        "--chromium",
        default="/usr/lib/chromium/chromium",
        help="the browser binary (Debian's, not its /usr/bin/chromium shell wrapper)",
    )
    parser.add_argument("--browsers-path", default="/tmp/densegym-browsergym-playwright")
    parser.add_argument("--pre-observation-delay", type=float, default=0.5)
    args = parser.parse_args()
    if "MINIWOB_URL" not in os.environ:
        import miniwob

        html = Path(miniwob.__file__).parent / "html" / "miniwob"
        os.environ["MINIWOB_URL"] = html.as_uri() + "/"
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = args.browsers_path
    link = link_browser(args.chromium, Path(args.browsers_path))
    from importlib.metadata import version

    result = {
        "browsergym_core": version("browsergym-core"),
        "playwright": version("playwright"),
        "chromium": args.chromium,
        "playwright_link": str(link),
        "miniwob_url": os.environ["MINIWOB_URL"],
    }
    result.update(run(args.task, args.episodes, args.chromium, args.pre_observation_delay))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
