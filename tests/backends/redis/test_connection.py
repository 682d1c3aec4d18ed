"""Redis connection handling: URL forms, clear errors, preflight, TLS and Sentinel."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import AmbiguousResultError, BackendUnavailableError, ConfigurationError, Queue
from conveyor.backends import from_url
from conveyor.backends.redis import RedisBackend
from tests.conftest import missing
from tests.support.redis_server import RedisServer, find_binary, free_port


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis//localhost:6379", "expected scheme://"),
        ("mysql://localhost/db", "unsupported backend URL scheme 'mysql'"),
        ("redis://:6379/0", "names no host"),
        ("redis://localhost:notaport/0", "malformed Redis URL"),
        ("redis://localhost:6379/0?prefix=", "prefix must be non-empty"),
        ("redis+sentinel://localhost/", "must be host:port"),
        ("redis+sentinel://localhost:26379", "names the service"),
    ],
)
def test_malformed_urls_raise_configuration_errors(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        from_url(url)


async def test_unreachable_redis_is_a_clear_error_and_stores_nothing() -> None:
    queue = Queue("q", url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BackendUnavailableError, match="unavailable") as raised:
        await queue.add("job", {"x": 1})
    assert not isinstance(raised.value, AmbiguousResultError), "nothing was sent"
    await queue.close()


async def test_password_in_url_is_redacted_from_errors() -> None:
    queue = Queue("q", url=f"redis://user:s3cret@127.0.0.1:{free_port()}/0")
    with pytest.raises(BackendUnavailableError) as caught:
        await queue.add("job", {})
    assert "s3cret" not in str(caught.value)
    await queue.close()


async def test_prefix_keeps_queues_apart(redis_url: str, queue_name: str) -> None:
    first = Queue(queue_name, url=redis_url + "?prefix=app1")
    second = Queue(queue_name, url=redis_url + "?prefix=app2")
    await first.add("job", 1)
    assert (await first.counts())["waiting"] == 1
    assert (await second.counts())["waiting"] == 0
    await first.obliterate()
    await first.close()
    await second.close()


@pytest.fixture
def redis_binary() -> str:
    binary = find_binary()
    if binary is None:
        missing("redis-server")
    assert binary is not None
    return binary


async def test_preflight_warns_about_eviction_and_missing_persistence(
    redis_binary: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(redis_binary, extra=("--maxmemory-policy", "allkeys-lru")).start()
    try:
        backend = RedisBackend(server.url)
        with caplog.at_level(logging.WARNING, logger="conveyor.redis"):
            await backend.preflight()
        text = caplog.text
        assert "maxmemory-policy is 'allkeys-lru'" in text
        assert "persistence is off" in text
        await backend.close()
    finally:
        server.close()


async def test_strict_preflight_refuses_an_evicting_redis(redis_binary: str) -> None:
    server = RedisServer(
        redis_binary, appendonly=True, extra=("--maxmemory-policy", "volatile-lru")
    ).start()
    try:
        backend = RedisBackend(server.url, strict=True)
        queue = Queue("q", backend=backend)
        with pytest.raises(ConfigurationError, match="noeviction"):
            await queue.add("job", 1)
        assert await backend._client.dbsize() == 0
        await backend.close()
    finally:
        server.close()


async def test_preflight_is_quiet_on_a_safe_redis(
    redis_binary: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(redis_binary, appendonly=True).start()
    try:
        backend = RedisBackend(server.url)
        with caplog.at_level(logging.WARNING, logger="conveyor.redis"):
            await backend.preflight()
        assert caplog.text == ""
        await backend.close()
    finally:
        server.close()


@pytest.fixture
def tls_server(redis_binary: str, tmp_path: Path) -> Iterator[tuple[RedisServer, Path]]:
    import trustme

    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls_port = free_port()
    server = RedisServer(
        redis_binary,
        extra=(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(cert_file),
            "--tls-key-file", str(key_file),
            "--tls-ca-cert-file", str(ca_file),
            "--tls-auth-clients", "no",
        ),
    )
    try:
        server.start()
    except RuntimeError as exc:
        if "tls" in str(exc).lower():
            missing("a redis-server built with TLS")
        raise
    server.tls_port = tls_port  # type: ignore[attr-defined]
    yield server, ca_file
    server.close()


async def test_rediss_url_connects_over_tls(
    tls_server: tuple[RedisServer, Path], queue_name: str
) -> None:
    server, ca_file = tls_server
    url = f"rediss://127.0.0.1:{server.tls_port}/0?ssl_ca_certs={ca_file}"  # type: ignore[attr-defined]
    queue = Queue(queue_name, url=url)
    job = await queue.add("job", {"over": "tls"})
    fetched = await queue.get_job(job.id)
    assert fetched is not None
    assert fetched.data == {"over": "tls"}
    await queue.close()


async def test_rediss_refuses_an_untrusted_certificate(
    tls_server: tuple[RedisServer, Path], queue_name: str
) -> None:
    server, _ = tls_server
    queue = Queue(queue_name, url=f"rediss://127.0.0.1:{server.tls_port}/0")  # type: ignore[attr-defined]
    with pytest.raises(BackendUnavailableError) as caught:
        await queue.add("job", 1)
    assert isinstance(caught.value.__cause__, ssl.SSLError | OSError) or "certificate" in str(
        caught.value
    )
    await queue.close()


async def test_password_and_acl_user_from_the_url(redis_binary: str, queue_name: str) -> None:
    server = RedisServer(redis_binary, extra=("--requirepass", "topsecret")).start()
    try:
        await server_acl_user(server)
        denied = Queue(queue_name, url=f"redis://127.0.0.1:{server.port}/0")
        with pytest.raises(BackendUnavailableError, match=r"refused the credentials"):
            await denied.add("job", 1)
        await denied.close()
        for auth in (":topsecret", "worker:pw-of-worker"):
            queue = Queue(queue_name, url=f"redis://{auth}@127.0.0.1:{server.port}/0")
            job = await queue.add("job", 1)
            assert (await queue.get_job(job.id)) is not None
            await queue.close()
    finally:
        server.close()


async def server_acl_user(server: RedisServer) -> None:
    from redis.asyncio import Redis

    admin = Redis(host="127.0.0.1", port=server.port, password="topsecret")
    await admin.execute_command(
        "ACL", "SETUSER", "worker", "on", ">pw-of-worker", "~*", "&*", "+@all"
    )
    await admin.aclose()


async def test_sentinel_url_finds_the_master(
    redis_binary: str, tmp_path: Path, queue_name: str
) -> None:
    master = RedisServer(redis_binary).start()
    sentinel_port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\n"
        f"sentinel monitor shop 127.0.0.1 {master.port} 1\n"
    )
    import subprocess

    sentinel = subprocess.Popen(
        [redis_binary, str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = RedisServer.__new__(RedisServer)
        probe.port, probe.process, probe.dir = sentinel_port, sentinel, tmp_path
        probe._await_ready()
        queue = Queue(queue_name, url=f"redis+sentinel://127.0.0.1:{sentinel_port}/shop/0")
        job = await queue.add("job", {"via": "sentinel"})
        fetched = await queue.get_job(job.id)
        assert fetched is not None
        assert fetched.data == {"via": "sentinel"}
        await queue.close()
    finally:
        sentinel.terminate()
        sentinel.wait(10)
        master.close()


async def test_the_settings_check_runs_again_after_redis_was_unreachable(
    redis_server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A first call that cannot reach Redis must not count as the preflight check."""
    from tests.processes.proxy import ReplyDropper

    proxy = await ReplyDropper(free_port()).start()  # forwards to a port nobody serves
    queue = Queue(queue_name, url=proxy.url)
    with pytest.raises(BackendUnavailableError):
        await queue.add("job", 1)
    proxy.redis_port = redis_server.port
    caplog.set_level(logging.WARNING, logger="conveyor.redis")
    await queue.add("job", 2)
    assert any("persistence is off" in r.getMessage() for r in caplog.records)
    await queue.close()
    await proxy.close()
