"""Benchmarks: run with `make bench` (or `python -m bench.ingest` from the repo root)."""
