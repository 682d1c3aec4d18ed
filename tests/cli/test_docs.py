"""docs/cli.md documents every command and every option the CLI has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from conveyor.cli import app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    children = getattr(command, "commands", None)
    if children is None:
        yield " ".join(path), command
        return
    for name, child in children.items():
        yield from _commands(child, (*path, name))


COMMANDS = dict(_commands(get_command(app)))


def test_the_walk_finds_every_command() -> None:
    assert set(COMMANDS) == {
        "worker", "queues",
        "jobs list", "jobs show", "jobs tree", "jobs retry", "jobs remove", "jobs promote",
        "queue pause", "queue resume", "queue drain", "queue clean", "queue obliterate",
    }  # fmt: skip


def _blocks() -> Iterator[tuple[str, list[str]]]:
    """(language, lines) of each fenced block, in order."""
    language, lines = None, []
    for line in DOC.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:], []
            else:
                yield language, lines
                language = None
        elif language is not None:
            lines.append(line)


def _synopses(path: str) -> list[str]:
    """Each ``conveyor PATH ...`` line (with its indented continuation) in a plain block."""
    found = []
    for language, lines in _blocks():
        for i, line in enumerate(lines if not language else []):
            if re.match(rf"conveyor {path}( |$)", line):
                rest = [x for x in lines[i + 1 :] if x.startswith(" ")]
                found.append("\n".join([line, *rest]))
    return found


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_a_synopsis_with_all_its_options_and_an_example(path: str) -> None:
    options = {
        opt
        for param in COMMANDS[path].params
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    }
    synopses = _synopses(path)
    assert synopses, f"no synopsis of `conveyor {path}` in docs/cli.md"
    assert any(all(opt in s for opt in options) for s in synopses), (
        f"the synopsis of `conveyor {path}` misses some of {sorted(options)}"
    )
    assert re.search(rf"^\$ conveyor {path}\b", DOC, re.M), f"no example of `conveyor {path}`"
