"""The SQLite statements of each state change, one module per backend method.

Each module mirrors the Lua script of the same name in ``backends/redis/lua`` and opens
with the same kind of header (purpose, arguments, returns, events). A function here runs
inside the caller's ``BEGIN IMMEDIATE`` transaction on the backend's database thread; it
never commits, never reads the clock except through :mod:`..lease_clock`, and returns
negative :class:`conveyor.errors.Refusal` codes where the Lua script does.
"""
