"""The simulated runtime: many nodes in one kubelet process, pods that "run" without processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cluster import ComponentProcess, ServerProcess, wait_for
from tests.kubelet.conftest import start_kubelet, wait_node_ready
from tests.kubelet.util import Api, container, cstatus, phase, pod, ready

NODES = [f"sim-{i}" for i in range(5)]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ComponentProcess, Api]]:
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("simulated")).start()
    kubelet = start_kubelet(server, "sim", "--runtime", "simulated", "--nodes", "5", "--cpu", "8",
                            "--memory", "16Gi", "--pods", "30", "--log-level", "warning")
    api = Api(server.url)
    try:
        for node in NODES:
            wait_node_ready(api, node, kubelet)
        yield server, kubelet, api
    finally:
        kubelet.stop()
        server.stop()


def test_fifty_pods_on_five_nodes(sim: tuple[ServerProcess, ComponentProcess, Api]) -> None:
    _, kubelet, api = sim
    ns = api.namespace("scale")
    start = time.monotonic()
    pods = [pod(f"p{i}", NODES[i % 5], container("app", "sleep", "infinity", image="nginx"),
                readinessGates=[]) for i in range(50)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: api.create_pod(ns, p), pods))

    def all_ready() -> list[dict[str, object]] | None:
        items = (api.get(f"/api/v1/namespaces/{ns}/pods") or {}).get("items") or []
        return items if len(items) == 50 and all(phase(p) == "Running" and ready(p) for p in items) else None

    items = wait_for(all_ready, timeout=30, interval=0.2, message="50 pods Running and Ready")
    took = time.monotonic() - start
    assert took < 20, took
    ips = {p["status"]["podIP"] for p in items}
    assert len(ips) == 50  # every pod its own IP from its node's range
    for p in items:
        node = p["spec"]["nodeName"]
        assert p["status"]["podIP"].startswith(f"10.244.{NODES.index(node)}.")
        assert cstatus(p)["containerID"].startswith("kplane-simulated://")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.delete(f"/api/v1/namespaces/{ns}/pods/p{i}"), range(50)))
    wait_for(lambda: not (api.get(f"/api/v1/namespaces/{ns}/pods") or {}).get("items"), timeout=30,
             message="all pods deleted")
    assert kubelet.alive()


def test_simulated_commands_and_annotations(sim: tuple[ServerProcess, ComponentProcess, Api]) -> None:
    _, _, api = sim
    ns = api.namespace("simcmd")
    api.create_pod(ns, pod("yes", NODES[0], container("c", "true"), restart="Never"))
    api.create_pod(ns, pod("no", NODES[1], container("c", "false"), restart="Never"))
    api.create_pod(ns, pod("code", NODES[2], container("c", "sh", "-c", "echo hi; sleep 0.5; exit 7"),
                           restart="Never"))
    annotated = pod("annotated", NODES[3], container("c", image="app"), restart="Never")
    annotated["metadata"]["annotations"] = {"kplane.dev/simulated-exit-code": "4",
                                            "kplane.dev/simulated-run-seconds": "0.5"}
    api.create_pod(ns, annotated)
    unready = pod("unready", NODES[4], container("c", "sleep", "infinity",
                                                 readinessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1}))
    api.create_pod(ns, unready)
    assert cstatus(api.wait_pod(ns, "yes", lambda p: phase(p) == "Succeeded"))["state"]["terminated"]["exitCode"] == 0
    assert cstatus(api.wait_pod(ns, "no", lambda p: phase(p) == "Failed"))["state"]["terminated"]["exitCode"] == 1
    assert cstatus(api.wait_pod(ns, "code", lambda p: phase(p) == "Failed"))["state"]["terminated"]["exitCode"] == 7
    assert api.http.get(f"/api/v1/namespaces/{ns}/pods/code/log").text == "hi\n"
    p = api.wait_pod(ns, "annotated", lambda p: phase(p) == "Failed")
    assert cstatus(p)["state"]["terminated"]["exitCode"] == 4
    p = api.wait_pod(ns, "unready", lambda p: phase(p) == "Running")
    time.sleep(1.5)
    p = api.pod(ns, "unready") or {}
    assert not ready(p) and phase(p) == "Running"


def test_pod_capacity_rejects_extra_pods(sim: tuple[ServerProcess, ComponentProcess, Api]) -> None:
    server, _, api = sim
    node = "sim-small"
    kubelet = start_kubelet(server, node, "--runtime", "simulated", "--pods", "2")
    try:
        wait_node_ready(api, node, kubelet)
        ns = api.namespace("cap")
        for i in range(3):
            api.create_pod(ns, pod(f"c{i}", node, container("c", "sleep", "infinity")))
            api.wait_pod(ns, f"c{i}", lambda p: phase(p) in ("Running", "Failed"))
        failed = [p for p in (api.get(f"/api/v1/namespaces/{ns}/pods") or {})["items"] if phase(p) == "Failed"]
        assert len(failed) == 1 and failed[0]["status"]["reason"] == "OutOfpods"
    finally:
        kubelet.stop()
