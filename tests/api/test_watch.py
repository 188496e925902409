"""Watch semantics over real HTTP streams."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx


def stream_events(http: httpx.Client, url: str, params: dict[str, Any], until: int,
                  out: list[dict[str, Any]], started: threading.Event | None = None) -> None:
    with http.stream("GET", url, params=params) as r:
        assert r.status_code == 200
        if started:
            started.set()
        for line in r.iter_lines():
            if line:
                out.append(json.loads(line))
                if len(out) >= until:
                    return


def watch_in_background(http: httpx.Client, url: str, params: dict[str, Any], until: int
                        ) -> tuple[threading.Thread, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    started = threading.Event()
    t = threading.Thread(target=stream_events, args=(http, url, params, until, out, started), daemon=True)
    t.start()
    assert started.wait(10)
    time.sleep(0.2)
    return t, out


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def test_watch_without_rv_sends_initial_state(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json=cm("one"))
    http.post(url, json=cm("two"))
    out: list[dict[str, Any]] = []
    stream_events(http, url, {"watch": "true", "timeoutSeconds": "1"}, 10, out)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in out] == [("ADDED", "one"), ("ADDED", "two")]


def test_watch_timeout_ends_stream(http: httpx.Client, namespace: str) -> None:
    out: list[dict[str, Any]] = []
    start = time.monotonic()
    rv = http.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["metadata"]["resourceVersion"]
    stream_events(http, f"/api/v1/namespaces/{namespace}/configmaps",
                  {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}, 10, out)
    assert out == [] and time.monotonic() - start < 10


def test_selector_enter_and_leave(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    r = http.post(url, json=cm("s", app="no"))
    rv = r.json()["metadata"]["resourceVersion"]
    t, out = watch_in_background(http, url, {"watch": "True", "resourceVersion": rv, "labelSelector": "app=yes",
                                             "timeoutSeconds": "10"}, 3)
    obj = r.json()
    obj["metadata"]["labels"] = {"app": "yes"}
    obj = http.put(f"{url}/s", json=obj).json()
    obj["data"] = {"k": "2"}
    obj = http.put(f"{url}/s", json=obj).json()
    obj["metadata"]["labels"] = {"app": "no"}
    http.put(f"{url}/s", json=obj)
    t.join(10)
    assert [(e["type"], e["object"]["metadata"]["labels"]["app"]) for e in out] == [
        ("ADDED", "yes"), ("MODIFIED", "yes"), ("DELETED", "no")]


def test_field_selector_on_watch_and_list(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json=cm("f1"))
    http.post(url, json=cm("f2"))
    items = http.get(url, params={"fieldSelector": "metadata.name=f2"}).json()["items"]
    assert [i["metadata"]["name"] for i in items] == ["f2"]
    items = http.get(url, params={"fieldSelector": "metadata.name!=f2"}).json()["items"]
    assert [i["metadata"]["name"] for i in items] == ["f1"]
    r = http.get(url, params={"fieldSelector": "spec.bogus=1"})
    assert r.status_code == 400 and r.json()["message"] == "field label not supported: spec.bogus"


def test_bookmarks(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(url).json()["metadata"]["resourceVersion"]
    out: list[dict[str, Any]] = []
    # the test server sends bookmarks every second
    stream_events(http, url, {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                              "timeoutSeconds": "3"}, 1, out)
    assert out and out[0]["type"] == "BOOKMARK"
    assert out[0]["object"]["kind"] == "ConfigMap" and int(out[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_send_initial_events_ends_with_bookmark(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json=cm("i1"))
    out: list[dict[str, Any]] = []
    stream_events(http, url, {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                              "allowWatchBookmarks": "true", "timeoutSeconds": "2"}, 2, out)
    assert out[0]["type"] == "ADDED" and out[0]["object"]["metadata"]["name"] == "i1"
    assert out[1]["type"] == "BOOKMARK"
    assert out[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    r = http.get(url, params={"watch": "1", "sendInitialEvents": "true"})
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"


def test_watch_too_old_is_expired_event(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    out: list[dict[str, Any]] = []
    stream_events(http, url, {"watch": "1", "resourceVersion": "1", "timeoutSeconds": "5"}, 1, out)
    # the test server compacts every second; revision 1 is long gone
    assert out[0]["type"] == "ERROR"
    status = out[0]["object"]
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version: 1 (")


def test_watch_single_object_by_name(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(url, json=cm("mine"))
    http.post(url, json=cm("other"))
    out: list[dict[str, Any]] = []
    stream_events(http, f"/api/v1/watch/namespaces/{namespace}/configmaps/mine", {"timeoutSeconds": "1"}, 5, out)
    assert [e["object"]["metadata"]["name"] for e in out] == ["mine"]


def test_watch_all_namespaces(http: httpx.Client, namespace: str) -> None:
    rv = http.get("/api/v1/configmaps").json()["metadata"]["resourceVersion"]
    t, out = watch_in_background(http, "/api/v1/configmaps", {"watch": "1", "resourceVersion": rv,
                                                               "timeoutSeconds": "10"}, 1)
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=cm("everywhere"))
    t.join(10)
    assert out[0]["type"] == "ADDED" and out[0]["object"]["metadata"]["namespace"] == namespace
