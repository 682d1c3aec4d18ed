"""``conveyor jobs list|show|tree|retry|remove|promote``: inspect and act on single jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import typer

from ..errors import InvalidOptionsError, JobNotFoundError
from ..options import JobState
from ..selection import FailedFilter
from . import render, tree_render
from .common import (
    EXIT_REFUSED,
    CliError,
    JsonOption,
    State,
    UrlOption,
    known_queue,
    open_backend,
    out,
    redact,
    run,
)

jobs_app = typer.Typer(
    name="jobs",
    help="Inspect and act on jobs: list, show, tree, retry, remove, promote.",
    no_args_is_help=True,
)

QueueArg = Annotated[str, typer.Argument(metavar="QUEUE", help="The queue's name.")]
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")]


@jobs_app.command("list")
def list_jobs(
    name: QueueArg,
    state: Annotated[State, typer.Option("--state", "-s", help="Which jobs to list.")] = (
        State.waiting
    ),
    offset: Annotated[int, typer.Option(min=0, help="Skip this many jobs.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many jobs.")] = 20,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest first (default: newest first).")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a page of a queue's jobs in one state."""
    run(_list(url, name, state.value, offset, limit, oldest_first, as_json))


async def _list(
    url: str | None,
    name: str,
    state: JobState,
    offset: int,
    limit: int,
    oldest_first: bool,
    as_json: bool,
) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        total = (await queue.counts())[state]
        jobs = await queue.get_jobs(
            state, offset=offset, limit=limit, newest_first=not oldest_first
        )
        if as_json:
            render.print_json(
                {
                    "queue": name,
                    "state": state,
                    "total": total,
                    "offset": offset,
                    "limit": limit,
                    "jobs": [render.job_summary(job) for job in jobs],
                }
            )
        else:
            table = render.jobs_table(
                name, state, jobs, offset, total, redact(backend.url), queue.clock.now_ms()
            )
            out().print(table)


@jobs_app.command()
def show(
    name: QueueArg, job_id: JobIdArg, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """Show one job: data, options, state, attempts, progress, result, each failed
    attempt's error and stack trace, and its log lines."""
    run(_show(url, name, job_id, as_json))


async def _show(url: str | None, name: str, job_id: str, as_json: bool) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        job = await queue.get_job(job_id)
        if job is None:
            raise _no_such_job(name, job_id)
        detail = render.job_detail(job, await job.logs())
        detail |= tree_render.flow_detail(job, await backend.get_children(name, job_id))
        where, now = redact(backend.url), queue.clock.now_ms()
    if as_json:
        render.print_json(detail)
    else:
        out().print(render.job_view(detail, where, now))


def _no_such_job(name: str, job_id: str) -> CliError:
    return CliError(f"no job {job_id} in queue {name!r}", EXIT_REFUSED)


@jobs_app.command()
def tree(
    name: QueueArg, job_id: JobIdArg, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """Show the flow under a job: each child (in any queue, to any depth) with its name
    and state; a child no longer stored shows as missing."""
    run(_tree(url, name, job_id, as_json))


async def _tree(url: str | None, name: str, job_id: str, as_json: bool) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        try:
            found = await queue.tree(job_id)
        except JobNotFoundError:
            raise _no_such_job(name, job_id) from None
        entry, where = tree_render.tree_entry(found), redact(backend.url)
    if as_json:
        render.print_json(entry)
    else:
        out().print(tree_render.tree_view(entry, where))


@jobs_app.command()
def retry(
    name: QueueArg,
    job_id: Annotated[
        str | None,
        typer.Argument(metavar="JOB_ID", help="The failed job to retry.", show_default=False),
    ] = None,
    all_failed: Annotated[
        bool,
        typer.Option("--all", help="Retry every failed job of the queue (or every match)."),
    ] = False,
    job_name: Annotated[
        str | None,
        typer.Option("--name", help="Only failed jobs with this job name.", show_default=False),
    ] = None,
    id_prefix: Annotated[
        str | None,
        typer.Option(
            "--id-prefix", help="Only failed jobs whose id starts with this.", show_default=False
        ),
    ] = None,
    failed_after: Annotated[
        str | None,
        typer.Option(
            "--failed-after",
            metavar="TIME",
            help="Only jobs that failed at or after TIME (like 2026-12-01T10:00; local time"
            " unless it has an offset).",
            show_default=False,
        ),
    ] = None,
    failed_before: Annotated[
        str | None,
        typer.Option(
            "--failed-before",
            metavar="TIME",
            help="Only jobs that failed before TIME.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DURATION",
            help="Only jobs that failed in the last DURATION (90s, 30m, 2h, 1d, 1h30m).",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Move a failed job (or every failed job, with --all; or those the filters select)
    back to waiting, with fresh attempts."""
    scope = _scope(job_name, id_prefix, failed_after, failed_before, since)
    if job_id is not None and (all_failed or scope.filter):
        raise typer.BadParameter(
            "give either a JOB_ID or --all (not both); filters select among all failed jobs,"
            " so they do not go with a JOB_ID"
        )
    if job_id is None and not all_failed and not scope.filter:
        raise typer.BadParameter(
            "give either a JOB_ID or --all (not both), or filters: --name, --id-prefix,"
            " --failed-after, --failed-before, --since"
        )
    run(_retry(url, name, job_id, scope))


@dataclass(frozen=True, slots=True)
class Scope:
    """The failed jobs ``jobs retry`` selects, and how to say which they were."""

    filter: FailedFilter
    words: str


def _scope(
    job_name: str | None,
    id_prefix: str | None,
    failed_after: str | None,
    failed_before: str | None,
    since: str | None,
) -> Scope:
    if since is not None and failed_after is not None:
        raise typer.BadParameter("give --since or --failed-after, not both", param_hint="--since")
    after = _moment("--failed-after", failed_after)
    before = _moment("--failed-before", failed_before)
    words = []
    if job_name is not None:
        words.append(f"name {job_name}")
    if id_prefix is not None:
        words.append(f"id prefix {id_prefix}")
    if since is not None:
        after = datetime.now().astimezone() - _duration(since)
        words.append(f"failed in the last {since.strip()}, since {_shown(after)}")
    elif after is not None:
        words.append(f"failed at or after {_shown(after)}")
    if before is not None:
        words.append(f"failed before {_shown(before)}")
    for option, text in (("--name", job_name), ("--id-prefix", id_prefix)):
        if text is not None and not text:
            raise typer.BadParameter("must not be empty", param_hint=option)
    if after is not None and before is not None and after >= before:
        raise typer.BadParameter(
            f"the window is empty: it opens at {_shown(after)} and closes at {_shown(before)}",
            param_hint="--failed-before",
        )
    try:
        selected = FailedFilter.of(
            name=job_name, id_prefix=id_prefix, failed_after=after, failed_before=before
        )
    except InvalidOptionsError as exc:
        raise typer.BadParameter(str(exc)) from None
    return Scope(selected, "; ".join(words))


def _moment(option: str, typed: str | None) -> datetime | None:
    """A date and time in ISO 8601 (``2026-12-01T10:00``, ``2026-12-01 10:00:00+01:00``,
    ``2026-12-01``); naive means local time."""
    if typed is None:
        return None
    try:
        moment = datetime.fromisoformat(typed.strip())
    except ValueError:
        raise typer.BadParameter(
            f"expected a date and time like 2026-12-01T10:00 (local time unless it has an"
            f" offset such as +01:00 or Z), got {typed!r}",
            param_hint=option,
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(typed: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` or a plain number of seconds."""
    text = typed.strip().lower()
    seconds: float | None = None
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        seconds = float(text)
    elif text and re.fullmatch(f"(?:{_DURATION_PART.pattern})+", text):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds is None or seconds <= 0 or seconds > 100 * 365 * 86400:
        raise typer.BadParameter(
            f"expected a duration like 90s, 30m, 2h, 1d or 1h30m, got {typed!r}",
            param_hint="--since",
        )
    return timedelta(seconds=seconds)


def _shown(moment: datetime) -> str:
    return render.when(round(moment.timestamp() * 1000))


async def _retry(url: str | None, name: str, job_id: str | None, scope: Scope) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        f = scope.filter
        moved = await queue.retry(
            job_id,
            name=f.name,
            id_prefix=f.id_prefix,
            failed_after=f.after_ms,
            failed_before=f.before_ms,
        )
        where = redact(backend.url)
    if job_id is not None:
        out().print(f"job {job_id} in {name} at {where} moved back to waiting")
    elif scope.words:
        out().print(f"retried {moved} failed jobs in {name} at {where} ({scope.words})")
    else:
        out().print(f"retried {moved} failed jobs in {name} at {where}")


@jobs_app.command()
def remove(name: QueueArg, job_id: JobIdArg, url: UrlOption = None) -> None:
    """Delete a job that is not running, with its logs."""
    run(_act(url, name, job_id, "remove"))


@jobs_app.command()
def promote(name: QueueArg, job_id: JobIdArg, url: UrlOption = None) -> None:
    """Make a delayed job ready to run now."""
    run(_act(url, name, job_id, "promote"))


async def _act(url: str | None, name: str, job_id: str, action: str) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        if action == "remove":
            await queue.remove(job_id)
            done = "removed"
        else:
            await queue.promote(job_id)
            done = "promoted"
        where = redact(backend.url)
    out().print(f"job {job_id} in {name} at {where} {done}")
