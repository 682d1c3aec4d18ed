"""Say where and why a value does not survive a JSON round trip (``data["items"][3]``: why).

Called only after a fast check has failed (the encoder raised, or the decoded value is not
equal), so it may be slow; it walks with an explicit stack, so deep nesting and reference
cycles are reported instead of raising ``RecursionError``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import msgspec

Path = tuple[Any, str] | str
"""A path as a linked list: the root's name, or (parent path, segment)."""

EncodeError = Callable[[Any], str | None]
"""Why one value (encoded alone) cannot be encoded, or None when it can."""

_short = reprlib.Repr()
_short.maxlevel = 2
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxfrozenset = _short.maxdict = 4


def is_pydantic_type(kind: Any) -> bool:
    """A pydantic v2 model class, recognised without importing pydantic."""
    return hasattr(kind, "model_validate_json") and hasattr(kind, "model_dump")


_PLAIN = frozenset({dict, list, str, int, float, bool, type(None), tuple, set, frozenset})


def structured_type(value: Any) -> type[Any] | None:
    """The class of a dataclass, ``msgspec.Struct`` or pydantic model instance, else None."""
    kind = type(value)
    if kind in _PLAIN:  # the common case, decided without the slower checks below
        return None
    if issubclass(kind, msgspec.Struct) or is_pydantic_type(kind):
        return kind
    if dataclasses.is_dataclass(kind) and not isinstance(value, type):
        return kind
    return None


def render(path: Path) -> str:
    """``data["items"][3].price`` from the linked path."""
    segments: list[str] = []
    while isinstance(path, tuple):
        path, segment = path
        segments.append(segment)
    segments.append(path)
    return "".join(reversed(segments))


def describe(value: Any) -> str:
    """A value's type and a short repr, safe on deep or cyclic values."""
    if structured_type(value) is not None:
        return f"{type(value).__name__} object"
    return f"{type(value).__name__} {_short.repr(value)}"


def _key(key: Any) -> str:
    if type(key) is str:
        quoted = json.dumps(key[:40], ensure_ascii=False)
        return f"[{quoted[:-1]}…\"]" if len(key) > 40 else f"[{quoted}]"
    return f"[{_short.repr(key)}]"


def _fields(value: Any) -> list[tuple[str, Any]]:
    """The stored fields of a dataclass, Struct or pydantic model (extra fields included)."""
    if isinstance(value, msgspec.Struct):
        return [(name, getattr(value, name)) for name in value.__struct_fields__]
    if dataclasses.is_dataclass(value):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    extra = getattr(value, "__pydantic_extra__", None) or {}
    return [*vars(value).items(), *extra.items()]


def _is_leaf(value: Any) -> bool:
    return not isinstance(value, dict | list | tuple | set | frozenset) and (
        structured_type(value) is None
    )


def _children(value: Any) -> list[tuple[str, Any]] | None:
    """(segment, child) pairs inside a container, or None for a leaf."""
    if isinstance(value, dict):
        return [(_key(k), v) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return [(f"{{{_short.repr(v)}}}", v) for v in value]
    if structured_type(value) is not None:
        return [(f".{name}", v) for name, v in _fields(value)]
    return None


def _non_finite(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"float {value!r} cannot be stored as JSON (JSON has no NaN or Infinity)"
    return None


class _Leave:
    """A stack marker: the walk has finished the container with this id."""

    __slots__ = ("ident",)

    def __init__(self, ident: int):
        self.ident = ident


def _nodes(
    value: Any, root: str, descend: Callable[[Any], bool]
) -> Iterator[tuple[Path, Any, Path | None]]:
    """Every value inside ``value``, parents before children, in order.

    The third item is the path of an enclosing container that is this very object (a
    reference cycle; its children are not walked again), else None.
    """
    stack: list[tuple[Path, Any] | _Leave] = [(root, value)]
    entered: dict[int, Path] = {}
    while stack:
        item = stack.pop()
        if isinstance(item, _Leave):
            del entered[item.ident]
            continue
        path, node = item
        kids = _children(node)
        if kids is not None and id(node) in entered:
            yield path, node, entered[id(node)]
            continue
        yield path, node, None
        if kids is None or not descend(node):
            continue
        entered[id(node)] = path
        stack.append(_Leave(id(node)))
        stack.extend(((path, segment), child) for segment, child in reversed(kids))


def first_non_finite(value: Any, root: str) -> str | None:
    """``path: reason`` for the first NaN or infinity inside ``value`` (which JSON has not)."""
    for path, node, _ in _nodes(value, root, lambda _: True):
        reason = _non_finite(node)
        if reason is not None:
            return f"{render(path)}: {reason}"
    return None


def first_unencodable(value: Any, root: str, encode_error: EncodeError) -> str | None:
    """``path: reason`` for the first value the encoder refused: a cycle, a key or a leaf.

    Cycles are looked for first, everywhere. Otherwise a pydantic model counts as a leaf:
    its serializers, not its raw fields, decide what it stores, so its own error is reported.
    """

    for path, _, again in _nodes(value, root, lambda _: True):
        if again is not None:
            return (
                f"{render(path)}: reference cycle (this is the object at {render(again)}"
                " again), which JSON cannot hold"
            )

    def descend(node: Any) -> bool:
        return not is_pydantic_type(type(node))

    for path, node, _ in _nodes(value, root, descend):
        reason = _non_finite(node)
        if isinstance(node, dict):
            reason = next((_bad_key(k, encode_error) for k in node if type(k) is not str), None)
        elif reason is None and (_is_leaf(node) or not descend(node)):
            error = encode_error(node)
            if error is not None:
                reason = f"{describe(node)} cannot be stored as JSON ({error})"
        if reason is not None:
            return f"{render(path)}: {reason}"
    return None


def _bad_key(key: Any, encode_error: EncodeError) -> str | None:
    if encode_error({key: None}) is None:
        return None
    return f"dict key {_short.repr(key)} ({type(key).__name__}) cannot be stored as JSON"


def first_difference(value: Any, back: Any, root: str) -> str | None:
    """``path: reason`` for the first place where ``back`` (``value`` encoded and decoded)
    differs from ``value``; None when nothing does (e.g. a type without ``__eq__``)."""
    stack: list[tuple[Path, Any, Any]] = [(root, value, back)]
    while stack:
        path, a, b = stack.pop()
        found = _compare(a, b)
        if isinstance(found, str):
            return f"{render(path)}: {found}"
        stack.extend(((path, segment), x, y) for segment, x, y in reversed(found))
    return None


_MISSING = object()


def _family(value: Any) -> str:
    for kind, name in ((dict, "dict"), (list, "list"), (tuple, "tuple")):
        if isinstance(value, kind):
            return name
    if isinstance(value, set | frozenset):
        return "set"
    return "leaf" if structured_type(value) is None else type(value).__qualname__


Pairs = list[tuple[str, Any, Any]]
"""(segment, value, its round trip) for the children still to compare."""


def _compare(a: Any, b: Any) -> str | Pairs:
    """Why ``b`` is not ``a`` at this level, or the pairs of children to compare next."""
    reason = _non_finite(a)
    if reason is not None:  # kept only by a type that stores it (e.g. as "NaN")
        same = isinstance(b, float) and (b == a or (math.isnan(a) and math.isnan(b)))
        return [] if same else reason
    family = _family(a)
    if family != _family(b):
        return _changed(a, b)
    return _COMPARE.get(family, _compare_fields)(a, b)


def _compare_dict(a: dict[Any, Any], b: dict[Any, Any]) -> str | Pairs:
    missing = next((k for k in a if k not in b), _MISSING)
    if missing is not _MISSING:
        return (
            f"dict key {_short.repr(missing)} ({type(missing).__name__}) cannot be stored"
            " as JSON: object keys come back as strings"
        )
    return [(_key(k), v, b[k]) for k, v in a.items()]


def _compare_sequence(a: list[Any] | tuple[Any, ...], b: Any) -> str | Pairs:
    if len(a) != len(b):
        return f"{describe(a)} comes back from JSON with {len(b)} items"
    return [(f"[{i}]", x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))]


def _compare_set(a: set[Any] | frozenset[Any], b: Any) -> str | Pairs:
    lost = next((x for x in a if x not in b), _MISSING)
    return [] if lost is _MISSING else f"set element {describe(lost)} does not come back from JSON"


def _compare_fields(a: Any, b: Any) -> str | Pairs:
    theirs = dict(_fields(b))
    return [(f".{name}", x, theirs.get(name, _MISSING)) for name, x in _fields(a)]


def _compare_leaf(a: Any, b: Any) -> str | Pairs:
    return [] if _equal(a, b) else _changed(a, b)


_COMPARE: dict[str, Callable[[Any, Any], str | Pairs]] = {
    "dict": _compare_dict,
    "list": _compare_sequence,
    "tuple": _compare_sequence,
    "set": _compare_set,
    "leaf": _compare_leaf,
}


def _changed(a: Any, b: Any) -> str:
    back = f"it would come back as {describe(b)}"
    if structured_type(a) is not None and structured_type(b) is None:
        name = type(a).__name__
        return f"{name} object is not plain JSON: {back} (declare {name} as a payload type)"
    return f"{describe(a)} cannot be stored as JSON: {back}"


def _equal(a: Any, b: Any) -> bool:
    """``a == b``, or both the same NaN-like type (a ``Decimal("NaN")`` a type stores as
    ``"NaN"``); False when the comparison itself fails (e.g. an array's ambiguous truth)."""
    try:
        return bool(a == b) or (type(a) is type(b) and _is_nan(a) and _is_nan(b))
    except Exception:
        return False


def _is_nan(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_nan()
    return isinstance(value, float) and math.isnan(value)
