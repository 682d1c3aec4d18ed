"""The one place the CLI maps flags and environment variables onto configuration.

A flag beats its environment variable, which beats what the application's ``Worker``
was built with, which beats ``WorkerSettings``' defaults.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigurationError
from ..worker import WorkerSettings

LogFormat = Literal["text", "json"]

ENV_URL = "CONVEYOR_URL"
ENV_QUEUES = "CONVEYOR_QUEUES"
ENV_LOG_LEVEL = "CONVEYOR_LOG_LEVEL"
ENV_LOG_FORMAT = "CONVEYOR_LOG_FORMAT"


@dataclass(frozen=True, slots=True)
class Concurrency:
    """What ``--concurrency`` says: a count for every queue and/or counts for named ones."""

    default: int | None = None
    per_queue: tuple[tuple[str, int], ...] = ()

    def fields(self) -> dict[str, Any]:
        """The ``WorkerSettings`` fields it sets (``queue_concurrency`` as pairs)."""
        found: dict[str, Any] = {}
        if self.default is not None:
            found["concurrency"] = self.default
        if self.per_queue:
            found["queue_concurrency"] = self.per_queue
        return found


_COUNT = re.compile(r"[0-9]+")
CONCURRENCY_FORMS = "N, QUEUE=N or both, separated by commas (like 5 or 5,emails=2)"


def parse_concurrency(raw: str) -> Concurrency:
    """``5``, ``supplier-sync=1,product-family=3`` or ``5,supplier-sync=1``; anything
    else raises ``ValueError`` saying which part is wrong."""
    default: int | None = None
    per_queue: dict[str, int] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, sep, count = (x.strip() for x in part.rpartition("="))
        if not count:
            raise ValueError(f"{part!r} has no count")
        if not _COUNT.fullmatch(count):
            where = f" (in {part!r})" if sep else ""
            raise ValueError(f"{count!r} is not a whole number{where}")
        if not sep:
            if default is not None:
                raise ValueError(f"two counts for every queue ({default} and {count})")
            default = int(count)
        elif not name:
            raise ValueError(f"{part!r} names no queue")
        elif name in per_queue:
            raise ValueError(f"queue {name!r} is given twice")
        else:
            per_queue[name] = int(count)
    if default is None and not per_queue:
        raise ValueError("no count given")
    return Concurrency(default, tuple(per_queue.items()))


@dataclass(frozen=True, slots=True)
class SettingSource:
    """One ``WorkerSettings`` field, the flag that sets it and its environment variable."""

    field: str
    flag: str
    env: str
    parse: Callable[[str], Any]
    expects: str
    """What the value must look like, for the error about a bad environment variable."""


SETTING_SOURCES: tuple[SettingSource, ...] = (
    SettingSource(
        "concurrency", "--concurrency", "CONVEYOR_CONCURRENCY", parse_concurrency,
        "an integer or QUEUE=N pairs",
    ),
    SettingSource("grace", "--grace", "CONVEYOR_GRACE", float, "a number"),
    SettingSource("lease", "--lease", "CONVEYOR_LEASE", float, "a number"),
    SettingSource("max_stalled", "--max-stalled", "CONVEYOR_MAX_STALLED", int, "an integer"),
    SettingSource(
        "stalled_interval", "--stalled-interval", "CONVEYOR_STALLED_INTERVAL", float, "a number"
    ),
)


@dataclass(frozen=True, slots=True)
class LogSettings:
    """How the worker command logs: a level and text or JSON lines on stderr."""

    level: int = logging.INFO
    format: LogFormat = "text"


@dataclass(frozen=True, slots=True)
class WorkerFlags:
    """What the command line said; ``None`` (or empty) means "not given"."""

    target: str
    url: str | None = None
    queues: tuple[str, ...] = ()
    concurrency: Concurrency | int | None = None
    grace: float | None = None
    lease: float | None = None
    max_stalled: int | None = None
    stalled_interval: float | None = None
    log_level: str | None = None
    log_format: str | None = None
    burst: bool = False


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything ``conveyor worker`` runs with, resolved from flags and environment."""

    target: str
    url: str | None
    """The backend URL given by ``--url`` (queues built without a URL use it)."""
    queues: tuple[str, ...]
    """The subset of the application's queues to run; empty means all of them."""
    overrides: tuple[tuple[str, Any], ...] = ()
    """``WorkerSettings`` fields set by a flag or an environment variable."""
    log: LogSettings = field(default_factory=LogSettings)
    burst: bool = False
    """Stop once the queues have no job left to run (``Worker.run_burst``)."""

    def settings(self, base: WorkerSettings | None = None) -> WorkerSettings:
        """``base`` (the application's, or the defaults) with the overrides applied;
        out-of-range values raise ``ConfigurationError``. Per-queue counts are added to
        the base's own (a queue named in both takes the override's)."""
        base = base or WorkerSettings()
        changes = dict(self.overrides)
        if "queue_concurrency" in changes:
            changes["queue_concurrency"] = {
                **base.queue_concurrency,
                **dict(changes["queue_concurrency"]),
            }
        return dataclasses.replace(base, **changes)

    def queues_with_concurrency(self) -> tuple[str, ...]:
        """The queues ``--concurrency`` / ``CONVEYOR_CONCURRENCY`` gives a count of their
        own."""
        pairs = dict(self.overrides).get("queue_concurrency", ())
        return tuple(name for name, _ in pairs)


def worker_config(flags: WorkerFlags, environ: Mapping[str, str]) -> WorkerConfig:
    """Resolve the worker command's flags against the environment."""
    overrides: list[tuple[str, Any]] = []
    for source in SETTING_SOURCES:
        value = getattr(flags, source.field)
        if value is None and environ.get(source.env, "").strip():
            value = _parse_env(source, environ[source.env])
        if isinstance(value, Concurrency):
            overrides.extend(value.fields().items())
        elif value is not None:
            overrides.append((source.field, value))
    queues = flags.queues or (environ.get(ENV_QUEUES, ""),)
    return WorkerConfig(
        target=flags.target,
        url=flags.url or None,
        queues=split_names(queues),
        overrides=tuple(overrides),
        log=LogSettings(
            level=parse_level(flags.log_level or environ.get(ENV_LOG_LEVEL) or "info"),
            format=parse_format(flags.log_format or environ.get(ENV_LOG_FORMAT) or "text"),
        ),
        burst=flags.burst,
    )


def split_names(values: tuple[str, ...]) -> tuple[str, ...]:
    """Queue names from repeated and/or comma-separated values, in order, without repeats."""
    names = (name.strip() for value in values for name in value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


def _parse_env(source: SettingSource, raw: str) -> Any:
    try:
        return source.parse(raw.strip())
    except ValueError as exc:
        detail = "" if source.parse in (int, float) else f": {exc}"
        raise ConfigurationError(
            f"{source.env} must be {source.expects} (like {source.flag}), got {raw!r}{detail}"
        ) from None


def parse_level(raw: str) -> int:
    value = raw.strip().upper()
    if value.isdigit():
        return int(value)
    level = logging.getLevelNamesMapping().get(value)
    if level is None:
        raise ConfigurationError(
            f"unknown log level {raw!r}; use debug, info, warning, error or critical"
        )
    return level


def parse_format(raw: str) -> LogFormat:
    value = raw.strip().lower()
    if value == "text":
        return "text"
    if value == "json":
        return "json"
    raise ConfigurationError(f"unknown log format {raw!r}; use text or json")
