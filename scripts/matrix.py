#!/usr/bin/env python3
"""Run the conformance suite at both ends of what pyproject.toml declares, so the declared
ranges stay true: the lowest Python with the lowest version of every runtime dependency,
and the highest Python with the newest versions the ranges allow.

    python3 scripts/matrix.py [--leg NAME ...] [--list] [-- pytest arguments]

Each leg has its own virtual environment (``.venv-<leg>/``, made and filled on first use;
the "latest" leg upgrades on every run). Pythons come from pyenv
(``$PYENV_ROOT/versions/3.X.Y``, the highest patch release), else ``python3.X`` on PATH.
A Python that cannot be found skips its leg locally and fails it under ``CI=true``.
``scripts/test.py`` runs everything else, once, on the Python that runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _venv import ROOT, ensure_at

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TESTS = ["tests/conformance", "tests/backends/redis", "tests/backends/sqlite", "tests/cli"]
"""The backend-neutral suite; each backend's own checks, which lean on redis-py's internals
(the hot channel, error replies, the plain path without hiredis) and on the Python's
sqlite3 module (placeholders, transactions); and the CLI (typer, click, rich)."""
REPORTED = ["redis", "hiredis", "msgspec", "typer", "click", "rich"]


@dataclass(frozen=True)
class Leg:
    name: str
    python: str
    pins: tuple[str, ...] = ()
    latest: bool = False
    pytest_args: tuple[str, ...] = ()
    why: str = field(default="", compare=False)


LEGS = [
    Leg(
        "py3.11-lowest",
        "3.11",
        # Keep in step with the lower bounds in pyproject.toml. Indirect dependencies
        # (hiredis, click) come out newest, as they would for a user.
        pins=("redis[hiredis]==5.0.1", "msgspec==0.18.0", "typer==0.16.0", "rich==13.0.0"),
        # typer < 0.26 imports names click 8.3+ deprecates: typer's warnings, not ours.
        pytest_args=("-W", "ignore:'click.utils.:DeprecationWarning"),
        why="lowest Python, lowest version of every runtime dependency",
    ),
    Leg(
        "py3.12-redis5.2",
        "3.12",
        pins=("redis[hiredis]==5.2.1",),
        why="the last redis-py with get_connection(command_name), on Python 3.12",
    ),
    Leg("py3.13-latest", "3.13", latest=True, why="highest Python, newest versions allowed"),
]


def find_python(version: str) -> str | None:
    """The interpreter for ``version`` ("3.11"): pyenv's newest patch release, else PATH."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = []
    for path in root.glob(f"versions/{version}.*/bin/python3"):
        patch = path.parent.parent.name[len(version) + 1 :]
        if patch.isdigit():  # not 3.13.0t (free-threaded) or 3.12-dev
            found.append((int(patch), str(path)))
    candidates = [p for _, p in sorted(found, reverse=True)]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    probe = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
    for candidate in candidates:
        try:
            out = subprocess.run(
                [candidate, "-c", probe], capture_output=True, text=True, timeout=30
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return candidate
    return None


def versions(py: Path) -> str:
    code = (
        "from importlib.metadata import version, PackageNotFoundError\n"
        "import platform\n"
        "out = ['python ' + platform.python_version()]\n"
        f"for name in {REPORTED!r}:\n"
        "    try: out.append(f'{name} {version(name)}')\n"
        "    except PackageNotFoundError: out.append(f'{name} -')\n"
        "print(', '.join(out))\n"
    )
    return subprocess.run([str(py), "-c", code], capture_output=True, text=True).stdout.strip()


def run_leg(leg: Leg, pytest_args: list[str]) -> tuple[str, str, float]:
    """(outcome, versions, seconds) for one leg: "passed", "failed" or "skipped"."""
    started = time.monotonic()
    base = find_python(leg.python)
    if base is None:
        message = f"Python {leg.python} not found (pyenv or python{leg.python} on PATH)"
        if IN_CI:
            print(f"FAIL {leg.name}: {message}; CI must test it", flush=True)
            return "failed", message, 0.0
        print(f"SKIP {leg.name}: {message}", flush=True)
        return "skipped", message, 0.0
    env = ROOT / f".venv-{leg.name}"
    try:
        py = ensure_at(env, base, "dev", leg.pins, upgrade=leg.latest)
    except subprocess.CalledProcessError as exc:
        print(f"FAIL {leg.name}: installing failed ({exc})", flush=True)
        return "failed", "install failed", time.monotonic() - started
    installed = versions(py)
    print(f"== {leg.name} ({leg.why}): {installed}", flush=True)
    args = [*TESTS, *leg.pytest_args, *pytest_args]
    print("$", " ".join(["pytest", *args]), flush=True)
    command = [str(py), "-m", "pytest", *args]
    code = subprocess.run(command, cwd=ROOT).returncode
    outcome = "passed" if code == 0 else "failed"
    return outcome, installed, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leg", action="append", choices=[leg.name for leg in LEGS])
    parser.add_argument("--list", action="store_true", help="print the legs and exit")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed on to pytest")
    args = parser.parse_args()
    if args.list:
        for leg in LEGS:
            print(f"{leg.name}: Python {leg.python}, {' '.join(leg.pins) or 'newest'}")
        return 0
    chosen = [leg for leg in LEGS if not args.leg or leg.name in args.leg]
    results = [(leg, *run_leg(leg, args.pytest_args or ["-q"])) for leg in chosen]
    print("\nmatrix:")
    for leg, outcome, installed, seconds in results:
        print(f"  {leg.name:<16} {outcome:<8} {seconds:6.0f}s  {installed}")
    return 1 if any(outcome == "failed" for _, outcome, _, _ in results) else 0


if __name__ == "__main__":
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an older Python
        sys.exit("scripts/matrix.py needs Python >= 3.11")
    sys.exit(main())
