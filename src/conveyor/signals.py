"""Control-flow signals a handler raises to steer its own job; they are not errors.

``UnrecoverableError`` fails the job at once, whatever attempts remain. ``Retry`` asks for
another attempt after a given delay, spending an attempt like any failure would.
``Postpone`` runs the job again later without spending one. ``WaitForChildren`` ends the
run of a flow's parent until the children it added are done.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

_KEEP: Any = object()


class UnrecoverableError(Exception):
    """Raise from a handler to fail the job now, skipping the remaining attempts."""


class Retry(Exception):
    """Raise from a handler to retry after ``delay`` seconds instead of the backoff's delay.

    It spends an attempt: when none remain, the job fails with ``reason`` like any error.
    """

    def __init__(
        self, delay: float | timedelta = 0.0, reason: str = "retry requested by the handler"
    ):
        super().__init__(reason)
        self.delay = delay.total_seconds() if isinstance(delay, timedelta) else delay
        """Seconds until the next attempt (0: at once, at the back of the wait list)."""


class Postpone(Exception):
    """Raise from a handler to run the job again after ``delay`` without spending an attempt.

    For "not now" rather than "failed": an upstream 429 with ``Retry-After``, a resource
    not ready yet, or a shutdown the handler noticed (``job.stopping``) after saving
    where it got to. The job waits as ``delayed`` (or goes back to ``waiting`` for no
    delay) with its attempts, failure reason and error history as they were; ``data``,
    when given, replaces the payload first, so the next run starts from that checkpoint::

        if job.stopping:
            raise Postpone(data={**job.data, "cursor": cursor})
        if response.status_code == 429:
            raise Postpone(float(response.headers["Retry-After"]))

    A handler that postpones for ever never fails: bound it with its own count in the
    data when the condition may never clear.
    """

    def __init__(
        self,
        delay: float | timedelta = 0.0,
        *,
        data: Any = _KEEP,
        reason: str = "postponed by the handler",
    ):
        super().__init__(reason)
        self.delay = delay.total_seconds() if isinstance(delay, timedelta) else delay
        """Seconds until the job runs again (0: at once, at the back of the wait list)."""
        self.data = data
        """The payload to run with next time; unset keeps the current one."""

    @property
    def replaces_data(self) -> bool:
        return self.data is not _KEEP


class WaitForChildren(Exception):
    """Raise from a handler after ``job.add_children(...)`` to wait for those children.

    The run ends and frees its worker slot; the job waits in ``waiting-children`` and
    runs again once every child has finished (at once, if they already have). ``data``,
    when given, replaces the payload in the same atomic step, so the next run knows the
    step it is at::

        if job.data.get("step") is None:
            await job.add_children([family.node(f) for f in families])
            raise WaitForChildren(data={**job.data, "step": "families"})
        results = await job.children_values()

    It spends no attempt. A child under the ``fail`` policy that failed meanwhile fails
    the job instead.
    """

    def __init__(self, *, data: Any = _KEEP) -> None:
        super().__init__("waiting for its children")
        self.data = data
        """The payload to run with next time; unset keeps the current one."""

    @property
    def replaces_data(self) -> bool:
        return self.data is not _KEEP
