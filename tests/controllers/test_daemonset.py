"""The DaemonSet controller against a live cluster (API server + controller-manager, no scheduler or kubelet):
one pod per eligible node placed by node affinity, node label/taint changes, failed pods, ControllerRevisions,
RollingUpdate and OnDelete, status, and the real `kubectl rollout status`. Nodes are plain Node objects;
each test selects only its own nodes through a unique label."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controllers.daemonset import daemon_tolerations, node_affinity_for, should_run, target_node
from tests.cluster import ServerProcess, wait_for

from .util import MERGE, Kubelet, kubectl, live_pods, mark_ready, new_namespace

Obj = dict[str, Any]
HASH = "controller-revision-hash"


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    return new_namespace(http, "ds")


@pytest.fixture
def label() -> str:
    return f"ds-test-{uuid.uuid4().hex[:8]}"


def make_node(http: httpx.Client, name: str, labels: dict[str, str], taints: list[Obj] | None = None) -> None:
    body: Obj = {"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints or []},
                 "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    r = http.post("/api/v1/nodes", json=body)
    assert r.status_code == 201, r.text


def patch_node(http: httpx.Client, name: str, patch: Obj) -> None:
    r = http.patch(f"/api/v1/nodes/{name}", headers=MERGE, json=patch)
    assert r.status_code == 200, r.text


def ds_body(name: str, label: str, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"nodeSelector": {label: "yes"},
                                           "containers": [{"name": "c", "image": "busybox:1"}]}}, **spec}}


def create_ds(http: httpx.Client, ns: str, body: Obj) -> Obj:
    r = http.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets", json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def get_ds(http: httpx.Client, ns: str, name: str) -> Obj:
    out: Obj = http.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}").json()
    return out


def by_node(http: httpx.Client, ns: str) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for p in live_pods(http, ns):
        out.setdefault(target_node(p), []).append(p)
    return out


def nodes_with_pods(http: httpx.Client, ns: str, want: set[str]) -> dict[str, list[Obj]] | None:
    got = by_node(http, ns)
    return got if set(got) == want and all(len(v) == 1 for v in got.values()) else None


def events(http: httpx.Client, ns: str) -> list[tuple[str, str]]:
    items = http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["kind"] == "DaemonSet"]


# --- unit level ------------------------------------------------------------------------------------------


def test_eligibility_tolerations_and_affinity() -> None:
    ds = ds_body("x", "role")
    ds["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {
            "matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]}}

    def node(labels: dict[str, str], *taints: Obj) -> Obj:
        return {"metadata": {"name": "n", "labels": labels}, "spec": {"taints": list(taints)}}

    ok = {"role": "yes", "zone": "a"}
    assert should_run(ds, node(ok)) == (True, True)
    assert should_run(ds, node({"role": "yes", "zone": "b"})) == (False, False)
    assert should_run(ds, node({"zone": "a"})) == (False, False)
    # the DaemonSet tolerations: not-ready/unreachable NoExecute, pressure and unschedulable NoSchedule
    for key, effect in (("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unschedulable",
                                                                         "NoSchedule")):
        assert should_run(ds, node(ok, {"key": key, "effect": effect})) == (True, True)
    assert should_run(ds, node(ok, {"key": "dedicated", "value": "x", "effect": "NoSchedule"})) == (False, True)
    assert should_run(ds, node(ok, {"key": "dedicated", "value": "x", "effect": "NoExecute"})) == (False, False)
    assert should_run(ds, node(ok, {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"})) \
        == (False, True)
    ds["spec"]["template"]["spec"]["hostNetwork"] = True
    assert should_run(ds, node(ok, {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"})) \
        == (True, True)
    tols = daemon_tolerations({"tolerations": [{"key": "a", "operator": "Exists"}]})
    assert [t["key"] for t in tols] == ["a", "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable",
                                        "node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
                                        "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable"]
    affinity = node_affinity_for(ds["spec"]["template"]["spec"]["affinity"], "n1")
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}
    assert affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 1
    assert target_node({"spec": {"affinity": affinity}}) == "n1"
    assert target_node({"spec": {"nodeName": "n2", "affinity": affinity}}) == "n2"


# --- live ----------------------------------------------------------------------------------------------


def test_pods_follow_nodes_and_status(http: httpx.Client, ns: str, label: str) -> None:
    a, b, c = (f"{label}-{x}" for x in "abc")
    make_node(http, a, {label: "yes"})
    make_node(http, b, {label: "yes"})
    make_node(http, c, {})
    ds = create_ds(http, ns, ds_body("agent", label))
    uid = ds["metadata"]["uid"]
    placed = wait_for(lambda: nodes_with_pods(http, ns, {a, b}), timeout=15, message="a pod on a and b")
    revisions = http.get(f"/apis/apps/v1/namespaces/{ns}/controllerrevisions").json()["items"]
    assert len(revisions) == 1
    rev = revisions[0]
    hash_ = rev["metadata"]["labels"][HASH]
    assert rev["metadata"]["name"] == f"agent-{hash_}" and rev["revision"] == 1
    assert rev["metadata"]["ownerReferences"][0]["uid"] == uid
    assert rev["data"]["spec"]["template"]["$patch"] == "replace"
    for node, (pod,) in placed.items():
        meta, spec = pod["metadata"], pod["spec"]
        assert meta["generateName"] == "agent-"
        assert meta["labels"] == {"app": "agent", HASH: hash_}
        assert meta["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                            "uid": uid, "controller": True, "blockOwnerDeletion": True}]
        assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
        assert {(t["key"], t["effect"]) for t in spec["tolerations"]} >= {
            ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/unschedulable", "NoSchedule")}
    status = wait_for(lambda: (s := get_ds(http, ns, "agent")["status"]).get("observedGeneration") == 1
                      and s.get("currentNumberScheduled") == 2 and s, timeout=10)
    assert status["desiredNumberScheduled"] == 2 and status["numberReady"] == 0
    assert status["numberMisscheduled"] == 0 and status["updatedNumberScheduled"] == 2
    assert status["numberUnavailable"] == 2 and "numberAvailable" not in status
    for (pod,) in placed.values():
        mark_ready(http, ns, pod["metadata"]["name"])
    status = wait_for(lambda: (s := get_ds(http, ns, "agent")["status"]).get("numberAvailable") == 2 and s,
                      timeout=10, message="2 available")
    assert status["numberReady"] == 2 and "numberUnavailable" not in status

    patch_node(http, c, {"metadata": {"labels": {label: "yes"}}})
    wait_for(lambda: nodes_with_pods(http, ns, {a, b, c}), timeout=10, message="a pod on the newly labelled node")
    patch_node(http, a, {"metadata": {"labels": {label: None}}})
    wait_for(lambda: nodes_with_pods(http, ns, {b, c}), timeout=10, message="the pod leaves the unlabelled node")
    assert http.delete(f"/api/v1/nodes/{b}").status_code == 200
    wait_for(lambda: nodes_with_pods(http, ns, {c}), timeout=10, message="the pod of a deleted node goes")
    # an untolerated NoSchedule taint keeps the running pod (misscheduled), NoExecute evicts it
    patch_node(http, c, {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})
    status = wait_for(lambda: (s := get_ds(http, ns, "agent")["status"]).get("numberMisscheduled") == 1 and s,
                      timeout=10, message="misscheduled")
    assert status["desiredNumberScheduled"] == 0 and status["currentNumberScheduled"] == 0
    assert set(by_node(http, ns)) == {c}
    patch_node(http, c, {"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]}})
    wait_for(lambda: not live_pods(http, ns), timeout=10, message="NoExecute removes the pod")
    wait_for(lambda: get_ds(http, ns, "agent")["status"].get("numberMisscheduled") == 0, timeout=10)
    reasons = [r for r, _ in events(http, ns)]
    assert reasons.count("SuccessfulCreate") == 3 and reasons.count("SuccessfulDelete") >= 2


def test_rolling_update_and_rollout_status(http: httpx.Client, ns: str, label: str, cluster: ServerProcess) -> None:
    nodes = [f"{label}-{i}" for i in range(3)]
    for n in nodes:
        make_node(http, n, {label: "yes"})
    seen: list[tuple[int, int]] = []
    with Kubelet(cluster, ns) as kubelet:
        create_ds(http, ns, ds_body("roll", label))
        out = kubectl(cluster, "rollout", "status", "ds/roll", "-n", ns, "--timeout=30s")
        assert 'daemon set "roll" successfully rolled out' in out
        first = {p["metadata"]["labels"][HASH] for p in live_pods(http, ns)}
        assert len(first) == 1 and len(live_pods(http, ns)) == 3
        start = len(kubelet.history)
        r = http.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/roll", headers=MERGE, json={"spec": {"template": {
            "spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})
        assert r.status_code == 200, r.text
        out = kubectl(cluster, "rollout", "status", "ds/roll", "-n", ns, "--timeout=40s")
        assert 'daemon set "roll" successfully rolled out' in out
        seen = [(live, avail) for live, avail, _ in kubelet.history[start:]]
    hashes = {p["metadata"]["labels"][HASH] for p in live_pods(http, ns)}
    assert len(hashes) == 1 and hashes != first and len(live_pods(http, ns)) == 3
    assert max(live for live, _ in seen) <= 3, "no surge by default"
    assert min(avail for _, avail in seen) >= 2, "maxUnavailable 1"
    revisions = sorted(http.get(f"/apis/apps/v1/namespaces/{ns}/controllerrevisions").json()["items"],
                       key=lambda r: r["revision"])
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[1]["metadata"]["labels"][HASH] in hashes
    status = get_ds(http, ns, "roll")["status"]
    assert status["observedGeneration"] == 2 and status["updatedNumberScheduled"] == 3
    assert status["numberAvailable"] == 3 and status["desiredNumberScheduled"] == 3


def test_surge_rolling_update(http: httpx.Client, ns: str, label: str, cluster: ServerProcess) -> None:
    nodes = [f"{label}-{i}" for i in range(2)]
    for n in nodes:
        make_node(http, n, {label: "yes"})
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    with Kubelet(cluster, ns) as kubelet:
        create_ds(http, ns, ds_body("surge", label, updateStrategy=strategy))
        kubectl(cluster, "rollout", "status", "ds/surge", "-n", ns, "--timeout=30s")
        start = len(kubelet.history)
        r = http.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/surge", headers=MERGE, json={"spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})
        assert r.status_code == 200, r.text
        out = kubectl(cluster, "rollout", "status", "ds/surge", "-n", ns, "--timeout=40s")
        assert "successfully rolled out" in out
        seen = [(live, avail) for live, avail, _ in kubelet.history[start:]]
    assert max(live for live, _ in seen) == 3, "one surge pod at a time"
    assert min(avail for _, avail in seen) >= 2, "maxUnavailable 0"
    wait_for(lambda: len(live_pods(http, ns)) == 2, timeout=10)


def test_on_delete_and_failed_pods(http: httpx.Client, ns: str, label: str) -> None:
    node = f"{label}-x"
    make_node(http, node, {label: "yes"})
    create_ds(http, ns, ds_body("od", label, updateStrategy={"type": "OnDelete"}))
    (pod,) = wait_for(lambda: nodes_with_pods(http, ns, {node}), timeout=10)[node]
    old_hash = pod["metadata"]["labels"][HASH]
    r = http.patch(f"/apis/apps/v1/namespaces/{ns}/daemonsets/od", headers=MERGE, json={"spec": {"template": {
        "spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})
    assert r.status_code == 200, r.text
    status = wait_for(lambda: (s := get_ds(http, ns, "od")["status"]).get("observedGeneration") == 2 and s,
                      timeout=10)
    assert "updatedNumberScheduled" not in status and status["currentNumberScheduled"] == 1
    assert [p["metadata"]["name"] for p in live_pods(http, ns)] == [pod["metadata"]["name"]], "OnDelete waits"
    assert http.delete(f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}").status_code == 200
    (new,) = wait_for(lambda: (g := nodes_with_pods(http, ns, {node})) and
                      g[node][0]["metadata"]["name"] != pod["metadata"]["name"] and g, timeout=10)[node]
    assert new["metadata"]["labels"][HASH] != old_hash
    wait_for(lambda: get_ds(http, ns, "od")["status"].get("updatedNumberScheduled") == 1, timeout=10)
    # a failed daemon pod is deleted and replaced
    r = http.patch(f"/api/v1/namespaces/{ns}/pods/{new['metadata']['name']}/status", headers=MERGE,
                   json={"status": {"phase": "Failed"}})
    assert r.status_code == 200, r.text
    wait_for(lambda: (g := nodes_with_pods(http, ns, {node})) and
             g[node][0]["metadata"]["name"] != new["metadata"]["name"], timeout=10, message="replaced")
    msg = f"Found failed daemon pod {ns}/{new['metadata']['name']} on node {node}, will try to kill it"
    wait_for(lambda: ("FailedDaemonPod", msg) in events(http, ns), timeout=5)
