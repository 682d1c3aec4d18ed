"""``conveyor worker``: loading ``module:object``, clear errors, and a real worker process
that runs jobs and stops on signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conveyor import Queue
from conveyor.cli import app
from conveyor.cli.common import CliError
from conveyor.cli.config import WorkerFlags, parse_concurrency, worker_config
from conveyor.cli.worker_cmd import _default_url, build_worker, load_target
from tests.conformance.helpers import until, until_state
from tests.support.redis_server import free_port

from . import targets
from .conftest import assert_error

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


# -- loading the target -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("tests.cli.targets:alpha", ["cli-alpha"]),
        ("tests.cli.targets:both", ["cli-alpha", "cli-beta"]),
        ("tests.cli.targets:worker", "worker"),
    ],
)
async def test_a_queue_a_sequence_or_a_worker_is_accepted(spec: str, kind: list[str] | str) -> None:
    loaded = await load_target(spec)
    if kind == "worker":
        assert loaded is targets.worker
    else:
        assert isinstance(loaded, list)
        assert [q.name for q in loaded] == kind


async def test_a_factory_is_called_with_the_url_flag_as_default(redis_url: str) -> None:
    before = os.environ.get("CONVEYOR_URL")
    with _default_url(redis_url):
        loaded = await load_target("tests.cli.targets:lazy")
        more = await load_target("tests.cli.targets:lazy_async")
    assert os.environ.get("CONVEYOR_URL") == before
    queues = [*loaded, *more] if isinstance(loaded, list) and isinstance(more, list) else []
    assert [q.name for q in queues] == ["cli-lazy", "cli-lazy-a", "cli-lazy-b"]
    assert {q.backend.url for q in queues} == {redis_url}
    for q in queues:
        await q.close()


def test_a_worker_object_is_narrowed_and_keeps_its_hooks_and_settings() -> None:
    config = worker_config(
        WorkerFlags("tests.cli.targets:worker", queues=("cli-beta",), concurrency=9),
        {"CONVEYOR_GRACE": "3"},
    )
    built = build_worker(targets.worker, config)
    assert built is not targets.worker
    assert [q.name for q in built.queues] == ["cli-beta"]
    assert (built.settings.concurrency, built.settings.grace) == (9, 3.0)
    assert built.settings.lease == 2.5  # the application's own setting survives
    assert built.hooks == [targets.marker]


def test_a_worker_object_is_used_as_is_when_nothing_overrides_it() -> None:
    config = worker_config(WorkerFlags("tests.cli.targets:worker"), {})
    assert build_worker(targets.worker, config) is targets.worker


def test_per_queue_concurrency_from_the_command_line_sizes_the_worker() -> None:
    flags = WorkerFlags("tests.cli.targets:both", concurrency=parse_concurrency("3,cli-beta=1"))
    built = build_worker(list(targets.both), worker_config(flags, {}))
    assert [built.settings.concurrency_for(q.name) for q in built.queues] == [3, 1]
    assert built.settings.total_concurrency([q.name for q in built.queues]) == 4


def test_narrowing_a_worker_drops_the_counts_of_the_queues_left_out() -> None:
    config = worker_config(WorkerFlags("tests.cli.targets:tuned", queues=("cli-beta",)), {})
    built = build_worker(targets.tuned, config)
    assert [q.name for q in built.queues] == ["cli-beta"]
    assert dict(built.settings.queue_concurrency) == {}
    kept = build_worker(targets.tuned, worker_config(WorkerFlags("tests.cli.targets:tuned"), {}))
    assert kept is targets.tuned
    assert kept.settings.concurrency_for("cli-alpha") == 2


def test_a_count_for_a_queue_left_out_by_queue_is_an_error() -> None:
    flags = WorkerFlags(
        "tests.cli.targets:both", queues=("cli-beta",), concurrency=parse_concurrency("cli-alpha=2")
    )
    with pytest.raises(CliError, match="names queue 'cli-alpha', which this worker does not run:"
                       " it runs cli-beta"):
        build_worker(list(targets.both), worker_config(flags, {}))


# -- errors: one line, exit code 2 for usage, 1 for an unreachable backend --------------
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["tests.cli.targets"], ["expected MODULE:OBJECT", "'tests.cli.targets'"]),
        (["no_such_module.jobs:queue"], ["cannot import 'no_such_module.jobs'"]),
        (["tests.cli.targets:missing"], ["has no attribute 'missing'"]),
        (["tests.cli.targets:number"], ["is a int; expected a Queue"]),
        (["tests.cli.targets:returns_number"], ["returned a int; expected a Queue"]),
        (["tests.cli.targets:broken_factory"], ["RuntimeError: the factory broke", "targets.py:"]),
        (
            ["tests.cli.broken:queue"],
            ["importing 'tests.cli.broken' failed", "ZeroDivisionError", "broken.py:3"],
        ),
        (
            ["tests.cli.targets:both", "-q", "cli-alpha", "-q", "nope"],
            ["unknown queue 'nope'", "cli-alpha, cli-beta"],
        ),
        (["tests.cli.targets:alpha", "--url", "nonsense"], ["malformed backend URL"]),
        (["tests.cli.targets:alpha", "--url", "ftp://x"], ["unsupported backend URL scheme"]),
        (
            ["tests.cli.targets:alpha", "--url", "redis://127.0.0.1:2"],
            ["bound to redis://127.0.0.1:1 but --url says redis://127.0.0.1:2"],
        ),
        (["tests.cli.targets:alpha", "--concurrency", "0"], ["concurrency must be at least 1"]),
        (
            ["tests.cli.targets:alpha", "--concurrency", "cli-alpha=0"],
            ["queue_concurrency['cli-alpha'] must be at least 1"],
        ),
        (
            ["tests.cli.targets:both", "--concurrency", "5,cli-gamma=2"],
            ["names queue 'cli-gamma', which this worker does not run", "runs cli-alpha, cli-beta"],
        ),
        (["tests.cli.targets:alpha", "--max-stalled", "-1"], ["max_stalled must be zero or more"]),
        (["tests.cli.targets:alpha", "--stalled-interval", "0"], ["must be positive"]),
        (["tests.cli.targets:alpha", "--log-format", "xml"], ["unknown log format"]),
    ],
)
def test_bad_input_is_one_readable_line_and_exit_2(args: list[str], fragments: list[str]) -> None:
    assert_error(runner.invoke(app, ["worker", *args]), 2, *fragments)


@pytest.mark.parametrize(
    ("value", "words"),
    [("3,3", "two counts for every queue (3 and 3)"), ("a=1,a", "'a' is not a whole number")],
)
def test_a_malformed_concurrency_flag_is_a_usage_error(value: str, words: str) -> None:
    result = runner.invoke(app, ["worker", "tests.cli.targets:alpha", "--concurrency", value])
    assert result.exit_code == 2
    assert "Invalid value for '--concurrency'" in result.output
    assert words in " ".join(result.output.replace("│", " ").split())


def test_bad_environment_is_reported_like_a_bad_flag() -> None:
    result = runner.invoke(
        app, ["worker", "tests.cli.targets:alpha"], env={"CONVEYOR_CONCURRENCY": "lots"}
    )
    assert_error(result, 2, "CONVEYOR_CONCURRENCY must be an integer")


def test_an_unreachable_backend_exits_1() -> None:
    url = f"redis://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["worker", "tests.cli.targets:lazy", "--url", url])
    assert_error(result, 1, "is unavailable")


# -- a real worker process --------------------------------------------------------------
@asynccontextmanager
async def worker_process(
    command: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _logged(path: Path, text: str) -> None:
    async def seen() -> bool:
        return text in await asyncio.to_thread(path.read_text)

    await until(seen, 20, f"{text!r} in the worker's log")


async def test_worker_script_runs_jobs_logs_json_and_exits_0_on_sigterm(
    redis_url: str, queue_name: str, rq: Queue, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "conveyor"
    if not script.exists():
        pytest.skip("the conveyor script is not installed in this environment")
    log_path = tmp_path / "worker.log"
    command = [
        str(script),
        "worker",
        "tests.cli.app:queue",
        "--url",
        redis_url,
        "--concurrency",
        "2",
        "--log-format",
        "json",
    ]
    async with worker_process(command, {"CONVEYOR_TEST_QUEUE": queue_name}, log_path) as proc:
        jobs = [await rq.add("add", [i, i]) for i in range(5)]
        assert [await job.wait(timeout=20) for job in jobs] == [0, 2, 4, 6, 8]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    started = [e for e in entries if e["message"].startswith("conveyor worker tests.cli.app")]
    assert "concurrency 2" in started[0]["message"]
    handled = [e for e in entries if e["message"] == "added numbers"]
    assert {e["job_id"] for e in handled} == {job.id for job in jobs}
    assert all(e["queue"] == queue_name for e in handled)
    assert any(e["message"] == "worker stopped" for e in entries)


async def test_python_m_with_a_factory_and_environment_stops_on_sigint(
    redis_url: str, queue_name: str, rq: Queue, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", "conveyor.cli", "worker", "tests.cli.app:make_worker"]
    env = {
        "CONVEYOR_TEST_QUEUE": queue_name,
        "CONVEYOR_URL": redis_url,
        "CONVEYOR_CONCURRENCY": "4",
    }
    async with worker_process(command, env, log_path) as proc:
        failed = await rq.add("boom", "x")
        await until_state(failed, "failed", within=20)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    text = log_path.read_text()
    assert "(concurrency 4, grace 5s" in text  # the factory's grace, the env's concurrency
    assert f"queue={queue_name} job_id={failed.id} job_name=boom" in text
    assert "UnrecoverableError: boom: x" in text


async def test_a_second_signal_exits_at_once(
    redis_url: str, queue_name: str, rq: Queue, tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable,
        "-m",
        "conveyor.cli",
        "worker",
        "tests.cli.app:queue",
        "--url",
        redis_url,
        "--grace",
        "60",
    ]
    async with worker_process(command, {"CONVEYOR_TEST_QUEUE": queue_name}, log_path) as proc:
        job = await rq.add("slow", 60)
        await until_state(job, "active", within=20)
        proc.send_signal(signal.SIGTERM)
        await _logged(log_path, "send again to exit at once")
        assert proc.returncode is None  # still letting the slow job finish
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 128 + signal.SIGTERM


async def test_worker_process_reports_an_unknown_queue(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conveyor.cli",
        "worker",
        "tests.cli.app:queue",
        "--url",
        redis_url,
        "-q",
        "elsewhere",
        cwd=ROOT,
        env={**os.environ, "CONVEYOR_TEST_QUEUE": queue_name},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert stderr.decode().strip() == (
        f"error: unknown queue 'elsewhere': tests.cli.app:queue has {queue_name}"
    )
    assert stdout == b""


async def test_the_start_line_names_the_absolute_sqlite_file_and_each_queue_count(
    queue_name: str, tmp_path: Path
) -> None:
    """A relative URL in another working directory: the start line says which file the
    worker uses, and a producer that names that file (absolutely) reaches the worker."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "conveyor.cli", "worker", "tests.cli.app:queue",
        "--url", "sqlite:///data/jobs.db", "--concurrency", f"3,{queue_name}=2",
    ]  # fmt: skip
    env = {"CONVEYOR_TEST_QUEUE": queue_name, "PYTHONPATH": str(ROOT)}
    absolute = f"sqlite:///{workdir}/data/jobs.db"
    async with worker_process(command, env, log_path, cwd=workdir) as proc:
        await _logged(log_path, "conveyor worker tests.cli.app:queue")
        producer = Queue(queue_name, url=absolute)
        try:
            job = await producer.add("add", [2, 3])
            assert await job.wait(timeout=20) == 5
        finally:
            await producer.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    text = log_path.read_text()
    assert (
        f"conveyor worker tests.cli.app:queue: {queue_name} on {absolute}"
        f" (concurrency {queue_name}=2, grace 30s, lease 10s)"
    ) in text


async def test_burst_runs_the_queue_dry_and_exits_0(queue_name: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'burst.db'}"
    producer = Queue(queue_name, url=url)
    try:
        jobs = [await producer.add("add", [n, 1]) for n in range(10)]
        command = [
            sys.executable, "-m", "conveyor.cli", "worker", "tests.cli.app:queue",
            "--url", url, "--burst",
        ]  # fmt: skip
        env = {"CONVEYOR_TEST_QUEUE": queue_name, "PYTHONPATH": str(ROOT)}
        async with worker_process(command, env, tmp_path / "burst.log") as proc:
            assert await asyncio.wait_for(proc.wait(), 60) == 0, (
                (tmp_path / "burst.log").read_text()
            )
        assert [await job.wait(timeout=1) for job in jobs] == [n + 1 for n in range(10)]
        assert "burst: no job left to run" in (tmp_path / "burst.log").read_text()
    finally:
        await producer.close()
