"""The Redis backend (Redis ≥ 6.2, Valkey): many machines, many workers."""

from .backend import RedisBackend

__all__ = ["RedisBackend"]
