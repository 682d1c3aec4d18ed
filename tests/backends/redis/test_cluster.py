"""The same code on Redis Cluster: three masters, queues spread over slots, one worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from conveyor import JobContext, Queue, Worker, add_flow
from tests.conformance.helpers import FAST
from tests.support.redis_server import RedisServer, free_port


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer) -> Iterator[list[RedisServer]]:
    buses = [free_port() for _ in range(3)]
    nodes = [
        RedisServer(
            redis_server.binary,
            extra=(
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-port", str(bus),  # the default (port + 10000) may not exist
            ),
        )
        for bus in buses
    ]
    for node in nodes:
        node.start()
    try:
        asyncio.run(_form_cluster(nodes, buses[0]))
        yield nodes
    finally:
        for node in nodes:
            node.close()


async def _form_cluster(nodes: list[RedisServer], first_bus: int) -> None:
    """Give each master a third of the 16,384 slots, introduce them, await cluster_state:ok."""
    clients = [Redis(host="127.0.0.1", port=n.port) for n in nodes]
    share = 16384 // len(nodes)
    for i, client in enumerate(clients):
        last = 16383 if i == len(nodes) - 1 else (i + 1) * share - 1
        await client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
    for client in clients[1:]:
        await client.execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[0].port, first_bus)
    for client in clients:
        for _ in range(500):
            info = (await client.execute_command("CLUSTER", "INFO")).decode()
            if "cluster_state:ok" in info and "cluster_known_nodes:3" in info:
                break
            await asyncio.sleep(0.02)  # gossip converges on its own schedule
        else:
            raise RuntimeError("cluster did not form")
    for client in clients:
        await client.aclose()


async def test_queues_on_different_slots_work_on_a_cluster(cluster: list[RedisServer]) -> None:
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in cluster)
    queues = [Queue(f"cluster-{i}", url=url) for i in range(6)]
    handles = []
    for queue in queues:

        @queue.job()
        async def square(job: JobContext[int]) -> int:
            await job.log("squaring")
            await job.update_progress(50)
            return job.data * job.data

        handles.append(await queue.add("square", 7))
        handles.append(await queue.add("square", 3, delay=0.05, priority=2))
    async with Worker(queues, settings=FAST):
        results = [await h.wait(10) for h in handles]
    assert results == [49, 9] * 6
    for queue in queues:
        counts = await queue.counts()
        assert counts["completed"] == 2
        job = (await queue.get_jobs("completed"))[0]
        assert await job.logs() == ["squaring"]
    # The queues really are spread: at least two nodes hold keys.
    holders = 0
    for node in cluster:
        client = Redis(host="127.0.0.1", port=node.port)
        holders += (await client.dbsize()) > 0
        await client.aclose()
    assert holders >= 2
    for queue in queues:
        await queue.obliterate()
        assert (await queue.counts())["completed"] == 0
        await queue.close()


async def test_a_flow_within_one_queue_works_on_a_cluster(cluster: list[RedisServer]) -> None:
    """One queue is one slot, so its flows run there; flows across queues are refused
    (tests/backends/redis/test_flow_cluster.py)."""
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in cluster)
    queue = Queue("cluster-flow", url=url)

    @queue.job()
    async def part(job: JobContext[int]) -> int:
        return job.data * 2

    @queue.job()
    async def whole(job: JobContext[None]) -> int:
        return sum((await job.children_values()).values())

    flow = await add_flow(whole.node(None, children=[part.node(n) for n in range(1, 5)]))
    assert flow.job.state == "waiting-children"
    async with Worker([queue], settings=FAST):
        assert await flow.job.wait(10) == 20
    await queue.obliterate()
    await queue.close()
