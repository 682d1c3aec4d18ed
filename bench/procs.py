"""Worker child processes, driven over stdin/stdout (see :mod:`bench.child`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READ_LIMIT = 64 * 2**20  # a report carries every recorded id on one line
TIMEOUT = 120.0


class ChildFailed(RuntimeError):
    pass


class WorkerProcess:
    """One ``python -m bench.child`` process running a ``conveyor.Worker``."""

    def __init__(
        self,
        url: str,
        queue: str,
        concurrency: int,
        *,
        record: str = "none",
        profile: Path | None = None,
        parents: str | None = None,
    ) -> None:
        self.args = [
            "--url", url, "--queue", queue, "--concurrency", str(concurrency),
            "--record", record,
        ]
        if parents is not None:
            self.args += ["--parents", parents]
        if profile is not None:
            self.args += ["--profile", str(profile)]
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.started: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def spawn(self) -> WorkerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.child", *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr,
            cwd=ROOT,
            env=env,
            limit=READ_LIMIT,
        )
        await self._expect("ready")
        return self

    async def go(self) -> dict[str, Any]:
        """Start the worker; returns the child's own stamp of that moment (``t``, ``cpu``)."""
        await self._send("go")
        self.started = await self._expect("started")
        return self.started

    async def report(self) -> dict[str, Any]:
        await self._send("report")
        return await self._expect("report")

    async def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.returncode is None:
                await self._send("stop")
                await asyncio.wait_for(self.proc.wait(), 30)
        except (TimeoutError, ChildFailed, ConnectionError):
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        finally:
            self.stderr.close()

    async def _send(self, line: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def _expect(self, event: str) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
        except TimeoutError:
            raw = b""
        if not raw:
            raise ChildFailed(f"worker process gave no {event!r} line:\n{self._stderr_tail()}")
        message: dict[str, Any] = json.loads(raw)
        if message.get("event") != event:
            raise ChildFailed(f"expected {event!r} from the worker process, got {message}")
        return message

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-4000:]
