"""A producer process for the flow crash test: ``python -m tests.processes.flow_producer_child
URL PREFIX``. Adds one 10,000-node tree (1 supplier → 99 families → 100 images each, on
``PREFIX-supplier|family|image``) with one ``add_flow`` call.

It prints ``adding`` before the call, ``storing`` as the call reaches the backend's
``add_tree`` (the tree is built and validated; what is left is the one atomic step),
``stored SECONDS`` when that returns, and ``added`` at the end, so the test can kill it
at a chosen point inside the call.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

from conveyor import FlowNode, add_flow
from conveyor.backends.base import TreeNode, TreeResult
from tests.processes.flow_app import FlowQueues

FAMILIES = 99
IMAGES = 100


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def produce(url: str, prefix: str) -> None:
    queues = FlowQueues.open(url, prefix)
    backend = queues.supplier.backend
    await backend.ping()
    inner = backend.add_tree

    async def traced(nodes: Sequence[TreeNode], now_ms: int) -> TreeResult:
        say("storing")
        started = time.perf_counter()
        result = await inner(nodes, now_ms)
        say(f"stored {time.perf_counter() - started:.4f}")
        return result

    backend.add_tree = traced  # type: ignore[method-assign]
    root = FlowNode(queues.supplier, "supplier", {"families": FAMILIES}, children=[
        FlowNode(queues.family, "family", {"family": f}, children=[
            FlowNode(queues.image, "image", {"n": f"{f}.{k}"}) for k in range(IMAGES)
        ])
        for f in range(FAMILIES)
    ])
    say("adding")
    flow: Any = await add_flow(root)
    assert len(flow.walk()) == 1 + FAMILIES * (1 + IMAGES)
    say("added")
    await queues.close()


if __name__ == "__main__":
    asyncio.run(produce(sys.argv[1], sys.argv[2]))
