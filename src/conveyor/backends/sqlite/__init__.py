"""The embedded SQLite backend (``sqlite:///path``): zero setup, one file, WAL mode."""

from .backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
