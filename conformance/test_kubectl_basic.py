"""Issue-2 acceptance with real kubectl binaries (1.37 and the preinstalled one)."""

from __future__ import annotations

import subprocess
import time
import uuid

from conformance.conftest import Kubectl


def ns(kubectl: Kubectl) -> str:
    name = "k-" + uuid.uuid4().hex[:8]
    kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    return name


def test_get_namespaces(kubectl: Kubectl) -> None:
    out = kubectl("get", "ns").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    names = {line.split()[0] for line in lines[1:]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_configmap_get_yaml_and_delete(kubectl: Kubectl) -> None:
    n = ns(kubectl)
    kubectl("-n", n, "apply", "-f", "-",
            input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  greeting: hello\n")
    out = kubectl("get", "configmaps", "-A").stdout
    assert any(line.split()[:3] == [n, "x", "1"] for line in out.splitlines())
    y = kubectl("-n", n, "get", "cm", "x", "-o", "yaml").stdout
    assert "greeting: hello" in y and "name: x" in y and f"namespace: {n}" in y
    out = kubectl("-n", n, "delete", "cm", "x").stdout
    assert 'configmap "x" deleted' in out
    r = kubectl("-n", n, "get", "cm", "x", ok=False)
    assert r.returncode == 1 and 'configmaps "x" not found' in r.stderr


def test_get_watch_prints_later_changes(kubectl: Kubectl) -> None:
    n = ns(kubectl)
    kubectl("-n", n, "create", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n")
    env_proc = subprocess.Popen(
        [kubectl.binary, "-n", n, "get", "cm", "-w", "--request-timeout=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"KUBECONFIG": str(kubectl.server.kubeconfig), "HOME": str(kubectl.server.data_dir),
             "PATH": "/usr/bin:/bin"})
    try:
        time.sleep(2.5)
        kubectl("-n", n, "create", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\n")
        time.sleep(1.5)
    finally:
        env_proc.terminate()
        out, err = env_proc.communicate(timeout=10)
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["NAME", "DATA", "AGE"], (out, err)
    assert [line[0] for line in lines[1:]] == ["first", "later"], (out, err)
