"""Parse ``sqlite:///path`` URLs into a file path and connection settings.

``sqlite:///relative/path.db`` is relative to the working directory (resolved once, when
the backend is built); ``sqlite:////absolute/path.db`` is absolute. Query parameters:
``busy_timeout_ms`` (how long a write waits for another process's transaction, default
5000) and ``synchronous`` (``normal``, the default, or ``full``). ``SQLiteTarget.url`` is
the resolved form the backend reports as its ``url``, so every message names the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from ...errors import ConfigurationError

DEFAULT_BUSY_TIMEOUT_MS = 5000
_SYNCHRONOUS = ("normal", "full")


@dataclass(frozen=True, slots=True)
class SQLiteTarget:
    path: str
    """Absolute path of the database file."""
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    synchronous: str = "normal"

    @property
    def url(self) -> str:
        """``sqlite:////absolute/path.db`` with the parameters that differ from the
        defaults: one spelling per file and settings, whatever the working directory."""
        path = self.path.replace("%", "%25").replace("?", "%3F")
        params = []
        if self.busy_timeout_ms != DEFAULT_BUSY_TIMEOUT_MS:
            params.append(f"busy_timeout_ms={self.busy_timeout_ms}")
        if self.synchronous != "normal":
            params.append(f"synchronous={self.synchronous}")
        return f"sqlite:///{path}" + (f"?{'&'.join(params)}" if params else "")


def parse(url: str) -> SQLiteTarget:
    """Read a ``sqlite:///`` URL; a malformed one raises ``ConfigurationError``."""
    scheme, sep, rest = url.partition("://")
    if scheme != "sqlite" or not sep or not rest.startswith("/"):
        raise ConfigurationError(
            f"malformed SQLite URL {url!r}: expected sqlite:///relative/path.db or"
            " sqlite:////absolute/path.db"
        )
    raw_path, _, query = rest[1:].partition("?")
    path = unquote(raw_path)
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigurationError(
            f"SQLite URL {url!r} must name a database file (in-memory databases cannot be"
            " shared between a worker's connections)"
        )
    if path.endswith(("/", os.sep)):
        raise ConfigurationError(f"SQLite URL {url!r} names a directory, not a database file")
    busy, synchronous = DEFAULT_BUSY_TIMEOUT_MS, "normal"
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "busy_timeout_ms":
            if not value.isdigit():
                raise ConfigurationError(
                    f"busy_timeout_ms in {url!r} must be a whole number of milliseconds"
                )
            busy = int(value)
        elif key == "synchronous":
            if value.lower() not in _SYNCHRONOUS:
                raise ConfigurationError(f"synchronous in {url!r} must be one of {_SYNCHRONOUS}")
            synchronous = value.lower()
        else:
            raise ConfigurationError(
                f"unknown SQLite URL parameter {key!r} in {url!r};"
                " known: busy_timeout_ms, synchronous"
            )
    return SQLiteTarget(os.path.abspath(path), busy, synchronous)
