"""Which failed jobs a scoped bulk retry takes: by job name, id prefix and when they failed.

The queue facade pages through the failed set with the backend's ``get_jobs`` and hands
the matching ids to ``Backend.retry`` in batches; the backends need nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .backends.base import Backend, JobRecord
from .errors import InvalidOptionsError

PAGE = 200
"""Failed jobs read per call (whole records, payloads included)."""
BATCH = 500
"""Ids moved per ``Backend.retry`` call (each call is one atomic step)."""

Moment = datetime | int
"""A point in time: a ``datetime`` (a naive one is local time), or milliseconds since
the epoch (the unit of ``Job.finished_on``)."""


@dataclass(frozen=True, slots=True)
class FailedFilter:
    """Failed jobs whose name is ``name``, whose id starts with ``id_prefix`` and that
    failed at or after ``after_ms`` and before ``before_ms``; ``None`` matches anything."""

    name: str | None = None
    id_prefix: str | None = None
    after_ms: int | None = None
    before_ms: int | None = None

    @classmethod
    def of(
        cls,
        *,
        name: str | None = None,
        id_prefix: str | None = None,
        failed_after: Moment | None = None,
        failed_before: Moment | None = None,
    ) -> FailedFilter:
        """The filter the keyword arguments describe; a bad one raises
        ``InvalidOptionsError`` naming it."""
        for label, text in (("name", name), ("id_prefix", id_prefix)):
            if text is not None and (not isinstance(text, str) or not text):
                raise InvalidOptionsError(f"{label} must be a non-empty string, got {text!r}")
        after = _ms("failed_after", failed_after)
        before = _ms("failed_before", failed_before)
        if after is not None and before is not None and after >= before:
            raise InvalidOptionsError(
                f"failed_after ({failed_after}) must be earlier than failed_before"
                f" ({failed_before})"
            )
        return cls(name, id_prefix, after, before)

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.name, self.id_prefix, self.after_ms,
                                           self.before_ms))

    def matches(self, record: JobRecord) -> bool:
        if self.name is not None and record.name != self.name:
            return False
        if self.id_prefix is not None and not record.job_id.startswith(self.id_prefix):
            return False
        if self.after_ms is None and self.before_ms is None:
            return True
        at = record.finished_on
        if at is None:  # a damaged record: when it failed is unknown
            return False
        return (self.after_ms is None or at >= self.after_ms) and (
            self.before_ms is None or at < self.before_ms
        )

    def older_than_window(self, record: JobRecord) -> bool:
        """True when ``record`` failed before the window opens (so do all that follow it,
        newest first)."""
        at = record.finished_on
        return self.after_ms is not None and at is not None and at < self.after_ms


async def matching_failed(backend: Backend, queue: str, scope: FailedFilter) -> list[str]:
    """Ids of the failed jobs ``scope`` matches, oldest failure first.

    Reads newest first and stops at the first job that failed before the window: the
    failed set is ordered by finish time on every backend. A job that fails while the
    pages are read may be missed or seen twice (it is listed once)."""
    found: dict[str, None] = {}
    offset = 0
    while True:
        records = await backend.get_jobs(queue, "failed", offset, PAGE, True)
        for record in records:
            if scope.older_than_window(record):
                return list(found)[::-1]
            if scope.matches(record):
                found[record.job_id] = None
        if len(records) < PAGE:
            return list(found)[::-1]
        offset += PAGE


def _ms(label: str, value: Moment | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidOptionsError(
        f"{label} must be a datetime or milliseconds since the epoch, got {value!r}"
    )
