"""`kplane up`: a whole cluster from one command; supervision; resume on the same data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance.kubectl import kubectl_binary, run_kubectl
from tests.cluster import wait_for


def start_up(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kplane.cli", "up", "--nodes", "2", "--port", "0", "--data-dir", str(data_dir),
         "--no-kubeconfig-merge", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_up(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out


def test_up_runs_a_cluster_and_restarts_components(tmp_path: Path) -> None:
    kubectl = kubectl_binary("1.37")
    proc = start_up(tmp_path)
    try:
        wait_for(lambda: (tmp_path / "ready").exists() or proc.poll() is not None, timeout=90,
                 message="kplane up to report ready")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        kc = tmp_path / "kubeconfig"
        rows = [line.split() for line in run_kubectl(kubectl, kc, "get", "nodes").stdout.splitlines()[1:]]
        assert len(rows) == 2 and all(r[1] == "Ready" for r in rows)
        r = run_kubectl(kubectl, kc, "create", "deployment", "web", "--image=busybox", "--replicas=2", "--",
                        "sh", "-c", "echo started; sleep 3600")
        assert r.returncode == 0, r.stderr

        def running() -> bool:
            out = run_kubectl(kubectl, kc, "get", "pods", "-o", "json").stdout
            pods = json.loads(out)["items"]
            return len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods)

        wait_for(running, timeout=60, message="two Running pods")
        # kill -9 the scheduler: the supervisor notices and starts it again
        status = json.loads((tmp_path / "status.json").read_text())
        os.kill(status["scheduler"]["pid"], signal.SIGKILL)
        wait_for(lambda: json.loads((tmp_path / "status.json").read_text())["scheduler"]["restarts"] >= 1
                 and json.loads((tmp_path / "status.json").read_text())["scheduler"]["alive"], timeout=30,
                 message="the scheduler to be restarted")
        r = run_kubectl(kubectl, kc, "scale", "deploy/web", "--replicas=3")
        assert r.returncode == 0
        wait_for(lambda: len(json.loads(run_kubectl(kubectl, kc, "get", "pods", "-o", "json").stdout)["items"]) == 3,
                 timeout=60, message="a third pod after the restart")
    finally:
        out = stop_up(proc)
    assert '"msg": "stopping"' in out
    # resume: the same data dir keeps the objects
    proc = start_up(tmp_path)
    try:
        wait_for(lambda: (tmp_path / "ready").exists() or proc.poll() is not None, timeout=90)
        r = run_kubectl(kubectl, tmp_path / "kubeconfig", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
        assert r.stdout == "3"
    finally:
        stop_up(proc)
    time.sleep(0.5)
