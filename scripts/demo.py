#!/usr/bin/env python3
"""Run the quick-start demo on the embedded SQLite default, installing conveyor first.

    python3 scripts/demo.py
"""

from __future__ import annotations

import subprocess
import sys

from _venv import ROOT, ensure


def main() -> int:
    py = str(ensure())
    return subprocess.run([py, str(ROOT / "examples" / "demo.py")], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
