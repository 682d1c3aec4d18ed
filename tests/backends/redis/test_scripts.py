"""The Redis backend's own promises: script headers, one hash slot per queue, NOSCRIPT."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from redis.asyncio import Redis

from conveyor import Queue, Worker
from conveyor.backends.redis import RedisBackend
from conveyor.backends.redis.scripts import SCRIPT_NAMES, source
from tests.conformance.helpers import FAST

LUA = resources.files("conveyor.backends.redis").joinpath("lua")


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_opens_with_a_header_naming_its_contract(name: str) -> None:
    text = LUA.joinpath(f"{name}.lua").read_text()
    header = text.split("]]", 1)[0]
    assert header.startswith(f"--[[\n  {name}:"), f"{name}.lua must open with a header"
    assert "KEYS[1]" in header
    assert "ARGV[1]" in header
    assert "Returns" in header


def test_every_lua_file_is_a_known_script_or_an_included_helper() -> None:
    files = {p.name[:-4] for p in LUA.iterdir() if p.name.endswith(".lua")}
    assert files == set(SCRIPT_NAMES)
    helpers = {p.name[:-4] for p in LUA.joinpath("lib").iterdir() if p.name.endswith(".lua")}
    used = set()
    for name in SCRIPT_NAMES:
        used |= set(re.findall(r"^--@include (\w+)", LUA.joinpath(f"{name}.lua").read_text(), re.M))
    assert helpers <= used | {"delete_jobs"}  # delete_jobs is also pulled in by trim_finished
    for name in SCRIPT_NAMES:
        assert "--@include" not in source(name), "includes are expanded"


def test_scripts_never_read_the_clock() -> None:
    for name in SCRIPT_NAMES:
        assert "'TIME'" not in source(name), f"{name}.lua must take now from ARGV"


async def test_all_keys_of_a_queue_share_its_hash_tag(redis_url: str, queue_name: str) -> None:
    queue = Queue(queue_name, url=redis_url)

    @queue.job()
    async def work(job: object) -> int:
        return 1

    await queue.add("work", 1)
    await queue.add("work", 2, delay=60)
    job = await queue.add("work", 3, priority=2)
    async with Worker(queue, settings=FAST):
        await job.wait(5)
    client = Redis.from_url(redis_url)
    keys = [k.decode() async for k in client.scan_iter(match=f"*{queue_name}*")]
    await client.aclose()
    assert len(keys) >= 6
    tag = f"{{conveyor:{queue_name}}}:"
    assert all(k.startswith(tag) for k in keys), keys
    await queue.close()


async def test_scripts_are_reloaded_after_script_flush(redis_url: str, queue_name: str) -> None:
    queue = Queue(queue_name, url=redis_url)
    await queue.add("job", 1)
    client = Redis.from_url(redis_url)
    await client.script_flush()
    await client.aclose()
    await queue.add("job", 2)
    assert (await queue.counts())["waiting"] == 2
    await queue.close()


async def test_a_refused_operation_maps_to_the_same_error_words(
    redis_url: str, queue_name: str
) -> None:
    backend = RedisBackend(redis_url)
    queue = Queue(queue_name, backend=backend)
    from conveyor import InvalidStateError, JobNotFoundError

    with pytest.raises(JobNotFoundError, match=r"cannot promote job nope .*: no such job"):
        await queue.promote("nope")
    job = await queue.add("job", 1)
    with pytest.raises(InvalidStateError, match="wrong state"):
        await queue.promote(job.id)
    await backend.close()
