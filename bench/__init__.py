"""Benchmarks of issue 3 (not tests): `python -m bench` or `make bench`. See docs/performance.md."""
