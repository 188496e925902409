"""Lists and gets served from the watch cache, with upstream's resourceVersion semantics, on every
storage backend; watches woken through the field index (pods by spec.nodeName, objects by name)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_watch import stream_events
from tests.cluster import ServerProcess

Obj = dict[str, Any]

TOO_LARGE_DETAILS = {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}


@pytest.fixture
def client(any_apiserver: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=any_apiserver.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(client: httpx.Client) -> str:
    name = "lc-" + uuid.uuid4().hex[:8]
    r = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


def cm(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def names(body: Obj) -> list[str]:
    return [i["metadata"]["name"] for i in body["items"]]


def test_consistent_list_reads_its_own_writes(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(15):
        created = client.post(url, json=cm(f"c{i:02d}")).json()
        body = client.get(url).json()  # resourceVersion unset: consistent
        assert names(body)[-1] == f"c{i:02d}" and len(body["items"]) == i + 1
        assert int(body["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
        updated = client.put(f"{url}/c{i:02d}", json={**created, "data": {"k": str(i)}}).json()
        assert client.get(url).json()["items"][-1]["data"] == {"k": str(i)}
        assert client.get(f"{url}/c{i:02d}").json()["metadata"]["resourceVersion"] == \
            updated["metadata"]["resourceVersion"]
    client.delete(f"{url}/c00")
    assert "c00" not in names(client.get(url).json())


def test_list_resource_version_semantics(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    created = client.post(url, json=cm("a")).json()
    rv = int(created["metadata"]["resourceVersion"])
    # NotOlderThan: the cache waits until it has seen rv, then answers with its own (newer or equal) revision
    for params in ({"resourceVersion": str(rv)}, {"resourceVersion": str(rv), "resourceVersionMatch": "NotOlderThan"}):
        body = client.get(url, params=params).json()
        assert names(body) == ["a"] and int(body["metadata"]["resourceVersion"]) >= rv
    # "0": any state the cache has (here it has seen the create, since the NotOlderThan read waited for it)
    body = client.get(url, params={"resourceVersion": "0"}).json()
    assert names(body) == ["a"] and int(body["metadata"]["resourceVersion"]) >= rv
    # Exact: storage at that revision
    body = client.get(url, params={"resourceVersion": str(rv), "resourceVersionMatch": "Exact"}).json()
    assert names(body) == ["a"] and body["metadata"]["resourceVersion"] == str(rv)
    # an RV with a limit and no match is the legacy exact read
    body = client.get(url, params={"resourceVersion": str(rv), "limit": "10"}).json()
    assert names(body) == ["a"] and body["metadata"]["resourceVersion"] == str(rv)
    r = client.get(url, params={"resourceVersion": "x1"})
    assert r.status_code == 400 and r.json()["message"] == "invalid resource version: x1"


def test_list_and_get_too_large_resource_version(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    client.post(url, json=cm("a"))
    current = int(client.get(url).json()["metadata"]["resourceVersion"])
    future = current + 1_000_000
    for path in (url, f"{url}/a"):
        start = time.monotonic()
        r = client.get(path, params={"resourceVersion": str(future)})
        assert r.status_code == 504, r.text
        body = r.json()
        assert time.monotonic() - start >= 2.5  # upstream waits for the cache before giving up
        assert body["reason"] == "Timeout" and body["code"] == 504
        assert body["message"].startswith(f"Timeout: Too large resource version: {future}, current: ")
        assert body["details"] == TOO_LARGE_DETAILS
    # an Exact read of a future revision fails at once with the same Status
    r = client.get(url, params={"resourceVersion": str(future), "resourceVersionMatch": "Exact"})
    assert r.status_code == 504 and r.json()["details"] == TOO_LARGE_DETAILS


def test_get_with_resource_version(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    created = client.post(url, json=cm("g")).json()
    rv = created["metadata"]["resourceVersion"]
    got = client.get(f"{url}/g", params={"resourceVersion": rv}).json()
    assert got["metadata"]["uid"] == created["metadata"]["uid"] and int(got["metadata"]["resourceVersion"]) >= int(rv)
    assert client.get(f"{url}/g", params={"resourceVersion": "0"}).json()["metadata"]["name"] == "g"
    assert client.get(f"{url}/g", params={"resourceVersion": "-1"}).status_code == 400
    client.delete(f"{url}/g")
    after = client.get(url).json()["metadata"]["resourceVersion"]
    r = client.get(f"{url}/g", params={"resourceVersion": after})
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    assert r.json()["message"] == 'configmaps "g" not found'


def test_pagination_from_the_cache_then_storage(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(7):
        client.post(url, json=cm(f"p{i}", page="yes" if i % 2 else "no"))
    assert names(client.get(url).json()) == [f"p{i}" for i in range(7)]
    for n, params in enumerate(({}, {"resourceVersion": "0"})):
        everything = names(client.get(url).json())
        first = client.get(url, params={"limit": "3", **params}).json()
        assert names(first) == ["p0", "p1", "p2"]
        assert first["metadata"]["remainingItemCount"] == 4 + n
        token = first["metadata"]["continue"]
        client.post(url, json=cm(f"z-late{n}"))  # after the snapshot: not in later pages
        seen = names(first)
        for _ in range(5):
            page = client.get(url, params={"limit": "3", "continue": token}).json()
            assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            seen += names(page)
            token = page["metadata"].get("continue", "")
            if not token:
                break
        assert seen == everything
    # a selector: pages of matching items, no remainingItemCount (upstream only counts unfiltered lists)
    first = client.get(url, params={"limit": "2", "labelSelector": "page=yes"}).json()
    assert names(first) == ["p1", "p3"] and "remainingItemCount" not in first["metadata"]
    rest = client.get(url, params={"limit": "2", "labelSelector": "page=yes",
                                   "continue": first["metadata"]["continue"]}).json()
    assert names(rest) == ["p5"]
    # the last page of an exact fit has no continue
    body = client.get(url, params={"limit": "100"}).json()
    assert "continue" not in body["metadata"] and len(body["items"]) == 9
    r = client.get(url, params={"limit": "2", "continue": token or "x", "resourceVersion": "5"})
    assert r.status_code == 400


def test_selectors_on_cached_lists(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    client.post(url, json=cm("s1", app="web", tier="a"))
    client.post(url, json=cm("s2", app="db"))
    client.post(url, json=cm("s3", app="web"))
    for rv in ("", "0"):
        assert names(client.get(url, params={"labelSelector": "app=web", "resourceVersion": rv}).json()) == \
            ["s1", "s3"]
        assert names(client.get(url, params={"labelSelector": "app in (web),!tier",
                                             "resourceVersion": rv}).json()) == ["s3"]
        assert names(client.get(url, params={"fieldSelector": "metadata.name!=s1",
                                             "resourceVersion": rv}).json()) == ["s2", "s3"]
    # a cluster-wide list from the cache holds this namespace's objects with their namespace
    body = client.get("/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={ns}"}).json()
    assert names(body) == ["s1", "s2", "s3"]


# --- watches through the field index ----------------------------------------------------------------


def pod(name: str, node: str = "") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


class Watch:
    def __init__(self, client: httpx.Client, url: str, params: dict[str, str]) -> None:
        self.events: list[Obj] = []
        started = threading.Event()
        self.thread = threading.Thread(target=stream_events, daemon=True,
                                       args=(client, url, {"watch": "1", "timeoutSeconds": "8", **params},
                                             1000, self.events, started))
        self.thread.start()
        assert started.wait(10)

    def seen(self) -> list[tuple[str, str]]:
        self.thread.join(20)
        assert not self.thread.is_alive()
        return [(e["type"], e["object"]["metadata"]["name"]) for e in self.events]


def test_watch_by_node_name_sees_exactly_its_pods(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    rv = client.get(url).json()["metadata"]["resourceVersion"]
    watches = {
        "a": Watch(client, url, {"resourceVersion": rv, "fieldSelector": "spec.nodeName=node-a"}),
        "b": Watch(client, "/api/v1/pods", {"resourceVersion": rv, "fieldSelector": "spec.nodeName=node-b"}),
        "unscheduled": Watch(client, url, {"resourceVersion": rv, "fieldSelector": "spec.nodeName="}),
        "not-a": Watch(client, url, {"resourceVersion": rv, "fieldSelector": "spec.nodeName!=node-a"}),
        "a-labelled": Watch(client, url, {"resourceVersion": rv, "fieldSelector": "spec.nodeName=node-a",
                                          "labelSelector": "x=y"}),
        "p1-by-name": Watch(client, url, {"resourceVersion": rv, "fieldSelector": "metadata.name=p1"}),
    }
    time.sleep(0.3)
    client.post(url, json=pod("p1"))  # unscheduled
    r = client.post(f"{url}/p1/binding", json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"},
                                               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}})
    assert r.status_code == 201, r.text
    client.post(url, json=pod("p2", node="node-b"))
    p1 = client.get(f"{url}/p1").json()
    p1["metadata"]["labels"] = {"x": "y"}
    assert client.put(f"{url}/p1", json=p1).status_code == 200
    for name in ("p1", "p2"):
        r = client.request("DELETE", f"{url}/{name}", json={"gracePeriodSeconds": 0})
        assert r.status_code == 200, r.text
    seen = {k: w.seen() for k, w in watches.items()}
    assert seen["a"] == [("ADDED", "p1"), ("MODIFIED", "p1"), ("DELETED", "p1")]
    assert seen["b"] == [("ADDED", "p2"), ("DELETED", "p2")]
    # binding moves p1 out of the unscheduled watcher's selector: DELETED for it
    assert seen["unscheduled"] == [("ADDED", "p1"), ("DELETED", "p1")]
    assert seen["not-a"] == [("ADDED", "p1"), ("DELETED", "p1"), ("ADDED", "p2"), ("DELETED", "p2")]
    assert seen["a-labelled"] == [("ADDED", "p1"), ("DELETED", "p1")]
    assert seen["p1-by-name"] == [("ADDED", "p1"), ("MODIFIED", "p1"), ("MODIFIED", "p1"), ("DELETED", "p1")]
    deleted = [e for e in watches["a"].events if e["type"] == "DELETED"][0]["object"]
    assert deleted["spec"]["nodeName"] == "node-a" and deleted["metadata"]["labels"] == {"x": "y"}


def test_watch_by_node_name_with_initial_events(client: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/pods"
    client.post(url, json=pod("i1", node="node-i"))
    client.post(url, json=pod("i2", node="node-j"))
    w = Watch(client, url, {"fieldSelector": "spec.nodeName=node-i"})  # no RV: initial state, then changes
    time.sleep(0.3)
    client.post(url, json=pod("i3", node="node-i"))
    client.post(url, json=pod("i4", node="node-j"))
    assert w.seen() == [("ADDED", "i1"), ("ADDED", "i3")]


def test_list_by_node_name_follows_changes(client: httpx.Client, ns: str) -> None:
    """Lists by spec.nodeName read the cache's index: it must follow creates, binds and deletes."""
    url = f"/api/v1/namespaces/{ns}/pods"
    everywhere = "/api/v1/pods"

    def on(node: str, path: str = url, **params: str) -> list[str]:
        body = client.get(path, params={"fieldSelector": f"spec.nodeName={node}", **params}).json()
        return names(body)

    assert on("node-l") == []  # builds the index
    for name, node in (("l2", "node-l"), ("l1", "node-l"), ("l3", "node-m"), ("l4", "")):
        client.post(url, json=pod(name, node))
    assert on("node-l") == ["l1", "l2"] and on("node-m") == ["l3"] and on("") == ["l4"]
    r = client.post(f"{url}/l4/binding", json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "l4"},
                                               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-l"}})
    assert r.status_code == 201, r.text
    assert on("node-l") == ["l1", "l2", "l4"] and on("") == []
    assert on("node-l", everywhere) == ["l1", "l2", "l4"]
    assert on("node-l", resourceVersion="0", labelSelector="x=y") == []
    first = client.get(url, params={"fieldSelector": "spec.nodeName=node-l", "limit": "2"}).json()
    assert names(first) == ["l1", "l2"] and "remainingItemCount" not in first["metadata"]
    rest = client.get(url, params={"fieldSelector": "spec.nodeName=node-l", "limit": "2",
                                   "continue": first["metadata"]["continue"]}).json()
    assert names(rest) == ["l4"] and "continue" not in rest["metadata"]
    client.request("DELETE", f"{url}/l1", json={"gracePeriodSeconds": 0})
    assert on("node-l") == ["l2", "l4"]
    assert on("node-l", f"/api/v1/namespaces/{ns}-other/pods") == []
    # the same selector with a negation beside it still filters on both
    assert names(client.get(url, params={"fieldSelector": "spec.nodeName=node-l,metadata.name!=l2"}).json()) == \
        ["l4"]
