"""``conveyor queues`` (counts per state) and ``conveyor queue pause|resume|drain|clean|
obliterate``: whole-queue inspection and actions."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ..options import MAX_DURATION_S, JobState
from . import render
from .common import (
    EXIT_REFUSED,
    CliError,
    JsonOption,
    State,
    UrlOption,
    err,
    known_queue,
    open_backend,
    out,
    redact,
    run,
)

queue_app = typer.Typer(
    name="queue",
    help="Act on a whole queue: pause, resume, drain, clean, obliterate.",
    no_args_is_help=True,
)

QueueArg = Annotated[str, typer.Argument(metavar="QUEUE", help="The queue's name.")]
CLEAN_BATCH = 1000


def queues(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """Show every known queue with its job counts per state and whether it is paused."""
    run(_queues(url, as_json))


async def _queues(url: str | None, as_json: bool) -> None:
    async with open_backend(url) as backend:
        entries = [
            render.queue_entry(name, await backend.counts(name), await backend.is_paused(name))
            for name in await backend.queues()
        ]
        where = redact(backend.url)
    if as_json:
        render.print_json(entries)
    elif not entries:
        out().print(f"no queues at {where}")
    else:
        out().print(render.queues_table(entries, where))


@queue_app.command()
def pause(name: QueueArg, url: UrlOption = None) -> None:
    """Stop workers from starting this queue's jobs; running jobs finish."""
    run(_pause(url, name, True))


@queue_app.command()
def resume(name: QueueArg, url: UrlOption = None) -> None:
    """Let workers start this queue's jobs again."""
    run(_pause(url, name, False))


async def _pause(url: str | None, name: str, paused: bool) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        await (queue.pause() if paused else queue.resume())
        where = redact(backend.url)
    out().print(f"queue {name} {'paused' if paused else 'resumed'} at {where}")


@queue_app.command()
def drain(
    name: QueueArg,
    delayed: Annotated[bool, typer.Option("--delayed", help="Remove delayed jobs too.")] = False,
    url: UrlOption = None,
) -> None:
    """Remove every job that has not started (waiting and prioritized; delayed with
    --delayed). Active, completed and failed jobs stay."""
    run(_drain(url, name, delayed))


async def _drain(url: str | None, name: str, delayed: bool) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        removed = await queue.drain(include_delayed=delayed)
        where = redact(backend.url)
    out().print(f"drained {removed} jobs from {name} at {where}")


@queue_app.command()
def clean(
    name: QueueArg,
    state: Annotated[
        State, typer.Option("--state", "-s", help="Which jobs to remove (not active).")
    ],
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="SECONDS",
            help="Only jobs added or finished at least this many seconds ago.",
        ),
    ] = "0",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="Remove at most this many (default: all).", show_default=False
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Remove jobs in one state, oldest first, in batches with a progress bar."""
    run(_clean(url, name, state.value, _seconds("--older-than", older_than), limit))


def _seconds(option: str, typed: str) -> float:
    """A number of seconds of 0 or more; a refusal echoes what the user typed."""
    try:
        seconds = float(typed)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_DURATION_S:
        raise typer.BadParameter(
            f"expected a number of seconds from 0 to {MAX_DURATION_S} (100 years),"
            f" got {typed!r}",
            param_hint=option,
        )
    return seconds


async def _clean(
    url: str | None, name: str, state: JobState, older_than: float, limit: int | None
) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        counts = await queue.counts()
        expected = counts[state] if limit is None else min(limit, counts[state])
        started = time.monotonic()
        removed = 0
        with Progress(
            TextColumn(f"cleaning {state} jobs"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err(),
            transient=True,
        ) as progress:
            bar = progress.add_task("clean", total=expected)
            while limit is None or removed < limit:
                batch = CLEAN_BATCH if limit is None else min(CLEAN_BATCH, limit - removed)
                # Keep the cutoff where it was at the start, so jobs finishing meanwhile
                # are not chased forever.
                cutoff = older_than + (time.monotonic() - started)
                ids = await queue.clean(state, older_than=cutoff, limit=batch)
                removed += len(ids)
                progress.update(bar, completed=removed, total=max(expected, removed))
                if len(ids) < batch:
                    break
        where = redact(backend.url)
    out().print(f"removed {removed} {state} jobs from {name} at {where}")


@queue_app.command()
def obliterate(
    name: QueueArg,
    force: Annotated[
        bool, typer.Option("--force", help="Proceed even while jobs are active.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOption = None,
) -> None:
    """Delete the queue and every job in it, for good."""
    run(_obliterate(url, name, force, yes))


async def _obliterate(url: str | None, name: str, force: bool, yes: bool) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        total = sum((await queue.counts()).values())
        where = redact(backend.url)
        if not yes:
            _confirm(
                f"Obliterate queue {name} at {where} and its {total} jobs?"
                " This cannot be undone."
            )
        with err().status(f"obliterating {name} ({total} jobs)"):
            await queue.obliterate(force=force)
    out().print(f"obliterated queue {name} at {where} ({total} jobs deleted)")


def _confirm(question: str) -> None:
    try:
        agreed = typer.confirm(question, default=False)
    except typer.Abort:
        agreed = False
    if not agreed:
        raise CliError(
            "not confirmed; nothing was deleted (pass --yes to skip the question)", EXIT_REFUSED
        )
