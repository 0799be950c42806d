"""Command line: ``python -m visdomkit demo | serve | assets``."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    return 0
