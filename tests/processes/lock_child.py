"""A lock holder process for the lock tests: ``python -m tests.processes.lock_child URL
NAME TIMES RECORD``. Takes the lock ``NAME`` ``TIMES`` times; inside each hold, writes
``start`` and ``end`` stamps (ns) with its pid to RECORD, so that the test can check that
no two holds overlapped. With TIMES 0 it takes the lock once, prints ``held`` and holds it
until it is killed (a holder that dies).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from conveyor import Lock


async def hold(url: str, name: str, times: int, record: str) -> None:
    lock = Lock(name, url=url, ttl=1, timeout=60)
    if times == 0:
        await lock.acquire()
        print("held", flush=True)
        await asyncio.Event().wait()  # until killed
    with open(record, "a", encoding="utf-8") as out:
        for _ in range(times):
            async with lock:
                out.write(f"{os.getpid()} start {time.time_ns()}\n")
                out.flush()
                await asyncio.sleep(0.005)  # the guarded work
                out.write(f"{os.getpid()} end {time.time_ns()}\n")
                out.flush()
    await lock.backend.close()


if __name__ == "__main__":
    asyncio.run(hold(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
