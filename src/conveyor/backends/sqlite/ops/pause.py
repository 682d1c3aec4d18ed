"""pause: pause or resume fetching from a queue (Backend.pause; Redis: pause.lua).
Waiting jobs stay where they are and report as paused. Resuming wakes idle workers.
Events: paused, resumed.
"""

from __future__ import annotations

import sqlite3

from .queue_row import QueueRow


def pause(conn: sqlite3.Connection, queue: str, paused: bool) -> None:
    tx = QueueRow(conn, queue)
    tx.paused = int(paused)
    tx.wake = not paused
    tx.emit("paused" if paused else "resumed", None)
    tx.finish()
