"""Schema migrations: ``NNNN.sql`` upgrades a database from version NNNN-1 to NNNN.

A new file never edits an older one. Each runs inside the transaction that opens the
database (see :mod:`conveyor.backends.sqlite.schema`), together with the version bump, so
a failed migration leaves the file exactly as it was.
"""
