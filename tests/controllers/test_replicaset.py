"""The ReplicaSet and ReplicationController controllers against a live cluster: pods from the template,
status, scale-down ranking, adoption and release, create failures. Pod status is set as a kubelet would."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controllers.replicaset import slow_start_batch
from tests.cluster import ServerProcess, wait_for

from .util import MERGE, kubectl, live_pods, mark_ready, new_namespace

Obj = dict[str, Any]


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    return new_namespace(http, "rs")


def rs_body(name: str, replicas: int, labels: dict[str, str], *, image: str = "nginx", **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels, tier="web")},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def create_rs(http: httpx.Client, ns: str, body: Obj) -> Obj:
    r = http.post(f"/apis/apps/v1/namespaces/{ns}/replicasets", json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def get_rs(http: httpx.Client, ns: str, name: str) -> Obj:
    out: Obj = http.get(f"/apis/apps/v1/namespaces/{ns}/replicasets/{name}").json()
    return out


def scale(http: httpx.Client, ns: str, name: str, replicas: int) -> None:
    r = http.patch(f"/apis/apps/v1/namespaces/{ns}/replicasets/{name}", headers=MERGE,
                   json={"spec": {"replicas": replicas}})
    assert r.status_code == 200, r.text


def pods_of(http: httpx.Client, ns: str, uid: str) -> list[Obj]:
    return [p for p in live_pods(http, ns)
            if any(ref["uid"] == uid and ref.get("controller") for ref in p["metadata"].get("ownerReferences") or [])]


def events(http: httpx.Client, ns: str, reason: str) -> list[Obj]:
    items: list[Obj] = http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [e for e in items if e["reason"] == reason]


def make_pod(http: httpx.Client, ns: str, name: str, labels: dict[str, str], node: str = "") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    r = http.post(f"/api/v1/namespaces/{ns}/pods", json={"metadata": {"name": name, "labels": labels},
                                                          "spec": spec})
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def test_creates_pods_from_the_template_and_reports_status(http: httpx.Client, ns: str) -> None:
    rs = create_rs(http, ns, rs_body("front", 3, {"app": "front"}))
    pods = wait_for(lambda: (p := live_pods(http, ns)) and len(p) == 3 and p, timeout=10, message="3 pods")
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "front", "uid": rs["metadata"]["uid"],
           "controller": True, "blockOwnerDeletion": True}
    for pod in pods:
        assert pod["metadata"]["generateName"] == "front-"
        assert pod["metadata"]["labels"] == {"app": "front", "tier": "web"}
        assert pod["metadata"]["ownerReferences"] == [ref]
        assert pod["spec"]["containers"][0]["image"] == "nginx"
    time.sleep(0.5)
    assert len(live_pods(http, ns)) == 3, "expectations: no second round of creates"
    for pod in pods[:2]:
        mark_ready(http, ns, pod["metadata"]["name"])
    status = wait_for(lambda: (s := get_rs(http, ns, "front")["status"]).get("readyReplicas") == 2 and s,
                      timeout=10)
    assert status == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
                      "observedGeneration": 1, "terminatingReplicas": 0}
    created = wait_for(lambda: (e := events(http, ns, "SuccessfulCreate")) and len(e) == 3 and e, timeout=5)
    assert sorted(e["message"] for e in created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    assert {e["source"]["component"] for e in created} == {"replicaset-controller"}
    # a pod that finishes or fails is not counted: the ReplicaSet makes a replacement
    mark_ready(http, ns, pods[2]["metadata"]["name"], ready=False, phase="Failed")
    wait_for(lambda: len([p for p in live_pods(http, ns) if p["status"].get("phase") != "Failed"]) == 3, timeout=10)
    assert wait_for(lambda: (s := get_rs(http, ns, "front")["status"])["replicas"] == 3 and s, timeout=5)


def test_scale_down_deletes_pods_in_upstream_rank_order(http: httpx.Client, ns: str) -> None:
    labels = {"app": "rank"}
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    make_pod(http, ns, "a-unscheduled", labels)
    mark_ready(http, ns, "a-unscheduled", ready_since=long_ago)
    make_pod(http, ns, "b-pending", labels, node="n1")
    make_pod(http, ns, "c-not-ready", labels, node="n1")
    mark_ready(http, ns, "c-not-ready", ready=False)
    make_pod(http, ns, "d-ready-long", labels, node="n2")
    mark_ready(http, ns, "d-ready-long", ready_since=long_ago)
    make_pod(http, ns, "e-ready-recently", labels, node="n3")
    mark_ready(http, ns, "e-ready-recently")
    make_pod(http, ns, "f-restarting", labels, node="n4")
    mark_ready(http, ns, "f-restarting", ready_since=long_ago, restarts=5)
    rs = create_rs(http, ns, rs_body("rank", 6, labels))
    uid = rs["metadata"]["uid"]
    wait_for(lambda: len(pods_of(http, ns, uid)) == 6, timeout=10, message="the six orphans adopted")
    assert not events(http, ns, "SuccessfulCreate")

    def remaining() -> set[str]:
        return {p["metadata"]["name"] for p in pods_of(http, ns, uid)}

    scale(http, ns, "rank", 3)
    wait_for(lambda: remaining() == {"d-ready-long", "e-ready-recently", "f-restarting"}, timeout=10,
             message="unscheduled, pending and not-ready pods deleted first")
    # the scheduled ones are deleted gracefully (no kubelet finishes them): they count as terminating
    status = wait_for(lambda: (s := get_rs(http, ns, "rank")["status"]).get("terminatingReplicas") == 2 and s,
                      timeout=10)
    assert status["replicas"] == 3
    scale(http, ns, "rank", 1)
    wait_for(lambda: remaining() == {"d-ready-long"}, timeout=10,
             message="ready for less time, then more restarts, deleted first")
    deleted = {e["message"] for e in events(http, ns, "SuccessfulDelete")}
    assert deleted == {f"Deleted pod: {n}" for n in ("a-unscheduled", "b-pending", "c-not-ready",
                                                     "e-ready-recently", "f-restarting")}


def test_adopts_orphans_and_releases_pods_that_stop_matching(http: httpx.Client, ns: str) -> None:
    labels = {"app": "adopt"}
    make_pod(http, ns, "orphan", labels)
    owner = http.post(f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "someone"}}).json()
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "someone", "uid": owner["metadata"]["uid"],
             "controller": True}
    r = http.post(f"/api/v1/namespaces/{ns}/pods", json={
        "metadata": {"name": "owned-elsewhere", "labels": labels, "ownerReferences": [other]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    assert r.status_code == 201, r.text
    rs = create_rs(http, ns, rs_body("adopt", 2, labels))
    uid = rs["metadata"]["uid"]
    pods = wait_for(lambda: (p := pods_of(http, ns, uid)) and len(p) == 2 and p, timeout=10)
    assert "orphan" in {p["metadata"]["name"] for p in pods}
    orphan = next(p for p in pods if p["metadata"]["name"] == "orphan")
    assert orphan["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                      "name": "adopt", "uid": uid, "controller": True,
                                                      "blockOwnerDeletion": True}]
    assert len(events(http, ns, "SuccessfulCreate")) == 1, "one pod created next to the adopted orphan"
    elsewhere = http.get(f"/api/v1/namespaces/{ns}/pods/owned-elsewhere").json()
    assert elsewhere["metadata"]["ownerReferences"] == [other], "a pod another controller owns is left alone"
    # the template's labels are a superset of the selector: fullyLabeledReplicas counts pods that have them all
    status = wait_for(lambda: (s := get_rs(http, ns, "adopt")["status"]).get("replicas") == 2 and s, timeout=10)
    assert status.get("fullyLabeledReplicas") == 1
    r = http.patch(f"/api/v1/namespaces/{ns}/pods/orphan", headers=MERGE,
                   json={"metadata": {"labels": {"app": "elsewhere"}}})
    assert r.status_code == 200, r.text
    released = wait_for(lambda: not (p := http.get(f"/api/v1/namespaces/{ns}/pods/orphan").json())["metadata"].get(
        "ownerReferences") and p, timeout=10, message="the relabelled pod released")
    assert released["metadata"]["labels"] == {"app": "elsewhere"}
    pods = wait_for(lambda: (p := pods_of(http, ns, uid)) and len(p) == 2 and "orphan" not in
                    {x["metadata"]["name"] for x in p} and p, timeout=10, message="a replacement")
    status = wait_for(lambda: (s := get_rs(http, ns, "adopt")["status"]).get("fullyLabeledReplicas") == 2 and s,
                      timeout=10)
    assert status["replicas"] == 2


def test_failed_creates_set_replica_failure_until_fixed(http: httpx.Client, ns: str) -> None:
    # a template may carry an image with surrounding spaces; a pod may not: every create fails
    create_rs(http, ns, rs_body("broken", 3, {"app": "broken"}, image=" nginx"))
    rs = wait_for(lambda: (x := get_rs(http, ns, "broken"))["status"].get("conditions") and x, timeout=10)
    [cond] = rs["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True", "FailedCreate")
    assert "must not have leading or trailing whitespace" in cond["message"]
    failed = wait_for(lambda: events(http, ns, "FailedCreate"), timeout=5)
    assert failed[0]["type"] == "Warning" and failed[0]["message"].startswith("Error creating: Pod ")
    assert live_pods(http, ns) == []
    r = http.patch(f"/apis/apps/v1/namespaces/{ns}/replicasets/broken", headers=MERGE, json={
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(live_pods(http, ns)) == 3, timeout=15, message="pods once the template is fixed")
    rs = wait_for(lambda: not (x := get_rs(http, ns, "broken"))["status"].get("conditions") and x, timeout=10)
    assert rs["status"]["observedGeneration"] == 2


def test_available_replicas_wait_for_min_ready_seconds(http: httpx.Client, ns: str) -> None:
    # long enough that a loaded machine still sees the ready-but-not-yet-available window
    create_rs(http, ns, rs_body("slow", 1, {"app": "slow"}, minReadySeconds=4))
    [pod] = wait_for(lambda: live_pods(http, ns), timeout=10)
    mark_ready(http, ns, pod["metadata"]["name"])
    status = wait_for(lambda: (s := get_rs(http, ns, "slow")["status"]).get("readyReplicas") == 1 and s, timeout=5)
    assert status.get("availableReplicas", 0) == 0
    wait_for(lambda: get_rs(http, ns, "slow")["status"].get("availableReplicas") == 1, timeout=15)


def test_replication_controller(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
            "spec": {"replicas": 2, "selector": {"app": "legacy"},
                     "template": {"metadata": {"labels": {"app": "legacy"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    r = http.post(f"/api/v1/namespaces/{ns}/replicationcontrollers", json=body)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]
    pods = wait_for(lambda: (p := live_pods(http, ns)) and len(p) == 2 and p, timeout=10)
    for pod in pods:
        assert pod["metadata"]["generateName"] == "legacy-"
        assert pod["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "ReplicationController",
                                                       "name": "legacy", "uid": uid, "controller": True,
                                                       "blockOwnerDeletion": True}]
        mark_ready(http, ns, pod["metadata"]["name"])
    kubectl(cluster, "scale", "rc/legacy", "--replicas=3", "-n", ns)
    wait_for(lambda: len(live_pods(http, ns)) == 3, timeout=10)
    status = wait_for(lambda: (s := http.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/legacy").json()[
        "status"]).get("replicas") == 3 and s.get("observedGeneration") == 2 and s, timeout=10)
    assert status == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
                      "observedGeneration": 2}
    created = events(http, ns, "SuccessfulCreate")
    assert len(created) == 3 and {e["source"]["component"] for e in created} == {"replication-controller"}


def test_slow_start_batches_double_until_a_failure() -> None:
    calls: list[int] = []

    async def create() -> None:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("quota exceeded")

    successes, err = asyncio.run(slow_start_batch(20, 1, create))
    # batches 1, 2, 4: the third batch has the first failures and no further batch starts
    assert (len(calls), successes, str(err)) == (7, 5, "quota exceeded")
    calls.clear()
    assert asyncio.run(slow_start_batch(6, 1, create))[0] == 5
