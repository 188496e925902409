"""``python -m benchmarks SUBCOMMAND ...``: the same as ``kplane bench SUBCOMMAND ...``."""

from __future__ import annotations

import sys

from benchmarks._entry import bench

if __name__ == "__main__":
    sys.exit(bench("", sys.argv[1:]))
