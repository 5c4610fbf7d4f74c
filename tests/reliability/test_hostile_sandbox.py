"""Hostile cases of issue 21 for the sandbox that runs LLM-written reward code.

The sandbox must work for root and non-root users alike. CI runs as root, so these tests
take the non-root path themselves: through ``unshare -r`` (a user namespace in which the
worker sees uid 0 but cannot change its user) and, where the machine allows it, as a real
unprivileged user created for the test.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import nonroot
import pytest

from densegym.rewards.llm import CodeRejected, check_code
from densegym.rewards.llm import sandbox as sandbox_module
from densegym.rewards.llm.sandbox import Sandbox, remove_stale_workdirs

CODE = "def reward(obs, action, next_obs, info):\n    return float(next_obs[0])"
ARGS = ([0.0], 1, [0.5], {})
REPO = Path(__file__).resolve().parents[2]
TEST_USER = "dgtest"


def _user_namespace_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "-r", "-n", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


needs_userns = pytest.mark.skipif(
    not _user_namespace_works(), reason="unshare -r -n is not available on this machine"
)


@needs_userns
def test_worker_starts_inside_a_user_namespace():
    """Issue 21, high 1: ``unshare -r -n python -I -B worker.py '{}'`` died on setgroups EPERM."""
    ping = b'{"op":"ping"}'
    done = subprocess.run(
        ["unshare", "-r", "-n", sys.executable, "-I", "-B", str(sandbox_module.WORKER_PATH), "{}"],
        input=struct.pack(">I", len(ping)) + ping,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert b'"ok":true' in done.stdout


@needs_userns
def test_sandbox_takes_the_non_root_path(monkeypatch):
    """The prefix a non-root user gets (``unshare -r -n``) runs reward code, even for root."""
    unshare = shutil.which("unshare")
    monkeypatch.setattr(sandbox_module, "network_isolation_prefix", lambda: (unshare, "-r", "-n"))
    with Sandbox(CODE, network="require") as box:
        assert box.network_isolated
        assert box.call(*ARGS).value == 0.5


def _unprivileged_user() -> str | None:
    """A non-root user to switch to, creating one when root may; else ``None``."""
    if shutil.which("runuser") is None and shutil.which("setpriv") is None:
        return None
    try:
        return nonroot.ensure_user(TEST_USER)
    except nonroot.NonRootError:
        return None


PROBE = f"""
import os
from densegym.rewards.llm.sandbox import Sandbox
assert os.geteuid() != 0
with Sandbox({CODE!r}) as box:
    print("uid", os.geteuid(), "value", box.call(*{ARGS!r}).value, "ping", box.ping()["ok"])
"""


def test_sandbox_runs_as_a_real_non_root_user():
    """Issue 21, high 1: every ``llm_code`` shaper failed for non-root users.

    As root, the probe runs as a real unprivileged user through a shim venv on a Python that
    user can start (see ``nonroot.py``), so it runs even where the venv's own interpreter
    lives in root's private home.
    """
    if os.geteuid() != 0:  # already unprivileged: run it here
        with Sandbox(CODE) as box:
            assert box.call(*ARGS).value == 0.5
        return
    user = _unprivileged_user()
    if user is None:
        pytest.skip("cannot create or use an unprivileged user here (no runuser/useradd)")
    blocked = nonroot.unreadable(user, [REPO, nonroot.site_packages()])
    if blocked:
        pytest.skip(f"user {user!r} cannot read {blocked} (a private parent folder)")
    folder = nonroot.make_user_dir(user)
    try:
        try:
            python = nonroot.make_shim_venv(user, folder)
        except nonroot.NonRootError as error:
            pytest.skip(str(error))
        env = ["env", "-i", f"PATH={nonroot.PLAIN_PATH}", f"HOME={folder}", f"TMPDIR={folder}"]
        done = subprocess.run(
            nonroot.as_user(user, *env, str(python), "-B", "-c", PROBE),
            capture_output=True,
            timeout=120,
            cwd="/",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-1000:]
    assert "value 0.5 ping True" in done.stdout.decode()
    assert "uid 0 " not in done.stdout.decode()


DISARM = """
def reward(obs, action, next_obs, info):
    worker = __import__.__globals__  # the worker module's globals (the allow-list is off)
    worker["_armed"] = False
    worker["ALLOWED_EVENTS"] = worker["ALLOWED_EVENTS"] | set(["open"])
    worker["__builtins__"].open("/etc/hostname").read()
    return 1.0
"""


def test_the_audit_hook_cannot_be_disarmed_from_inside():
    """Issue 21, medium: a mutable module global of the worker switched the audit hook off."""
    with Sandbox(DISARM, check=False) as box:
        result = box.call(*ARGS)
    assert result.kind == "error" and "PermissionError" in result.error


def test_replacing_the_hooks_code_is_refused():
    code = (
        "def reward(obs, action, next_obs, info):\n"
        "    hook = __import__.__globals__['_audit']\n"
        "    hook.__code__ = (lambda event, args: None).__code__\n"
        "    return 1.0\n"
    )
    with Sandbox(code, check=False) as box:
        result = box.call(*ARGS)
    assert result.kind == "error" and "PermissionError" in result.error


@pytest.mark.parametrize(
    "source",
    [
        "def reward(obs, action, next_obs, info):\n    return " + "-" * 15_000 + "1\n",
        "def reward(obs, action, next_obs, info):\n    return " + "1+" * 9_000 + "1\n",
        "def reward(obs, action, next_obs, info):\n    return " + "[" * 150 + "]" * 150 + "\n",
    ],
)
def test_deeply_nested_source_is_refused_not_raised(source):
    """Issue 21, medium: ``check_code`` raised RecursionError/MemoryError in the trainer."""
    problems = check_code(source)
    assert problems and "nested too deeply" in problems[0]
    with pytest.raises(CodeRejected):
        Sandbox(source)


@pytest.mark.parametrize(
    "frame",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"ok": "yes"}',
        b'{"ok": true, "results": []}',
        b'{"ok": true, "results": [1.0]}',
        b'{"ok": true, "results": [{"v": "1"}]}',
        b'{"ok": true, "results": [{"v": 1.0, "e": "x"}]}',
        b'{"ok": true, "results": [{"x": 1.0}]}',
    ],
)
def test_a_forged_reply_frame_is_a_counted_crash(monkeypatch, frame):
    """Issue 21, medium: a forged frame raised JSONDecodeError in the trainer."""
    with Sandbox(CODE) as box:
        monkeypatch.setattr(box, "_read_frame", lambda deadline: frame)
        result = box.call(*ARGS)
        assert result.kind == "crash" and "invalid reply" in result.error
        assert box.counts["crash"] == 1
        monkeypatch.undo()
        assert box.call(*ARGS).value == 0.5  # a fresh worker serves the next call


TRAINER = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
from densegym.rewards.llm.sandbox import Sandbox
box = Sandbox({CODE!r})
print(box.pid, box._workdir, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            state = next(line for line in handle if line.startswith("State:"))
    except (OSError, StopIteration):
        return False
    return "Z" not in state.split()[1]  # a zombie has exited (its reaper may be slow)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_the_worker_dies_with_a_killed_trainer_and_its_folder_goes():
    """Issue 21, medium: the worker outlived a SIGKILLed trainer and left its temp folder."""
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER], stdout=subprocess.PIPE, text=True, cwd="/"
    )
    try:
        pid_text, workdir = trainer.stdout.readline().split()
        worker = int(pid_text)
        assert _alive(worker) and Path(workdir).is_dir()
    finally:
        trainer.kill()
        trainer.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), "the sandbox worker outlived its trainer"
    assert Path(workdir).is_dir()  # nobody removed it yet ...
    remove_stale_workdirs()  # ... the next sandbox to start does
    assert not Path(workdir).exists()
