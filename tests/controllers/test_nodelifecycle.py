"""The node lifecycle controller against its own API server and controller-manager (a 3s grace period).

Two nodes, as a kubelet would keep them: a Node with conditions and a Lease in kube-node-lease. `alive`
keeps renewing; `dead` stops (with every node gone the controller would enter upstream's disruption mode
and evict nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from controllers.client import ApiError, Client, path_for
from tests.cluster import ComponentProcess, ServerProcess

Obj = dict[str, Any]
T = TypeVar("T")
LEASES = ("coordination.k8s.io", "v1", "leases")
GRACE = 3.0


def now(micro: bool = False) -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


async def eventually(fn: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def lifecycle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("nodelifecycle")).start()
    cm = ComponentProcess(server, "controller-manager", "--controllers", "nodelifecycle", "--leader-elect",
                          "false", "--node-monitor-grace-period", str(GRACE), "--log-level", "info").start()
    yield server
    cm.stop()
    server.stop()


@pytest.fixture
async def client(lifecycle_server: ServerProcess) -> AsyncIterator[Client]:
    c = Client.from_kubeconfig(lifecycle_server.kubeconfig)
    yield c
    await c.close()


def conditions(status: str) -> list[Obj]:
    return [{"type": t, "status": status if t == "Ready" else "False", "reason": "Kubelet",
             "lastHeartbeatTime": now(), "lastTransitionTime": now()}
            for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]


async def heartbeat(client: Client, node: str) -> None:
    """One kubelet heartbeat: renew the node's Lease (created on first use)."""
    path = path_for(*LEASES, "kube-node-lease", node)
    try:
        lease = await client.get(path)
    except ApiError as e:
        if not e.not_found:
            raise
        await client.create(path_for(*LEASES, "kube-node-lease"), {
            "metadata": {"name": node}, "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                                                 "renewTime": now(micro=True)}})
        return
    lease["spec"]["renewTime"] = now(micro=True)
    await client.update(path, lease)


def find(items: list[Obj] | None, **match: Any) -> Obj | None:
    return next((i for i in items or [] if all(i.get(k) == v for k, v in match.items())), None)


async def test_unrenewed_lease_makes_node_unknown_tainted_and_evicts(client: Client) -> None:
    ns = "workloads"
    await client.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    for name in ("alive", "dead"):
        await client.create("/api/v1/nodes", {"metadata": {"name": name, "labels": {"kubernetes.io/os": "linux"}},
                                              "status": {"conditions": conditions("True")}})
        await heartbeat(client, name)

    async def keep_alive() -> None:
        while True:
            await heartbeat(client, "alive")
            await asyncio.sleep(0.5)

    renewer = asyncio.create_task(keep_alive())
    try:
        pods = {
            # DefaultTolerationSeconds adds not-ready/unreachable for 300s; this one says 1s for unreachable
            "victim": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                        "tolerationSeconds": 1}],
            # tolerates unreachable forever
            "stayer": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}],
        }
        for name, tolerations in pods.items():
            await client.create(path_for("", "v1", "pods", ns), {
                "metadata": {"name": name},
                "spec": {"nodeName": "dead", "tolerations": tolerations,
                         "containers": [{"name": "c", "image": "busybox"}]}})
            await client.patch(path_for("", "v1", "pods", ns, name, "status"), {"status": {
                "phase": "Running", "podIP": "10.9.0.1", "podIPs": [{"ip": "10.9.0.1"}],
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}]}})
        started = time.monotonic()

        async def unknown() -> Obj | None:
            node = await client.get("/api/v1/nodes/dead")
            ready = find(node["status"]["conditions"], type="Ready")
            return node if ready and ready["status"] == "Unknown" else None

        node = await eventually(unknown, what="dead node Ready=Unknown")
        assert time.monotonic() - started >= GRACE - 0.5
        for ctype in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
            cond = find(node["status"]["conditions"], type=ctype)
            assert cond is not None
            assert (cond["status"], cond["reason"], cond["message"]) == (
                "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."), cond

        async def tainted() -> list[Obj] | None:
            taints = (await client.get("/api/v1/nodes/dead")).get("spec", {}).get("taints") or []
            keys = {(t["key"], t["effect"]) for t in taints}
            return taints if keys == {("node.kubernetes.io/unreachable", "NoSchedule"),
                                      ("node.kubernetes.io/unreachable", "NoExecute")} else None

        taints = await eventually(tainted, what="unreachable taints")
        assert all(t.get("timeAdded") for t in taints)

        async def evicted() -> Obj | None:
            pod = await client.get(path_for("", "v1", "pods", ns, "victim"))
            return pod if pod["metadata"].get("deletionTimestamp") else None

        victim = await eventually(evicted, what="the intolerant pod evicted")
        assert find(victim["status"]["conditions"], type="Ready")["status"] == "False"  # type: ignore[index]
        target = find(victim["status"]["conditions"], type="DisruptionTarget")
        assert target is not None and target["reason"] == "DeletionByTaintManager"
        events = (await client.list(path_for("", "v1", "events", ns),
                                    fieldSelector="involvedObject.name=victim"))["items"]
        assert any(e["reason"] == "TaintManagerEviction" and e["source"]["component"] ==
                   "taint-eviction-controller" for e in events)
        assert any(e["reason"] == "NodeNotReady" for e in events)
        stayer = await client.get(path_for("", "v1", "pods", ns, "stayer"))
        assert not stayer["metadata"].get("deletionTimestamp")
        assert find(stayer["status"]["conditions"], type="Ready")["status"] == "False"  # type: ignore[index]

        alive = await client.get("/api/v1/nodes/alive")
        assert find(alive["status"]["conditions"], type="Ready")["status"] == "True"  # type: ignore[index]
        assert not alive.get("spec", {}).get("taints")
        assert alive["metadata"]["labels"]["beta.kubernetes.io/os"] == "linux"  # the beta label follows

        # the kubelet comes back: lease renewed and Ready posted again -> the taints go
        await heartbeat(client, "dead")
        node = await client.get("/api/v1/nodes/dead")
        node["status"]["conditions"] = conditions("True")
        await client.update("/api/v1/nodes/dead/status", node)

        async def untainted() -> bool:
            return not (await client.get("/api/v1/nodes/dead")).get("spec", {}).get("taints")

        await eventually(untainted, what="taints removed once the node is Ready again")
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer


async def test_every_node_gone_is_disruption_mode_without_evictions(client: Client) -> None:
    """Nothing renews any more (the nodes of the test above stop too): with every node not ready the
    controller keeps only NoSchedule taints and evicts nothing."""
    await client.create("/api/v1/namespaces", {"metadata": {"name": "lonely"}})
    await client.create("/api/v1/nodes", {"metadata": {"name": "lonely"}, "status": {"conditions": conditions("True")}})
    await heartbeat(client, "lonely")
    await client.create(path_for("", "v1", "pods", "lonely"), {
        "metadata": {"name": "p"},
        "spec": {"nodeName": "lonely", "containers": [{"name": "c", "image": "busybox"}], "tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 1}]}})

    async def lonely_unknown() -> bool:
        ready = find((await client.get("/api/v1/nodes/lonely"))["status"]["conditions"], type="Ready")
        return ready is not None and ready["status"] == "Unknown"

    await eventually(lonely_unknown, what="the last node Unknown")

    async def no_schedule() -> bool:
        taints = (await client.get("/api/v1/nodes/lonely")).get("spec", {}).get("taints") or []
        return {(t["key"], t["effect"]) for t in taints} == {("node.kubernetes.io/unreachable", "NoSchedule")}

    await eventually(no_schedule, what="the NoSchedule taint")
    await asyncio.sleep(2.0)  # more than the pod's tolerationSeconds and several monitor passes
    for node in (await client.list("/api/v1/nodes"))["items"]:
        assert not [t for t in node.get("spec", {}).get("taints") or [] if t["effect"] == "NoExecute"], node
    pod = await client.get(path_for("", "v1", "pods", "lonely", "p"))
    assert not pod["metadata"].get("deletionTimestamp")
