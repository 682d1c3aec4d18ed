"""Encode and validate payloads: each one comes back to its handler equal, or is refused.

Without a declared type a payload must be plain JSON (see ``serialization.dumps_plain``).
A declared type (dataclass, ``msgspec.Struct``, pydantic model, or any type msgspec
decodes) defines equality instead: ``add`` encodes the value, decodes it through the type
as the worker will, and refuses it unless the two are equal. So a ``set[int]`` or a
``datetime`` field round-trips, and a NaN the type would store as ``null`` is refused.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import PayloadTooLargeError, SerializationError, ValidationError
from .roundtrip import first_difference, first_non_finite, is_pydantic_type, structured_type
from .serialization import dumps_plain, loads, to_json, unencodable

ROOT = "data"
"""How paths in error messages name the payload: ``data["items"][3]``."""


def encode(job_name: str, kind: type[Any] | None, data: Any, limit: int) -> bytes:
    """JSON bytes for ``data``, validated against ``kind`` when one is declared.

    A dataclass, Struct or pydantic instance added under a job name with no declared
    type is checked through its own class: the producing process often does not import
    the handler, and the worker decodes it through the type it declares.
    """
    if kind is None:
        kind = structured_type(data)
    if kind is None:
        raw = dumps_plain(data, ROOT)
    elif is_pydantic_type(kind):
        raw = _encode_pydantic(job_name, kind, data)
    else:
        raw = _encode_msgspec(job_name, kind, data)
    if len(raw) > limit:
        raise PayloadTooLargeError(len(raw), limit)
    return raw


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per declared type (a job name's type is fixed, so the set is small)."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder


def _encode_msgspec(job_name: str, kind: Any, data: Any) -> bytes:
    try:
        value = msgspec.convert(data, kind, from_attributes=True)
    except msgspec.ValidationError as exc:
        to_json(data, ROOT)  # a value with no JSON form at all: say that, not how it mismatches
        raise ValidationError(str(exc), job_name=job_name) from exc
    except RecursionError as exc:
        raise unencodable(data, ROOT, exc) from exc
    raw = to_json(value, ROOT)
    try:
        back = _decoder(kind).decode(raw)
    except msgspec.ValidationError as exc:  # e.g. a NaN stored as null in a float field
        raise _lost(value) or ValidationError(str(exc), job_name=job_name) from exc
    _check_equal(value, back)
    return raw


def _encode_pydantic(job_name: str, kind: Any, data: Any) -> bytes:
    from pydantic import ValidationError as PydanticError

    try:
        model = data if isinstance(data, kind) else kind.model_validate(data)
    except PydanticError as exc:
        to_json(data, ROOT)
        raise ValidationError(str(exc), job_name=job_name) from exc
    except RecursionError as exc:
        raise unencodable(data, ROOT, exc) from exc
    try:
        raw: bytes = model.model_dump_json().encode()
    except (ValueError, TypeError, RecursionError) as exc:
        raise unencodable(model, ROOT, exc) from exc
    try:
        back = kind.model_validate_json(raw)
    except PydanticError as exc:  # e.g. a NaN stored as null in a float field
        raise _lost(model) or ValidationError(str(exc), job_name=job_name) from exc
    _check_equal(model, back)
    return raw


def _lost(value: Any) -> SerializationError | None:
    """The error for a stored form that no longer decodes because a NaN became null."""
    reason = first_non_finite(value, ROOT)
    return None if reason is None else SerializationError(reason)


def _check_equal(value: Any, back: Any) -> None:
    """Refuse ``value`` when its round trip ``back`` differs; a type whose instances do not
    compare (no ``__eq__``) or differ only in what is not stored (pydantic private
    attributes) passes, since the walk then finds no stored field that differs."""
    try:
        if value == back:
            return
    except Exception:
        pass
    reason = first_difference(value, back, ROOT)
    if reason is not None:
        raise SerializationError(reason)


def decode(job_name: str, kind: type[Any] | None, raw: bytes) -> Any:
    """The stored payload as the declared type (or plain JSON values without one)."""
    if kind is None:
        return loads(raw)
    if is_pydantic_type(kind):
        from pydantic import ValidationError as PydanticError

        try:
            return kind.model_validate_json(raw)
        except PydanticError as exc:
            raise ValidationError(str(exc), job_name=job_name) from exc
    try:
        return _decoder(kind).decode(raw)
    except msgspec.ValidationError as exc:
        raise ValidationError(str(exc), job_name=job_name) from exc
    except msgspec.DecodeError as exc:
        raise SerializationError(
            f"the stored job record is damaged: its payload is not valid JSON: {exc}"
        ) from exc
