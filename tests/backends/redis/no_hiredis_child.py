"""The Redis backend without hiredis: ``python -m tests.backends.redis.no_hiredis_child URL
QUEUE``, run by ``test_without_hiredis``. Blocks the hiredis import before anything
imports redis, then adds a job (the hot path, after a ``SCRIPT FLUSH`` so that the
NOSCRIPT reload runs too), has a worker run it, sends an unknown command through the
hot channel, and prints what it saw as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

sys.modules["hiredis"] = None  # type: ignore[assignment]  # "import hiredis" now fails

from redis import exceptions as rx  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from conveyor import JobContext, Queue, Worker  # noqa: E402
from conveyor.backends.redis import packing  # noqa: E402
from conveyor.backends.redis.hot import HotChannel  # noqa: E402
from tests.conformance.helpers import FAST  # noqa: E402


async def main(url: str, name: str) -> dict[str, object]:
    admin = Redis.from_url(url)
    await admin.script_flush()
    queue = Queue(name, url=url)

    @queue.job()
    async def double(job: JobContext[int]) -> int:
        return job.data * 2

    job = await queue.add("double", 21)
    async with Worker(queue, settings=FAST):
        result = await job.wait(timeout=30)
    await queue.close()
    channel = HotChannel(admin.connection_pool)
    try:
        await channel.call("NO-SUCH-COMMAND")
        error = "none"
    except rx.ResponseError as exc:
        error = f"ResponseError: {exc}"
    echo = await channel.call("ECHO", "after an error")
    await channel.close()
    await admin.aclose()
    return {
        "hiredis": packing.HIREDIS is not None,
        "result": result,
        "error": error,
        "echo": echo.decode(),
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))), flush=True)
