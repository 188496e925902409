#!/usr/bin/env python3
"""The full set of figures on this machine, as the issue asks for them, and the README section.

    python3 benchmarks/run_all.py --out /tmp/kplane-bench [--skip scale] [--quick]

1. ``kplane bench api --serve memory --serve sqlite --serve etcd`` (2,000 ConfigMaps, concurrency 32,
   50 watchers; the three servers alternately, two rounds), -> api.json
2. ``kplane bench startup`` -> startup.json
3. ``kplane bench scale --nodes 100 --pods 3000`` -> scale.json
4. ``kplane bench report --markdown`` of the three -> performance.md

Each step is a child process with a time limit; a step that fails is reported and the others still run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, required=True, help="directory for the results")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: api,startup,scale")
    ap.add_argument("--quick", action="store_true", help="every step in its --quick form")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=3000)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    quick = ["--quick"] if args.quick else []
    scale_size = [] if args.quick else ["--nodes", str(args.nodes), "--pods", str(args.pods)]
    steps = [
        ("api", ["api", "--serve", "memory", "--serve", "sqlite", "--serve", "etcd", *quick], 3600),
        ("startup", ["startup", *quick], 1800),
        ("scale", ["scale", *scale_size, *quick], 3600),
    ]
    done: list[Path] = []
    failed = []
    for name, cmd, limit in steps:
        if name in skip:
            continue
        out = args.out / f"{name}.json"
        full = [sys.executable, "-m", "kplane.cli", "bench", *cmd, "--json", str(out)]
        print(f"== {name}: {' '.join(full[2:])}", flush=True)
        try:
            code = subprocess.run(full, cwd=ROOT, timeout=limit, stdin=subprocess.DEVNULL).returncode
        except subprocess.TimeoutExpired:
            code = -1
        if out.exists():
            done.append(out)
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if done:
        md = subprocess.run([sys.executable, "-m", "kplane.cli", "bench", "report", "--markdown",
                             *map(str, done)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        (args.out / "performance.md").write_text(md.stdout)
        print(f"README section: {args.out / 'performance.md'}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
