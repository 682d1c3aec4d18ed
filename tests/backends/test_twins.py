"""Every backend operation has two twins named alike: a Lua script and a SQLite ops module.

The rule, read from the files so that a new or split operation is checked without editing
this test:

- A Redis operation is a file ``backends/redis/lua/<op>.lua``; the helpers in
  ``lua/lib/`` are inlined into scripts and are not operations.
- A SQLite operation is a module ``backends/sqlite/ops/<op>`` that defines (not imports) a
  function named ``<op>``; a module without one (``__init__``, ``lib``, ``queue_row``) is a helper.
- Each operation exists on both sides, and is an abstract coroutine method of the
  ``Backend`` protocol (``backends/base.py``).
- The Lua header names its method, ``(Backend.<op>)``; the ops module's docstring opens with
  ``<op>:`` and names both, ``(Backend.<op>; Redis: <op>.lua)``. Line breaks count as spaces.

The rest of a Lua header (KEYS, ARGV, Returns) and ``SCRIPT_NAMES`` are checked by
``tests/backends/redis/test_scripts.py``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib import resources
from importlib.resources.abc import Traversable
from types import ModuleType

import pytest

from conveyor.backends.base import Backend
from conveyor.backends.sqlite import ops as ops_package

LUA = resources.files("conveyor.backends.redis").joinpath("lua")
OPS = ops_package.__name__


def flat(text: str) -> str:
    """Text with every run of whitespace (line breaks too) as one space."""
    return " ".join(text.split())


def lua_files(folder: Traversable) -> set[str]:
    """The names of the ``.lua`` files directly in ``folder``, without the suffix."""
    return {p.name.removesuffix(".lua") for p in folder.iterdir() if p.name.endswith(".lua")}


def ops_module(name: str) -> ModuleType:
    return importlib.import_module(f"{OPS}.{name}")


def is_operation(module: ModuleType, name: str) -> bool:
    function = getattr(module, name, None)
    return inspect.isfunction(function) and function.__module__ == module.__name__


def sqlite_operations() -> set[str]:
    names = (info.name for info in pkgutil.iter_modules(ops_package.__path__))
    return {name for name in names if is_operation(ops_module(name), name)}


LUA_OPS = sorted(lua_files(LUA))
SQLITE_OPS = sorted(sqlite_operations())
ALL_OPS = sorted(set(LUA_OPS) | set(SQLITE_OPS))


def test_the_rule_finds_the_operations_and_skips_the_helpers() -> None:
    assert "finish_and_fetch" in LUA_OPS
    assert "finish_and_fetch" in SQLITE_OPS
    assert not {"__init__", "lib", "queue_row"} & set(SQLITE_OPS)
    helpers = lua_files(LUA.joinpath("lib"))
    assert helpers, "lua/lib/ holds the shared helpers"
    assert not helpers & set(LUA_OPS)


@pytest.mark.parametrize("op", ALL_OPS)
def test_every_operation_has_a_lua_script_and_a_sqlite_module(op: str) -> None:
    missing = [
        where
        for where, ops in (
            (f"backends/redis/lua/{op}.lua", LUA_OPS),
            (f"backends/sqlite/ops/{op}.py defining {op}()", SQLITE_OPS),
        )
        if op not in ops
    ]
    assert not missing, f"operation {op!r} lacks its twin: {', '.join(missing)}"


@pytest.mark.parametrize("op", ALL_OPS)
def test_every_operation_is_a_method_of_the_backend_protocol(op: str) -> None:
    assert op in Backend.__abstractmethods__, f"Backend has no abstract method {op}"
    assert inspect.iscoroutinefunction(getattr(Backend, op)), f"Backend.{op} is not async"


@pytest.mark.parametrize("op", LUA_OPS)
def test_every_lua_header_names_its_backend_method(op: str) -> None:
    header = flat(LUA.joinpath(f"{op}.lua").read_text(encoding="utf-8").split("]]", 1)[0])
    assert f"(Backend.{op})" in header, f"{op}.lua's header must name (Backend.{op})"


@pytest.mark.parametrize("op", SQLITE_OPS)
def test_every_ops_docstring_names_its_method_and_its_lua_twin(op: str) -> None:
    doc = flat(inspect.getdoc(ops_module(op)) or "")
    assert doc.startswith(f"{op}:"), f"ops/{op}.py's docstring must open with '{op}:'"
    assert f"(Backend.{op}; Redis: {op}.lua)" in doc, (
        f"ops/{op}.py's docstring must name (Backend.{op}; Redis: {op}.lua)"
    )
