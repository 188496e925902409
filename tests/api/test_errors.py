"""Bad input gets an upstream-style Status, never a 500."""

from __future__ import annotations

import httpx


def status(r: httpx.Response, code: int, reason: str) -> dict:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    return body


def test_malformed_json(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b'{"metadata": {',
                  headers={"content-type": "application/json"})
    status(r, 400, "BadRequest")


def test_body_not_an_object(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b"[1,2]",
                  headers={"content-type": "application/json"})
    status(r, 400, "BadRequest")


def test_yaml_body(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b"metadata:\n  name: y\ndata:\n  a: b\n",
                  headers={"content-type": "application/yaml"})
    assert r.status_code == 201 and r.json()["data"] == {"a": "b"}


def test_json_without_content_type(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b'{"metadata": {"name": "nct"}}')
    assert r.status_code == 201


def test_too_large(http: httpx.Client, namespace: str) -> None:
    big = b'{"metadata": {"name": "big"}, "data": {"a": "' + b"x" * (3 * 1024 * 1024) + b'"}}'
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=big,
                  headers={"content-type": "application/json"})
    body = status(r, 413, "RequestEntityTooLarge")
    assert body["message"] == "Request entity too large: limit is 3145728"


def test_unsupported_media_type(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b"x",
                  headers={"content-type": "text/plain"})
    status(r, 415, "UnsupportedMediaType")


def test_method_not_allowed(http: httpx.Client, namespace: str) -> None:
    r = http.put(f"/api/v1/namespaces/{namespace}/configmaps", json={})
    status(r, 405, "MethodNotAllowed")


def test_name_mismatch(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json={"metadata": {"name": "a"}})
    r = http.put(f"{url}/a", json={"metadata": {"name": "b"}})
    body = status(r, 400, "BadRequest")
    assert body["message"] == "the name of the object (b) does not match the name on the URL (a)"


def test_kind_mismatch(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps",
                  json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"}})
    status(r, 400, "BadRequest")


def test_missing_name_is_invalid(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {}})
    body = status(r, 422, "Invalid")
    assert body["details"]["causes"][0] == {"reason": "FieldValueRequired",
                                            "message": "Required value: name or generateName is required",
                                            "field": "metadata.name"}


def test_generate_name(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"generateName": "gen-"}})
    assert r.status_code == 201
    name = r.json()["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == 9


def test_unknown_paths(http: httpx.Client) -> None:
    body = status(http.get("/api/v1/nosuchthings"), 404, "NotFound")
    assert body["message"] == "the server could not find the requested resource"
    status(http.get("/apis/nosuch.group/v1/things"), 404, "NotFound")


def test_bad_selector(http: httpx.Client, namespace: str) -> None:
    r = http.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"labelSelector": "a in (b"})
    status(r, 400, "BadRequest")


def test_bad_continue_token(http: httpx.Client, namespace: str) -> None:
    r = http.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"limit": "1", "continue": "garbage"})
    status(r, 400, "BadRequest")


def test_version_and_health(http: httpx.Client) -> None:
    v = http.get("/version").json()
    assert v["major"] == "1" and v["minor"] == "37" and v["gitVersion"].startswith("v1.37")
    assert http.get("/healthz").text == "ok"
    r = http.get("/readyz", params={"verbose": ""})
    assert r.status_code == 200 and "readyz check passed" in r.text


def test_metrics(http: httpx.Client, namespace: str) -> None:
    rv = http.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"]["resourceVersion"]
    # lists are served from the watch cache; an Exact one reads storage
    http.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"resourceVersion": rv,
                                                                  "resourceVersionMatch": "Exact"})
    text = http.get("/metrics").text
    assert "# TYPE apiserver_request_total counter" in text
    assert 'apiserver_request_total{code="200",component="apiserver",group="",resource="configmaps",' in text
    assert 'verb="LIST"' in text and "apiserver_request_duration_seconds_bucket" in text
    assert 'etcd_request_duration_seconds_count{operation="list",type="configmaps"}' in text
