"""Benchmarks: run `python -m bench.run_all` (or `make bench`); each prints its figures."""
