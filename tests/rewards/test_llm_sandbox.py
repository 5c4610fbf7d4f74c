"""Security and reliability of the sandbox that runs LLM-written reward code."""

import os
import resource
import time

import numpy as np
import pytest

from densegym.rewards.llm import CodeRejected, Sandbox, check_code
from densegym.rewards.llm.sandbox import network_isolation_prefix

HEADER = "import math\nimport numpy as np\n\n"
SIGNATURE = "def reward(obs, action, next_obs, info):\n"
ARGS = (np.zeros(2, dtype=np.float32), 1, np.ones(2, dtype=np.float32), {"is_success": False})

# A classic escape: walk from a tuple to `object`, find a class defined in `os`, and read
# the `os` module's globals off one of its methods. Only used with check=False, to show
# that the worker's own layers hold even when the AST allow-list is bypassed.
ESCAPE = """
def find(name):
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == name:
            return cls

def os_globals():
    return find('_wrap_close').__init__.__globals__
"""


def body(*lines: str) -> str:
    return HEADER + SIGNATURE + "".join(f"    {line}\n" for line in lines)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "sandboxed code had an effect on the host"


REJECTED = {
    "import os": ("import os\n" + body("return 0.0"), "import of 'os' is not allowed"),
    "import subprocess": (
        body("import subprocess", "return 0.0"),
        "import of 'subprocess' is not allowed",
    ),
    "import socket": (body("import socket", "return 0.0"), "import of 'socket' is not allowed"),
    "from os import system": ("from os import system\n" + body("return 0.0"), "import from 'os'"),
    "open": (body("open('{marker}', 'w').write('x')", "return 0.0"), "name 'open' is not allowed"),
    "__import__": (
        body("__import__('os').system('touch {marker}')", "return 0.0"),
        "name '__import__' is not allowed",
    ),
    "dunder walk": (
        body("return ().__class__.__bases__[0].__subclasses__()"),
        "underscore attribute '__class__'",
    ),
    "eval": (body("return eval('1 + 1')"), "name 'eval' is not allowed"),
    "exec": (body("exec('x = 1')", "return 0.0"), "name 'exec' is not allowed"),
    "getattr": (body("return getattr(obs, 'shape')"), "name 'getattr' is not allowed"),
    "globals": (body("return len(globals())"), "name 'globals' is not allowed"),
    "numpy file I/O": (body("np.save('{marker}', obs)", "return 0.0"), "attribute 'save'"),
    "numpy submodule": (body("return np.ctypeslib"), "attribute 'ctypeslib'"),
    "frame access": (
        body("g = (x for x in [1])", "return g.gi_frame.f_globals"),
        "attribute 'gi_frame'",
    ),
    "format string walk": (body("return '{{0.__class__}}'.format(obs)"), "attribute 'format'"),
    "class": (body("class A:", "    pass", "return 0.0"), "class definitions not allowed"),
    "try/except": (
        body("try:", "    x = 1", "except Exception:", "    x = 2", "return x"),
        "try/except",
    ),
    "syntax error": (body("return (1"), "syntax error"),
    "wrong signature": ("def reward(obs):\n    return 0.0\n", "exactly 4 positional"),
    "no reward": ("def other(a, b, c, d):\n    return 0.0\n", "no top-level function 'reward'"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_allow_list_rejects_with_a_clear_reason(case, marker):
    template, reason = REJECTED[case]
    code = template.replace("{marker}", str(marker))
    problems = check_code(code)
    assert any(reason in p for p in problems), problems
    with pytest.raises(CodeRejected, match="rejected"):
        Sandbox(code)  # refused before any worker starts


def test_allow_list_accepts_plain_arithmetic():
    code = body(
        "x, v = float(next_obs[0]), float(next_obs[1])",
        "terms = [math.sin(3 * x), abs(v), np.clip(v, -1, 1)]",
        "return float(sum(w * t for w, t in zip([1.0, 2.0, 0.5], terms)))",
    )
    assert check_code(code) == []


@pytest.fixture(scope="module")
def echo_box():
    with Sandbox(body("return float(next_obs[0]) + action")) as box:
        yield box


def test_values_round_trip_in_one_batch(echo_box):
    batch = [(ARGS[0], a, np.array([0.25 * a, 0.0]), {}) for a in range(3)]
    results = echo_box.call_batch(batch)
    assert [r.value for r in results] == [0.0, 1.25, 2.5]
    assert all(r.ok for r in results)


def test_worker_runs_in_a_scrubbed_separate_process(echo_box, monkeypatch):
    info = echo_box.ping()
    assert info["pid"] != os.getpid()
    if os.geteuid() == 0:
        assert info["uid"] == 65534  # root drops to nobody


def test_per_step_cost_is_small(echo_box):
    echo_box.call(*ARGS)
    start = time.perf_counter()
    for _ in range(200):
        assert echo_box.call(*ARGS).ok
    assert (time.perf_counter() - start) / 200 < 0.005


def test_infinite_loop_is_killed_within_the_time_limit():
    with Sandbox(body("while True:", "    pass"), timeout=0.5) as box:
        first_pid = box.pid
        start = time.monotonic()
        result = box.call(*ARGS)
        assert time.monotonic() - start < 2.5
        assert result.kind == "timeout" and "killed" in result.error
        assert box.pid is None  # killed; the next call starts a fresh worker
        assert box.call(*ARGS).kind == "timeout"
        assert box.restarts == 1 and box.pid != first_pid


@pytest.mark.parametrize(
    "allocation", ["np.zeros(10**10) + 1", "[0] * 10**10", "np.ones((10**5, 10**5))"]
)
def test_ten_gigabyte_allocation_hits_the_memory_limit(allocation):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Sandbox(body(f"x = {allocation}", "return 0.0"), memory_mb=1024) as box:
        result = box.call(*ARGS)
        assert result.kind in ("error", "crash"), result
        assert "MemoryError" in result.error or result.kind == "crash"
        assert box.call_batch([ARGS])[0].kind in ("error", "crash")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 200_000  # KiB: the host process did not grow


def test_deep_recursion_is_contained():
    code = HEADER + "def down(n):\n    return down(n + 1)\n\n" + SIGNATURE + "    return down(0)\n"
    with Sandbox(code) as box:
        result = box.call(*ARGS)
        assert result.kind in ("error", "crash")
        assert result.kind == "crash" or "RecursionError" in result.error


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("return float('nan')", "non-finite"),
        ("return math.inf", "non-finite"),
        ("return 'high'", "returned str, not a number"),
        ("return [1.0, 2.0]", "returned list, not a number"),
        ("return None", "returned NoneType"),
    ],
)
def test_bad_values_are_flagged(line, reason):
    with Sandbox(body(line)) as box:
        result = box.call(*ARGS)
    assert result.kind == "bad_value" and reason in result.error
    assert result.value is None


def test_errors_fail_only_their_own_item():
    with Sandbox(body("return 1.0 / float(next_obs[0])")) as box:
        results = box.call_batch([(0, 0, [2.0], {}), (0, 0, [0.0], {}), (0, 0, [4.0], {})])
    assert [r.kind for r in results] == ["ok", "error", "ok"]
    assert "ZeroDivisionError" in results[1].error
    assert results[2].value == 0.25


def test_code_that_fails_to_load_is_rejected():
    with pytest.raises(CodeRejected, match="loading the code failed: ZeroDivisionError"):
        Sandbox("X = 1 / 0\n" + body("return X"))


# ---- inner layers, with the AST allow-list bypassed (check=False) ----------------------
def test_unlisted_imports_fail_inside_the_worker():
    code = ESCAPE + SIGNATURE + "    import socket\n    return 0.0\n"
    with Sandbox(code, check=False) as box:
        result = box.call(*ARGS)
    assert result.kind == "error" and "import of 'socket' is not allowed" in result.error


def test_fork_is_refused_even_after_an_escape():
    code = ESCAPE + SIGNATURE + "    return os_globals()['fork']()\n"
    with Sandbox(code, check=False) as box:
        result = box.call(*ARGS)
    assert result.kind == "error" and "'os.fork' is not allowed" in result.error


def test_fork_is_refused_by_the_process_limit_without_the_audit_hook():
    code = ESCAPE + SIGNATURE + "    return os_globals()['fork']()\n"
    with Sandbox(code, check=False, audit_hook=False) as box:
        result = box.call(*ARGS)
    # RLIMIT_NPROC=0 (as nobody when started as root): fork fails with EAGAIN.
    assert result.kind == "error" and "BlockingIOError" in result.error, result


def test_shell_and_files_are_refused_even_after_an_escape(marker):
    system = ESCAPE + SIGNATURE + f"    return os_globals()['system']('touch {marker}')\n"
    opener = ESCAPE + SIGNATURE + f"    return os_globals()['open']('{marker}', 65)\n"
    for code, event in ((system, "os.system"), (opener, "open")):
        with Sandbox(code, check=False) as box:
            result = box.call(*ARGS)
        assert result.kind == "error" and f"'{event}' is not allowed" in result.error


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("DENSEGYM_TEST_SECRET", "hunter2")
    code = (
        ESCAPE + SIGNATURE + "    return float('DENSEGYM_TEST_SECRET' in os_globals()['environ'])\n"
    )
    with Sandbox(code, check=False) as box:
        result = box.call(*ARGS)
    assert result.ok and result.value == 0.0


def test_worker_gets_an_empty_network_namespace_when_available():
    if not network_isolation_prefix():
        pytest.skip("unshare cannot create a network namespace here")
    with Sandbox(body("return 0.0"), network="require") as box:
        assert box.network_isolated and box.call(*ARGS).ok
