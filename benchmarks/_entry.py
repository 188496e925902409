"""Shared by the scripts: make the checkout importable, then hand over to ``kplane bench``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(command: str, argv: list[str]) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from kplane.bench.cli import main

    return main([command, *argv] if command else argv)
