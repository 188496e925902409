"""A client-go style client: protobuf requests and responses for get, list and watch."""

from __future__ import annotations

import httpx

from apiserver import protobuf

PB = "application/vnd.kubernetes.protobuf"

OBJECTS = [
    ("/api/v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pb"},
                               "data": {"a": "b"}}),
    ("/api/v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pb"},
                         "spec": {"containers": [{"name": "c", "image": "nginx",
                                                  "resources": {"requests": {"cpu": "100m"}}}]}}),
    ("/apis/apps/v1", "deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pb"},
                                      "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                                          "metadata": {"labels": {"a": "b"}},
                                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
]


def test_protobuf_round_trips(http: httpx.Client, namespace: str) -> None:
    for root, plural, obj in OBJECTS:
        url = f"{root}/namespaces/{namespace}/{plural}"
        r = http.post(url, content=protobuf.encode_object({**obj, "metadata": {**obj["metadata"]}}),
                      headers={"content-type": PB, "accept": f"{PB},application/json"})
        assert r.status_code == 201, r.text
        assert r.headers["content-type"] == PB
        created = protobuf.decode_object(r.content)
        as_json = http.get(f"{url}/pb").json()
        assert created["metadata"]["uid"] == as_json["metadata"]["uid"]
        got = protobuf.decode_object(http.get(f"{url}/pb", headers={"accept": PB}).content)
        assert got == protobuf.decode_object(protobuf.encode_object(as_json))
        listed = protobuf.decode_object(http.get(url, headers={"accept": PB}).content)
        assert listed["kind"] == obj["kind"] + "List" and listed["items"][0]["metadata"]["name"] == "pb"
        with http.stream("GET", url, params={"watch": "1", "timeoutSeconds": "1"},
                         headers={"accept": PB}) as w:
            assert w.headers["content-type"].startswith("application/vnd.kubernetes.protobuf;stream=watch")
            events = list(protobuf.decode_watch_events(w.read()))
        assert events and events[0][0] == "ADDED" and events[0][1]["metadata"]["name"] == "pb"


def test_malformed_protobuf_is_bad_request(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b"k8s\x00\xff\xff\xff",
                  headers={"content-type": PB})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
