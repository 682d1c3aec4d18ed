"""Backends: storage behind one protocol, chosen by URL.

``sqlite:///path`` (the embedded default) and ``redis://``/``rediss://``/``unix://``/
``redis+sentinel://`` (the distributed engine). Backends are imported lazily so that an
application using one never imports the other's driver.
"""

from __future__ import annotations

import os

from ..errors import ConfigurationError
from .base import Backend

DEFAULT_URL = "sqlite:///./.conveyor/conveyor.db"


def resolve_url(url: str | None = None) -> str:
    """The URL from the argument, else ``CONVEYOR_URL``, else the SQLite default."""
    return url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL


def from_url(url: str | None = None) -> Backend:
    """Build the backend a URL names; nothing connects until first use."""
    resolved = resolve_url(url)
    scheme, sep, _ = resolved.partition("://")
    if not sep:
        raise ConfigurationError(f"malformed backend URL {resolved!r}: expected scheme://...")
    if scheme in ("redis", "rediss", "unix") or scheme.startswith(("redis+", "rediss+")):
        from .redis import RedisBackend

        return RedisBackend(resolved)
    if scheme == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend(resolved)
    raise ConfigurationError(
        f"unsupported backend URL scheme {scheme!r} in {resolved!r};"
        " use sqlite:///path or redis://host:port"
    )
