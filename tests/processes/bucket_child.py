"""A token taker for the bucket test: ``python -m tests.processes.bucket_child URL NAME
TAKES RECORD``. Takes ``TAKES`` tokens from the shared bucket (capacity 20, 20 a second)
as fast as it is given them, writing the time (ms) read just before each take that got
one to RECORD.
"""

from __future__ import annotations

import asyncio
import sys

from conveyor import TokenBucket
from conveyor.clock import SYSTEM_CLOCK


async def take(url: str, name: str, takes: int, record: str) -> None:
    bucket = TokenBucket(name, capacity=20, per_second=20, url=url)
    with open(record, "a", encoding="utf-8") as out:
        taken = 0
        while taken < takes:
            before = SYSTEM_CLOCK.now_ms()
            if await bucket.try_acquire():
                out.write(f"{before}\n")
                taken += 1
            else:
                await asyncio.sleep(0.005)  # a busy client trying again
    await bucket.backend.close()


if __name__ == "__main__":
    asyncio.run(take(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
