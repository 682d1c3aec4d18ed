"""Structured logging for ``conveyor worker``: text lines with ``key=value`` extras, or
JSON lines; the ``extra`` fields conveyor logs (queue, job_id, ...) appear in both."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .config import LogSettings
from .safe_text import json_text, lines, one_line

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed as ``extra=`` (anything not on a plain record)."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}{time.strftime('%z', time.localtime(record.created))}"


def _text_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json_text(json.dumps(text, ensure_ascii=False))
    return one_line(text)


class TextFormatter(logging.Formatter):
    """``2024-05-01T12:00:00.123+0000 INFO    conveyor.worker: message queue=q job_id=7``"""

    def format(self, record: logging.LogRecord) -> str:
        message = one_line(record.getMessage())  # job names and reasons are anyone's input
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {message}"
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in extras(record).items())
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{lines(self.formatException(record.exc_info))}"
        elif record.stack_info:
            line = f"{line}\n{lines(self.formatStack(record.stack_info))}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_text(json.dumps(entry, default=str, ensure_ascii=False))


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


@contextmanager
def configured(settings: LogSettings) -> Iterator[None]:
    """Send every log record at ``settings.level`` or above to stderr while the block runs."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(settings.level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


class _BriefFormatter(logging.Formatter):
    """``warning: message``, like the CLI's own ``error:`` lines."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {one_line(record.getMessage())}"


@contextmanager
def brief() -> Iterator[None]:
    """For the admin commands: conveyor's warnings (e.g. an unsafe Redis setting) as one
    ``warning:`` line each on stderr."""
    handler = _StderrHandler(logging.WARNING)
    handler.setFormatter(_BriefFormatter())
    logger = logging.getLogger("conveyor")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
