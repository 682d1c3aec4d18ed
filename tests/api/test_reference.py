"""The API reference (docs/reference/) documents every public name, and its examples run.

A name added to ``conveyor.__all__`` without a ``::: conveyor.Name`` entry fails here, as
does a sync method generated without a row in the sync page's table. Each ```python block
of a reference page and of a user guide, and each examples/ script a guide shows whole,
runs as it is, in a subprocess, on SQLite and on Redis.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import conveyor
from conveyor.sync import SyncJob, SyncQueue

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
PAGES = sorted(REFERENCE.glob("*.md"))
GUIDES = sorted((ROOT / "docs").glob("*.md"))
"""The user guides' examples run too (the reference's pages have the other checks)."""
SCRIPTS = [ROOT / "examples" / "flows_supplier.py"]
"""Scripts in examples/ that a guide shows whole (docs/flows.md), run like its blocks."""
DIRECTIVE = re.compile(r"^::: *(\S+)", re.M)
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)


def _directives() -> dict[str, str]:
    """Every ``::: identifier`` of the reference, with the page it is on."""
    return {
        name: page.name for page in PAGES for name in DIRECTIVE.findall(page.read_text())
    }


def _examples() -> list[Any]:
    return [
        pytest.param(code, id=f"{page.stem}-{n}")
        for page in [*PAGES, *GUIDES]
        for n, code in enumerate(BLOCK.findall(page.read_text()), 1)
    ] + [pytest.param(script.read_text(), id=f"examples-{script.stem}") for script in SCRIPTS]


def _resolve(identifier: str) -> object:
    """Import ``identifier`` the way griffe finds it: the longest importable module, then
    attributes."""
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(identifier)


def test_every_public_name_is_in_the_reference() -> None:
    documented = _directives()
    wanted = [f"conveyor.{name}" for name in conveyor.__all__]
    wanted += ["conveyor.sync.SyncQueue", "conveyor.sync.SyncJob"]
    missing = [name for name in wanted if name not in documented]
    assert not missing, f"add a '::: name' entry to a page of docs/reference/ for {missing}"


def test_every_entry_names_an_object_that_exists() -> None:
    for identifier, page in _directives().items():
        try:
            _resolve(identifier)
        except (ImportError, AttributeError) as exc:
            pytest.fail(f"docs/reference/{page}: '::: {identifier}' names nothing: {exc}")


@pytest.mark.parametrize(("cls", "twin"), [(SyncQueue, "Queue"), (SyncJob, "Job")])
def test_every_generated_sync_method_is_in_the_sync_table(cls: type, twin: str) -> None:
    """The generated methods are invisible to griffe's static analysis, so the sync page
    lists them by hand: one row each, linking to the async method it wraps."""
    page = (REFERENCE / "sync.md").read_text()
    generated = [
        name
        for name, value in vars(cls).items()
        if callable(value)
        and value.__qualname__.startswith(("_blocking.", "_wrapping_jobs."))
    ]
    assert generated, f"no generated methods found on {cls.__name__}"
    for name in generated:
        row = f"| `{name}` | [`{twin}.{name}`][conveyor.{twin}.{name}]"
        assert row in page, f"docs/reference/sync.md lacks the row for {cls.__name__}.{name}"


def test_every_reference_page_has_an_example() -> None:
    for page in PAGES:
        if page.name != "index.md":
            assert BLOCK.search(page.read_text()), f"docs/reference/{page.name}: no example"


def test_examples_use_queue_names_of_their_own() -> None:
    """Every example runs on the same Redis server: their queues must not meet."""
    names = [name for page in [*PAGES, *GUIDES] for name in re.findall(r'Queue\("([^"]+)"',
             "\n".join(BLOCK.findall(page.read_text())))]
    names += [name for script in SCRIPTS for name in re.findall(r'Queue\("([^"]+)"',
              script.read_text())]
    assert len(names) == len(set(names)), sorted(names)


@pytest.fixture(params=["sqlite", "redis"])
def example_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'x.db'}"


@pytest.mark.parametrize("code", _examples())
def test_example_runs(code: str, example_url: str, tmp_path: Path) -> None:
    """Run as a file, as a user would: cpu_bound handlers need a module to import."""
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "CONVEYOR_URL": example_url},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip(), "an example prints what it checked"
