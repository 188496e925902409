"""The embedded store across restarts and kill -9 of the API server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cluster import ServerProcess

WRITER = r"""
import sys, httpx
url, n = sys.argv[1], 0
with httpx.Client(base_url=url, timeout=10) as c:
    while True:
        r = c.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": f"w{n:06}"}, "data": {"n": str(n)}})
        if r.status_code != 201:
            sys.exit(f"unexpected {r.status_code} {r.text}")
        print(f"w{n:06} {r.json()['metadata']['resourceVersion']}", flush=True)
        n += 1
"""


def test_restart_keeps_objects_and_revisions_grow(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite://{tmp_path / 'state.db'}", data_dir=tmp_path).start()
    try:
        with httpx.Client(base_url=server.url) as c:
            c.post("/api/v1/namespaces", json={"metadata": {"name": "keep"}})
            r = c.post("/api/v1/namespaces/keep/configmaps", json={"metadata": {"name": "a"}, "data": {"x": "1"}})
            before = int(r.json()["metadata"]["resourceVersion"])
    finally:
        server.stop()
    server.start()
    try:
        with httpx.Client(base_url=server.url) as c:
            got = c.get("/api/v1/namespaces/keep/configmaps/a").json()
            assert got["data"] == {"x": "1"} and int(got["metadata"]["resourceVersion"]) == before
            r = c.post("/api/v1/namespaces/keep/configmaps", json={"metadata": {"name": "b"}})
            assert int(r.json()["metadata"]["resourceVersion"]) > before
    finally:
        server.stop()


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite://{tmp_path / 'state.db'}", data_dir=tmp_path).start()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, server.url], stdout=subprocess.PIPE, text=True)
    acked: list[tuple[str, int]] = []
    assert writer.stdout is not None
    deadline = time.monotonic() + 30
    while len(acked) < 200 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        name, rv = line.split()
        acked.append((name, int(rv)))
    server.kill()  # SIGKILL while the writer is mid-request
    for line in writer.stdout:  # whatever it managed to get acknowledged before the kill
        parts = line.split()
        if len(parts) == 2:
            acked.append((parts[0], int(parts[1])))
    writer.wait(10)
    assert len(acked) >= 50
    server.start()
    try:
        with httpx.Client(base_url=server.url) as c:
            items = c.get("/api/v1/namespaces/default/configmaps").json()["items"]
            stored = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in items}
            for name, rv in acked:
                assert stored.get(name) == rv, f"acknowledged write {name}@{rv} was lost"
    finally:
        server.stop()
