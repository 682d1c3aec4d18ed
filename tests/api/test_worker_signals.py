"""Several workers in one process all stop on SIGTERM (one handler tells each of them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import asyncio, logging, sys
from conveyor import Queue, Worker, WorkerSettings
from conveyor.worker import os_signals

logging.basicConfig(level=logging.INFO)

async def main():
    settings = WorkerSettings(block_timeout=0.1, grace=5)
    workers = [Worker(Queue(f"{prefix}-{n}"), settings=settings) for n in range(3)]
    runs = [asyncio.ensure_future(w.run()) for w in workers]
    loop = asyncio.get_running_loop()
    # Ready once every run() has registered for signals (after its start()): a SIGTERM
    # before that would meet Python's default handler and kill the process.
    while len(os_signals._listeners.get(loop, ())) < len(workers):
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.gather(*runs)
    print("all stopped", flush=True)

prefix = sys.argv[1]
asyncio.run(main())
"""


def test_every_worker_of_a_process_stops_on_one_sigterm(backend_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, f"sig-{uuid.uuid4().hex[:8]}"],
        env={**os.environ, "CONVEYOR_URL": backend_url, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert "all stopped" in out, "every worker's run() returned"
    assert err.count("SIGTERM received") == 3, err
