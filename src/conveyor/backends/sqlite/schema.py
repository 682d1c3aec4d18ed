"""Create, recognise and migrate conveyor's SQLite schema.

A conveyor database carries ``PRAGMA application_id`` = :data:`APPLICATION_ID` and its
schema version in ``PRAGMA user_version``. An empty file becomes a conveyor database; an
older one is migrated (``migrations/NNNN.sql``) inside one ``BEGIN IMMEDIATE``
transaction, so concurrent openers migrate once; a newer, foreign or damaged file raises
:class:`~conveyor.errors.SchemaError` and is never modified.
"""

from __future__ import annotations

import sqlite3
from importlib import resources

from ...errors import SchemaError

APPLICATION_ID = 0x436E7679  # "Cnvy"
SCHEMA_VERSION = 4
"""The version this conveyor writes; every version above 1 has a ``migrations`` file."""


def statements(script: str) -> list[str]:
    """Split a SQL script into statements (``executescript`` would commit on its own)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise SchemaError(f"incomplete SQL statement in a schema script: {buffer.strip()[:80]}")
    return out


def schema_sql() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def load_migration(version: int) -> str:
    """The script that upgrades a database from ``version - 1`` to ``version``."""
    name = f"{version:04d}.sql"
    path = resources.files(__package__).joinpath("migrations", name)
    if not path.is_file():
        raise SchemaError(f"conveyor is missing its schema migration {name}")
    return path.read_text(encoding="utf-8")


def _inspect(conn: sqlite3.Connection) -> tuple[int, int, list[str]]:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return app_id, version, names


def _classify(path: str, app_id: int, version: int, names: list[str]) -> str:
    """``"current"``, ``"old"`` or ``"empty"``; anything else raises ``SchemaError``."""
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"the SQLite database {path} was written by a newer conveyor (schema version"
                f" {version}; this conveyor knows up to {SCHEMA_VERSION}): upgrade conveyor"
                " to use it; the file was not changed"
            )
        return "current" if version == SCHEMA_VERSION else "old"
    if app_id == 0 and version == 0 and not names:
        return "empty"
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    raise SchemaError(
        f"{path} is a SQLite database but not a conveyor database (application id"
        f" {app_id:#x}, tables: {shown or 'none'}); point conveyor at another file;"
        " this one was not changed"
    )


def check(conn: sqlite3.Connection, path: str) -> bool:
    """Recognise the file without writing; True when it needs creating or migrating.

    The three reads share one read transaction: outside one, a process that is creating
    the schema can commit between them, and the file reads as tables without conveyor's
    application id (refused as foreign) although it is a new conveyor database.
    """
    conn.execute("BEGIN")
    try:
        found = _inspect(conn)
    finally:
        conn.execute("COMMIT")
    return _classify(path, *found) != "current"


def prepare(conn: sqlite3.Connection, path: str) -> None:
    """Create or migrate the schema in one write transaction (a no-op when current)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id, version, names = _inspect(conn)
        kind = _classify(path, app_id, version, names)
        if kind == "empty":
            for statement in statements(schema_sql()):
                conn.execute(statement)
        elif kind == "old":
            for target in range(version + 1, SCHEMA_VERSION + 1):
                try:
                    for statement in statements(load_migration(target)):
                        conn.execute(statement)
                except sqlite3.Error as exc:
                    raise SchemaError(
                        f"could not migrate the SQLite database {path} from schema version"
                        f" {target - 1} to {target}: {exc}; the file was left as it was"
                    ) from exc
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
