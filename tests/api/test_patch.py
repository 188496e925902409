"""PATCH: json-patch, merge-patch, preconditions, and no lost updates under concurrency."""

from __future__ import annotations

import threading

import httpx

MERGE = {"content-type": "application/merge-patch+json"}
JSONP = {"content-type": "application/json-patch+json"}


def test_merge_patch(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "m", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}})
    r = http.patch(f"{url}/m", json={"metadata": {"labels": {"a": None, "c": "3"}}, "data": {"y": "2"}},
                   headers=MERGE)
    assert r.status_code == 200
    obj = r.json()
    assert obj["metadata"]["labels"] == {"b": "2", "c": "3"} and obj["data"] == {"x": "1", "y": "2"}


def test_json_patch_with_test_op(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "j"}, "data": {"x": "1"}})
    ops = [{"op": "test", "path": "/data/x", "value": "1"}, {"op": "replace", "path": "/data/x", "value": "2"},
           {"op": "add", "path": "/data/y", "value": "3"}]
    r = http.patch(f"{url}/j", json=ops, headers=JSONP)
    assert r.status_code == 200 and r.json()["data"] == {"x": "2", "y": "3"}
    r = http.patch(f"{url}/j", json=[{"op": "test", "path": "/data/x", "value": "1"}], headers=JSONP)
    assert r.status_code == 422 and r.json()["kind"] == "Status"


def test_patch_resource_version_precondition(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    first = http.post(url, json={"metadata": {"name": "rv"}}).json()
    http.patch(f"{url}/rv", json={"data": {"a": "1"}}, headers=MERGE)
    r = http.patch(f"{url}/rv", json={"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]},
                                      "data": {"a": "2"}}, headers=MERGE)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"


def test_patch_missing_object_is_not_found(http: httpx.Client, namespace: str) -> None:
    r = http.patch(f"/api/v1/namespaces/{namespace}/configmaps/nope", json={"data": {}}, headers=MERGE)
    assert r.status_code == 404


def test_unsupported_patch_type(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "u"}})
    r = http.patch(f"{url}/u", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"


def test_dry_run_patch_changes_nothing(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    before = http.post(url, json={"metadata": {"name": "d"}, "data": {"a": "1"}}).json()
    r = http.patch(f"{url}/d", params={"dryRun": "All"}, json={"data": {"a": "2"}}, headers=MERGE)
    assert r.status_code == 200 and r.json()["data"] == {"a": "2"}
    after = http.get(f"{url}/d").json()
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_concurrent_patches_lose_nothing(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "race"}, "data": {"a": "0", "b": "0"}})
    rounds = 1000
    failures: list[str] = []

    def writer(field: str) -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=30) as c:
            for i in range(1, rounds + 1):
                r = c.patch(f"{url}/race", json={"data": {field: str(i)}, "metadata": {"annotations": {
                    f"{field}-{i % 7}": str(i)}}}, headers=MERGE)
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=writer, args=(f,)) for f in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures
    obj = http.get(f"{url}/race").json()
    assert obj["data"] == {"a": str(rounds), "b": str(rounds)}
    assert len(obj["metadata"]["annotations"]) == 14
