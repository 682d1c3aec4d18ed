"""Dedup keys hold across producer processes: 4 processes, 25 adds each, of one key."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conveyor import Queue

ROOT = Path(__file__).resolve().parents[2]

PRODUCER = """
import asyncio, sys
from conveyor import Dedup, Queue

async def main(name, mode, me):
    queue = Queue(name)
    dedup = Dedup.throttle("k", ttl=600) if mode == "throttle" else Dedup.debounce("k", 600)
    ids = {(await queue.add("sync", {"by": me, "i": i}, dedup=dedup)).id for i in range(25)}
    print(",".join(sorted(ids)))
    await queue.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["throttle", "debounce"])
async def test_one_key_from_four_processes_makes_one_job(backend_url: str, mode: str) -> None:
    name = f"dedup-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CONVEYOR_URL": backend_url, "PYTHONPATH": str(ROOT / "src")}
    producers = [
        subprocess.Popen(
            [sys.executable, "-c", PRODUCER, name, mode, str(me)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for me in range(4)
    ]
    ids = set()
    for producer in producers:
        out, err = producer.communicate(timeout=120)
        assert producer.returncode == 0, err
        ids.update(out.strip().split(","))
    assert len(ids) == 1, f"every add of the key returned one job: {ids}"
    queue = Queue(name, url=backend_url)
    try:
        counts = await queue.counts()
        assert sum(counts.values()) == 1
        (job_id,) = ids
        job = await queue.get_job(job_id)
        assert job is not None
        if mode == "debounce":
            assert job.data["i"] == 24, "the last add's data (each producer's last is i=24)"
    finally:
        await queue.close()
