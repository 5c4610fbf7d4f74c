"""Benchmark: how many of issue 21's hostile cases hold, by area.

Runs the hostile suite (``tests/reliability``: one area per test file) in a ``pytest``
subprocess with ``--junitxml`` and counts, per area, the cases (collected test items,
parametrized ones counted one by one) that held (passed), broke (failed or errored) and were
skipped (the machine lacks what the case needs: they count neither way).

Usage::

    python benchmarks/robustness.py            # the default run (no ``slow`` cases)
    python benchmarks/robustness.py --slow     # the longer property and chaos budgets too

Prints ``N/M cases held`` per area and in total, and writes
``benchmarks/results/robustness.json``. Exits 1 when a case broke.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tests" / "reliability"
RESULTS = ROOT / "benchmarks" / "results" / "robustness.json"
#: Area name of each test file of the hostile suite.
AREAS = {
    "test_hostile_sandbox.py": "sandbox",
    "test_hostile_rewards.py": "rewards",
    "test_hostile_reasoning.py": "reasoning",
    "test_hostile_runs.py": "runs",
    "test_hostile_control.py": "control",
    "test_hostile_llm.py": "llm",
    "test_hostile_cli.py": "cli",
    "test_hostile_properties.py": "properties",
    "test_chaos.py": "chaos",
}


def run_suite(slow: bool) -> tuple[Path, float, int]:
    """Run the hostile suite; return its JUnit XML path, wall seconds and exit code."""
    report = Path(tempfile.mkdtemp(prefix="densegym-robustness-")) / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        *(["-m", ""] if slow else []),
        *(str(SUITE / name) for name in AREAS),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    return report, time.perf_counter() - started, done.returncode


def area_of(case: ET.Element) -> str:
    """The area of one ``<testcase>`` (from its file, else its dotted class name)."""
    file = case.get("file") or ""
    name = Path(file).name if file else (case.get("classname") or "").split(".")[-1] + ".py"
    return AREAS.get(name, "other")


def count_cases(report: Path) -> dict[str, Counter]:
    """Per area, how many cases held, broke and were skipped."""
    counts: dict[str, Counter] = {area: Counter() for area in AREAS.values()}
    for case in ET.parse(report).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            outcome = "broke"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "held"
        counts.setdefault(area_of(case), Counter())[outcome] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="include the `slow` cases")
    args = parser.parse_args(argv)
    report, seconds, returncode = run_suite(args.slow)
    if not report.exists():
        print(f"pytest wrote no report (exit code {returncode})", file=sys.stderr)
        return 1
    counts = count_cases(report)
    total = Counter()
    rows = {}
    print(f"\n{'area':<12}{'held':>10}  broke  skipped")
    for area, count in counts.items():
        total.update(count)
        ran = count["held"] + count["broke"]
        rows[area] = {**dict(count), "cases": ran}
        print(f"{area:<12}{count['held']:>5}/{ran:<4}  {count['broke']:>5}  {count['skipped']:>7}")
    ran = total["held"] + total["broke"]
    print(f"\n{total['held']}/{ran} cases held ({total['skipped']} skipped) in {seconds:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python benchmarks/robustness.py" + (" --slow" if args.slow else ""),
                "date": date.today().isoformat(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
                "euid": os.geteuid(),
                "seconds": round(seconds, 1),
                "held": total["held"],
                "cases": ran,
                "skipped": total["skipped"],
                "areas": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if total["broke"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
