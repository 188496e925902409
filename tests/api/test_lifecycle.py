"""Finalizers, graceful deletion, preconditions, deletecollection, namespace lifecycle."""

from __future__ import annotations

import httpx


def test_finalizers_hold_the_object_until_removed(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    r = http.delete(f"{url}/f")
    assert r.status_code == 200
    obj = r.json()
    assert obj["kind"] == "ConfigMap" and obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 0
    assert http.get(f"{url}/f").status_code == 200
    obj["metadata"]["finalizers"] = []
    r = http.put(f"{url}/f", json=obj)
    assert r.status_code == 200
    assert http.get(f"{url}/f").status_code == 404


def test_bound_pod_is_deleted_gracefully(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/pods"
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}
    assert http.post(url, json=pod).status_code == 201
    r = http.delete(f"{url}/p")
    assert r.status_code == 200
    meta = r.json()["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    assert http.get(f"{url}/p").status_code == 200
    r = http.request("DELETE", f"{url}/p", json={"kind": "DeleteOptions", "apiVersion": "v1",
                                                 "gracePeriodSeconds": 0})
    assert r.status_code == 200 and r.json()["kind"] == "Pod"
    assert http.get(f"{url}/p").status_code == 404


def test_unscheduled_pod_goes_at_once(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/pods"
    http.post(url, json={"metadata": {"name": "u"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert http.delete(f"{url}/u").status_code == 200
    assert http.get(f"{url}/u").status_code == 404


def test_uid_precondition(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "pc"}})
    r = http.request("DELETE", f"{url}/pc", json={"preconditions": {"uid": "nope"}})
    assert r.status_code == 409
    assert r.json()["message"].startswith('Operation cannot be fulfilled on configmaps "pc": Precondition failed: '
                                          "UID in precondition: nope, UID in object meta: ")


def test_orphan_propagation_sets_finalizer(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "o"}})
    r = http.delete(f"{url}/o", params={"propagationPolicy": "Orphan"})
    assert r.json()["metadata"]["finalizers"] == ["orphan"]


def test_deletecollection_with_selector(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(4):
        http.post(url, json={"metadata": {"name": f"d{i}", "labels": {"even": str(i % 2 == 0).lower()}}})
    r = http.delete(url, params={"labelSelector": "even=true"})
    assert r.status_code == 200
    names = [i["metadata"]["name"] for i in http.get(url).json()["items"]]
    assert names == ["d1", "d3"]


def test_terminating_namespace_refuses_creates(http: httpx.Client, namespace: str) -> None:
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "inside"}})
    r = http.delete(f"/api/v1/namespaces/{namespace}")
    assert r.status_code == 200
    ns = r.json()
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    assert http.get(f"/api/v1/namespaces/{namespace}").json()["status"]["phase"] == "Terminating"
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "late"}})
    assert r.status_code == 403
    assert r.json()["message"] == (f'configmaps "late" is forbidden: unable to create new content in namespace '
                                   f"{namespace} because it is being terminated")
    # finalize: the namespace goes once spec.finalizers is empty (done by the namespace controller upstream)
    ns = http.get(f"/api/v1/namespaces/{namespace}").json()
    ns["spec"]["finalizers"] = []
    r = http.put(f"/api/v1/namespaces/{namespace}/finalize", json=ns)
    assert r.status_code == 200
    assert http.get(f"/api/v1/namespaces/{namespace}").status_code == 404


def test_system_namespaces_cannot_be_deleted(http: httpx.Client) -> None:
    for name in ("default", "kube-system", "kube-public"):
        r = http.delete(f"/api/v1/namespaces/{name}")
        assert r.status_code == 403
        assert r.json()["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'


def test_missing_namespace_is_not_found(http: httpx.Client) -> None:
    r = http.post("/api/v1/namespaces/does-not-exist/configmaps", json={"metadata": {"name": "x"}})
    assert r.status_code == 404
    assert r.json()["message"] == 'namespaces "does-not-exist" not found'


def test_new_volumes_and_claims_are_pending(http: httpx.Client, namespace: str) -> None:
    """A client-supplied status is dropped on create and the phase starts at Pending, as upstream."""
    claim = {"metadata": {"name": "data"}, "status": {"phase": "Bound"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    r = http.post(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", json=claim)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == {"phase": "Pending"}
    assert http.get(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/data").json()["status"]["phase"] == "Pending"
    pv = {"metadata": {"name": f"pv-{namespace}"}, "spec": {"capacity": {"storage": "1Gi"},
          "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"}}}
    r = http.post("/api/v1/persistentvolumes", json=pv)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == {"phase": "Pending"}
    assert http.delete(f"/api/v1/persistentvolumes/pv-{namespace}").status_code == 200
