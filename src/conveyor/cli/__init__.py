"""The ``conveyor`` command line: workers, queue and job inspection, admin actions.

``main`` is the console-script entry point; ``app`` is the Typer application (tests drive
it with ``typer.testing.CliRunner``).
"""

from __future__ import annotations

from .app import app


def main() -> None:
    """Run the ``conveyor`` command."""
    app(prog_name="conveyor")


__all__ = ["app", "main"]
