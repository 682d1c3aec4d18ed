"""Pack commands with hiredis instead of redis-py's pure-Python packer on asyncio clients.

redis-py's asyncio connections build every command in Python (about 1 µs per argument);
the worker's batched ``finish_and_fetch`` sends ten arguments per finished job and bulk
``add`` seven per new job, so packing was a quarter of the worker's CPU per job. The bytes
on the wire are the same; any argument that is not ``bytes``/``str``/``int`` (floats,
memoryviews, bad values) goes through redis-py's own packer and its own errors.

hiredis is optional at run time: ``redis[hiredis]`` installs it, but a deployment may lack
it (a platform without wheels, a pinned old version). Without a usable hiredis the Redis
backend keeps working on redis-py's plain path, only slower; ``HIREDIS`` is ``None`` then
and ``WHY_NO_HIREDIS`` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NOT_ENOUGH_DATA = object()
"""hiredis' marker for "the reply is incomplete" (a sentinel no reply can equal)."""


def _load_hiredis() -> tuple[Any, str]:
    """hiredis, if it has what conveyor uses: ``pack_command`` with str, bytes and int
    arguments and a ``Reader`` that takes ``notEnoughData`` (both since hiredis 2.2)."""
    try:
        import hiredis as module
    except ImportError:
        return None, "hiredis is not installed"
    hiredis: Any = module  # probed below, whatever its stubs say
    try:
        hiredis.Reader(notEnoughData=NOT_ENOUGH_DATA)
        hiredis.pack_command(("ECHO", b"x", 1))
    except (AttributeError, TypeError) as exc:
        version = getattr(hiredis, "__version__", "?")
        return None, f"hiredis {version} is too old (conveyor needs >= 2.2: {exc})"
    return hiredis, ""


HIREDIS, WHY_NO_HIREDIS = _load_hiredis()
_PACK: Callable[[tuple[Any, ...]], bytes] | None = (
    HIREDIS.pack_command if HIREDIS is not None else None
)
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
    """Make the connections ``client``'s pool opens from now on pack with hiredis
    (nothing changes without a usable hiredis)."""
    pool = getattr(client, "connection_pool", None)
    if _PACK is None or pool is None:
        return
    pool.connection_class = _fast_class(pool.connection_class)
