"""Named locks and token buckets across processes: holders in four processes never
overlap, a holder SIGKILLed while it holds the lock leaves it free once its TTL has run
out, and four processes taking from one bucket stay within its rate."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import signal
import sys
from pathlib import Path

from conveyor import Lock, LockTimeoutError

from .harness import ROOT

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}


async def holder(url: str, name: str, times: int, record: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.processes.lock_child", url, name, str(times), str(record),
        cwd=ROOT, env=ENV, stdout=asyncio.subprocess.PIPE,
    )


async def test_holders_in_four_processes_never_overlap(process_url: str, tmp_path: Path) -> None:
    record = tmp_path / "holds.log"
    procs = [await holder(process_url, "shop-sync", 15, record) for _ in range(4)]
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 120)
    assert codes == [0, 0, 0, 0]
    lines = [line.split() for line in record.read_text().splitlines()]
    assert len(lines) == 4 * 15 * 2
    holds: list[tuple[int, int, str]] = []
    open_holds: dict[str, int] = {}
    for pid, kind, stamp in lines:
        if kind == "start":
            open_holds[pid] = int(stamp)
        else:
            holds.append((open_holds.pop(pid), int(stamp), pid))
    holds.sort()
    assert len({pid for _, _, pid in holds}) == 4
    for (_, end, pid), (start, _, next_pid) in itertools.pairwise(holds):
        assert start >= end, f"{next_pid} started holding before {pid} ended"


async def test_a_killed_holders_lock_is_free_after_its_ttl(
    process_url: str, tmp_path: Path
) -> None:
    proc = await holder(process_url, "sitemap", 0, tmp_path / "unused.log")
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"held"
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    probe = Lock("sitemap", url=process_url, ttl=1, timeout=0)
    try:
        try:
            await probe.acquire()
        except LockTimeoutError:
            pass  # held still: its last renewal's TTL has not run out
        else:
            raise AssertionError("the killed holder's lock was free at once")
        waiter = Lock("sitemap", backend=probe.backend, ttl=1, timeout=10)
        await waiter.acquire()  # free within the 1 s TTL of the last renewal
        await waiter.release()
    finally:
        await probe.backend.close()


async def test_four_processes_share_one_token_bucket(process_url: str, tmp_path: Path) -> None:
    """Four processes take 100 tokens from one bucket (20, refilled at 20 a second): in
    no second do they get more than the burst plus a second's refill."""
    record = tmp_path / "takes.log"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.processes.bucket_child", process_url, "api-calls",
            "25", str(record), cwd=ROOT, env=ENV,
        )
        for _ in range(4)
    ]
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 120)
    assert codes == [0, 0, 0, 0]
    stamps = sorted(int(line) for line in record.read_text().split())
    assert len(stamps) == 100
    for i, start in enumerate(stamps):
        in_window = bisect.bisect_left(stamps, start + 1000) - i
        assert in_window <= 20 + 20 + 1, f"{in_window} tokens within 1 s from {start}"
