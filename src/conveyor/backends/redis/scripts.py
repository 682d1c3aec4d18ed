"""Load the Lua scripts: one file per operation, helpers from ``lua/lib`` inlined.

A line ``--@include name`` in a script is replaced by ``lua/lib/name.lua`` (once per
script, helpers' own includes first). Scripts run with EVALSHA; redis-py reloads a script
when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_INCLUDE = re.compile(r"^--@include (\w+)\s*$", re.MULTILINE)

SCRIPT_NAMES = (
    "add",
    "add_tree",
    "finish_and_fetch",
    "check_stalled",
    "requeue",
    "renew_lease",
    "update_progress",
    "add_log",
    "pause",
    "drain",
    "clean",
    "obliterate",
    "remove",
    "retry",
    "promote",
    "change_priority",
    "update_data",
    "acquire_lock",
    "extend_lock",
    "release_lock",
    "take_tokens",
)


def _read(relative: str) -> str:
    return resources.files(__package__).joinpath("lua", relative).read_text(encoding="utf-8")


def _expand(text: str, seen: set[str]) -> str:
    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            return ""
        seen.add(name)
        return _expand(_read(f"lib/{name}.lua"), seen)

    return _INCLUDE.sub(include, text)


@cache
def source(name: str) -> str:
    """The full text of one script, ready for SCRIPT LOAD."""
    return _expand(_read(f"{name}.lua"), set())
