"""``conveyor jobs list|show|retry|remove|promote``: inspect and act on single jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..options import JobState
from . import render
from .common import (
    EXIT_REFUSED,
    CliError,
    JsonOption,
    State,
    UrlOption,
    known_queue,
    open_backend,
    out,
    run,
)

jobs_app = typer.Typer(
    name="jobs",
    help="Inspect and act on jobs: list, show, retry, remove, promote.",
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
            out().print(render.jobs_table(name, state, jobs, offset, total))


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
            raise CliError(f"no job {job_id} in queue {name!r}", EXIT_REFUSED)
        detail = render.job_detail(job, await job.logs())
    if as_json:
        render.print_json(detail)
    else:
        out().print(render.job_view(detail))


@jobs_app.command()
def retry(
    name: QueueArg,
    job_id: Annotated[
        str | None,
        typer.Argument(metavar="JOB_ID", help="The failed job to retry.", show_default=False),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all", help="Retry every failed job of the queue.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Move a failed job (or every failed job, with --all) back to waiting, with fresh
    attempts."""
    if (job_id is None) == (not all_failed):
        raise typer.BadParameter("give either a JOB_ID or --all (not both)")
    run(_retry(url, name, job_id))


async def _retry(url: str | None, name: str, job_id: str | None) -> None:
    async with open_backend(url) as backend:
        queue = await known_queue(backend, name)
        moved = await queue.retry(job_id)
    if job_id is None:
        out().print(f"retried {moved} failed jobs in {name}")
    else:
        out().print(f"job {job_id} in {name} moved back to waiting")


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
    out().print(f"job {job_id} in {name} {done}")
