"""conveyor's benchmark program: throughput, latency, commands per job, worker CPU and memory.

Run ``python -m bench --help``; the method is described in ``docs/benchmarks.md``. This is
a program that prints figures, not a test: nothing here asserts a target.
``python -m bench.wal_soak`` soaks the SQLite write-ahead log (its size under steady load).
"""
