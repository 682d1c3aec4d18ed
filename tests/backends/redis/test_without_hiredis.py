"""hiredis is optional: without it the Redis backend runs on redis-py's plain path (slower,
the same results and errors) and says once, in the log, what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[3]


def test_the_backend_works_without_hiredis(own_server: RedisServer, queue_name: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    child = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.backends.redis.no_hiredis_child",
         own_server.url, queue_name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.splitlines()[-1])
    assert seen["hiredis"] is False
    assert seen["result"] == 42
    assert seen["error"].startswith("ResponseError: unknown command")
    assert seen["echo"] == "after an error"
    assert child.stderr.count("hiredis is not installed") == 1, child.stderr
    assert "pip install 'redis[hiredis]'" in child.stderr
