"""README.md stays true: the env/shaper listing matches `densegym list --markdown`."""

import subprocess
import sys
from pathlib import Path

from densegym.cli import LIST_BEGIN, LIST_END, list_markdown

README = Path(__file__).parents[1] / "README.md"


def test_readme_listing_matches_densegym_list():
    text = README.read_text()
    start, end = text.index(LIST_BEGIN), text.index(LIST_END) + len(LIST_END)
    assert text[start:end] == list_markdown(), (
        "README's env/shaper list is stale: regenerate it with `densegym list --markdown`"
    )


def test_densegym_list_command_runs():
    out = subprocess.run(
        [sys.executable, "-m", "densegym.cli", "list", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == list_markdown().strip()
    assert "densegym/MiniHack-Room-5x5-v0" in out and "`potential`" in out


def test_readme_names_one_install_and_one_test_command():
    text = README.read_text()
    assert 'pip install -e ".[all,test]"' in text
    assert "\npytest\n" in text
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert 'pip install -e ".[all,test]"' in ci and "\npytest\n" in ci


def test_readme_quickstart_runs_and_round_trips():
    import re

    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    code = re.search(r"## Quickstart\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README quickstart", "exec"), namespace)
    env = namespace["env"]
    rebuilt = gym.make(EnvSpec.from_json(env.spec.to_json()))
    assert str(rebuilt) == str(gym.make(env.spec))
    assert set(namespace["info"]["reward_terms"]) == {"extrinsic", "potential"}


def test_readme_world_quickstart_runs():
    import re

    code = re.search(r"## More worlds\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README worlds", "exec"), namespace)
    # The block ends on the web env after one oracle step: the search page is left, no
    # purchase yet.
    assert namespace["info"]["is_success"] is False
    assert namespace["info"]["page"] != "search"


def test_readme_main_job_is_a_real_compare_command():
    import re
    import shlex

    from densegym.cli import build_parser

    block = re.search(r"## Run the main job.*?```bash\n(.*?)```", README.read_text(), re.S)
    argv = shlex.split(block.group(1).strip())
    assert argv[:2] == ["densegym", "compare"]
    args = build_parser().parse_args(argv[1:])
    assert "none" in args.shaping.split(",")
