"""Heartbeat traffic of a kubelet carrying several simulated nodes, counted by the API server's own
``apiserver_request_total``: Lease renewals are PUTs of the cached Lease (no GET per renewal), and the
Node status is written only when it changed (here: when someone else set Ready to Unknown). The tests
observe with LISTs, never GETs, so the GET counters are the kubelet's alone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cluster import ComponentProcess, ServerProcess, wait_for
from tests.kubelet.conftest import start_kubelet
from tests.kubelet.util import Api, Obj

NODES = ("hb-0", "hb-1", "hb-2")
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

Cluster = tuple[ServerProcess, ComponentProcess, Api]


def requests_total(url: str, verb: str, resource: str, subresource: str = "") -> float:
    """apiserver_request_total summed over codes and scopes, for one verb, resource and subresource."""
    text = httpx.get(f"{url}/metrics", trust_env=False, timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
            if (labels.get("verb"), labels.get("resource"), labels.get("subresource")) == (verb, resource,
                                                                                           subresource):
                total += float(line.rsplit(" ", 1)[1])
    return total


def by_name(api: Api, path: str) -> dict[str, Obj]:
    listed = api.get(path)
    assert listed is not None
    return {o["metadata"]["name"]: o for o in listed["items"] if o["metadata"]["name"] in NODES}


def ready(api: Api) -> dict[str, str]:
    return {name: next((c["status"] for c in n["status"].get("conditions") or [] if c["type"] == "Ready"), "")
            for name, n in by_name(api, "/api/v1/nodes").items()}


@pytest.fixture(scope="module")
def hb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("heartbeat")).start()
    kubelet = start_kubelet(server, "hb", "--runtime", "simulated", "--nodes", str(len(NODES)), "--cpu", "2",
                            "--memory", "4Gi", "--pods", "10")
    api = Api(server.url)
    try:
        wait_for(lambda: kubelet.alive() and ready(api) == dict.fromkeys(NODES, "True"), timeout=60,
                 message=f"nodes Ready\n{kubelet.log()[-2000:]}")
        yield server, kubelet, api
    finally:
        kubelet.stop()
        server.stop()


def test_lease_renewals_are_puts_without_gets(hb: Cluster) -> None:
    server, kubelet, api = hb
    seen: dict[str, set[str]] = {n: set() for n in NODES}

    def observe() -> bool:
        assert kubelet.alive(), kubelet.log()
        for name, lease in by_name(api, LEASES).items():
            seen[name].add(lease["spec"]["renewTime"])
        return all(len(s) >= 3 for s in seen.values())

    observe()
    gets, puts = requests_total(server.url, "GET", "leases"), requests_total(server.url, "PUT", "leases")
    # two more renewals per node at least: every 10 s, the first one a random part of the interval in
    wait_for(observe, timeout=45, interval=0.5, message=f"two lease renewals per node: {seen}")
    assert requests_total(server.url, "PUT", "leases") - puts >= len(NODES)
    assert requests_total(server.url, "GET", "leases") == gets


def test_node_status_is_written_only_when_it_changed(hb: Cluster) -> None:
    server, kubelet, api = hb
    patches = requests_total(server.url, "PATCH", "nodes", "status")
    gets = requests_total(server.url, "GET", "nodes")
    before = {name: n["metadata"]["resourceVersion"] for name, n in by_name(api, "/api/v1/nodes").items()}
    # a status tick every 10 s: over 12 s every node computes its status once at least, and writes none
    time.sleep(12)
    assert kubelet.alive(), kubelet.log()
    assert requests_total(server.url, "PATCH", "nodes", "status") == patches
    assert requests_total(server.url, "GET", "nodes") == gets  # the kubelet reads its Node from its informer
    after = {name: n["metadata"]["resourceVersion"] for name, n in by_name(api, "/api/v1/nodes").items()}
    assert after == before

    # the node lifecycle controller's move: Ready -> Unknown; the kubelet notices and writes Ready back
    node = "hb-1"
    n = api.get(f"/api/v1/nodes/{node}")
    assert n is not None
    conds = [{**c, "status": "Unknown", "reason": "NodeStatusUnknown",
              "message": "Kubelet stopped posting node status."} if c["type"] == "Ready" else c
             for c in n["status"]["conditions"]]
    r = api.http.patch(f"/api/v1/nodes/{node}/status", json={"status": {"conditions": conds}},
                       headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert ready(api)[node] == "Unknown"
    wait_for(lambda: ready(api)[node] == "True", timeout=25, interval=0.5, message="Ready written back")
    back = by_name(api, "/api/v1/nodes")[node]
    cond = next(c for c in back["status"]["conditions"] if c["type"] == "Ready")
    assert cond["reason"] == "KubeletReady" and cond["message"] == "kubelet is posting ready status"
    assert [c["type"] for c in back["status"]["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure",
                                                                  "Ready"]
    assert requests_total(server.url, "PATCH", "nodes", "status") == patches + 2  # ours and the kubelet's one
