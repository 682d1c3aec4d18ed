#!/usr/bin/env python3
"""Build the documentation site (docs/ and the API reference from the docstrings) into site/.

    python3 scripts/docs.py           # mkdocs build --strict: any warning fails the build
    python3 scripts/docs.py serve     # preview at http://127.0.0.1:8000, rebuilt on change

Needs only Python >= 3.11: the ``docs`` extra is installed into ``.venv/`` on first use
(its own install stamp, so ``scripts/test.py``'s ``dev`` install is not redone). The build
reads nothing from the network. The reference's examples run in the test suite
(``tests/api/test_reference.py``), not here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from _venv import ROOT, ensure

SITE = ROOT / "site"


def main() -> int:
    py = str(ensure("docs"))
    mkdocs = [py, "-m", "mkdocs"]
    if sys.argv[1:2] == ["serve"]:
        return subprocess.run([*mkdocs, "serve", "--strict", *sys.argv[2:]], cwd=ROOT).returncode
    started = time.monotonic()
    print("$ mkdocs build --strict", flush=True)
    build = subprocess.run(
        [*mkdocs, "build", "--strict", "--clean", "--site-dir", str(SITE), *sys.argv[1:]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's banner
    )
    output = build.stdout
    sys.stdout.write(output)
    # --strict turns mkdocs' warnings into a failure; a line that says WARNING but did not
    # fail the build (a plugin printing instead of logging) fails it here all the same.
    warnings = [line for line in output.splitlines() if line.lstrip().startswith("WARNING")]
    if build.returncode != 0 or warnings:
        print(f"docs: build failed ({len(warnings)} warning(s), exit code {build.returncode})")
        return build.returncode or 1
    pages = sum(1 for _ in SITE.rglob("index.html"))
    took = time.monotonic() - started
    print(f"docs: {pages} pages built into {SITE.name}/ in {took:.1f}s, 0 warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
