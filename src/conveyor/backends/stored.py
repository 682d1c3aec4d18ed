"""Reading stored job fields that may be damaged, for both backends.

A record can be damaged by hand, by a bug, or by another program writing to the same
storage. Each field is parsed on its own and a problem becomes a note on the record
instead of an exception, so that one damaged job fails alone (or reads with a note)
and never takes the batch or the page it came in with down with it.
"""

from __future__ import annotations

from .base import FetchedJob


class FieldReader:
    """Parses fields leniently and collects what was wrong with them in ``notes``."""

    __slots__ = ("notes",)

    def __init__(self) -> None:
        self.notes: list[str] = []

    @property
    def damage(self) -> str | None:
        return "; ".join(self.notes) or None

    def note(self, text: str) -> None:
        self.notes.append(text)

    def text(self, value: object, field: str, default: str = "") -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            try:
                return value.decode()
            except UnicodeDecodeError:
                self.note(f"{field} is not UTF-8 text")
                return value.decode(errors="backslashreplace")
        self._missing_or_wrong(value, field, "text")
        return default

    def name(self, value: object) -> str:
        """A job's name: conveyor never stores an empty one, so empty means missing."""
        if value in (b"", ""):
            self.note("name is missing")
            return ""
        return self.text(value, "name")

    def optional_text(self, value: object, field: str) -> str | None:
        return None if value is None else self.text(value, field)

    def blob(self, value: object, field: str, default: bytes = b"null") -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode(errors="surrogateescape")
        self._missing_or_wrong(value, field, "bytes")
        return default

    def optional_blob(self, value: object, field: str) -> bytes | None:
        return None if value is None else self.blob(value, field)

    def integer(self, value: object, field: str, default: int = 0) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, bytes | str):
            try:
                return int(value)
            except ValueError:
                shown = value if isinstance(value, str) else value.decode(errors="replace")
                self.note(f"{field} is not a whole number ({shown[:40]!r})")
                return default
        self._missing_or_wrong(value, field, "a whole number")
        return default

    def optional_integer(self, value: object, field: str) -> int | None:
        return None if value is None or value == b"" else self.integer(value, field)

    def _missing_or_wrong(self, value: object, field: str, wanted: str) -> None:
        if value is None:
            self.note(f"{field} is missing")
        else:
            self.note(f"{field} should be {wanted}, not {type(value).__name__}")


def fetched_job(
    job_id: str,
    token: str,
    name: object,
    data: object,
    options: object,
    attempts_made: object,
    timestamp: object,
    parent: object = b"",
) -> FetchedJob:
    """A fetched job from raw stored fields: sound ones fast, damaged ones with a note."""
    try:  # the hot path: one attempt for a sound record, field by field only if it fails
        if name and type(data) is bytes and type(options) is bytes:
            return FetchedJob(
                job_id,
                token,
                name.decode(),  # type: ignore[attr-defined]
                data,
                options,
                int(attempts_made),  # type: ignore[call-overload]
                int(timestamp),  # type: ignore[call-overload]
                None,
                parent.decode() if parent else "",  # type: ignore[attr-defined]
            )
    except (AttributeError, TypeError, ValueError):  # UnicodeDecodeError is a ValueError
        pass
    read = FieldReader()
    return FetchedJob(
        job_id,
        token,
        read.name(name),
        read.blob(data, "data"),
        read.blob(options, "opts", b"{}"),
        read.integer(attempts_made, "attemptsMade"),
        read.integer(timestamp, "timestamp"),
        read.damage,
        read.text(parent, "parent") if parent else "",
    )
