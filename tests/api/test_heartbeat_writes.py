"""The heartbeat writes (Lease PUT, Node status strategic merge patch) through the cheaper write path:
same outcomes as before (managedFields, resourceVersion, no-op writes), and a patch is still checked
where it changed the object, even where the change looks equal to Python (``true`` vs ``1``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

SMP = {"content-type": "application/strategic-merge-patch+json"}
MERGE = {"content-type": "application/merge-patch+json"}
T0, T1 = "2026-07-01T00:00:00Z", "2026-07-01T00:00:10Z"
CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")


def node(name: str) -> dict[str, Any]:
    conds = [{"type": t, "status": "True" if t == "Ready" else "False", "lastHeartbeatTime": T0,
              "lastTransitionTime": T0, "reason": "r", "message": "m"} for t in CONDITIONS]
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                       "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}, "conditions": conds,
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"kubeletVersion": "v1.37.0", "machineID": "m", "osImage": "x"}}}


def heartbeat(stamp: str) -> dict[str, Any]:
    return {"status": {"$setElementOrder/conditions": [{"type": t} for t in CONDITIONS],
                       "conditions": [{"type": t, "lastHeartbeatTime": stamp} for t in CONDITIONS]}}


def entry(obj: dict[str, Any], manager: str, subresource: str = "") -> dict[str, Any]:
    return next(e for e in obj["metadata"]["managedFields"]
                if e["manager"] == manager and e.get("subresource", "") == subresource)


def test_node_status_heartbeat_patch(http: httpx.Client) -> None:
    name = "hbw-" + uuid.uuid4().hex[:6]
    created = http.post("/api/v1/nodes?fieldManager=kubelet", json=node(name))
    assert created.status_code == 201, created.text
    try:
        path = f"/api/v1/nodes/{name}/status?fieldManager=kubelet"
        r = http.patch(path, json=heartbeat(T1), headers=SMP)
        assert r.status_code == 200, r.text
        patched = r.json()
        conds = patched["status"]["conditions"]
        assert [c["type"] for c in conds] == list(CONDITIONS)
        assert all(c["lastHeartbeatTime"] == T1 and c["lastTransitionTime"] == T0 for c in conds)
        assert patched["status"]["nodeInfo"] == node(name)["status"]["nodeInfo"]
        assert patched["metadata"]["resourceVersion"] != created.json()["metadata"]["resourceVersion"]
        mine = entry(patched, "kubelet", "status")
        assert mine["operation"] == "Update" and mine["time"]
        assert mine["fieldsV1"] == {"f:status": {"f:conditions": {
            f'k:{{"type":"{t}"}}': {"f:lastHeartbeatTime": {}} for t in CONDITIONS}}}
        assert "f:status" not in entry(patched, "kubelet")["fieldsV1"]  # status is reset on the main resource
        # the same heartbeat again is no write at all
        again = http.patch(path, json=heartbeat(T1), headers=SMP).json()
        assert again["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
        assert again["metadata"]["managedFields"] == patched["metadata"]["managedFields"]
    finally:
        http.delete(f"/api/v1/nodes/{name}")


def test_lease_renewal_put_keeps_fields_and_moves_on(http: httpx.Client) -> None:
    name = "hbw-" + uuid.uuid4().hex[:6]
    url = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    lease = {"metadata": {"name": name}, "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                                  "renewTime": "2026-07-01T00:00:00.000001Z"}}
    r = http.post(f"{url}?fieldManager=kubelet", json=lease)
    assert r.status_code == 201, r.text
    try:
        current = r.json()
        for i in range(2, 5):
            current["spec"]["renewTime"] = f"2026-07-01T00:00:0{i}.00000{i}Z"
            r = http.put(f"{url}/{name}?fieldManager=kubelet", json=current)
            assert r.status_code == 200, r.text
            renewed = r.json()
            assert renewed["spec"]["renewTime"] == current["spec"]["renewTime"]
            assert int(renewed["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
            assert [e["manager"] for e in renewed["metadata"]["managedFields"]] == ["kubelet"]
            assert renewed["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {
                "f:holderIdentity": {}, "f:leaseDurationSeconds": {}, "f:renewTime": {}}}
            current = renewed
        stale = dict(current, metadata={**current["metadata"], "resourceVersion": "1"})
        assert http.put(f"{url}/{name}", json=stale).status_code == 409
    finally:
        http.delete(f"{url}/{name}")


def test_patch_is_still_checked_where_it_changed_the_object(http: httpx.Client, namespace: str) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    dep = {"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                                                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                                                    "containers": [{"name": "c", "image": "i"}]}}}}
    assert http.post(url, json=dep).status_code == 201
    r = http.patch(f"{url}/d", json={"spec": {"replicas": True}}, headers=SMP)  # == 1 to Python
    assert r.status_code == 400, r.text
    assert ("cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32"
            in r.json()["message"])
    r = http.patch(f"{url}/d?fieldValidation=Strict", json={"spec": {"template": {"spec": {"bogus": 1}}}},
                   headers=MERGE)
    assert r.status_code == 400, r.text
    assert 'unknown field "spec.template.spec.bogus"' in r.json()["message"]
    r = http.patch(f"{url}/d", json={"spec": {"template": {"spec": {"bogus": 1}}},
                                     "metadata": {"labels": {"x": "y"}}}, headers=MERGE)
    assert r.status_code == 200, r.text
    assert "bogus" not in r.json()["spec"]["template"]["spec"] and r.json()["metadata"]["labels"] == {"x": "y"}
    assert r.headers.get("warning") == '299 - "unknown field \\"spec.template.spec.bogus\\""'
