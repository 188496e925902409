"""The garbage collector against a live cluster: ConfigMaps owning ConfigMaps (no workload controller needed),
custom resources, cluster-scoped owners, and kubectl's --cascade=background|foreground|orphan."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.kubectl import KUBECTL_137, run_kubectl
from tests.cluster import ServerProcess, wait_for

Obj = dict[str, Any]
MERGE = {"content-type": "application/merge-patch+json"}


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    name = "gc-" + uuid.uuid4().hex[:8]
    assert http.post("/api/v1/namespaces", json={"metadata": {"name": name}}).status_code == 201
    return name


def kubectl(cluster: ServerProcess, *args: str) -> str:
    r = run_kubectl(KUBECTL_137, cluster.kubeconfig, *args, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ref(owner: Obj, *, block: bool | None = None, controller: bool | None = None) -> Obj:
    out = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"]}
    if block is not None:
        out["blockOwnerDeletion"] = block
    if controller is not None:
        out["controller"] = controller
    return out


def configmap(http: httpx.Client, ns: str, name: str, *owners: Obj, finalizers: list[str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = finalizers
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": meta})
    assert r.status_code == 201, r.text
    obj: Obj = r.json()
    obj.setdefault("apiVersion", "v1")
    obj.setdefault("kind", "ConfigMap")
    return obj


def get(http: httpx.Client, path: str) -> Obj | None:
    r = http.get(path)
    return r.json() if r.status_code == 200 else None


def cm_path(ns: str, name: str) -> str:
    return f"/api/v1/namespaces/{ns}/configmaps/{name}"


def gone(http: httpx.Client, *paths: str, timeout: float = 10) -> None:
    for p in paths:
        wait_for(lambda p=p: get(http, p) is None, timeout=timeout, message=f"{p} deleted")


def test_background_deletes_dependents_transitively(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    owner = configmap(http, ns, "owner")
    child = configmap(http, ns, "child", ref(owner, controller=True, block=True))
    configmap(http, ns, "grandchild", ref(child))
    other = configmap(http, ns, "unrelated")
    kubectl(cluster, "delete", "configmap", "owner", "-n", ns)  # --cascade=background is kubectl's default
    gone(http, cm_path(ns, "owner"), cm_path(ns, "child"), cm_path(ns, "grandchild"))
    assert get(http, cm_path(ns, "unrelated"))["metadata"]["uid"] == other["metadata"]["uid"]  # type: ignore[index]


def test_dangling_references(http: httpx.Client, ns: str) -> None:
    alive = configmap(http, ns, "alive")
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    configmap(http, ns, "orphaned", ghost)
    configmap(http, ns, "half", ghost, ref(alive))
    # an owner of the same name but another uid is not the owner either
    impostor = {**ref(alive), "uid": str(uuid.uuid4())}
    configmap(http, ns, "impostor-child", impostor)
    gone(http, cm_path(ns, "orphaned"), cm_path(ns, "impostor-child"))
    # a dependent with a live owner only loses the dangling reference
    half = wait_for(lambda: (o := get(http, cm_path(ns, "half"))) and len(o["metadata"]["ownerReferences"]) == 1
                    and o, timeout=10, message="the dangling reference removed")
    assert half["metadata"]["ownerReferences"][0]["uid"] == alive["metadata"]["uid"]


def test_foreground_deletes_the_owner_last(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    owner = configmap(http, ns, "owner")
    # a blocking dependent held by a finalizer keeps the owner; a non-blocking one does not
    configmap(http, ns, "blocking", ref(owner, block=True), finalizers=["example.com/hold"])
    configmap(http, ns, "free", ref(owner))
    kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground", "--wait=false")
    held = wait_for(lambda: (o := get(http, cm_path(ns, "blocking"))) and o["metadata"].get("deletionTimestamp")
                    and o, timeout=10, message="the blocking dependent being deleted")
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    gone(http, cm_path(ns, "free"))
    time.sleep(0.3)
    waiting = get(http, cm_path(ns, "owner"))
    assert waiting is not None, "the owner went before its blocking dependent"
    assert waiting["metadata"]["deletionTimestamp"]
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    r = http.patch(cm_path(ns, "blocking"), json={"metadata": {"finalizers": None}}, headers=MERGE)
    assert r.status_code == 200, r.text
    gone(http, cm_path(ns, "blocking"), cm_path(ns, "owner"))


def test_foreground_recurses_into_dependents_with_dependents(cluster: ServerProcess, http: httpx.Client,
                                                             ns: str) -> None:
    owner = configmap(http, ns, "owner")
    middle = configmap(http, ns, "middle", ref(owner, block=True))
    configmap(http, ns, "leaf", ref(middle, block=True), finalizers=["example.com/hold"])
    kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground", "--wait=false")
    # the middle dependent is itself deleted in the foreground, waiting for the leaf
    mid = wait_for(lambda: (o := get(http, cm_path(ns, "middle"))) and o["metadata"].get("deletionTimestamp") and o,
                   timeout=10, message="middle being deleted")
    assert mid["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert get(http, cm_path(ns, "owner")) is not None
    http.patch(cm_path(ns, "leaf"), json={"metadata": {"finalizers": None}}, headers=MERGE)
    gone(http, cm_path(ns, "leaf"), cm_path(ns, "middle"), cm_path(ns, "owner"))


def test_orphan_keeps_dependents(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    owner = configmap(http, ns, "owner")
    other_owner = configmap(http, ns, "other-owner")
    configmap(http, ns, "child-1", ref(owner, controller=True, block=True))
    configmap(http, ns, "child-2", ref(owner), ref(other_owner))
    kubectl(cluster, "delete", "configmap", "owner", "-n", ns, "--cascade=orphan")
    gone(http, cm_path(ns, "owner"))
    time.sleep(0.3)
    child1 = get(http, cm_path(ns, "child-1"))
    child2 = get(http, cm_path(ns, "child-2"))
    assert child1 is not None and child2 is not None
    assert not child1["metadata"].get("ownerReferences")
    assert [r["name"] for r in child2["metadata"]["ownerReferences"]] == ["other-owner"]


def test_cluster_scoped_owner_of_namespaced_dependent(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    name = "gc-owner-" + uuid.uuid4().hex[:6]
    r = http.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", json={"metadata": {"name": name}, "rules": []})
    assert r.status_code == 201, r.text
    role = {**r.json(), "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": str(uuid.uuid4())}
    configmap(http, ns, "owned-by-role", ref(role), ghost)
    # the GC looked at it (the dangling reference went) and kept it: the cluster-scoped owner is valid
    kept = wait_for(lambda: (o := get(http, cm_path(ns, "owned-by-role")))
                    and len(o["metadata"]["ownerReferences"]) == 1 and o, timeout=10, message="ghost reference removed")
    assert kept["metadata"]["ownerReferences"][0]["kind"] == "ClusterRole"
    kubectl(cluster, "delete", "clusterrole", name)
    gone(http, cm_path(ns, "owned-by-role"))


def test_cluster_scoped_dependent_of_namespaced_owner_is_left_alone(http: httpx.Client, ns: str) -> None:
    owner = configmap(http, ns, "owner")
    time.sleep(0.5)  # observed by the GC first
    name = "gc-dependent-" + uuid.uuid4().hex[:6]
    r = http.post("/apis/rbac.authorization.k8s.io/v1/clusterroles",
                  json={"metadata": {"name": name, "ownerReferences": [ref(owner)]}, "rules": []})
    assert r.status_code == 201, r.text
    role = r.json()

    def warning() -> Obj | None:
        events = http.get("/api/v1/namespaces/default/events",
                          params={"fieldSelector": "reason=OwnerRefInvalidNamespace"}).json()["items"]
        return next((e for e in events if e["involvedObject"]["uid"] == role["metadata"]["uid"]), None)

    event = wait_for(warning, timeout=10, message="an OwnerRefInvalidNamespace event")
    assert event["involvedObject"]["kind"] == "ClusterRole"
    assert event["message"] == (f"ownerRef [v1/ConfigMap, namespace: , name: owner, uid: {owner['metadata']['uid']}] "
                                'does not exist in namespace ""')
    time.sleep(0.5)
    assert get(http, f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}") is not None  # not collected
    assert http.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}").status_code == 200


def test_owner_in_another_namespace_is_invalid(http: httpx.Client, ns: str) -> None:
    other = "gc-" + uuid.uuid4().hex[:8]
    assert http.post("/api/v1/namespaces", json={"metadata": {"name": other}}).status_code == 201
    owner = configmap(http, ns, "owner")
    time.sleep(0.5)  # observed by the GC first
    child = configmap(http, other, "cross-child", ref(owner))
    gone(http, cm_path(other, "cross-child"))
    assert get(http, cm_path(ns, "owner")) is not None

    def warning() -> Obj | None:
        events = http.get(f"/api/v1/namespaces/{other}/events",
                          params={"fieldSelector": "reason=OwnerRefInvalidNamespace"}).json()["items"]
        return events[0] if events else None

    event = wait_for(warning, timeout=10, message="an OwnerRefInvalidNamespace event")
    assert event["type"] == "Warning"
    assert event["involvedObject"]["uid"] == child["metadata"]["uid"]
    assert event["message"] == (f"ownerRef [v1/ConfigMap, namespace: {other}, name: owner, "
                                f"uid: {owner['metadata']['uid']}] does not exist in namespace \"{other}\"")


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


def test_custom_resources_new_crds_are_watched(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    group = f"gc{uuid.uuid4().hex[:6]}.example.com"
    r = run_kubectl(KUBECTL_137, cluster.kubeconfig, "apply", "-f", "-", input=CRD.format(group=group))
    assert r.returncode == 0, r.stderr
    base = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    wait_for(lambda: http.get(base).status_code == 200, timeout=10, message="the CRD served")
    owner = configmap(http, ns, "owner")
    # a custom resource owned by a ConfigMap, and a ConfigMap owned by a custom resource
    r = http.post(base, json={"apiVersion": f"{group}/v1", "kind": "Widget",
                              "metadata": {"name": "w", "ownerReferences": [ref(owner)]}})
    assert r.status_code == 201, r.text
    widget = r.json()
    configmap(http, ns, "owned-by-widget", ref(widget))
    time.sleep(0.5)
    assert get(http, f"{base}/w") is not None and get(http, cm_path(ns, "owned-by-widget")) is not None
    kubectl(cluster, "delete", "configmap", "owner", "-n", ns)
    gone(http, f"{base}/w", cm_path(ns, "owned-by-widget"), timeout=20)
    kubectl(cluster, "delete", "crd", f"widgets.{group}", "--wait=false")
