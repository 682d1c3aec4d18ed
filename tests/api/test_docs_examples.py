"""Examples in the README and examples/ run, against each backend."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code_or_path: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONVEYOR_URL": url}
    return subprocess.run(
        [sys.executable, *code_or_path], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=60,
    )


def test_readme_example_runs_and_prints_the_result(backend_url: str, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Example\n\n```python\n(.*?)```", readme, re.S)
    assert block is not None, "README has an Example section with a python block"
    result = _run(["-c", block.group(1)], backend_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("sent to user 7")


def test_quickstart_example_matches_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "quickstart.py").read_text()
    for line in ("@emails.job(payload=Welcome)", "await send_welcome.add(Welcome(7, "):
        assert line in readme
        assert line in example


def test_demo_runs_to_completion(backend_url: str, tmp_path: Path) -> None:
    result = _run([str(ROOT / "examples" / "demo.py")], backend_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "308 jobs done" in result.stdout
    assert "logs: ['rendering invoice for" in result.stdout
