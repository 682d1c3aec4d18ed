"""One queue's bookkeeping inside a transaction: counters, events, the wake-up marker.

The Redis scripts' shared helpers ``emit`` and ``enqueue`` live here; the queue's row is
read once, changed in memory, and written back once by :meth:`QueueRow.finish`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from ...base import EVENTS_MAXLEN
from .lib import adjust_counts

EVENTS_SLACK = 100
"""At least ``EVENTS_MAXLEN`` events are kept per queue, trimmed a whole transaction's batch
at a time once this many more have accumulated (as Redis trims with ``MAXLEN ~``)."""
PRIORITY_SHIFT = 4_294_967_296  # 2^32, as the Redis prioritized score

_COLUMNS = (
    "listed, paused, next_id, back_seq, front_seq, prio_seq, marker, event_count,"
    " stalled_check_until"
)


class QueueRow:
    """A queue's row, loaded (and created when missing) at the start of a state change."""

    __slots__ = (
        "back_seq",
        "conn",
        "counts",
        "event_count",
        "events",
        "front_seq",
        "listed",
        "marker",
        "next_id",
        "paused",
        "prio_seq",
        "queue",
        "stalled_check_until",
        "stored",
        "wake",
    )

    def __init__(self, conn: sqlite3.Connection, queue: str) -> None:
        self.conn = conn
        self.queue = queue
        row = conn.execute(f"SELECT {_COLUMNS} FROM queues WHERE name = ?", (queue,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO queues (name) VALUES (?)", (queue,))
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM queues WHERE name = ?", (queue,)
            ).fetchone()
        (
            self.listed,
            self.paused,
            self.next_id,
            self.back_seq,
            self.front_seq,
            self.prio_seq,
            self.marker,
            self.event_count,
            self.stalled_check_until,
        ) = row
        self.events: list[tuple[str, str | None, dict[str, str] | None]] = []
        self.wake = False
        self.counts: Counter[str] = Counter()
        self.stored: dict[str, int] | None = None

    def moved(self, old: str | None, new: str | None, n: int = 1) -> None:
        """Count ``n`` jobs leaving state ``old`` and entering ``new`` (None: none)."""
        if old is not None:
            self.counts[old] -= n
        if new is not None:
            self.counts[new] += n

    def emit(self, name: str, job_id: str | None, fields: dict[str, str] | None = None) -> None:
        """Append an event to the queue's stream (written by :meth:`finish`)."""
        self.events.append((name, job_id, fields))

    def enqueue(self, priority: int, front: bool) -> tuple[str, int]:
        """Where a ready job goes: (state, rank). See ``schema.sql`` for the ranks."""
        if priority > 0:
            self.prio_seq += 1
            return "prioritized", priority * PRIORITY_SHIFT + self.prio_seq % PRIORITY_SHIFT
        if front:
            self.front_seq -= 1
            return "waiting", self.front_seq
        self.back_seq += 1
        return "waiting", self.back_seq

    def count(self, state: str) -> int:
        """Jobs in ``state`` now: ``state_counts`` (read once) plus pending changes."""
        if self.stored is None:
            self.stored = dict(
                self.conn.execute(
                    "SELECT state, n FROM state_counts WHERE queue = ?", (self.queue,)
                ).fetchall()
            )
        return self.stored.get(state, 0) + self.counts[state]

    def forget_counts(self) -> None:
        """Call after changing ``state_counts`` directly (deleting jobs): read it again."""
        self.stored = None

    def flush_counts(self) -> None:
        """Write pending count changes (before reading ``state_counts`` mid-change)."""
        if self.counts:
            adjust_counts(self.conn, self.queue, self.counts)
            self.counts = Counter()
            self.stored = None

    def finish(self) -> None:
        """Write the events, trim the stream, bump the marker and save the queue's row."""
        conn = self.conn
        self.flush_counts()
        if self.events:
            batch = self.events[-EVENTS_MAXLEN:]  # older ones would be trimmed at once
            self.events = []
            conn.execute(
                "INSERT INTO events (queue, n, batch) VALUES (?, ?, ?)",
                (self.queue, len(batch), json.dumps(batch, separators=(",", ":"))),
            )
            self.event_count += len(batch)
            if self.event_count > EVENTS_MAXLEN + EVENTS_SLACK:
                self._trim_events()
        if self.wake:
            self.marker += 1
        conn.execute(
            "UPDATE queues SET listed = ?, paused = ?, next_id = ?, back_seq = ?,"
            " front_seq = ?, prio_seq = ?, marker = ?, event_count = ?,"
            " stalled_check_until = ? WHERE name = ?",
            (
                self.listed,
                self.paused,
                self.next_id,
                self.back_seq,
                self.front_seq,
                self.prio_seq,
                self.marker,
                self.event_count,
                self.stalled_check_until,
                self.queue,
            ),
        )

    def _trim_events(self) -> None:
        """Delete the oldest batches while at least ``EVENTS_MAXLEN`` events remain."""
        kept = self.event_count
        last = None
        for row_id, n in self.conn.execute(
            "SELECT id, n FROM events WHERE queue = ? ORDER BY id", (self.queue,)
        ):
            if kept - n < EVENTS_MAXLEN:
                break
            kept -= n
            last = row_id
        if last is not None:
            self.conn.execute(
                "DELETE FROM events WHERE queue = ? AND id <= ?", (self.queue, last)
            )
        self.event_count = kept
