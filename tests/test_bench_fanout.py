"""``python -m kplane.bench.fanout`` end to end against a real `kplane apiserver` process, small: every
update reaches exactly its node's watcher, and the per-node lists find every pod. Figures are checked for
presence, never against the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .cluster import ServerProcess

ROOT = Path(__file__).resolve().parent.parent


def test_fanout_delivers_each_update_to_its_watcher_only() -> None:
    server = ServerProcess("memory://").start()
    try:
        assert server.proc is not None
        r = subprocess.run([sys.executable, "-m", "kplane.bench.fanout", "--kubeconfig", str(server.kubeconfig),
                            "--server-pid", str(server.proc.pid), "--watchers", "8", "--pods", "24",
                            "--updates", "40", "--timeout", "60"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr + server.log()[-3000:]
        doc = json.loads(r.stdout.strip().splitlines()[-1])
        text = json.dumps(doc)
        assert '"misdelivered": 0' in text, text
        assert '"delivered": 40' in text, text
        assert '"items": 24' in text, text
        assert "p99" in text and "lists_per_s" in text
    finally:
        server.stop()
