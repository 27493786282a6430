"""bench/suite_cpu.py, as docs/BENCHMARKS.md runs it (`python3 bench/suite_cpu.py -- CMD`): it
finds the CPU a command's child spent, names the test the child was started for and the program
it runs (also when it was first seen as the shell that exec'd it), and passes the command's exit
code on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# About a second of CPU, then exit code 3.
BURN = (
    "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.2: pass\n"
    "raise SystemExit(3)\n"
)


def test_a_childs_cpu_is_found_and_named_by_its_test(tmp_path: Path) -> None:
    out = tmp_path / "cpu.json"
    # The shell is sampled first (0.3 s before it execs python, at 0.1 s intervals).
    script = f"sleep 0.3; exec {sys.executable} -c '{BURN}' marker-burn"
    result = subprocess.run(
        [sys.executable, "bench/suite_cpu.py", "--interval", "0.1", "--json", str(out), "--",
         "bash", "-c", script],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTEST_CURRENT_TEST": "tests/x.py::test_y (call)"},
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    (burner,) = [
        p
        for p in json.loads(out.read_text())
        if "marker-burn" in p["command"] and not p["command"].startswith("bash")
    ]
    assert burner["cpu"] >= 0.8
    assert burner["test"] == "tests/x.py::test_y (call)"
    assert "| kind | processes | CPU-s |" in result.stdout
    assert "tests/x.py" in result.stdout


def test_no_command_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "bench/suite_cpu.py", "--"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "give a command after --" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_program_that_renames_itself_keeps_its_name(tmp_path: Path) -> None:
    """As pytest-xdist's workers and Airflow's servers do (setproctitle), once sampled."""
    out = tmp_path / "cpu.json"
    rename = (
        "import time, setproctitle\ntime.sleep(0.5)\nsetproctitle.setproctitle('re' + 'titled')\n"
        "time.sleep(0.5)\n"
    )
    result = subprocess.run(
        [sys.executable, "bench/suite_cpu.py", "--interval", "0.05", "--json", str(out), "--",
         sys.executable, "-c", rename, "marker-rename"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    commands = [p["command"] for p in json.loads(out.read_text())]
    assert any("marker-rename" in c for c in commands), commands
    assert not any("retitled" in c for c in commands), commands
