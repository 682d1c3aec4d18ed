"""The one place the CLI maps flags and environment variables onto configuration.

A flag beats its environment variable, which beats what the application's ``Worker``
was built with, which beats ``WorkerSettings``' defaults.
"""

from __future__ import annotations

import dataclasses
import logging
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
class SettingSource:
    """One ``WorkerSettings`` field, the flag that sets it and its environment variable."""

    field: str
    flag: str
    env: str
    parse: Callable[[str], Any]


SETTING_SOURCES: tuple[SettingSource, ...] = (
    SettingSource("concurrency", "--concurrency", "CONVEYOR_CONCURRENCY", int),
    SettingSource("grace", "--grace", "CONVEYOR_GRACE", float),
    SettingSource("lease", "--lease", "CONVEYOR_LEASE", float),
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
    concurrency: int | None = None
    grace: float | None = None
    lease: float | None = None
    log_level: str | None = None
    log_format: str | None = None


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

    def settings(self, base: WorkerSettings | None = None) -> WorkerSettings:
        """``base`` (the application's, or the defaults) with the overrides applied;
        out-of-range values raise ``ConfigurationError``."""
        return dataclasses.replace(base or WorkerSettings(), **dict(self.overrides))


def worker_config(flags: WorkerFlags, environ: Mapping[str, str]) -> WorkerConfig:
    """Resolve the worker command's flags against the environment."""
    overrides: list[tuple[str, Any]] = []
    for source in SETTING_SOURCES:
        value = getattr(flags, source.field)
        if value is None and environ.get(source.env, "").strip():
            value = _parse_env(source, environ[source.env])
        if value is not None:
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
    )


def split_names(values: tuple[str, ...]) -> tuple[str, ...]:
    """Queue names from repeated and/or comma-separated values, in order, without repeats."""
    names = (name.strip() for value in values for name in value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


def _parse_env(source: SettingSource, raw: str) -> Any:
    try:
        return source.parse(raw.strip())
    except ValueError:
        kind = "an integer" if source.parse is int else "a number"
        raise ConfigurationError(
            f"{source.env} must be {kind} (like {source.flag}), got {raw!r}"
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
