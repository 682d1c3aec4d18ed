"""What every command shares: consoles, the error-to-exit-code mapping, opening queues.

Exit codes: 0 done; 1 conveyor refused or could not reach its backend; 2 bad usage or
configuration (flags, environment, URL, ``module:object``, unknown queue for a worker).
"""

from __future__ import annotations

import asyncio
import enum
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.text import Text

from ..backends import from_url
from ..backends.base import Backend
from ..errors import ConfigurationError, ConveyorError
from ..queue import Queue
from . import logs
from .safe_text import one_line

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem the CLI reports in one line, with the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def out() -> Console:
    """The console for results (stdout); markup is off so stored text prints verbatim."""
    terminal = sys.stdout.isatty()
    return Console(markup=False, emoji=False, width=None if terminal else 200, soft_wrap=False)


def err() -> Console:
    """The console for errors, warnings and progress (stderr)."""
    return Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> NoReturn:
    err().print(Text("error: ", style="bold red") + Text(one_line(message)))
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn conveyor's errors into one line on stderr and an exit code, never a traceback."""
    try:
        yield
    except CliError as exc:
        fail(str(exc), exc.code)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except ConveyorError as exc:
        fail(str(exc), EXIT_REFUSED)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def run(coro: Coroutine[Any, Any, T], *, brief_logs: bool = True) -> T:
    """Run one command's coroutine on a fresh event loop, reporting conveyor's errors
    (and, unless the command set up its own logging, conveyor's warnings) in one line."""
    with reported(), logs.brief() if brief_logs else nullcontext():
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # pragma: no cover - reported() always exits


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@asynccontextmanager
async def open_backend(url: str | None) -> AsyncIterator[Backend]:
    """The backend ``url`` names (``--url``, else ``CONVEYOR_URL``, else the default)."""
    backend = from_url(url)
    try:
        yield backend
    finally:
        await backend.close()


async def known_queue(backend: Backend, name: str) -> Queue:
    """A handle on an existing queue; a name the backend has never seen is an error,
    so a typo does not silently act on an empty queue."""
    queue = Queue(name, backend=backend)
    names = await backend.queues()
    if name in names or await backend.is_paused(name):
        return queue
    known = ", ".join(names) if names else "none"
    raise CliError(
        f"no queue named {name!r} at {redact(backend.url)} (known queues: {known})",
        EXIT_REFUSED,
    )


class State(enum.StrEnum):
    """Job states as a choice for ``--state``."""

    waiting = "waiting"
    prioritized = "prioritized"
    delayed = "delayed"
    active = "active"
    waiting_children = "waiting-children"
    completed = "completed"
    failed = "failed"
    paused = "paused"


UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Backend URL. (env: CONVEYOR_URL; default sqlite:///./.conveyor/conveyor.db)",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of a table (for scripts).")
]
