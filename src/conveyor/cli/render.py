"""How queues and jobs look: Rich tables for people, plain dicts for ``--json``."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..errors import ConveyorError
from ..job import Job
from ..options import STORED_STATES, JobState
from .safe_text import json_text, lines, one_line

COUNT_COLUMNS: tuple[JobState, ...] = STORED_STATES
STATE_STYLES: dict[str, str] = {
    "waiting": "cyan",
    "paused": "yellow",
    "prioritized": "cyan",
    "delayed": "blue",
    "active": "bold green",
    "waiting-children": "magenta",
    "completed": "green",
    "failed": "bold red",
}


def print_json(value: Any) -> None:
    """One JSON document on stdout (for scripts: ``conveyor queues --json | jq``)."""
    typer.echo(json_text(json.dumps(value, indent=2, default=str, ensure_ascii=False)))


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def relative(ms: int, now_ms: int) -> str:
    """How far ``ms`` is from ``now_ms``, rounded down: ``in 45s``, ``in 5m``,
    ``in 2h 5m``, ``in 3d 4h``; ``… ago`` when it has passed."""
    seconds = abs(ms - now_ms) // 1000
    if seconds < 60:
        span = f"{seconds}s"
    elif seconds < 3600:
        span = f"{seconds // 60}m"
    else:
        big, small = (86400, 3600) if seconds >= 86400 else (3600, 60)
        units = {86400: "d", 3600: "h", 60: "m"}
        rest = seconds % big // small
        span = f"{seconds // big}{units[big]}" + (f" {rest}{units[small]}" if rest else "")
    return f"in {span}" if ms >= now_ms else f"{span} ago"


def due(ms: int | None, now_ms: int) -> str:
    """A due time as ``2025-05-01 12:05:00 (in 5m)``."""
    return "-" if ms is None else f"{when(ms)} ({relative(ms, now_ms)})"


def header(text: str, *, style: str = "bold") -> Text:
    """A line above a table (not its title, which Rich wraps to the table's width and
    would cut a long path into pieces)."""
    return Text(one_line(text), style=style)


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = one_line(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


# -- queues --------------------------------------------------------------------------
def queue_entry(name: str, counts: Mapping[JobState, int], paused: bool) -> dict[str, Any]:
    return {"name": name, "paused": paused, "counts": dict(counts)}


def queues_table(entries: Sequence[dict[str, Any]], url: str) -> RenderableType:
    table = Table()
    table.add_column("queue", no_wrap=True)
    for state in COUNT_COLUMNS:
        table.add_column(state, justify="right")
    table.add_column("paused", justify="center")
    totals = dict.fromkeys(COUNT_COLUMNS, 0)
    for entry in entries:
        counts = _merged(entry["counts"])
        for state in COUNT_COLUMNS:
            totals[state] += counts[state]
        table.add_row(
            Text(one_line(entry["name"])),
            *(_count(counts[s], s) for s in COUNT_COLUMNS),
            Text("paused", style="yellow") if entry["paused"] else Text("-", style="dim"),
        )
    if len(entries) > 1:
        table.add_section()
        table.add_row(Text("total", style="bold"), *(str(totals[s]) for s in COUNT_COLUMNS), "")
    return Group(header(f"queues at {url}"), table)


def _merged(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts with jobs held by a pause shown under ``waiting`` (the paused column says why)."""
    merged: dict[str, int] = {state: int(counts.get(state, 0)) for state in COUNT_COLUMNS}
    merged["waiting"] += int(counts.get("paused", 0))
    return merged


def _count(value: int, state: str) -> Text:
    if value == 0:
        return Text("0", style="dim")
    return Text(str(value), style=STATE_STYLES.get(state, ""))


# -- jobs ----------------------------------------------------------------------------
def _data(job: Job[Any]) -> Any:
    try:
        return job.data
    except ConveyorError:
        return job.raw_data.decode(errors="replace")


def _result(job: Job[Any]) -> Any:
    try:
        return job.result
    except ConveyorError:
        return "<undecodable result>"


def _progress(job: Job[Any]) -> Any:
    try:
        return job.progress
    except ConveyorError:
        return "<undecodable progress>"


def _options(job: Job[Any]) -> dict[str, Any]:
    try:
        return dataclasses.asdict(job.options)
    except ConveyorError as exc:
        return {"damaged": str(exc)}


def _errors(job: Job[Any]) -> list[dict[str, Any]]:
    try:
        return [dataclasses.asdict(e) for e in job.errors]
    except (ConveyorError, TypeError) as exc:
        return [{"attempt": "?", "type": "damaged error records", "message": str(exc),
                 "stack": "", "at": None}]


def job_summary(job: Job[Any]) -> dict[str, Any]:
    """The fields a listing shows, JSON-ready (times are ms since the epoch)."""
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state,
        "attempts_made": job.attempts_made,
        "priority": job.priority,
        "timestamp": job.timestamp,
        "processed_on": job.processed_on,
        "finished_on": job.finished_on,
        "due_on": job.due_on,
        "progress": _progress(job),
        "failed_reason": job.failed_reason,
        "damage": job.damage,
    }


def job_detail(job: Job[Any], logs: Sequence[str]) -> dict[str, Any]:
    """Everything stored about a job, JSON-ready."""
    return {
        "queue": job.queue.name,
        **job_summary(job),
        "stalled_count": job.stalled_count,
        "data": _data(job),
        "options": _options(job),
        "result": _result(job),
        "errors": _errors(job),
        "logs": list(logs),
    }


def jobs_table(
    queue: str,
    state: str,
    jobs: Sequence[Job[Any]],
    offset: int,
    total: int,
    url: str,
    now_ms: int | None = None,
) -> RenderableType:
    """A page of jobs under a ``{state} jobs in {queue} (1-20 of N) at {url}`` line;
    delayed jobs show when each is due (absolute, and relative to ``now_ms``) instead of
    when it finished."""
    shown = f"{offset + 1}-{offset + len(jobs)}" if jobs else "none"
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    delayed = state == "delayed"
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("state")
    table.add_column("attempts", justify="right")
    table.add_column("added", no_wrap=True)
    table.add_column("due" if delayed else "finished", no_wrap=True)
    table.add_column("detail")
    for job in jobs:
        table.add_row(
            Text(one_line(job.id)),
            Text(one_line(job.name)),
            Text(one_line(job.state), style=STATE_STYLES.get(job.state, "")),
            str(job.attempts_made),
            when(job.timestamp),
            due(job.due_on, now) if delayed else when(job.finished_on),
            Text(_detail(job)),
        )
    return Group(header(f"{state} jobs in {queue} ({shown} of {total}) at {url}"), table)


def _detail(job: Job[Any]) -> str:
    if job.damage:
        return "damaged record: " + short(job.damage)
    if job.failed_reason:
        return short(job.failed_reason)
    if job.state == "completed":
        return "result " + short(_result(job))
    if _progress(job) is not None:
        return "progress " + short(_progress(job))
    if job.priority:
        return f"priority {job.priority}"
    return ""


def job_view(detail: Mapping[str, Any], url: str, now_ms: int | None = None) -> RenderableType:
    """The ``jobs show`` page: facts (the backend ``url`` among them; a flow's parent and
    children counts), data, options, result, each attempt's error, logs."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    attempts = detail["options"].get("attempts", "?")
    rows: list[tuple[str, Text | str]] = [
        ("backend", Text(one_line(url))),
        ("queue", Text(one_line(detail["queue"]))),
        ("id", Text(one_line(detail["id"]))),
        ("name", Text(one_line(detail["name"]))),
        ("state", Text(one_line(detail["state"]), style=STATE_STYLES.get(detail["state"], ""))),
        ("attempts", f"{detail['attempts_made']} of {attempts}"),
        ("priority", str(detail["priority"])),
        ("added", when(detail["timestamp"])),
        ("processed", when(detail["processed_on"])),
        ("finished", when(detail["finished_on"])),
        *_flow_rows(detail),
    ]
    if detail["due_on"] is not None:
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        rows.append(("due", due(detail["due_on"], now)))
    if detail["stalled_count"]:
        rows.append(("stalled", str(detail["stalled_count"])))
    if detail["progress"] is not None:
        rows.append(("progress", Text(short(detail["progress"], 200))))
    if detail["damage"]:
        rows.append(("damaged", Text(one_line(detail["damage"]), style="bold red")))
    if detail["failed_reason"]:
        rows.append(("failure", Text(lines(detail["failed_reason"]), style="red")))
    for key, value in rows:
        facts.add_row(key, value)
    parts: list[RenderableType] = [
        facts,
        _json_panel("data", detail["data"]),
        _json_panel("options", detail["options"]),
    ]
    if detail["state"] == "completed":
        parts.append(_json_panel("result", detail["result"]))
    for error in detail["errors"]:
        title = f"attempt {error['attempt']} failed at {when(error['at'])}"
        body = Text(lines(f"{error['type']}: {error['message']}\n"), style="red")
        body.append(Text(lines(error["stack"].rstrip()), style="dim"))
        parts.append(Panel(body, title=title, title_align="left", border_style="red", expand=False))
    if detail["logs"]:
        logs = Text("\n".join(one_line(line) for line in detail["logs"]))
        parts.append(Panel(logs, title="logs", title_align="left", expand=False))
    return Group(*parts)


def _flow_rows(detail: Mapping[str, Any]) -> list[tuple[str, Text | str]]:
    """The ``parent`` and ``children`` lines of a job in a flow (none for other jobs)."""
    rows: list[tuple[str, Text | str]] = []
    if detail.get("parent"):
        policy = f" (on failure: {detail['on_failure']})" if detail.get("on_failure") else ""
        rows.append(("parent", Text(one_line(detail["parent"] + policy))))
    counts = detail.get("children") or {}
    if any(counts.values()):
        stages = ("pending", "completed", "failed")
        rows.append(("children", ", ".join(f"{counts[s]} {s}" for s in stages)))
    return rows


def _json_panel(title: str, value: Any) -> Panel:
    text = json.dumps(value, default=str, ensure_ascii=False)
    indent = None if len(text) <= 60 else 2
    body: RenderableType
    if json_text(text) == text:
        body = JSON(text, indent=indent)
    else:  # Rich's JSON would print DEL and C1 characters raw: show the escaped text
        body = Text(json_text(json.dumps(value, default=str, ensure_ascii=False, indent=indent)))
    return Panel(
        body,
        title=title,
        title_align="left",
        expand=False,
    )
