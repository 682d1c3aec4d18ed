"""``conveyor worker module:object``: import the application's queues and run them."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ..backends import from_url
from ..queue import Queue
from ..worker import Worker
from . import logs
from .common import CliError, redact, reported, run
from .config import (
    CONCURRENCY_FORMS,
    ENV_URL,
    Concurrency,
    WorkerConfig,
    WorkerFlags,
    parse_concurrency,
    worker_config,
)

log = logging.getLogger("conveyor.cli")

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_EXPECTED = "a Queue, a list of Queues, a Worker, or a zero-argument callable returning one"


def _concurrency(raw: str) -> Concurrency:
    try:
        return parse_concurrency(raw)
    except ValueError as exc:
        raise typer.BadParameter(f"expected {CONCURRENCY_FORMS}; {exc}") from None


def worker(
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:OBJECT",
            help=f"Where your queues are, e.g. myapp.jobs:queue; the object is {_EXPECTED}.",
            show_default=False,
        ),
    ],
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Run only this queue (repeat it, or separate names with commas)."
            " (env: CONVEYOR_QUEUES)",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        Concurrency | None,
        typer.Option(
            parser=_concurrency,
            metavar="N|QUEUE=N,...",
            help="Jobs run at once per queue: N for every queue, QUEUE=N for one"
            " (5,supplier-sync=1 mixes both). (env: CONVEYOR_CONCURRENCY)",
            show_default=False,
        ),
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(
            help="Seconds running jobs get to finish after SIGTERM/SIGINT. (env: CONVEYOR_GRACE)",
            show_default=False,
        ),
    ] = None,
    lease: Annotated[
        float | None,
        typer.Option(
            help="Seconds a claim on a job lasts without renewal. (env: CONVEYOR_LEASE)",
            show_default=False,
        ),
    ] = None,
    max_stalled: Annotated[
        int | None,
        typer.Option(
            help="Stalled recoveries a job gets before it is failed."
            " (env: CONVEYOR_MAX_STALLED)",
            show_default=False,
        ),
    ] = None,
    stalled_interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between checks for stalled jobs. (env: CONVEYOR_STALLED_INTERVAL)",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="Backend URL for queues built without one. (env: CONVEYOR_URL)",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            help="debug, info, warning or error (default info). (env: CONVEYOR_LOG_LEVEL)",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            help="text (key=value extras) or json (one object per line)."
            " (env: CONVEYOR_LOG_FORMAT)",
            show_default=False,
        ),
    ] = None,
    burst: Annotated[
        bool,
        typer.Option(
            "--burst",
            help="Exit (0) once the queues have no job waiting, active or delayed:"
            " for batch runs, cron and tests.",
        ),
    ] = False,
) -> None:
    """Run the jobs of your queues until SIGTERM/SIGINT (a second signal exits at once),
    or with --burst until no job is left to run."""
    flags = WorkerFlags(
        target=target,
        url=url,
        queues=tuple(queue or ()),
        concurrency=concurrency,
        grace=grace,
        lease=lease,
        max_stalled=max_stalled,
        stalled_interval=stalled_interval,
        log_level=log_level,
        log_format=log_format,
        burst=burst,
    )
    with reported():
        config = worker_config(flags, os.environ)
    with logs.configured(config.log):
        run(serve(config), brief_logs=False)


async def serve(config: WorkerConfig) -> None:
    """Load the target, build the worker it describes and run it until stopped."""
    url = None
    if config.url is not None:
        probe = from_url(config.url)  # a malformed URL fails here, in one line
        url = probe.url  # as the backend spells it, to compare with the queues' own
        await probe.close()
    with _default_url(config.url):
        loaded = await load_target(config.target)
    queues = loaded.queues if isinstance(loaded, Worker) else loaded
    try:
        worker = build_worker(loaded, config, url)
        for q in worker.queues:
            if not q.tasks:
                log.warning(
                    "queue %s has no handlers registered; its jobs will fail as unknown",
                    q.name,
                    extra={"queue": q.name},
                )
        s = worker.settings
        log.info(
            "conveyor worker %s: %s on %s (concurrency %s, grace %gs, lease %gs)",
            config.target,
            ", ".join(q.name for q in worker.queues),
            ", ".join(sorted({redact(q.backend.url) for q in worker.queues})),
            concurrency_text(worker),
            s.grace,
            s.lease,
        )
        await worker.run(burst=config.burst)
    finally:
        closed: set[int] = set()
        for q in queues:
            if id(q.backend) not in closed:
                closed.add(id(q.backend))
                await q.backend.close()


def build_worker(
    loaded: Worker | list[Queue], config: WorkerConfig, url: str | None = None
) -> Worker:
    """The worker to run: the application's own, narrowed to ``config.queues`` and with
    the flag/env overrides applied (rebuilt with its hooks when anything changed).

    ``url`` is ``--url`` as its backend spells it; every selected queue must use it."""
    available = loaded.queues if isinstance(loaded, Worker) else loaded
    selected = select_queues(available, config.queues, config.target)
    names = [q.name for q in selected]
    for name in config.queues_with_concurrency():
        if name not in names:
            raise CliError(
                f"--concurrency (or CONVEYOR_CONCURRENCY) names queue {name!r}, which this"
                f" worker does not run: it runs {', '.join(names)}"
            )
    if url is not None:
        for q in selected:
            if q.backend.url != url:
                raise CliError(
                    f"queue {q.name!r} is bound to {redact(q.backend.url)} but --url says"
                    f" {redact(url)}; build the queue without url= or drop --url"
                )
    if isinstance(loaded, Worker):
        base = loaded.settings
        if any(name not in names for name in base.queue_concurrency):  # narrowed by -q
            kept = {n: c for n, c in base.queue_concurrency.items() if n in names}
            base = dataclasses.replace(base, queue_concurrency=kept)
        settings = config.settings(base)
        if selected == loaded.queues and settings == loaded.settings:
            return loaded
        return Worker(
            selected,
            settings=settings,
            hooks=loaded.hooks,
            backoff_strategies=loaded.strategies,
            clock=loaded.clock,
        )
    return Worker(selected, settings=config.settings())


def concurrency_text(worker: Worker) -> str:
    """``10``, or with per-queue counts every queue's own: ``emails=5 reports=1``."""
    s = worker.settings
    if not s.queue_concurrency:
        return str(s.concurrency)
    return " ".join(f"{q.name}={s.concurrency_for(q.name)}" for q in worker.queues)


def select_queues(available: Sequence[Queue], wanted: Sequence[str], target: str) -> list[Queue]:
    if not wanted:
        return list(available)
    by_name = {q.name: q for q in available}
    for name in wanted:
        if name not in by_name:
            raise CliError(
                f"unknown queue {name!r}: {target} has {', '.join(by_name) or 'no queues'}"
            )
    return [by_name[name] for name in wanted]


@contextmanager
def _default_url(url: str | None) -> Iterator[None]:
    """Let queues built without a URL (``Queue("emails")``) pick up ``--url``."""
    if url is None:
        yield
        return
    previous = os.environ.get(ENV_URL)
    os.environ[ENV_URL] = url
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ENV_URL]
        else:
            os.environ[ENV_URL] = previous


async def load_target(spec: str) -> Worker | list[Queue]:
    """Import ``module:object`` and turn it into a Worker or a list of queues."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr or ":" in attr:
        raise CliError(f"expected MODULE:OBJECT (like myapp.jobs:queue), got {spec!r}")
    module = _import(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CliError(f"module {module_name!r} has no attribute {attr!r}") from None
    target = _as_target(obj)
    if target is None and callable(obj) and not isinstance(obj, type):
        try:
            result = obj()
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            raise CliError(f"calling {spec}() failed: {_describe(exc)}") from None
        target = _as_target(result)
        if target is None:
            raise CliError(f"{spec}() returned {_kind(result)}; expected {_EXPECTED}")
    if target is None:
        raise CliError(f"{spec} is {_kind(obj)}; expected {_EXPECTED}")
    if not isinstance(target, Worker) and not target:
        raise CliError(f"{spec} holds no queues")
    return target


def _import(name: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise CliError(
                f"cannot import {name!r}: no module named {exc.name!r} (looked in {cwd} and"
                " the installed packages)"
            ) from None
        raise CliError(f"importing {name!r} failed: {_describe(exc)}") from None
    except Exception as exc:
        raise CliError(f"importing {name!r} failed: {_describe(exc)}") from None


def _as_target(obj: Any) -> Worker | list[Queue] | None:
    if isinstance(obj, Worker):
        return obj
    if isinstance(obj, Queue):
        return [obj]
    if isinstance(obj, list | tuple) and all(isinstance(q, Queue) for q in obj):
        return list(obj)
    return None


def _kind(obj: Any) -> str:
    return f"a {type(obj).__qualname__}" if obj is not None else "None"


def _describe(exc: BaseException) -> str:
    """``Type: message (file:line)`` with the innermost frame outside conveyor."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{text} ({exc.filename}:{exc.lineno})"
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(("<frozen", _PACKAGE_DIR))
    ]
    if frames:
        text += f" ({os.path.relpath(frames[-1].filename)}:{frames[-1].lineno})"
    return text
