"""The StatefulSet controller against a live cluster: ordinal pods in order (OrderedReady) or at once
(Parallel), scale-down order, rolling updates with a partition, ControllerRevisions and kubectl rollout,
PVCs from claim templates and their retention policy. Pod status is set as a kubelet would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import ServerProcess, wait_for

from .util import MERGE, Watcher, is_ready, kubectl, live_pods, mark_ready, new_namespace, pod_status

Obj = dict[str, Any]
STS = "/apis/apps/v1/namespaces/{ns}/statefulsets"


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    return new_namespace(http, "sts")


def sts_body(name: str, replicas: int, *, image: str = "nginx:1", **spec: Any) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": f"{name}-svc", "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def create_sts(http: httpx.Client, ns: str, body: Obj) -> Obj:
    r = http.post(STS.format(ns=ns), json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def get_sts(http: httpx.Client, ns: str, name: str) -> Obj:
    out: Obj = http.get(f"{STS.format(ns=ns)}/{name}").json()
    return out


def patch_sts(http: httpx.Client, ns: str, name: str, patch: Obj) -> None:
    r = http.patch(f"{STS.format(ns=ns)}/{name}", headers=MERGE, json=patch)
    assert r.status_code == 200, r.text


def pods_by_name(http: httpx.Client, ns: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in live_pods(http, ns)}


class ReadyingKubelet(Watcher):
    """Marks every new pod Running and Ready, recording for each pod added which pods were Ready then,
    and the order of deletions."""

    def __init__(self, server: ServerProcess, ns: str) -> None:
        super().__init__(server, f"/api/v1/namespaces/{ns}/pods", self._saw)
        self.ready: set[str] = set()
        self.added: list[tuple[str, frozenset[str]]] = []
        self.deleted: list[str] = []

    def __enter__(self) -> ReadyingKubelet:
        super().__enter__()
        return self

    def _saw(self, http: httpx.Client, kind: str, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            self.ready.discard(name)
            self.deleted.append(name)
            return
        if kind == "ADDED":
            self.added.append((name, frozenset(self.ready)))
        if is_ready(pod):
            self.ready.add(name)
        elif not pod["metadata"].get("deletionTimestamp"):
            r = http.patch(f"{self.path}/{name}/status", headers=MERGE, json={"status": pod_status(pod)})
            assert r.status_code in (200, 404, 409), r.text


def test_ordered_ready_creation_identity_status_and_scale_down(cluster: ServerProcess, http: httpx.Client,
                                                               ns: str) -> None:
    with ReadyingKubelet(cluster, ns) as kubelet:
        sts = create_sts(http, ns, sts_body("web", 3))
        status = wait_for(lambda: (s := get_sts(http, ns, "web").get("status") or {}).get("readyReplicas") == 3
                          and s, timeout=20, message="3 ready replicas")
        # each ordinal was created only once its predecessor was Ready
        order = [(n, before) for n, before in kubelet.added if n.startswith("web-")]
        assert [n for n, _ in order] == ["web-0", "web-1", "web-2"]
        assert "web-0" in order[1][1] and "web-1" in order[2][1]
        assert status["replicas"] == 3 and status["availableReplicas"] == 3
        assert status["currentReplicas"] == status["updatedReplicas"] == 3
        assert status["currentRevision"] == status["updateRevision"]
        assert status["updateRevision"].startswith("web-")
        assert status["observedGeneration"] == 1
        pods = pods_by_name(http, ns)
        pod = pods["web-1"]
        assert pod["metadata"]["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-1",
                                             "apps.kubernetes.io/pod-index": "1",
                                             "controller-revision-hash": status["updateRevision"]}
        assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web-svc"
        assert pod["metadata"]["ownerReferences"][0]["uid"] == sts["metadata"]["uid"]
        revs = http.get(f"/apis/apps/v1/namespaces/{ns}/controllerrevisions").json()["items"]
        assert [r["metadata"]["name"] for r in revs] == [status["updateRevision"]]
        assert revs[0]["revision"] == 1
        # the defaulted partition (0) makes kubectl report a partitioned rollout, as against upstream
        assert "roll out complete: 3 new pods" in kubectl(cluster, "-n", ns, "rollout", "status", "sts/web",
                                                           "--timeout=20s")
        # a deleted pod comes back with the same name (and a new uid)
        old_uid = pod["metadata"]["uid"]
        assert http.delete(f"/api/v1/namespaces/{ns}/pods/web-1").status_code == 200
        wait_for(lambda: (p := pods_by_name(http, ns).get("web-1")) and p["metadata"]["uid"] != old_uid,
                 timeout=10, message="web-1 recreated")
        # scale down: highest ordinal first, one at a time
        kubectl(cluster, "-n", ns, "scale", "sts/web", "--replicas=1")
        wait_for(lambda: set(pods_by_name(http, ns)) == {"web-0"}, timeout=20, message="scaled to 1")
        # the watch thread may see the last DELETED event after the list above already lacks the pod
        wait_for(lambda: kubelet.deleted[-2:] == ["web-2", "web-1"], timeout=10,
                 message=f"deletions web-2 then web-1 (saw {kubelet.deleted})")
        wait_for(lambda: get_sts(http, ns, "web")["status"].get("replicas") == 1, timeout=10)


def test_parallel_creates_all_and_failed_pods_are_recreated(http: httpx.Client, ns: str) -> None:
    create_sts(http, ns, sts_body("par", 3, podManagementPolicy="Parallel"))
    wait_for(lambda: set(pods_by_name(http, ns)) == {"par-0", "par-1", "par-2"}, timeout=10,
             message="all three pods without any being Ready")
    status = wait_for(lambda: (s := get_sts(http, ns, "par").get("status") or {}).get("replicas") == 3 and s,
                      timeout=10)
    assert not status.get("readyReplicas")
    old_uid = pods_by_name(http, ns)["par-2"]["metadata"]["uid"]
    mark_ready(http, ns, "par-2", ready=False, phase="Failed")
    wait_for(lambda: (p := pods_by_name(http, ns).get("par-2")) and p["metadata"]["uid"] != old_uid
             and (p.get("status") or {}).get("phase") != "Failed", timeout=10, message="par-2 recreated")


def test_ordered_ready_waits_for_the_previous_pod(http: httpx.Client, ns: str) -> None:
    create_sts(http, ns, sts_body("slow", 2))
    wait_for(lambda: "slow-0" in pods_by_name(http, ns), timeout=10)
    # not Ready yet: slow-1 must not appear; a status write proves the controller has seen the pod
    wait_for(lambda: (get_sts(http, ns, "slow").get("status") or {}).get("replicas") == 1, timeout=10)
    assert set(pods_by_name(http, ns)) == {"slow-0"}
    mark_ready(http, ns, "slow-0")
    wait_for(lambda: "slow-1" in pods_by_name(http, ns), timeout=10)


def test_rolling_update_partition_rollout_and_undo(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    with ReadyingKubelet(cluster, ns) as kubelet:
        create_sts(http, ns, sts_body("db", 3))
        first = wait_for(lambda: (s := get_sts(http, ns, "db").get("status") or {}).get("readyReplicas") == 3
                         and s.get("currentReplicas") == 3 and s, timeout=20)["currentRevision"]
        kubelet.deleted.clear()
        patch_sts(http, ns, "db", {"spec": {
            "updateStrategy": {"rollingUpdate": {"partition": 1}},
            "template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})

        def image(name: str) -> str:
            pod = pods_by_name(http, ns).get(name)
            return str(pod["spec"]["containers"][0]["image"]) if pod and is_ready(pod) else ""

        wait_for(lambda: image("db-1") == "nginx:2" and image("db-2") == "nginx:2", timeout=20,
                 message="ordinals >= partition updated")
        assert image("db-0") == "nginx:1"
        assert kubelet.deleted == ["db-2", "db-1"]
        status = wait_for(lambda: (s := get_sts(http, ns, "db")["status"]).get("updatedReplicas") == 2
                          and s.get("readyReplicas") == 3 and s, timeout=10)
        assert status["currentRevision"] == first != status["updateRevision"]
        assert status["currentReplicas"] == 1
        second = status["updateRevision"]
        assert "partitioned roll out complete: 2 new pods" in kubectl(
            cluster, "-n", ns, "rollout", "status", "sts/db", "--timeout=20s")
        patch_sts(http, ns, "db", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
        kubectl(cluster, "-n", ns, "rollout", "status", "sts/db", "--timeout=20s")
        status = wait_for(lambda: (s := get_sts(http, ns, "db")["status"]).get("currentRevision") == second
                          and s, timeout=10)
        assert status["currentReplicas"] == status["updatedReplicas"] == 3
        assert image("db-0") == "nginx:2"
        # undo: the first revision's template comes back, as revision 3
        kubectl(cluster, "-n", ns, "rollout", "undo", "sts/db")
        wait_for(lambda: all(image(f"db-{i}") == "nginx:1" for i in range(3)), timeout=20,
                 message="rolled back")
        wait_for(lambda: get_sts(http, ns, "db")["status"].get("currentRevision") == first, timeout=10)
        revs = {r["metadata"]["name"]: r["revision"]
                for r in http.get(f"/apis/apps/v1/namespaces/{ns}/controllerrevisions").json()["items"]}
        assert revs == {first: 3, second: 2}
        history = kubectl(cluster, "-n", ns, "rollout", "history", "sts/db")
        assert "2" in history and "3" in history


def claim_template(name: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"tier": "storage"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def pvcs(http: httpx.Client, ns: str) -> dict[str, Obj]:
    items = http.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims").json()["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def test_claims_from_templates_and_retention_policy(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    sts = create_sts(http, ns, sts_body("kv", 2, podManagementPolicy="Parallel",
                                        volumeClaimTemplates=[claim_template("data")],
                                        persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete",
                                                                              "whenDeleted": "Delete"}))
    create_sts(http, ns, sts_body("keep", 2, podManagementPolicy="Parallel",
                                  volumeClaimTemplates=[claim_template("data")]))
    want = {"data-kv-0", "data-kv-1", "data-keep-0", "data-keep-1"}
    wait_for(lambda: set(pvcs(http, ns)) == want, timeout=10, message="claims")
    wait_for(lambda: len(pods_by_name(http, ns)) == 4, timeout=10, message="4 pods")
    pods = pods_by_name(http, ns)
    # no provisioner: the claims stay Pending, the pods are still created
    claim = pvcs(http, ns)["data-kv-1"]
    # (upstream reads back status.phase Pending; this server leaves status empty on create - not ours)
    assert claim["status"].get("phase", "Pending") == "Pending" and not claim["spec"].get("volumeName")
    assert claim["metadata"]["labels"] == {"tier": "storage", "app": "kv"}
    assert [r["uid"] for r in claim["metadata"]["ownerReferences"]] == [sts["metadata"]["uid"]]
    assert "ownerReferences" not in pvcs(http, ns)["data-keep-1"]["metadata"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-kv-1"}} in pods["kv-1"]["spec"]["volumes"]
    # whenScaled=Delete: the condemned ordinal's claim goes with its pod; Retain keeps it
    patch_sts(http, ns, "kv", {"spec": {"replicas": 1}})
    patch_sts(http, ns, "keep", {"spec": {"replicas": 1}})
    wait_for(lambda: "data-kv-1" not in pvcs(http, ns), timeout=20, message="data-kv-1 deleted")
    wait_for(lambda: "keep-1" not in pods_by_name(http, ns), timeout=10)
    assert {"data-kv-0", "data-keep-0", "data-keep-1"} <= set(pvcs(http, ns))
    # whenDeleted=Delete: the claims go with the StatefulSet
    kubectl(cluster, "-n", ns, "delete", "sts/kv")
    wait_for(lambda: "data-kv-0" not in pvcs(http, ns), timeout=20, message="data-kv-0 deleted")
    assert set(pvcs(http, ns)) == {"data-keep-0", "data-keep-1"}


def test_on_delete_updates_only_deleted_pods(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    with ReadyingKubelet(cluster, ns):
        create_sts(http, ns, sts_body("od", 2, updateStrategy={"type": "OnDelete"}))
        wait_for(lambda: (get_sts(http, ns, "od").get("status") or {}).get("readyReplicas") == 2, timeout=20)
        patch_sts(http, ns, "od", {"spec": {"template": {"spec": {"containers": [{"name": "c",
                                                                                   "image": "nginx:2"}]}}}})
        status = wait_for(lambda: (s := get_sts(http, ns, "od")["status"]).get("observedGeneration") == 2
                          and s, timeout=10)
        assert status["updateRevision"] != status["currentRevision"]
        assert status["collisionCount"] == 0
        assert {p["spec"]["containers"][0]["image"] for p in pods_by_name(http, ns).values()} == {"nginx:1"}
        assert http.delete(f"/api/v1/namespaces/{ns}/pods/od-0").status_code == 200
        wait_for(lambda: (p := pods_by_name(http, ns).get("od-0")) and is_ready(p)
                 and p["spec"]["containers"][0]["image"] == "nginx:2", timeout=10, message="od-0 updated")
        status = wait_for(lambda: (s := get_sts(http, ns, "od")["status"]).get("updatedReplicas") == 1 and s,
                          timeout=10)
        assert status["currentReplicas"] == 1 and status["readyReplicas"] == 2
        assert pods_by_name(http, ns)["od-1"]["spec"]["containers"][0]["image"] == "nginx:1"
