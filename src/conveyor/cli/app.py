"""The ``conveyor`` command: one Typer app gathering the worker, queue and job commands."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __name__ as _package
from .jobs_cmd import jobs_app
from .queues_cmd import queue_app, queues
from .worker_cmd import worker

app = typer.Typer(
    name="conveyor",
    help="conveyor: background jobs for Python. Run workers, inspect queues and jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"conveyor {version(_package)}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """conveyor: background jobs for Python. Run workers, inspect queues and jobs.

    The backend is --url, else $CONVEYOR_URL, else sqlite:///./.conveyor/conveyor.db.
    Exit codes: 0 done, 1 refused or backend unreachable, 2 bad usage or configuration.
    """


app.command()(worker)
app.command()(queues)
app.add_typer(queue_app)
app.add_typer(jobs_app)
