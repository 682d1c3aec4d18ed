"""The printed report: one table of figures, with the issues' targets beside them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

# (key, label, unit, format) in print order; a key missing from the results is skipped.
ROWS: list[tuple[str, str, str]] = [
    ("enqueue_jobs_per_s", "enqueue, one at a time", "jobs/s"),
    ("bulk_jobs_per_s", "bulk enqueue (add_bulk)", "jobs/s"),
    ("process_jobs_per_s_c{c}", "no-op processing, 1 process, c={c}", "jobs/s"),
    ("pair_process_jobs_per_s", "no-op processing, 2 processes, c={low} each", "jobs/s"),
    ("pair_speedup", "2 processes / 1 process", "x"),
    ("pair_duplicate_jobs", "jobs run twice (2 processes)", "jobs"),
    ("pair_missing_jobs", "jobs not run (2 processes)", "jobs"),
    ("pickup_p50_ms", "enqueue→start p50", "ms"),
    ("pickup_p95_ms", "enqueue→start p95", "ms"),
    ("pickup_p99_ms", "enqueue→start p99", "ms"),
    ("redis_cmds_per_job_c{c}", "Redis commands per job, processing, c={c}", "cmds"),
    ("redis_cmds_per_job_with_bulk_add_c{c}", "Redis commands per job, bulk add + processing,"
     " c={c}", "cmds"),
    ("worker_cpu_us_per_job_c{c}", "worker CPU per job, c={c}", "µs"),
    ("redis_script_us_per_job_c{c}", "Redis server time in scripts per job, c={c}", "µs"),
    ("worker_rss_mb", "worker peak RSS (highest run)", "MB"),
    ("idle_worker_cpu_percent", "idle worker CPU", "% of a core"),
]

# The flow phase (--only flow), for each shape (parents x children) in turn.
FLOW_ROWS: list[tuple[str, str, str]] = [
    ("add_nodes_per_s_c{c}", "add_flow, before the worker starts (run of c={c})", "jobs/s"),
    ("children_per_s_c{c}", "children processed, c={c}", "jobs/s"),
    ("noop_jobs_per_s_c{c}", "as many plain no-op jobs, c={c}", "jobs/s"),
    ("children_vs_noop_c{c}", "children / plain no-op, c={c}", "x"),
    ("parent_delay_p50_ms_c{c}", "last child finished → parent processed p50, c={c}", "ms"),
    ("parent_delay_p99_ms_c{c}", "last child finished → parent processed p99, c={c}", "ms"),
    ("parent_delay_max_ms_c{c}", "last child finished → parent processed max, c={c}", "ms"),
    ("handler_delay_p50_ms_c{c}", "child handler end → parent handler start p50, c={c}",
     "ms"),
    ("handler_delay_p99_ms_c{c}", "child handler end → parent handler start p99, c={c}",
     "ms"),
]

Check = tuple[str, Callable[[float], bool]]
TARGETS: dict[str, dict[str, Check]] = {
    # issue 2 (Redis)
    "redis": {
        "process_jobs_per_s_c100": ("≥ 10,000", lambda v: v >= 10_000),
        "enqueue_jobs_per_s": ("≥ 6,000", lambda v: v >= 6_000),
        "bulk_jobs_per_s": ("≥ 50,000", lambda v: v >= 50_000),
        "pickup_p99_ms": ("≤ 2", lambda v: v <= 2),
        "redis_cmds_per_job_c10": ("≤ 12", lambda v: v <= 12),
        "redis_cmds_per_job_c100": ("≤ 12", lambda v: v <= 12),
        "worker_rss_mb": ("≤ 80", lambda v: v <= 80),
    },
    # issue 3 (SQLite)
    "sqlite": {
        "process_jobs_per_s_c10": ("≥ 3,000", lambda v: v >= 3_000),
        "pair_speedup": ("≥ 1.5", lambda v: v >= 1.5),
        "pair_duplicate_jobs": ("0", lambda v: v == 0),
        "pair_missing_jobs": ("0", lambda v: v == 0),
        "bulk_jobs_per_s": ("≥ 30,000", lambda v: v >= 30_000),
        "pickup_p99_ms": ("≤ 60", lambda v: v <= 60),
    },
}


FLOW_TARGETS: dict[str, dict[str, Check]] = {
    # the flows issue: children at 60 % of the no-op rate; a parent starts within 5 ms
    # (Redis) or 30 ms (SQLite) of its last child, p99
    "redis": {
        "children_vs_noop": ("≥ 0.60", lambda v: v >= 0.6),
        "parent_delay_p99_ms": ("≤ 5", lambda v: v <= 5),
    },
    "sqlite": {
        "children_vs_noop": ("≥ 0.60", lambda v: v >= 0.6),
        "parent_delay_p99_ms": ("≤ 30", lambda v: v <= 30),
    },
}


def _target(backend: str, key: str) -> Check | None:
    if key in TARGETS.get(backend, {}):
        return TARGETS[backend][key]
    if key.startswith("flow_"):
        figure = key.split("_", 2)[2].rsplit("_c", 1)[0]  # flow_<shape>_<figure>_c<c>
        return FLOW_TARGETS.get(backend, {}).get(figure)
    return None


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value == int(value) and abs(value) < 1e6:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    concurrencies: list[int] = results["concurrency"]
    low = min(concurrencies)
    out = []
    for key, label, unit in ROWS:
        if "{c}" in key:
            out += [(key.format(c=c), label.format(c=c), unit) for c in concurrencies]
        else:
            out.append((key, label.format(low=low), unit))
    for shape in results.get("flow_shapes", []):
        for key, label, unit in FLOW_ROWS:
            out += [
                (f"flow_{shape}_{key.format(c=c)}", f"flow {shape}: {label.format(c=c)}", unit)
                for c in concurrencies
            ]
    return [row for row in out if row[0] in results]


def print_report(results: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    table = Table(
        title=f"conveyor bench — {results['backend']} ({results['server']}),"
        f" {results['jobs']:,} jobs, median of {results['runs']} runs"
        + (f"; flows {', '.join(shapes)}" if (shapes := results.get("flow_shapes")) else ""),
        title_justify="left",
    )
    for name, justify in [("figure", "left"), ("median", "right"), ("unit", "left"),
                          ("runs (min-max)", "right"), ("target", "right"), ("", "center")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, label, unit in _rows(results):
        value = float(results[key])
        spread = results["ranges"].get(key)
        spread_text = f"{_fmt(spread[0])}-{_fmt(spread[1])}" if spread else ""
        target, ok = _target(results["backend"], key) or ("", None)
        mark = "" if ok is None else ("[green]met[/]" if ok(value) else "[red]missed[/]")
        table.add_row(label, _fmt(value), unit, spread_text, target, mark)
    console.print(table)
    breakdown = results.get("redis_cmds_by_name_per_job") or {}
    for label, names in breakdown.items():
        shown = ", ".join(f"{name} {calls:.2f}" for name, calls in list(names.items())[:10])
        console.print(f"Redis commands per job while processing, {label}: {shown}")
    console.print(
        f"{results['machine']}, Python {results['python']}, {results['date']};"
        f" load average before/after: {results['load_before']} / {results['load_after']}"
    )
    console.print(f"command: {results['command']}")
