"""Real kubectl against kplane + `kplane scheduler`: cordon keeps pods off a node, describe shows the
scheduler's events."""

from __future__ import annotations

from conformance.kubectl import run_kubectl

from .conftest import Kube


def test_cordon_and_describe(kube: Kube, kubectl_bins: tuple[str, str]) -> None:
    _, kubectl = kubectl_bins
    kube.node("n1")
    kube.node("n2", cpu="1")
    r = run_kubectl(kubectl, kube.server.kubeconfig, "cordon", "n1")
    assert r.returncode == 0, r.stderr
    assert "cordoned" in r.stdout
    kube.pod("small", cpu="100m")
    kube.pod("big", cpu="2")
    assert kube.wait_bound("small") == "n2"
    kube.wait_unschedulable("big")
    out = run_kubectl(kubectl, kube.server.kubeconfig, "describe", "pod", "small", "-n", kube.ns)
    assert out.returncode == 0, out.stderr
    assert "Scheduled" in out.stdout and "default-scheduler" in out.stdout
    assert f"Successfully assigned {kube.ns}/small to n2" in out.stdout
    out = run_kubectl(kubectl, kube.server.kubeconfig, "describe", "pod", "big", "-n", kube.ns)
    assert "FailedScheduling" in out.stdout
    assert "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable." in " ".join(out.stdout.split())
    r = run_kubectl(kubectl, kube.server.kubeconfig, "uncordon", "n1")
    assert r.returncode == 0, r.stderr
    assert kube.wait_bound("big", timeout=20) == "n1"
