"""Turn a conveyor Redis URL into a redis-py asyncio client.

Accepted forms (``?prefix=name`` may follow any of them; other query options go to
redis-py)::

    redis://[[user]:password@]host[:port][/db]
    rediss://...                      TLS; ssl_* options as query parameters
    unix:///path/to/redis.sock[?db=N]
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]
    redis+cluster://[[user]:password@]host:port[,host:port...]   Redis Cluster seed nodes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from ...errors import ConfigurationError
from .keys import DEFAULT_PREFIX

SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "redis+cluster",
    "rediss+cluster",
)
# No client-side retries (pinned: redis-py's defaults differ between constructors and
# versions). A retried command whose reply was lost would run a non-idempotent script
# twice: a second finish_and_fetch would leave the first batch active under a lease that
# is still renewed, so never recovered. Callers get BackendUnavailableError and decide;
# the worker backs off and rotates its lease (tests/processes/test_redis_lost_reply.py).
# No socket timeout by default (redis-py 8 sets 5 s): with one, redis-py sends through
# asyncio.wait_for, which on Python 3.11 can swallow a task's cancellation, so a handler
# could outlive its timeout and a stopping worker could hang. The worker bounds its own
# waits (lease renewal); ``?socket_timeout=N`` in the URL still sets one.
_COMMON: dict[str, Any] = {
    "socket_connect_timeout": 5.0,
    "socket_timeout": None,
    "health_check_interval": 0,
    "retry": Retry(NoBackoff(), 0),
}


@dataclass(frozen=True)
class RedisTarget:
    url: str
    prefix: str

    @property
    def cluster(self) -> bool:
        """Whether the URL names a Redis Cluster (each queue in its own hash slot)."""
        return self.url.split("://", 1)[0].endswith("+cluster")


def parse(url: str) -> RedisTarget:
    """Split off conveyor's own query options and check the URL's shape."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError as exc:
        raise ConfigurationError(f"malformed Redis URL {url!r}: {exc}") from exc
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"unsupported URL scheme {parts.scheme!r} in {url!r}; use one of {', '.join(SCHEMES)}"
        )
    prefix = DEFAULT_PREFIX
    rest = []
    for key, value in query:
        if key == "prefix":
            if not value or "{" in value or "}" in value:
                raise ConfigurationError(f"prefix must be non-empty and without braces: {value!r}")
            prefix = value
        else:
            rest.append((key, value))
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigurationError(f"Redis URL {url!r} names no host")
    if "+" in parts.scheme:  # several host:port pairs, checked when the client is built
        _nodes(parts, parts.scheme.split("+")[1])
    else:
        try:
            _ = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"malformed Redis URL {url!r}: {exc}") from exc
    clean = urlunsplit(parts._replace(query=urlencode(rest)))
    return RedisTarget(clean, prefix)


def connect(target: RedisTarget) -> tuple[Redis | RedisCluster, list[Redis]]:
    """Build an unconnected client (connections open on first use), and the helper
    clients (Sentinel's) that must be closed with it."""
    parts = urlsplit(target.url)
    if parts.scheme.endswith("+sentinel"):
        return _sentinel_master(parts)
    if parts.scheme.endswith("+cluster"):
        return _cluster(parts), []
    try:
        return Redis.from_url(target.url, **_COMMON), []
    except ValueError as exc:
        raise ConfigurationError(f"malformed Redis URL {target.url!r}: {exc}") from exc


def _nodes(parts: Any, what: str) -> tuple[str, str, list[tuple[str, int]]]:
    """(user, password, [(host, port)]) from a netloc that lists several hosts."""
    netloc = parts.netloc.rsplit("@", 1)
    auth, hosts = (netloc[0], netloc[1]) if len(netloc) == 2 else ("", netloc[0])
    username, _, password = auth.partition(":")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"{what} address {item!r} must be host:port")
        nodes.append((host.strip("[]"), int(port)))
    return unquote(username), unquote(password), nodes


def _cluster(parts: Any) -> RedisCluster:
    username, password, nodes = _nodes(parts, "cluster node")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        username=username or None,
        password=password or None,
        ssl=parts.scheme.startswith("rediss"),
        **_COMMON,
    )


def _sentinel_master(parts: Any) -> tuple[Redis, list[Redis]]:
    username, password, nodes = _nodes(parts, "sentinel")
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigurationError("a sentinel URL names the service: redis+sentinel://h:p/service")
    service = path[0]
    db = int(path[1]) if len(path) > 1 and path[1].isdigit() else 0
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    kwargs: dict[str, Any] = {
        "db": db,
        "username": username or None,
        "password": password or None,
        **_COMMON,
    }
    if parts.scheme.startswith("rediss"):
        kwargs["ssl"] = True
    sentinel_kwargs = {"password": options.get("sentinel_password")} if options else None
    sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_kwargs, **_COMMON)  # type: ignore[no-untyped-call, unused-ignore]
    return sentinel.master_for(service, **kwargs), list(sentinel.sentinels)
