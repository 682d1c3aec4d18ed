"""Encode and validate payloads against the type a job name declares.

A declared type may be a dataclass, a ``msgspec.Struct`` or a pydantic model. ``add``
validates before anything is stored; the worker decodes straight into the type.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import PayloadTooLargeError, SerializationError, ValidationError
from .serialization import dumps, loads


def _is_pydantic(kind: type[Any]) -> bool:
    return hasattr(kind, "model_validate_json") and hasattr(kind, "model_dump")


def encode(job_name: str, kind: type[Any] | None, data: Any, limit: int) -> bytes:
    """JSON bytes for ``data``, validated against ``kind`` when one is declared."""
    if kind is not None and _is_pydantic(kind):
        raw = _encode_pydantic(job_name, kind, data)
    else:
        raw = dumps(data)
        if kind is not None:
            decode(job_name, kind, raw)
    if len(raw) > limit:
        raise PayloadTooLargeError(len(raw), limit)
    return raw


def _encode_pydantic(job_name: str, kind: Any, data: Any) -> bytes:
    from pydantic import ValidationError as PydanticError

    try:
        model = data if isinstance(data, kind) else kind.model_validate(data)
        return model.model_dump_json().encode()  # type: ignore[no-any-return]
    except PydanticError as exc:
        raise ValidationError(str(exc), job_name=job_name) from exc


def decode(job_name: str, kind: type[Any] | None, raw: bytes) -> Any:
    """The stored payload as the declared type (or plain JSON values without one)."""
    if kind is None:
        return loads(raw)
    if _is_pydantic(kind):
        from pydantic import ValidationError as PydanticError

        try:
            return kind.model_validate_json(raw)
        except PydanticError as exc:
            raise ValidationError(str(exc), job_name=job_name) from exc
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise ValidationError(str(exc), job_name=job_name) from exc
    except msgspec.DecodeError as exc:
        raise SerializationError(f"stored payload is not valid JSON: {exc}") from exc
