"""status and scale subresources, generation, dry-run, discovery caching, Table responses."""

from __future__ import annotations

import httpx

DEPLOY = {"metadata": {"name": "web", "labels": {"app": "web"}},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def test_status_is_separate_from_spec(http: httpx.Client, namespace: str) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    obj = http.post(url, json={**DEPLOY, "status": {"replicas": 7}}).json()
    assert obj.get("status", {}).get("replicas") is None  # status is not taken on create
    obj["status"] = {"replicas": 3, "readyReplicas": 3}
    obj["spec"]["replicas"] = 9
    r = http.put(f"{url}/web/status", json=obj)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["status"]["replicas"] == 3 and got["spec"]["replicas"] == 2  # /status ignores spec
    assert got["metadata"]["generation"] == 1
    got["status"] = {"replicas": 100}
    got["spec"]["replicas"] = 4
    after = http.put(f"{url}/web", json=got).json()
    assert after["spec"]["replicas"] == 4 and after["status"]["replicas"] == 3  # main endpoint ignores status
    assert after["metadata"]["generation"] == 2
    r = http.patch(f"{url}/web/status", json={"status": {"availableReplicas": 1}},
                   headers={"content-type": "application/merge-patch+json"})
    assert r.json()["status"]["availableReplicas"] == 1 and r.json()["metadata"]["generation"] == 2


def test_scale_subresource(http: httpx.Client, namespace: str) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    http.post(url, json=DEPLOY)
    scale = http.get(f"{url}/web/scale").json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 4
    r = http.put(f"{url}/web/scale", json=scale)
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 4
    assert http.get(f"{url}/web").json()["spec"]["replicas"] == 4
    r = http.patch(f"{url}/web/scale", json={"spec": {"replicas": -1}},
                   headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 422


def test_dry_run_create_and_delete(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    r = http.post(url, params={"dryRun": "All"}, json={"metadata": {"generateName": "dry-"}})
    assert r.status_code == 201
    meta = r.json()["metadata"]
    assert meta["name"].startswith("dry-") and meta["uid"] and meta["creationTimestamp"]
    assert http.get(f"{url}/{meta['name']}").status_code == 404
    http.post(url, json={"metadata": {"name": "keep"}})
    assert http.delete(f"{url}/keep", params={"dryRun": "All"}).status_code == 200
    assert http.get(f"{url}/keep").status_code == 200
    assert http.post(url, params={"dryRun": "Bogus"}, json={"metadata": {"name": "x"}}).status_code == 400


def test_aggregated_discovery_etag(http: httpx.Client) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    r = http.get("/apis", headers={"accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    doc = r.json()
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert any(g["metadata"]["name"] == "apps" for g in doc["items"])
    again = http.get("/apis", headers={"accept": accept, "if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    legacy = http.get("/apis", headers={"accept": "application/json"}).json()
    assert legacy["kind"] == "APIGroupList"


def test_table_responses(http: httpx.Client, namespace: str) -> None:
    url = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    http.post(url, json=DEPLOY)
    t = http.get(url, headers={"accept": TABLE}).json()
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in t["columnDefinitions"]][:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert t["rows"][0]["cells"][:4] == ["web", "0/2", 0, 0]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    t = http.get(f"{url}/web", headers={"accept": TABLE}, params={"includeObject": "Object"}).json()
    assert t["rows"][0]["object"]["kind"] == "Deployment"
    r = http.get(url, headers={"accept": TABLE}, params={"includeObject": "Bogus"})
    assert r.status_code == 400


def test_openapi_v3_serves_index_entries(http: httpx.Client) -> None:
    index = http.get("/openapi/v3").json()["paths"]
    url = index["apis/apps/v1"]["serverRelativeURL"]
    doc = http.get(url).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert any(p.get("name") == "fieldValidation" or p.get("$ref", "").endswith("fieldValidation")
               for p in patch["parameters"]) or "fieldValidation" in str(doc["paths"])
    assert http.get(index["api/v1"]["serverRelativeURL"]).status_code == 200


def test_binding_and_eviction(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/pods"
    http.post(url, json={"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    r = http.post(f"{url}/p/binding", json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                                            "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}})
    assert r.status_code == 201, r.text
    pod = http.get(f"{url}/p").json()
    assert pod["spec"]["nodeName"] == "n1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in pod["status"]["conditions"])
    r = http.post(f"{url}/p/binding", json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                                            "target": {"name": "n2"}})
    assert r.status_code == 409
    r = http.post(f"{url}/p/eviction", json={"apiVersion": "policy/v1", "kind": "Eviction",
                                             "metadata": {"name": "p"}, "deleteOptions": {"gracePeriodSeconds": 0}})
    assert r.status_code == 201
    assert http.get(f"{url}/p").status_code == 404


def test_unavailable_subresources_answer_with_status(http: httpx.Client, namespace: str) -> None:
    http.post(f"/api/v1/namespaces/{namespace}/pods",
              json={"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    r = http.get(f"/api/v1/namespaces/{namespace}/pods/p/log")
    assert r.status_code == 503 and r.json()["kind"] == "Status"
    r = http.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/default/token",
                  json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert r.status_code == 404 and r.json()["message"] == "the server could not find the requested resource"


def test_dry_run_create_of_existing_is_already_exists(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "there"}})
    r = http.post(url, params={"dryRun": "All"}, json={"metadata": {"name": "there"}})
    assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"


def test_dry_run_update_and_deletecollection(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    obj = http.post(url, json={"metadata": {"name": "keep", "labels": {"k": "v"}}, "data": {"a": "1"}}).json()
    obj["data"] = {"a": "2"}
    r = http.put(f"{url}/keep", params={"dryRun": "All"}, json=obj)
    assert r.status_code == 200 and r.json()["data"] == {"a": "2"}
    assert http.get(f"{url}/keep").json()["data"] == {"a": "1"}
    r = http.delete(url, params={"dryRun": "All", "labelSelector": "k=v"})
    assert r.status_code == 200 and [i["metadata"]["name"] for i in r.json()["items"]] == ["keep"]
    assert http.get(f"{url}/keep").status_code == 200
