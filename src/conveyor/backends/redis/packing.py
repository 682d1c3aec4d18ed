"""Pack commands with hiredis instead of redis-py's pure-Python packer on asyncio clients.

redis-py's asyncio connections build every command in Python (about 1 µs per argument);
the worker's batched ``finish_and_fetch`` sends ten arguments per finished job and bulk
``add`` seven per new job, so packing was a quarter of the worker's CPU per job. The bytes
on the wire are the same; any argument that is not ``bytes``/``str``/``int`` (floats,
memoryviews, bad values) goes through redis-py's own packer and its own errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _hiredis_packer() -> Callable[[tuple[Any, ...]], bytes] | None:
    try:
        import hiredis
    except ImportError:  # pragma: no cover - redis[hiredis] is a dependency
        return None
    return getattr(hiredis, "pack_command", None)


_PACK = _hiredis_packer()
_PLAIN = frozenset({bytes, str, int})
_fast_classes: dict[type[Any], type[Any]] = {}


def _fast_class(cls: type[Any]) -> type[Any]:
    fast = _fast_classes.get(cls)
    if fast is None:
        slow = cls.pack_command

        def pack_command(self: Any, *args: Any) -> list[bytes]:
            for arg in args:
                if type(arg) not in _PLAIN:
                    return slow(self, *args)  # type: ignore[no-any-return]
            head = args[0]
            if type(head) is str:  # e.g. "CONFIG GET": the words go as separate arguments
                if " " in head:
                    args = (*head.split(), *args[1:])
            elif b" " in head:
                args = (*head.split(), *args[1:])
            assert _PACK is not None
            return [_PACK(args)]

        fast = type(cls.__name__, (cls,), {"pack_command": pack_command})
        _fast_classes[cls] = fast
    return fast


def use_hiredis_packing(client: Any) -> None:
    """Make the connections ``client``'s pool opens from now on pack with hiredis."""
    pool = getattr(client, "connection_pool", None)
    if _PACK is None or pool is None:
        return
    pool.connection_class = _fast_class(pool.connection_class)
