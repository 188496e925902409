"""`kplane bench` end to end, in its --quick form, against a real `kplane apiserver` process; and the
benchmark's own HTTP client. Figures are checked for presence and consistency, never against the clock."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kplane.bench import api, scale, startup
from kplane.bench.http import Connection, Endpoint, WatchStream
from kplane.bench.kubeconfig import ClusterConfig

from .cluster import ServerProcess

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kplane.cli", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    s = ServerProcess("memory://").start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def api_doc(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "api.json"
    assert server.proc is not None
    r = bench("api", "--kubeconfig", str(server.kubeconfig), "--quick", "--server-pid", str(server.proc.pid),
              "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr + server.log()[-3000:]
    assert "create" in r.stdout and "client CPU" in r.stdout  # the printed table
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_api_quick_reports_every_verb(api_doc: dict[str, Any]) -> None:
    assert api_doc["benchmark"] == "api"
    params = api_doc["params"]
    (target,) = api_doc["targets"]
    assert not target["aborted"], target["notes"]
    by_verb = {r["verb"]: r for r in target["results"]}
    assert list(by_verb) == list(api.VERBS)
    n, watchers = params["n"], params["watchers"]
    expected_counts = {"create": n, "get": n, "update": n, "patch": n, "patch+watch": n, "delete": n,
                       "watch": n * watchers, "list": params["list_repeats"]}
    for verb, r in by_verb.items():
        assert r["errors"] == 0, (verb, r["error_samples"])
        assert r["count"] == expected_counts.get(verb, r["count"]) and r["count"] > 0, verb
        assert r["ops_per_s"] > 0 and r["seconds"] > 0, verb
        assert 0 <= r["p50_ms"] <= r["p99_ms"], verb
        assert r["client_cpu_s"] >= 0 and r["server_cpu_s"] >= 0, verb
    # paged LISTs: every traversal is more than one page at --quick's limit
    assert by_verb["list-paged"]["count"] >= 2 * params["list_repeats"]
    assert target["client_cpu_s"] > 0
    assert target["server_process"]["peak_rss_mib"] > 0
    assert api_doc["machine"]["cpus"] >= 1


def test_api_cleans_up_its_namespace(server: ServerProcess, api_doc: dict[str, Any]) -> None:
    ns = api_doc["targets"][0]["rounds"][0]["namespace"]
    r = httpx.get(f"{server.url}/api/v1/namespaces/{ns}/configmaps", trust_env=False)
    assert r.status_code == 404 or not [i for i in r.json()["items"] if i["metadata"]["name"].startswith("bench-")]
    ns_state = httpx.get(f"{server.url}/api/v1/namespaces/{ns}", trust_env=False)
    assert ns_state.status_code == 404 or ns_state.json()["status"]["phase"] == "Terminating"


def test_report_renders_the_readme_section(api_doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(api_doc))
    r = bench("report", "--markdown", str(path), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("## Performance")
    assert "| create |" in r.stdout and "| watch |" in r.stdout


def test_api_compare_runs_alternately_and_gives_ratios(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "cmp.json"
    r = bench("api", "--kubeconfig", str(server.kubeconfig), "--compare", str(server.kubeconfig), "--quick",
              "-n", "20", "--watchers", "2", "--concurrency", "4", "--list-repeats", "1", "--workers", "1",
              "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert [t["label"] for t in doc["targets"]] == ["A", "B"]
    assert all(len(t["rounds"]) == 2 for t in doc["targets"])
    ratio = doc["ratios"]["A/B"]["create"]
    assert set(ratio) == {"ops_per_s", "p50_ms", "p99_ms"}
    assert ratio["ops_per_s"] is not None and ratio["ops_per_s"] > 0
    assert "vs A" in r.stdout


def test_api_bad_kubeconfig_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    r = bench("api", "--kubeconfig", str(missing), "--quick", timeout=60)
    assert r.returncode == 2 and "cannot read kubeconfig" in r.stderr


def test_startup_quick(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    r = bench("startup", "--quick", "--json", str(out))
    doc = json.loads(out.read_text())
    rows = {row["name"]: row for row in doc["results"]}
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("kplane apiserver (memory)", "kplane apiserver (sqlite)", "LocalCluster first start (memory)"):
        assert rows[name]["status"] == "ok", rows[name]
        assert rows[name]["median_s"] > 0 and len(rows[name]["runs_s"]) == 1
    etcd = rows["kplane apiserver (etcd)"]
    assert etcd["status"] in ("ok", "unavailable"), etcd
    if etcd["status"] == "ok":
        assert etcd["median_s"] > 0
    up = next(row for name, row in rows.items() if name.startswith("kplane up"))
    assert up["status"] in ("ok", "unavailable"), up
    if up["status"] == "ok":
        assert up["median_s"] >= up["api_ready_median_s"] > 0


def test_up_and_scale_report_unavailable_without_the_components(monkeypatch: pytest.MonkeyPatch) -> None:
    row = startup.up_startup(3, 1, lambda _: None, missing=["kubelet"])
    assert row["status"] == "unavailable" and "kubelet" in row["reason"]
    monkeypatch.setattr(scale, "missing_components", lambda: ["scheduler"])
    result = scale.run(3, 10, 5, "", 10, lambda _: None)
    assert result["status"] == "unavailable" and "scheduler" in result["reason"]


# --- the lean HTTP client -----------------------------------------------------------------------------------


async def _serve(handler: Any) -> tuple[asyncio.Server, ClusterConfig]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    return srv, ClusterConfig(server=f"http://127.0.0.1:{port}", token="t0k")


async def test_http_client_keep_alive_chunked_and_stale_connections() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # two requests per connection, then the server closes it without saying so (a keep-alive timeout)
        for i in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head)
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await reader.readexactly(length)
            if i == 0:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body) + 2).encode() + b"\r\n\r\n["
                             + body + b"]")
            else:
                writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"3\r\n{\"a\r\n5\r\n\": 1}\r\n0\r\n\r\n")
            await writer.drain()
        writer.close()

    srv, cfg = await _serve(handler)
    async with srv:
        conn = Connection(Endpoint(cfg), timeout=5)
        r1 = await conn.request("POST", "/x", b"{}")
        assert (r1.status, r1.body) == (200, b"[{}]")
        r2 = await conn.request("GET", "/y")
        assert r2.status == 201 and r2.json() == {"a": 1}
        await asyncio.sleep(0.05)  # the server has closed this connection by now
        r3 = await conn.request("GET", "/z")  # retried once on a fresh connection
        assert r3.status == 200
        await conn.close()
    assert b"Authorization: Bearer t0k" in seen[0]
    assert seen[0].startswith(b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:")
    assert len(seen) == 3


async def test_watch_stream_yields_lines_across_chunks() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for chunk in (b'{"type":"ADDED"}\n{"ty', b'pe":"MODIFIED"}\n', b"\n"):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    srv, cfg = await _serve(handler)
    async with srv:
        stream = WatchStream(Endpoint(cfg), "/w?watch=1", timeout=5)
        assert await stream.open()
        lines = [(t, line) async for t, line in stream.lines()]
        await stream.close()
    assert [line for _, line in lines] == [b'{"type":"ADDED"}', b'{"type":"MODIFIED"}']
    assert lines[0][0] <= lines[1][0] and not math.isnan(lines[0][0])
