"""The endpoints and endpointslice controllers against a live API server and controller-manager.

Pods become Running/Ready the way a kubelet makes them: through ``pods/<name>/status``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from controllers.client import ApiError, Client, path_for
from controllers.endpoints import repack_subsets, truncate
from tests.cluster import ServerProcess

Obj = dict[str, Any]
T = TypeVar("T")
SLICES = ("discovery.k8s.io", "v1", "endpointslices")


async def eventually(fn: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = await fn()
        except (ApiError, AssertionError, KeyError, IndexError) as e:
            value, last = None, e
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last error: {last!r}")
        await asyncio.sleep(0.1)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def env(cluster: ServerProcess) -> AsyncIterator[tuple[Client, str, str]]:
    """(client, namespace, node name): a fresh namespace and a Node in zone-a for the pods."""
    client = Client.from_kubeconfig(cluster.kubeconfig)
    suffix = uuid.uuid4().hex[:6]
    ns, node = f"ep-{suffix}", f"ep-node-{suffix}"
    await client.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    await client.create("/api/v1/nodes", {
        "metadata": {"name": node, "labels": {"topology.kubernetes.io/zone": "zone-a"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "lastHeartbeatTime": now(), "lastTransitionTime": now()}]}})
    try:
        yield client, ns, node
    finally:
        for path in (f"/api/v1/nodes/{node}", f"/api/v1/namespaces/{ns}"):
            try:
                await client.delete(path)
            except ApiError:
                pass
        await client.close()


async def make_service(client: Client, ns: str, name: str, **spec: Any) -> Obj:
    body = {"metadata": {"name": name, "labels": {"team": "blue"}},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec}}
    return await client.create(path_for("", "v1", "services", ns), body)


async def make_pod(client: Client, ns: str, name: str, app: str, node: str, *, port: int = 8080,
                   ip: str | None = None, ready: bool = False) -> Obj:
    pod = await client.create(path_for("", "v1", "pods", ns), {
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [
            {"name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": port}]}]}})
    if ip:
        pod = await set_status(client, ns, name, ip=ip, ready=ready)
    return pod


async def set_status(client: Client, ns: str, name: str, *, ip: str, ready: bool) -> Obj:
    """What a kubelet reports: Running, the pod IP, and the Ready condition."""
    flag = "True" if ready else "False"
    return await client.patch(path_for("", "v1", "pods", ns, name, "status"), {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.0.0.1",
        "conditions": [{"type": t, "status": flag if t in ("Ready", "ContainersReady") else "True",
                        "lastTransitionTime": now()}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]}})


async def endpoints_of(client: Client, ns: str, name: str) -> Obj:
    return await client.get(path_for("", "v1", "endpoints", ns, name))


async def slices_of(client: Client, ns: str, name: str) -> list[Obj]:
    got = await client.list(path_for(*SLICES, ns), labelSelector=f"kubernetes.io/service-name={name}")
    return list(got.get("items") or [])


def ips(addresses: list[Obj] | None) -> list[str]:
    return [a["ip"] for a in addresses or []]


async def test_endpoints_and_slices_follow_pod_readiness(env: tuple[Client, str, str]) -> None:
    client, ns, node = env
    svc = await make_service(client, ns, "web", ports=[
        {"name": "http", "port": 80, "targetPort": "http"},
        {"name": "metrics", "port": 9090, "targetPort": 9100, "protocol": "TCP"}])
    a = await make_pod(client, ns, "web-a", "web", node, ip="10.1.0.1", ready=True)
    await make_pod(client, ns, "web-b", "web", node, ip="10.1.0.2", ready=False)
    await make_pod(client, ns, "web-c", "web", node)  # no IP yet: no endpoint
    await make_pod(client, ns, "other", "other", node, ip="10.1.0.9", ready=True)

    async def two_addresses() -> Obj | None:
        ep = await endpoints_of(client, ns, "web")
        subsets = ep.get("subsets") or []
        return ep if len(subsets) == 1 and ips(subsets[0].get("notReadyAddresses")) == ["10.1.0.2"] else None

    ep = await eventually(two_addresses, what="Endpoints with one ready and one not-ready address")
    subset = ep["subsets"][0]
    assert subset["addresses"] == [{"ip": "10.1.0.1", "nodeName": node, "targetRef": {
        "kind": "Pod", "namespace": ns, "name": "web-a", "uid": a["metadata"]["uid"]}}]
    assert sorted((p["name"], p["port"], p["protocol"]) for p in subset["ports"]) == [
        ("http", 8080, "TCP"), ("metrics", 9100, "TCP")]
    assert ep["metadata"]["labels"] == {"team": "blue"}
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]

    async def one_slice() -> Obj | None:
        slices = await slices_of(client, ns, "web")
        return slices[0] if len(slices) == 1 and len(slices[0].get("endpoints") or []) == 2 else None

    es = await eventually(one_slice, what="an EndpointSlice with two endpoints")
    meta = es["metadata"]
    assert meta["generateName"] == "web-" and meta["name"].startswith("web-")
    assert meta["labels"] == {"team": "blue", "kubernetes.io/service-name": "web",
                              "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                        "uid": svc["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    assert "endpoints.kubernetes.io/last-change-trigger-time" in meta["annotations"]
    assert es["addressType"] == "IPv4"
    assert sorted((p["name"], p["port"], p["protocol"]) for p in es["ports"]) == [
        ("http", 8080, "TCP"), ("metrics", 9100, "TCP")]
    by_ip = {e["addresses"][0]: e for e in es["endpoints"]}
    assert by_ip["10.1.0.1"]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert by_ip["10.1.0.2"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert by_ip["10.1.0.1"]["nodeName"] == node and by_ip["10.1.0.1"]["zone"] == "zone-a"
    assert by_ip["10.1.0.1"]["targetRef"] == {"kind": "Pod", "namespace": ns, "name": "web-a",
                                              "uid": a["metadata"]["uid"]}

    # readiness flips both ways; web-c gets its IP
    await set_status(client, ns, "web-b", ip="10.1.0.2", ready=True)
    await set_status(client, ns, "web-a", ip="10.1.0.1", ready=False)
    await set_status(client, ns, "web-c", ip="10.1.0.3", ready=True)

    async def flipped() -> bool:
        s = (await endpoints_of(client, ns, "web"))["subsets"][0]
        return ips(s.get("addresses")) == ["10.1.0.2", "10.1.0.3"] and ips(s.get("notReadyAddresses")) == [
            "10.1.0.1"]

    await eventually(flipped, what="readiness flips in Endpoints")

    async def slice_flipped() -> bool:
        s = (await slices_of(client, ns, "web"))[0]
        ready = {e["addresses"][0]: e["conditions"]["ready"] for e in s["endpoints"]}
        return ready == {"10.1.0.1": False, "10.1.0.2": True, "10.1.0.3": True}

    await eventually(slice_flipped, what="readiness flips in the EndpointSlice")

    # a terminating pod leaves Endpoints but stays in the slice as terminating
    await client.delete(path_for("", "v1", "pods", ns, "web-b"))

    async def terminating() -> bool:
        s = (await endpoints_of(client, ns, "web"))["subsets"][0]
        es = (await slices_of(client, ns, "web"))[0]
        cond = next(e["conditions"] for e in es["endpoints"] if e["addresses"] == ["10.1.0.2"])
        return ips(s.get("addresses")) == ["10.1.0.3"] and cond == {
            "ready": False, "serving": True, "terminating": True}

    await eventually(terminating, what="the terminating pod in Endpoints and the slice")

    # nothing changed for endpoints: no new write
    before = (await endpoints_of(client, ns, "web"))["metadata"]["resourceVersion"]
    slice_before = (await slices_of(client, ns, "web"))[0]["metadata"]["resourceVersion"]
    await client.patch(path_for("", "v1", "pods", ns, "web-c"), {"metadata": {"annotations": {"x": "y"}}})
    await asyncio.sleep(1.5)
    assert (await endpoints_of(client, ns, "web"))["metadata"]["resourceVersion"] == before
    assert (await slices_of(client, ns, "web"))[0]["metadata"]["resourceVersion"] == slice_before

    # deleting the Service deletes its Endpoints and slices
    await client.delete(path_for("", "v1", "services", ns, "web"))

    async def gone() -> bool:
        try:
            await endpoints_of(client, ns, "web")
            return False
        except ApiError as e:
            return e.not_found and not await slices_of(client, ns, "web")

    await eventually(gone, what="Endpoints and EndpointSlices deleted with the Service")


async def test_named_target_port_groups_subsets_and_slices(env: tuple[Client, str, str]) -> None:
    client, ns, node = env
    await make_service(client, ns, "api")
    await make_pod(client, ns, "api-1", "api", node, port=8080, ip="10.2.0.1", ready=True)
    await make_pod(client, ns, "api-2", "api", node, port=8080, ip="10.2.0.2", ready=True)
    await make_pod(client, ns, "api-3", "api", node, port=9000, ip="10.2.0.3", ready=True)

    async def grouped() -> list[Obj] | None:
        subsets = (await endpoints_of(client, ns, "api")).get("subsets") or []
        return subsets if len(subsets) == 2 else None

    subsets = await eventually(grouped, what="two subsets")
    shape = sorted((s["ports"][0]["port"], ips(s["addresses"])) for s in subsets)
    assert shape == [(8080, ["10.2.0.1", "10.2.0.2"]), (9000, ["10.2.0.3"])]
    assert all(s["ports"][0]["name"] == "http" for s in subsets)

    async def two_slices() -> list[Obj] | None:
        slices = await slices_of(client, ns, "api")
        return slices if len(slices) == 2 and sum(len(s.get("endpoints") or []) for s in slices) == 3 else None

    slices = await eventually(two_slices, what="one slice per port set")
    assert sorted((s["ports"][0]["port"], len(s["endpoints"])) for s in slices) == [(8080, 2), (9000, 1)]


async def test_publish_not_ready_headless_and_placeholder(env: tuple[Client, str, str]) -> None:
    client, ns, node = env
    await make_service(client, ns, "db", clusterIP="None", publishNotReadyAddresses=True)
    await make_pod(client, ns, "db-0", "db", node, ip="10.3.0.1", ready=False)
    await make_service(client, ns, "empty")

    async def published() -> Obj | None:
        ep = await endpoints_of(client, ns, "db")
        subsets = ep.get("subsets") or []
        return ep if subsets and ips(subsets[0].get("addresses")) == ["10.3.0.1"] else None

    ep = await eventually(published, what="a not-ready pod published as ready")
    assert ep["metadata"]["labels"] == {"team": "blue", "service.kubernetes.io/headless": ""}

    async def slice_ready() -> Obj | None:
        slices = await slices_of(client, ns, "db")
        return slices[0] if slices and slices[0].get("endpoints") else None

    es = await eventually(slice_ready, what="the headless slice")
    assert es["endpoints"][0]["conditions"] == {"ready": True, "serving": False, "terminating": False}
    assert es["metadata"]["labels"]["service.kubernetes.io/headless"] == ""

    # a selector Service without pods: empty Endpoints and one placeholder slice
    empty = await eventually(lambda: endpoints_of(client, ns, "empty"), what="empty Endpoints")
    assert not empty.get("subsets")
    placeholder = await eventually(lambda: slices_of(client, ns, "empty"), what="a placeholder slice")
    assert len(placeholder) == 1 and not placeholder[0].get("endpoints") and not placeholder[0].get("ports")


async def test_slices_hold_at_most_100_endpoints(env: tuple[Client, str, str]) -> None:
    client, ns, node = env
    await make_service(client, ns, "big")
    await asyncio.gather(*(make_pod(client, ns, f"big-{i}", "big", node, ip=f"10.4.{i // 200}.{i % 200 + 1}",
                                    ready=True) for i in range(105)))

    async def split() -> list[int] | None:
        sizes = sorted(len(s.get("endpoints") or []) for s in await slices_of(client, ns, "big"))
        return sizes if sum(sizes) == 105 else None

    # how they spread depends on how the pods arrived (as upstream: slices are filled, never rebalanced)
    sizes = await eventually(split, timeout=30, what="105 endpoints in slices")
    assert len(sizes) >= 2 and max(sizes) <= 100
    ep = await endpoints_of(client, ns, "big")
    assert len(ep["subsets"][0]["addresses"]) == 105


async def test_kubernetes_service_points_at_the_apiserver(cluster: ServerProcess) -> None:
    client = Client.from_kubeconfig(cluster.kubeconfig)
    url = urlsplit(cluster.url)
    try:
        ep = await eventually(lambda: endpoints_of(client, "default", "kubernetes"), what="kubernetes Endpoints")
        assert ep["metadata"]["labels"] == {"endpointslice.kubernetes.io/skip-mirror": "true"}
        assert ep["subsets"] == [{"addresses": [{"ip": url.hostname}],
                                  "ports": [{"name": "https", "port": url.port, "protocol": "TCP"}]}]
        es = await eventually(lambda: client.get(path_for(*SLICES, "default", "kubernetes")),
                              what="kubernetes EndpointSlice")
        assert es["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
        assert es["addressType"] == "IPv4"
        assert es["endpoints"] == [{"addresses": [url.hostname], "conditions": {"ready": True}}]
        assert es["ports"] == [{"name": "https", "port": url.port, "protocol": "TCP"}]
        # repaired when deleted
        await client.delete(path_for("", "v1", "endpoints", "default", "kubernetes"))
        await eventually(lambda: endpoints_of(client, "default", "kubernetes"), what="recreated Endpoints")
    finally:
        await client.close()


def test_subsets_repack_and_truncate_as_upstream() -> None:
    http, dns = {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}
    a, b, c = ({"ip": f"10.0.0.{i}", "targetRef": {"uid": str(i)}} for i in (1, 2, 3))
    subsets = repack_subsets([(a, True, [http]), (a, True, [dns]), (b, False, [http]), (b, False, [dns]),
                              (c, True, [http])])
    # http is offered by a, b and c, dns only by a and b: two subsets
    assert sorted(subsets, key=str) == sorted([{"addresses": [a, c], "notReadyAddresses": [b], "ports": [http]},
                                               {"addresses": [a], "notReadyAddresses": [b], "ports": [dns]}],
                                              key=str)
    # the same address set for both ports: one subset
    assert repack_subsets([(a, True, [http]), (a, True, [dns])]) == [{"addresses": [a], "ports": [dns, http]}]
    big = [{"addresses": [{"ip": str(i)} for i in range(900)],
            "notReadyAddresses": [{"ip": str(i)} for i in range(300)]}]
    assert truncate(big)
    assert len(big[0]["addresses"]) == 900 and len(big[0]["notReadyAddresses"]) == 100
    assert not truncate([{"addresses": [{"ip": "1"}]}])

