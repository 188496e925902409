"""`kubectl logs` and `kubectl exec` through the API server's proxy to the kubelet (both kubectl binaries)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from conformance.kubectl import run_kubectl
from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster
from tests.kubelet.test_pods import free_port
from tests.kubelet.util import container, cstatus, phase, pod, ready


@pytest.fixture(scope="module")
def shell_pod(kl: KubeletCluster) -> tuple[str, str]:
    ns = kl.api.namespace("kubectl")
    kl.api.create_pod(ns, pod("shell", kl.node, container("sh", "sh", "-c", "echo hello; echo oops >&2; sleep 1000")))
    kl.api.wait_pod(ns, "shell", ready)
    return ns, "shell"


def kubectl(kl: KubeletCluster, binary: str, *args: str, input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run_kubectl(binary, kl.server.kubeconfig, *args, input=input, timeout=timeout)


def test_logs(kl: KubeletCluster, kubectl_bins: tuple[str, str], shell_pod: tuple[str, str]) -> None:
    _, binary = kubectl_bins
    ns, name = shell_pod
    r = kubectl(kl, binary, "-n", ns, "logs", name)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello\noops\n"
    r = kubectl(kl, binary, "-n", ns, "logs", name, "--tail=1")
    assert r.stdout == "oops\n"
    r = kubectl(kl, binary, "-n", ns, "logs", f"pod/{name}", "-c", "sh", "--timestamps")
    stamp, _, text = r.stdout.splitlines()[0].partition(" ")
    assert text == "hello" and stamp.endswith("Z") and "T" in stamp
    r = kubectl(kl, binary, "-n", ns, "logs", name, "--previous")
    assert r.returncode != 0
    assert 'previous terminated container "sh" in pod "shell" not found' in r.stderr


def test_logs_follow_until_the_container_exits(kl: KubeletCluster, kubectl_bins: tuple[str, str]) -> None:
    label, binary = kubectl_bins
    ns = kl.api.namespace("follow")
    script = "for i in 1 2 3; do echo line$i; sleep 0.7; done"
    kl.api.create_pod(ns, pod("counter", kl.node, container("c", "sh", "-c", script), restart="Never"))
    kl.api.wait_pod(ns, "counter", lambda p: phase(p) in ("Running", "Succeeded"))
    r = kubectl(kl, binary, "-n", ns, "logs", "-f", "counter", timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "line1\nline2\nline3\n"


def test_logs_previous_after_a_crash(kl: KubeletCluster, kubectl_bins: tuple[str, str]) -> None:
    _, binary = kubectl_bins
    ns = kl.api.namespace("prev")
    kl.api.create_pod(ns, pod("crashy", kl.node, container("c", "sh", "-c", "echo attempt; exit 2")))
    kl.api.wait_pod(ns, "crashy", lambda p: cstatus(p).get("restartCount", 0) >= 1
                    and "terminated" in cstatus(p).get("lastState", {}))
    r = kubectl(kl, binary, "-n", ns, "logs", "crashy", "--previous")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "attempt\n"


def test_logs_of_a_waiting_container(kl: KubeletCluster, kubectl_bins: tuple[str, str]) -> None:
    _, binary = kubectl_bins
    ns = kl.api.namespace("wait")
    kl.api.create_pod(ns, pod("blocked", kl.node, container("c", "sleep", "1000",
                                                            envFrom=[{"secretRef": {"name": "nope"}}])))
    kl.api.wait_pod(ns, "blocked", lambda p: "waiting" in (cstatus(p).get("state") or {}))
    r = kubectl(kl, binary, "-n", ns, "logs", "blocked")
    assert r.returncode != 0
    assert 'container "c" in pod "blocked" is waiting to start: CreateContainerConfigError' in r.stderr


def test_exec(kl: KubeletCluster, kubectl_bins: tuple[str, str], shell_pod: tuple[str, str]) -> None:
    _, binary = kubectl_bins
    ns, name = shell_pod
    r = kubectl(kl, binary, "-n", ns, "exec", name, "--", "sh", "-c", "echo $HOSTNAME; echo to-err >&2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "shell\n"
    assert "to-err" in r.stderr
    r = kubectl(kl, binary, "-n", ns, "exec", name, "--", "sh", "-c", "exit 3")
    assert r.returncode == 3
    assert "command terminated with exit code 3" in r.stderr
    r = kubectl(kl, binary, "-n", ns, "exec", "-i", name, "--", "cat", input="from stdin\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from stdin\n"
    r = kubectl(kl, binary, "-n", ns, "exec", name, "-c", "nope", "--", "true")
    assert r.returncode != 0 and "container nope is not valid for pod shell" in r.stderr
    r = kubectl(kl, binary, "-n", ns, "exec", name, "--", "no-such-binary")
    assert r.returncode != 0 and "executable file not found" in r.stderr


def test_get_pods_shows_running(kl: KubeletCluster, kubectl_bins: tuple[str, str],
                                shell_pod: tuple[str, str]) -> None:
    _, binary = kubectl_bins
    ns, name = shell_pod
    r = kubectl(kl, binary, "-n", ns, "get", "pod", name, "-o", "wide", "--no-headers")
    assert r.returncode == 0, r.stderr
    cols = r.stdout.split()
    assert cols[:3] == [name, "1/1", "Running"] and kl.node in cols


def test_port_forward(kl: KubeletCluster, kubectl_bins: tuple[str, str], tmp_path: Path) -> None:
    """kubectl port-forward: SPDY streams tunnelled through the websocket, relayed to the kubelet."""
    _, binary = kubectl_bins
    ns = kl.api.namespace("pf")
    remote, local = free_port(), free_port()
    kl.api.create_pod(ns, pod("srv", kl.node, container(
        "c", "python3", "-m", "http.server", str(remote), "--bind", "0.0.0.0", image="python:3",  # probes dial the pod IP
        readinessProbe={"tcpSocket": {"port": remote}, "periodSeconds": 1})))
    kl.api.wait_pod(ns, "srv", ready, timeout=20)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(KUBECONFIG=str(kl.server.kubeconfig), HOME=str(tmp_path))
    proc = subprocess.Popen([binary, "-n", ns, "port-forward", "pod/srv", f"{local}:{remote}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def get(path: str) -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{local}{path}", timeout=3)
            except httpx.HTTPError:
                return None

        first = wait_for(lambda: get("/"), timeout=15, interval=0.3, message="port-forward answering")
        assert first.status_code == 200
        for _ in range(3):  # one SPDY stream pair per connection
            r = get("/missing")
            assert r is not None and r.status_code == 404
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"Forwarding from 127.0.0.1:" in out
