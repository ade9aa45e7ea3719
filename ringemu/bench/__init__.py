"""Benchmarks: ringemu measured against a raw pyzmq ring, in the same run (``scripts/bench``)."""
