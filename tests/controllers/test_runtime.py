"""The controller runtime against a live API server: informers, workqueue, leader election."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
import yaml

from controllers.client import ApiError, Client, path_for
from controllers.leaderelection import LeaderElector
from controllers.runtime import Informer, WorkQueue
from tests.cluster import ServerProcess


async def test_workqueue_dedups_and_never_hands_one_key_twice() -> None:
    q = WorkQueue()
    for key in ["a", "b", "a", "a"]:
        q.add(key)
    assert len(q) == 2
    first = await q.get()
    assert first == "a"
    q.add("a")  # while processing: comes back after done()
    second = await q.get()
    assert second == "b"
    q.done("b")
    q.done("a")
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.add_after("later", 0.05)
    assert await asyncio.wait_for(q.get(), 2) == "later"
    q.shutdown()
    assert await q.get() is None


async def test_informer_lists_watches_and_indexes(apiserver: ServerProcess) -> None:
    client = Client.from_kubeconfig(apiserver.kubeconfig)
    ns = "inf-" + uuid.uuid4().hex[:6]
    await client.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    await client.create(path_for("", "v1", "configmaps", ns), {"metadata": {"name": "before"}})
    inf = Informer(client, "", "v1", "configmaps", namespace=ns)
    seen: list[tuple[str, str]] = []
    inf.add_handlers(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                     on_update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                     on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    inf.start()
    await asyncio.wait_for(inf.synced.wait(), 10)
    assert inf.get(f"{ns}/before") is not None
    await client.create(path_for("", "v1", "configmaps", ns), {"metadata": {"name": "after"}, "data": {"a": "1"}})
    await client.patch(path_for("", "v1", "configmaps", ns, "after"), {"data": {"a": "2"}})
    await client.delete(path_for("", "v1", "configmaps", ns, "before"))
    deadline = time.monotonic() + 10
    while len(seen) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert seen == [("add", "before"), ("add", "after"), ("update", "after"), ("delete", "before")]
    assert [o["metadata"]["name"] for o in inf.by_index("namespace", ns)] == ["after"]
    await inf.stop()
    await client.close()


async def test_client_errors_carry_status(apiserver: ServerProcess) -> None:
    client = Client.from_kubeconfig(apiserver.kubeconfig)
    with pytest.raises(ApiError) as e:
        await client.get(path_for("", "v1", "configmaps", "default", "missing"))
    assert e.value.not_found and e.value.reason == "NotFound"
    await client.close()


async def test_leader_election_hands_over(apiserver: ServerProcess) -> None:
    client = Client.from_kubeconfig(apiserver.kubeconfig)
    name = "le-" + uuid.uuid4().hex[:6]
    a = LeaderElector(client, name=name, identity="a", lease_duration=2, renew_deadline=1.5, retry_period=0.2)
    b = LeaderElector(client, name=name, identity="b", lease_duration=2, renew_deadline=1.5, retry_period=0.2)
    running: list[str] = []

    def leading(who: str) -> object:
        async def lead() -> None:
            running.append(who)
            await asyncio.Event().wait()
        return lead

    ta = asyncio.create_task(a.run(leading("a")))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    tb = asyncio.create_task(b.run(leading("b")))  # type: ignore[arg-type]
    await asyncio.sleep(1.0)
    assert running == ["a"] and a.is_leader and not b.is_leader
    ta.cancel()  # the leader dies without releasing
    deadline = time.monotonic() + 6
    while "b" not in running and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert running == ["a", "b"]
    lease = await client.get(path_for("coordination.k8s.io", "v1", "leases", "kube-system", name))
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1
    tb.cancel()
    await client.close()


def test_kubeconfig_loader_reads_server(apiserver: ServerProcess) -> None:
    from controllers.client import load_kubeconfig

    creds = load_kubeconfig(apiserver.kubeconfig)
    assert creds.server == yaml.safe_load(apiserver.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert httpx.get(creds.server + "/healthz").text == "ok"


def test_controller_manager_metrics(apiserver: ServerProcess) -> None:
    import re

    from tests.cluster import ComponentProcess, wait_for

    cm = ComponentProcess(apiserver, "controller-manager", "--controllers", "serviceaccount", "--leader-elect",
                          "false", "--metrics-port", "0", log_name="cm-metrics").start()
    try:
        port = wait_for(lambda: (m := re.search(r"127\.0\.0\.1:(\d+)/metrics", cm.log())) and m.group(1),
                        timeout=20, message="the metrics address in the log")
        text = wait_for(lambda: (t := httpx.get(f"http://127.0.0.1:{port}/metrics").text)
                        and 'workqueue_work_duration_seconds_count{name="serviceaccount"}' in t and t, timeout=20)
        assert "# TYPE workqueue_depth gauge" in text
        assert 'workqueue_work_duration_seconds_count{name="serviceaccount"}' in text
    finally:
        cm.stop()


def test_two_controller_managers_one_leader(apiserver: ServerProcess) -> None:
    """Two `kplane controller-manager` processes: one holds the Lease; kill -9 it and the other takes over
    within the lease duration (15 s)."""
    from tests.cluster import ComponentProcess, wait_for

    lease_url = f"{apiserver.url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"

    def holder() -> str:
        r = httpx.get(lease_url)
        return str(r.json()["spec"]["holderIdentity"]) if r.status_code == 200 else ""

    managers = [ComponentProcess(apiserver, "controller-manager", "--controllers", "serviceaccount",
                                 "--metrics-port", "-1", "--log-level", "info", log_name=f"cm-le-{i}").start()
                for i in range(2)]
    try:
        first = wait_for(holder, timeout=30, message="a lease holder")
        pids = {str(m.proc.pid): m for m in managers if m.proc is not None}
        leader = next(m for pid, m in pids.items() if f"_{pid}_" in first)
        other = next(m for m in managers if m is not leader)
        # the standby does not act: only the leader logged that it is running controllers
        wait_for(lambda: "became leader" in leader.log(), timeout=20)
        assert "became leader" not in other.log()
        leader.kill()
        second = wait_for(lambda: (h := holder()) != first and h, timeout=30, message="a new lease holder")
        assert other.proc is not None and f"_{other.proc.pid}_" in second
    finally:
        for m in managers:
            m.stop()
