"""``?socket_timeout=N`` bounds every call, on the hot channel as on redis-py's path, and a
call that timed out is a BackendUnavailableError (its command may still run later: a
caller-given job id makes the retried ``add`` safe)."""

from __future__ import annotations

import signal

import pytest

from conveyor import BackendUnavailableError, Queue
from tests.support.redis_server import RedisServer


async def test_a_socket_timeout_bounds_hot_and_plain_calls(
    own_server: RedisServer, queue_name: str
) -> None:
    queue = Queue(queue_name, url=f"{own_server.url}?socket_timeout=0.5")
    await queue.add("job", {"n": 0}, job_id="before")  # the hot channel is open
    process = own_server.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)  # Redis answers nothing until SIGCONT
    try:
        with pytest.raises(BackendUnavailableError, match="Timeout reading from"):
            await queue.add("job", {"n": 1}, job_id="during")  # hot path
        with pytest.raises(BackendUnavailableError, match="Timeout reading from"):
            await queue.counts()  # redis-py's path
    finally:
        process.send_signal(signal.SIGCONT)
    again = await queue.add("job", {"n": 1}, job_id="during")  # stored once, either way
    assert again.id == "during"
    assert (await queue.counts())["waiting"] == 2
    await queue.close()
