"""`kplane bench heartbeat --quick` end to end against a real `kplane apiserver` process: every write
phase ran without errors, the server's CPU per request is reported, and the run cleans up after itself.
Figures are checked for presence and consistency, never against the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from kplane.bench import heartbeat

from .cluster import ServerProcess

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kplane.cli", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL)


def test_heartbeat_quick_reports_every_write_and_cleans_up(tmp_path: Path) -> None:
    server = ServerProcess("memory://").start()
    try:
        assert server.proc is not None
        out = tmp_path / "heartbeat.json"
        r = bench("heartbeat", "--kubeconfig", str(server.kubeconfig), "--server-pid", str(server.proc.pid),
                  "--quick", "--json", str(out))
        assert r.returncode == 0, r.stdout + r.stderr + server.log()[-3000:]
        assert "lease-put" in r.stdout and "server CPU µs/req" in r.stdout
        doc = json.loads(out.read_text())
        assert doc["benchmark"] == "heartbeat"
        assert doc["params"] == {"nodes": heartbeat.QUICK.nodes, "duration": heartbeat.QUICK.duration,
                                 "concurrency": heartbeat.QUICK.concurrency}
        result = doc["result"]
        assert not result["setup_errors"]
        assert [p["verb"] for p in result["phases"]] == list(heartbeat.PHASES)
        for phase in result["phases"]:
            assert phase["errors"] == 0, phase["error_samples"]
            assert phase["count"] > 0 and phase["ops_per_s"] > 0, phase
            assert 0 <= phase["p50_ms"] <= phase["p99_ms"]
            assert phase["server_cpu_us_per_request"] is not None and phase["server_cpu_us_per_request"] >= 0
        assert result["server_cpu_us_per_node_heartbeat"] > 0 and result["nodes_per_server_core"] > 0
        run = result["run"]
        selector = {"labelSelector": f"kplane.dev/bench-run={run}"}
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            assert http.get("/api/v1/nodes", params=selector).json()["items"] == []
            leases = http.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", params=selector)
            assert leases.json()["items"] == []
            ns = http.get(f"/api/v1/namespaces/kplane-bench-hb-{run}")
            assert ns.status_code == 404 or ns.json()["status"]["phase"] == "Terminating"
        rendered = bench("report", str(out), timeout=60)
        assert rendered.returncode == 0 and "node-status-patch" in rendered.stdout, rendered.stderr
    finally:
        server.stop()


def test_heartbeat_bad_arguments_are_usage_errors() -> None:
    r = bench("heartbeat", "--nodes", "0", "--quick", timeout=60)
    assert r.returncode == 2 and "--nodes" in r.stderr
    r = bench("heartbeat", "--kubeconfig", "/nonexistent/kubeconfig", "--quick", timeout=60)
    assert r.returncode == 2 and "cannot read kubeconfig" in r.stderr
