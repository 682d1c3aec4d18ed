"""JSON in and out of storage, with msgspec: payloads, options, results and error records.

Everything a backend stores is a JSON string, so a job written by one worker (or one
language) reads the same in any other; pickle is never used.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from .errors import SerializationError
from .options import Backoff, JobOptions, KeepJobs

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def dumps(value: Any) -> bytes:
    """Encode a value to JSON bytes; a value JSON cannot hold raises ``SerializationError``."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(f"value is not JSON-encodable: {exc}") from exc


def loads(raw: bytes | str) -> Any:
    """Decode stored JSON; damaged bytes raise ``SerializationError`` rather than crash."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise SerializationError(f"stored value is not valid JSON: {exc}") from exc


class _StoredOptions(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """The compact stored form of ``JobOptions`` (defaults are omitted)."""

    attempts: int = 1
    backoff: tuple[str, float, float, float | None] | None = None
    delay: float = 0.0
    priority: int = 0
    timeout: float | None = None
    lifo: bool = False
    remove_on_complete: bool | int | tuple[int | None, float | None] = False
    remove_on_fail: bool | int | tuple[int | None, float | None] = False
    dead_letter: str | None = None


_options_decoder = msgspec.json.Decoder(_StoredOptions)


def _retention_out(value: bool | int | KeepJobs) -> bool | int | tuple[int | None, float | None]:
    return (value.count, value.age) if isinstance(value, KeepJobs) else value


def _retention_in(value: bool | int | tuple[int | None, float | None]) -> bool | int | KeepJobs:
    return KeepJobs(*value) if isinstance(value, tuple | list) else value


def dump_options(options: JobOptions) -> bytes:
    """Encode options for storage beside the job."""
    b = options.backoff
    return _encoder.encode(
        _StoredOptions(
            attempts=options.attempts,
            backoff=None if b is None else (b.kind, b.delay, b.jitter, b.max_delay),
            delay=options.delay,
            priority=options.priority,
            timeout=options.timeout,
            lifo=options.lifo,
            remove_on_complete=_retention_out(options.remove_on_complete),
            remove_on_fail=_retention_out(options.remove_on_fail),
            dead_letter=options.dead_letter,
        )
    )


@lru_cache(maxsize=1024)
def load_options(raw: bytes | str) -> JobOptions:
    """Decode stored options; unknown fields (from a newer conveyor) are ignored.

    Cached: the jobs of one queue mostly share a handful of option sets.
    """
    try:
        s = _options_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise SerializationError(f"stored job options are damaged: {exc}") from exc
    return JobOptions(
        attempts=s.attempts,
        backoff=None if s.backoff is None else Backoff(*s.backoff),
        delay=s.delay,
        priority=s.priority,
        timeout=s.timeout,
        lifo=s.lifo,
        remove_on_complete=_retention_in(s.remove_on_complete),
        remove_on_fail=_retention_in(s.remove_on_fail),
        dead_letter=s.dead_letter,
    )
