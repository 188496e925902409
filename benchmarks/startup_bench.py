#!/usr/bin/env python3
"""`kplane bench startup` from a checkout: `python3 benchmarks/startup_bench.py --help`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._entry import bench  # noqa: E402

if __name__ == "__main__":
    sys.exit(bench("startup", sys.argv[1:]))
