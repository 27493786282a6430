"""`make bench`: every benchmark in turn, each printing its figures beside its same-run baseline.

Run one alone with `.venv/bin/python -m bench.<name>` (see docs/BENCHMARKS.md). Benchmarks are
never part of the test suite's pass/fail.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "generate_bench",
    "load_bench",
    "storage_bench",
    "dbt_bench",
    "dag_bench",
    "api_bench",
    "night_bench",
)


def main() -> int:
    failed = []
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"\n=== bench.{name} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
