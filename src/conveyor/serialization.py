"""JSON in and out of storage, with msgspec: payloads, options, results and error records.

Everything a backend stores is a JSON string, so a job written by one worker (or one
language) reads the same in any other; pickle is never used.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from .errors import SerializationError
from .options import Backoff, Dedup, JobOptions, KeepJobs
from .roundtrip import first_difference, first_non_finite, first_unencodable, is_pydantic_type

_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)
"""What msgspec (and pydantic, under the hook) raise for a value they cannot encode."""


def _hook(value: Any) -> Any:
    """Let the encoder take pydantic models (as ``model_dump(mode="json")``); nothing else."""
    if is_pydantic_type(type(value)):
        return value.model_dump(mode="json")
    raise TypeError(f"objects of type {type(value).__name__} have no JSON form")


_encoder = msgspec.json.Encoder(enc_hook=_hook)
_decoder = msgspec.json.Decoder()


def encode_error(value: Any) -> str | None:
    """Why ``value`` alone cannot be encoded, or None when it can."""
    try:
        _encoder.encode(value)
    except _ENCODE_ERRORS as exc:
        return str(exc)
    return None


def unencodable(value: Any, root: str, error: BaseException) -> SerializationError:
    """The error for a value the encoder refused, naming the offending path when found."""
    reason = first_unencodable(value, root, encode_error)
    if reason is None:
        if isinstance(error, RecursionError):
            reason = f"{root}: nests too deeply to be stored as JSON"
        else:
            reason = f"{root}: cannot be stored as JSON ({error})"
    return SerializationError(reason)


def to_json(value: Any, root: str = "value") -> bytes:
    """Encode with no check beyond the encoder's own; a refusal names the offending path.

    NaN and infinities come out as ``null``: callers that care compare a round trip.
    """
    try:
        return _encoder.encode(value)
    except _ENCODE_ERRORS as exc:
        raise unencodable(value, root, exc) from exc


def dumps(value: Any, root: str = "value") -> bytes:
    """The JSON form of a value: results, progress, error records.

    Types with a JSON form keep it (a model or dataclass becomes an object, a tuple or a
    set an array, a datetime a string); what JSON cannot hold raises
    ``SerializationError`` naming the path: NaN and infinities (which the encoder would
    silently write as ``null``), objects with no JSON form, reference cycles.
    """
    raw = to_json(value, root)
    if value is None or type(value) in _NO_FLOATS:  # the common results: nothing to check
        return raw
    if b"null" in raw and not _null_only_for_none(raw, value):
        reason = first_non_finite(value, root)
        if reason is not None:
            raise SerializationError(reason)
    return raw


_NO_FLOATS = frozenset({str, int, bool})


def _null_only_for_none(raw: bytes, value: Any) -> bool:
    """Whether every ``null`` in ``raw`` stands for a None: the decoded JSON equals the
    value's builtins form (NaN kept), in C. False when unsure, so the walk decides."""
    try:
        plain = msgspec.to_builtins(value, str_keys=True, enc_hook=_hook)
        return bool(_decoder.decode(raw) == plain)
    except Exception:
        return False


def dumps_plain(value: Any, root: str = "data") -> bytes:
    """Encode a value that must come back from ``loads`` equal, or raise naming the path.

    Plain JSON is dict (str keys), list, str, int, finite float, bool and None (and their
    subclasses, which compare equal). The check is one decode and one comparison, both in
    C; only a value that fails it is walked (again, slowly) to find the path.
    """
    try:
        raw = _encoder.encode(value)
        if _decoder.decode(raw) == value:
            return raw
    except Exception:  # the encoder refused, or the comparison raised: explained below
        pass
    raise _not_plain(value, root)


def _not_plain(value: Any, root: str) -> SerializationError:
    raw = to_json(value, root)
    try:
        back = _decoder.decode(raw)
    except RecursionError:
        return SerializationError(f"{root}: nests too deeply to be stored as JSON")
    reason = first_difference(value, back, root)
    return SerializationError(reason or f"{root}: does not come back equal from JSON")


def loads(raw: bytes | str) -> Any:
    """Decode stored JSON; damaged bytes raise ``SerializationError`` rather than crash."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise SerializationError(f"a stored value is damaged, not valid JSON: {exc}") from exc


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
    dedup: tuple[str, float | None, str] | None = None


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
            dedup=None if (d := options.dedup) is None else (d.key, d.ttl, d.mode),
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
        dedup=None if s.dedup is None else Dedup(*s.dedup),  # type: ignore[arg-type]
    )
