"""Create a virtual environment and install conveyor into it (idempotent).

Used by ``scripts/demo.py`` and ``scripts/test.py`` (``.venv/``, this Python) so that each
is one command on a fresh machine with only Python >= 3.11, and by ``scripts/matrix.py``
(one ``.venv-<leg>/`` per Python and dependency versions it tests).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def python(env: Path = VENV) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure(extras: str = "") -> Path:
    """Make .venv with this Python if needed; (re)install when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an older Python
        sys.exit(f"conveyor needs Python >= 3.11; this is {sys.version.split()[0]}")
    return ensure_at(VENV, sys.executable, extras)


def ensure_at(
    env: Path, base: str, extras: str = "", pins: Sequence[str] = (), *, upgrade: bool = False
) -> Path:
    """Make ``env`` with the Python ``base`` if needed and install conveyor[extras] with
    ``pins`` (requirement strings that narrow its dependencies) into it.

    Installs again when pyproject.toml or the pins changed; ``upgrade`` installs every
    time, eagerly upgrading, so the environment holds the newest versions the ranges allow.
    """
    if not python(env).exists():
        print(f"creating {env.name} with {base} ...", flush=True)
        if Path(base).resolve() == Path(sys.executable).resolve():
            venv.EnvBuilder(with_pip=True).create(env)
        else:  # another Python: its own venv module makes the environment
            subprocess.run([base, "-m", "venv", str(env)], check=True)
    spec = f".[{extras}]" if extras else "."
    stamp = env / f".installed-{extras or 'base'}"
    wanted = (ROOT / "pyproject.toml").read_bytes() + "\n".join(pins).encode()
    digest = hashlib.sha256(wanted).hexdigest()
    if upgrade or not stamp.exists() or stamp.read_text() != digest:
        what = " ".join([f"conveyor{f'[{extras}]' if extras else ''}", *pins])
        print(f"installing {what} into {env.name} ...", flush=True)
        pip = [str(python(env)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
        eager = ["--upgrade", "--upgrade-strategy", "eager"] if upgrade else []
        subprocess.run([*pip, *eager, "-e", spec, *pins], check=True, cwd=ROOT)
        stamp.write_text(digest)
    return python(env)
