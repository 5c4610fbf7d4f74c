"""Run Python as an unprivileged user with this project's virtual environment (issue 21).

The sandbox must work for non-root users, but CI runs as root, and the venv's interpreter may
live where another user cannot start it (a pyenv build under ``/root``, mode 700). A user who
can run a system Python of the same version gets the project anyway through a *shim venv*: a
throwaway venv on that Python, owned by the user, whose one ``.pth`` file adds the project
venv's ``site-packages`` (and so its editable install of densegym) as a site directory. Its
interpreter is a real venv interpreter, so the sandbox worker it starts with
``sys.executable -I -B`` (which ignores ``PYTHONPATH``) imports numpy from there too.

As a script this is CI's non-root step (run as root, from the activated venv)::

    python tests/reliability/nonroot.py tests/reliability/test_hostile_sandbox.py ...

It creates the user when missing, checks that the user can read the checkout and the venv
(failing with one clear sentence when not), and runs ``pytest`` on the given paths as that
user, with a temp dir the user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_USER = "dgtest"
CANDIDATE_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


class NonRootError(RuntimeError):
    """The machine cannot run the project as an unprivileged user; the message says why."""


def site_packages() -> Path:
    """The running interpreter's ``site-packages`` (the project venv's, when run from it)."""
    return Path(sysconfig.get_paths()["purelib"])


def ensure_user(name: str = DEFAULT_USER) -> str:
    """Return ``name``, creating that user (no home folder) when it does not exist yet.

    Args:
        name: The unprivileged user's name.

    Raises:
        NonRootError: If the user is missing and ``useradd`` is unavailable or fails.
    """
    if _exists(name):
        return name
    useradd = shutil.which("useradd")
    if useradd is None:
        raise NonRootError(f"user {name!r} does not exist and useradd is missing")
    made = subprocess.run([useradd, "-M", name], capture_output=True, text=True, timeout=60)
    if made.returncode != 0 and not _exists(name):  # a concurrent useradd may have won
        raise NonRootError(f"useradd {name} failed: {made.stderr.strip()}")
    return name


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def as_user(user: str, *command: str) -> list[str]:
    """``command`` run as ``user`` through ``runuser`` (or ``setpriv``), in a scrubbed env."""
    if os.geteuid() != 0:
        return list(command)
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", user, "--", *command]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise NonRootError("neither runuser nor setpriv is available to switch users")
    entry = pwd.getpwnam(user)
    return [
        setpriv,
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
        *command,
    ]


def unreadable(user: str, paths: list[Path]) -> list[Path]:
    """The folders among ``paths`` that ``user`` cannot list and enter."""
    return [
        path
        for path in paths
        if subprocess.run(
            as_user(user, "test", "-r", str(path), "-a", "-x", str(path)),
            capture_output=True,
            timeout=30,
        ).returncode
        != 0
    ]


def usable_python(user: str) -> str:
    """An interpreter ``user`` can start with this interpreter's version (same ABI).

    Raises:
        NonRootError: If there is none.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    tried = []
    for python in (sys.executable, *CANDIDATE_PYTHONS):
        if not Path(python).exists():
            continue
        done = subprocess.run(
            as_user(user, python, "-S", "-c", probe), capture_output=True, text=True, timeout=60
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return python
        tried.append(f"{python} ({done.stdout.strip() or 'cannot start'})")
    raise NonRootError(
        f"user {user!r} can run no Python {version}; tried: {', '.join(tried) or 'none found'}"
    )


def make_user_dir(user: str) -> Path:
    """A fresh temp folder owned by ``user`` (the caller removes it)."""
    folder = Path(tempfile.mkdtemp(prefix="densegym-nonroot-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


def make_shim_venv(user: str, folder: Path) -> Path:
    """Build the shim venv in ``folder`` (owned by ``user``) and return its interpreter.

    Raises:
        NonRootError: If no usable Python exists or the venv cannot be made.
    """
    python = usable_python(user)
    venv = folder / "venv"
    made = subprocess.run(
        as_user(user, python, "-m", "venv", "--without-pip", str(venv)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if made.returncode != 0:
        raise NonRootError(f"cannot make a venv on {python}: {made.stderr.strip()[-300:]}")
    shim = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (shim / "densegym_project_venv.pth").write_text(
        f"import site; site.addsitedir({str(site_packages())!r})\n"
    )
    return venv / "bin" / "python"


def run_pytest(user: str, paths: list[str]) -> int:
    """Run ``pytest`` on ``paths`` as ``user`` through the shim venv; return its exit code.

    Raises:
        NonRootError: If the user cannot read the checkout or the venv, or run Python.
    """
    blocked = unreadable(user, [REPO, REPO / "tests", site_packages()])
    if blocked:
        raise NonRootError(
            f"user {user!r} cannot read {', '.join(map(str, blocked))}: the checkout and its "
            "venv must be readable by other users (chmod o+rX on them and every parent folder)"
        )
    folder = make_user_dir(user)
    try:
        python = make_shim_venv(user, folder)
        env = {"PATH": PLAIN_PATH, "HOME": str(folder), "TMPDIR": str(folder), "LANG": "C.UTF-8"}
        command = [
            "env",
            "-i",
            *(f"{key}={value}" for key, value in env.items()),
            str(python),
            "-B",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={folder / 'pytest'}",
            *paths,
        ]
        return subprocess.run(as_user(user, *command), cwd=REPO).returncode
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    """CI's non-root step: ``nonroot.py [--user NAME] TEST_PATH...``."""
    args = list(argv)
    user = DEFAULT_USER
    if args[:1] == ["--user"]:
        user, args = args[1], args[2:]
    if not args:
        print("usage: nonroot.py [--user NAME] TEST_PATH...", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("nonroot: already running as a non-root user; the main test run covered it")
        return 0
    try:
        ensure_user(user)
        print(f"nonroot: running {' '.join(args)} as user {user!r}", flush=True)
        return run_pytest(user, args)
    except NonRootError as error:
        print(f"nonroot: {error}", file=sys.stderr)
        return CANNOT_RUN


#: Exit code when the machine does not let an unprivileged user run the tests at all (the
#: checkout or the venv lies in a folder only root can read, or no matching Python);
#: ``.ci/run`` reports it as a warning line instead of failing the whole run.
CANNOT_RUN = 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
