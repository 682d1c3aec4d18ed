"""On Redis Cluster each queue has its own hash slot, so one script cannot reach a flow's
other queues: such a flow is refused before anything is sent, with what to do instead."""

from __future__ import annotations

import pytest

from conveyor import ConfigurationError, FlowNode, Queue, add_flow
from conveyor.backends.redis.backend import RedisBackend


async def test_a_flow_across_queues_is_refused_on_a_cluster() -> None:
    backend = RedisBackend("redis+cluster://127.0.0.1:1")  # never reached: refused first
    parents = Queue("parents", backend=backend)
    children = Queue("children", backend=backend)
    root = FlowNode(parents, "sync", children=[FlowNode(children, "family")])
    with pytest.raises(ConfigurationError, match=r"one hash slot.*parents, children"):
        await add_flow(root)
