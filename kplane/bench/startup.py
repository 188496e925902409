"""``kplane bench startup``: seconds from process start to ``/readyz`` for ``kplane apiserver`` on memory://,
a fresh sqlite file and a fresh etcd; the in-process LocalCluster's start; and ``kplane up --runtime
simulated`` to all nodes Ready."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cluster import UpCluster, missing_components, unavailable
from .servers import APIServerProcess, EtcdServer, etcd_binary

ALL = ("memory", "sqlite", "etcd", "local", "up")

LOCAL_CLUSTER_SCRIPT = """
import json, time
t0 = time.monotonic()
from kplane.testing import LocalCluster
imported = time.monotonic() - t0
starts = []
for _ in range({repeats}):
    c = LocalCluster(storage="memory://")
    c.start()
    starts.append(c.startup_seconds)
    c.stop()
print(json.dumps({{"import_s": imported, "starts_s": starts}}))
"""


def _row(name: str, runs: list[float], **extra: Any) -> dict[str, Any]:
    return {"name": name, "status": "ok", "runs_s": [round(r, 4) for r in runs],
            "median_s": round(statistics.median(runs), 4), "min_s": round(min(runs), 4),
            "max_s": round(max(runs), 4), **extra}


def _failed(name: str, e: BaseException) -> dict[str, Any]:
    return {"name": name, "status": "failed", "reason": f"{type(e).__name__}: {str(e)[:500]}"}


def apiserver_startup(kind: str, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    name = f"kplane apiserver ({kind})"
    if kind == "etcd" and etcd_binary() is None:
        return {"name": name, "status": "unavailable", "reason": "no etcd binary (apt-get install etcd-server)"}
    runs: list[float] = []
    etcd_runs: list[float] = []
    try:
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="kplane-bench-start-") as tmp:
                etcd: EtcdServer | None = None
                if kind == "memory":
                    storage = "memory://"
                elif kind == "sqlite":
                    storage = f"sqlite://{Path(tmp) / 'state.db'}"  # a fresh file every time
                else:
                    etcd = EtcdServer()
                    etcd_runs.append(etcd.start())  # not counted: a fresh etcd for every start
                    storage = f"etcd://{etcd.endpoint}"
                server = APIServerProcess(storage, data_dir=Path(tmp))
                try:
                    runs.append(server.start())
                finally:
                    server.stop()
                    if etcd is not None:
                        etcd.cleanup()
        log(f"{name}: median {statistics.median(runs):.3f} s over {len(runs)}")
    except (RuntimeError, OSError) as e:
        return _failed(name, e)
    extra = {"etcd_start_median_s": round(statistics.median(etcd_runs), 4)} if etcd_runs else {}
    return _row(name, runs, **extra)


def local_cluster_startup(repeats: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """LocalCluster (API server in a thread of the test process) in a fresh interpreter: the import, the
    first start, and the later ones."""
    try:
        r = subprocess.run([sys.executable, "-c", LOCAL_CLUSTER_SCRIPT.format(repeats=max(2, repeats))],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-1000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (RuntimeError, OSError, ValueError, IndexError, subprocess.SubprocessError) as e:
        return [_failed("LocalCluster (in-process)", e)]
    starts: list[float] = out["starts_s"]
    log(f"LocalCluster: import {out['import_s']:.3f} s, first start {starts[0]:.3f} s")
    return [
        _row("LocalCluster import (kplane.testing)", [out["import_s"]]),
        _row("LocalCluster first start (memory)", starts[:1]),
        _row("LocalCluster later starts (memory)", starts[1:]),
    ]


def up_startup(nodes: int, repeats: int, log: Callable[[str], None],
               missing: list[str] | None = None) -> dict[str, Any]:
    name = f"kplane up --nodes {nodes} (simulated) to all Ready"
    missing = missing_components() if missing is None else missing
    if missing:
        return {"name": name, **unavailable(missing)}
    runs: list[float] = []
    api: list[float] = []
    try:
        for _ in range(repeats):
            cluster = UpCluster(nodes)
            try:
                cluster.start()
                cluster.wait_api(120)
                api.append(time.monotonic() - cluster.t0)
                runs.append(cluster.wait_nodes_ready(120 + 2 * nodes))
            finally:
                cluster.stop()
        log(f"{name}: median {statistics.median(runs):.3f} s")
    except (RuntimeError, OSError) as e:
        return _failed(name, e)
    return _row(name, runs, api_ready_median_s=round(statistics.median(api), 4))


def run(repeats: int, up_nodes: int, only: tuple[str, ...], log: Callable[[str], None]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in ("memory", "sqlite", "etcd"):
        if kind in only:
            rows.append(apiserver_startup(kind, repeats, log))
    if "local" in only:
        rows.extend(local_cluster_startup(repeats, log))
    if "up" in only:
        rows.append(up_startup(up_nodes, min(repeats, 3), log))
    return rows
