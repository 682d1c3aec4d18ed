"""A module that fails at import, for ``conveyor worker tests.cli.broken:queue``."""

RATIO = 1 / 0
