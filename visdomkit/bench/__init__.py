"""Benchmarks that print a table: ``python -m visdomkit bench NAME [options]``.

Each benchmark is a module with ``main(argv: list[str] | None = None) -> int``. They measure with
paired, interleaved repetitions and report median and spread; they never assert on time.
"""
