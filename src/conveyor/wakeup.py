"""Same-process wake-ups: a producer tells local workers of a queue that a job is ready.

Workers in other processes learn from the backend (Redis: a blocking pop on the queue's
marker; SQLite: its own signal); this only spares local workers that wait.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

_listeners: defaultdict[tuple[str, str], set[Callable[[], None]]] = defaultdict(set)


def listen(url: str, queue: str, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` when a local producer adds to ``queue``; returns an unsubscribe."""
    key = (url, queue)
    _listeners[key].add(callback)
    return lambda: _listeners[key].discard(callback)


def notify_local(url: str, queue: str) -> None:
    for callback in list(_listeners.get((url, queue), ())):
        callback()
