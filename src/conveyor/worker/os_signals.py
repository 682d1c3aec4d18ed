"""One SIGTERM/SIGINT handler per event loop for every worker running on it.

``loop.add_signal_handler`` keeps one handler per signal: a second ``Worker.run()`` on
the same loop would replace the first one's, and a SIGTERM would stop only the last
worker started. Workers register here instead; the one handler tells each of them.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

SIGNALS = (signal.SIGTERM, signal.SIGINT)

Listener = Callable[[signal.Signals], None]

_listeners: dict[asyncio.AbstractEventLoop, list[Listener]] = {}


def listen(loop: asyncio.AbstractEventLoop, listener: Listener) -> Callable[[], None]:
    """Call ``listener`` on SIGTERM/SIGINT while registered; returns the unregister call
    (the handler is removed with the loop's last listener)."""
    listeners = _listeners.setdefault(loop, [])
    if not listeners:
        for sig in SIGNALS:
            loop.add_signal_handler(sig, _dispatch, loop, sig)
    listeners.append(listener)

    def unregister() -> None:
        if listener in listeners:
            listeners.remove(listener)
        if not listeners and _listeners.get(loop) is listeners:
            del _listeners[loop]
            for sig in SIGNALS:
                loop.remove_signal_handler(sig)

    return unregister


def _dispatch(loop: asyncio.AbstractEventLoop, sig: signal.Signals) -> None:
    for listener in list(_listeners.get(loop, ())):
        listener(sig)
