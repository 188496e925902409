"""Node registration, conditions and the node Lease."""

from __future__ import annotations

import time

from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster, start_kubelet, wait_node_ready


def test_node_registers_with_upstream_shape(kl: KubeletCluster) -> None:
    node = kl.api.get(f"/api/v1/nodes/{kl.node}")
    assert node is not None
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == kl.node
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"]
    status = node["status"]
    for key in ("cpu", "memory", "pods", "ephemeral-storage"):
        assert status["capacity"][key] and status["allocatable"][key]
    assert status["capacity"]["pods"] == "110"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert {"type": "Hostname", "address": kl.node} in status["addresses"]
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == "v1.37.0"
    assert info["containerRuntimeVersion"].startswith("kplane-process://")
    assert info["operatingSystem"] == "linux" and info["architecture"] and info["kernelVersion"]
    assert info["osImage"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    conds = {c["type"]: c for c in status["conditions"]}
    assert [c["type"] for c in status["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert conds["Ready"]["status"] == "True" and conds["Ready"]["reason"] == "KubeletReady"
    assert conds["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
    assert conds["DiskPressure"]["status"] == "False" and conds["PIDPressure"]["status"] == "False"
    for c in conds.values():
        assert c["lastHeartbeatTime"] and c["lastTransitionTime"]


def test_kubelet_api_health(kl: KubeletCluster) -> None:
    import httpx

    node = kl.api.get(f"/api/v1/nodes/{kl.node}")
    assert node is not None
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False).text == "ok"  # self-signed (tls.py)
    assert httpx.get(f"https://127.0.0.1:{port}/pods", verify=False).json()["kind"] == "PodList"


def test_lease_renews_and_stops_when_the_kubelet_dies(kl: KubeletCluster) -> None:
    node = "kn-lease"
    kubelet = start_kubelet(kl.server, node, "--runtime", "simulated", "--cpu", "2", "--memory", "4Gi",
                            "--pods", "20")
    try:
        wait_node_ready(kl.api, node, kubelet)
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
        lease = wait_for(lambda: kl.api.get(path), message="node lease")
        spec = lease["spec"]
        assert spec["holderIdentity"] == node and spec["leaseDurationSeconds"] == 40
        owner = lease["metadata"]["ownerReferences"][0]
        n = kl.api.get(f"/api/v1/nodes/{node}")
        assert n is not None
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Node", node, n["metadata"]["uid"])
        assert n["status"]["capacity"]["cpu"] == "2" and n["status"]["capacity"]["memory"] == "4Gi"
        assert n["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("kplane-simulated://")
        first = spec["renewTime"]
        renewed = wait_for(lambda: (x := kl.api.get(path)) and x["spec"]["renewTime"] != first and x,
                           timeout=15, message="lease renewal")
        assert renewed["spec"]["renewTime"] > first
        kubelet.kill()
        stopped = kl.api.get(path)
        assert stopped is not None
        time.sleep(11)
        after = kl.api.get(path)
        assert after is not None and after["spec"]["renewTime"] == stopped["spec"]["renewTime"]
    finally:
        kubelet.kill()
