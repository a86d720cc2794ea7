"""Issue 6's benchmark: lifecycle throughput against a bare-Temporal floor, the read path
on a large read model, growth with load, and the memory of the worker and the API.

Run with ``make bench`` (or ``python -m bench --help``).
"""
