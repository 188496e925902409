"""`kplane scheduler` against a live API server. No kubelet: the tests create Node objects (Ready, with
capacity, labels and taints) and pods, and check where the pods land. Each test gets its own server so
node counts in messages are exact."""

from __future__ import annotations

import time
from typing import Any

from controllers.scheduler.resources import quantity
from tests.cluster import wait_for

from .conftest import Kube

Obj = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"


def test_resources_fit_and_a_burst_does_not_oversubscribe(kube: Kube) -> None:
    for i in range(4):
        kube.node(f"n{i}", cpu="2")
    for i in range(40):
        kube.pod(f"p{i}", cpu="300m")
    # 6 pods of 300m fit in 2 cpus: 24 bound, 16 left pending with upstream's message
    wait_for(lambda: sum(1 for n in kube.placement().values() if n) == 24, timeout=60, message="24 bound")
    pending = [n for n, node in kube.placement().items() if not node]
    assert len(pending) == 16
    for name in pending:
        assert kube.wait_unschedulable(name)["message"] == (
            "0/4 nodes are available: 4 Insufficient cpu. preemption: 0/4 nodes are available: "
            "4 No preemption victims found for incoming pod.")
    used: dict[str, int] = {}
    for p in kube.pods():
        if p["spec"].get("nodeName"):
            cpu = p["spec"]["containers"][0]["resources"]["requests"]["cpu"]
            used[p["spec"]["nodeName"]] = used.get(p["spec"]["nodeName"], 0) + quantity(cpu, milli=True)
    assert used == {f"n{i}": 1800 for i in range(4)}
    # a bound pod goes away (no kubelet: force it): one parked pod takes its room
    victim = next(n for n, node in kube.placement().items() if node)
    kube.must(kube.http.request("DELETE", f"/api/v1/namespaces/{kube.ns}/pods/{victim}",
                                json={"gracePeriodSeconds": 0}))
    wait_for(lambda: sum(1 for n in kube.placement().values() if n) == 24, timeout=20, message="a parked pod moved")
    assert sum(1 for n in kube.placement().values() if not n) == 15


def test_node_selector_taints_and_tolerations(kube: Kube) -> None:
    kube.node("ssd", labels={"disk": "ssd"})
    kube.node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    kube.node("plain")
    kube.pod("wants-ssd", nodeSelector={"disk": "ssd"})
    kube.pod("tolerates-gpu", nodeSelector={"kubernetes.io/hostname": "gpu"},
             tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    kube.pod("intolerant", nodeSelector={"kubernetes.io/hostname": "gpu"})
    for i in range(6):
        kube.pod(f"any{i}")
    assert kube.wait_bound("wants-ssd") == "ssd"
    assert kube.wait_bound("tolerates-gpu") == "gpu"
    for i in range(6):
        assert kube.wait_bound(f"any{i}") in ("ssd", "plain")
    cond = kube.wait_unschedulable("intolerant")
    assert cond["reason"] == "Unschedulable"
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
        "2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling.")


def test_required_and_preferred_node_affinity(kube: Kube) -> None:
    kube.node("a", labels={"tier": "gold", "rack": "r1"})
    kube.node("b", labels={"tier": "gold", "rack": "r2"})
    kube.node("c", labels={"tier": "silver", "rack": "r2"})
    affinity = {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r2"]}]}}]}}
    for i in range(3):
        kube.pod(f"p{i}", affinity=affinity)
    assert {kube.wait_bound(f"p{i}") for i in range(3)} == {"b"}


def test_pod_anti_affinity_one_per_node(kube: Kube) -> None:
    for i in range(3):
        kube.node(f"n{i}")
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    for i in range(4):
        kube.pod(f"web{i}", labels={"app": "web"}, affinity=anti)
    wait_for(lambda: sum(1 for n in kube.placement().values() if n) == 3, message="3 bound")
    placement = kube.placement()
    assert sorted(n for n in placement.values() if n) == ["n0", "n1", "n2"]
    [left] = [name for name, n in placement.items() if not n]
    assert kube.wait_unschedulable(left)["message"].startswith(
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")


def test_topology_spread_across_zones(kube: Kube) -> None:
    for name, zone in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c")]:
        kube.node(name, labels={ZONE: zone})
    tsc = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}}}]
    for i in range(6):
        kube.pod(f"s{i}", labels={"app": "spread"}, topologySpreadConstraints=tsc)
    zones = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "c1": "c"}
    per_zone: dict[str, int] = {}
    for i in range(6):
        z = zones[kube.wait_bound(f"s{i}")]
        per_zone[z] = per_zone.get(z, 0) + 1
    assert per_zone == {"a": 2, "b": 2, "c": 2}


def test_unschedulable_until_a_fitting_node_appears(kube: Kube) -> None:
    kube.node("small1", cpu="1")
    kube.node("small2", cpu="1")
    kube.pod("big", cpu="4")
    cond = kube.wait_unschedulable("big")
    assert cond["reason"] == "Unschedulable"
    assert cond["message"] == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                               "2 Preemption is not helpful for scheduling.")
    failed = wait_for(lambda: [e for e in kube.events("big") if e["reason"] == "FailedScheduling"],
                      message="FailedScheduling event")
    assert failed[0]["type"] == "Warning" and failed[0]["message"] == cond["message"]
    assert failed[0]["source"]["component"] == "default-scheduler"
    kube.node("large", cpu="8")
    assert kube.wait_bound("big", timeout=15) == "large"
    cond = kube.condition("big")
    assert cond is not None and cond["status"] == "True"
    scheduled = wait_for(lambda: [e for e in kube.events("big") if e["reason"] == "Scheduled"],
                         message="Scheduled event")
    assert scheduled[0]["message"] == f"Successfully assigned {kube.ns}/big to large"


def test_pods_wait_for_the_first_node(kube: Kube) -> None:
    kube.pod("early")
    cond = kube.wait_unschedulable("early")
    assert (cond["reason"], cond["message"]) == ("SchedulerError", "no nodes available to schedule pods")
    kube.node("late")
    assert kube.wait_bound("early", timeout=20) == "late"


def test_high_priority_pod_preempts_a_low_priority_one(kube: Kube) -> None:
    for name, value in (("low", 10), ("high", 1000)):
        kube.must(kube.http.post("/apis/scheduling.k8s.io/v1/priorityclasses",
                                 json={"metadata": {"name": f"{kube.ns}-{name}"}, "value": value}))
    kube.node("only", cpu="1")
    kube.pod("victim", cpu="800m", priorityClassName=f"{kube.ns}-low")
    assert kube.wait_bound("victim") == "only"
    kube.pod("vip", cpu="500m", priorityClassName=f"{kube.ns}-high")
    victim = wait_for(lambda: (v := kube.get("victim"))["metadata"].get("deletionTimestamp") and v,
                      message="victim terminating")
    conditions = {c["type"]: c for c in victim["status"].get("conditions") or []}
    assert conditions["DisruptionTarget"]["reason"] == "PreemptionByScheduler"
    assert wait_for(lambda: kube.get("vip")["status"].get("nominatedNodeName"), message="nominated") == "only"
    assert [e for e in kube.events("victim") if e["reason"] == "Preempted"]
    # no kubelet: finish the victim's termination as one would
    kube.must(kube.http.request("DELETE", f"/api/v1/namespaces/{kube.ns}/pods/victim",
                                json={"gracePeriodSeconds": 0}))
    assert kube.wait_bound("vip", timeout=20) == "only"


def test_cordoned_node_gets_no_new_pods(kube: Kube) -> None:
    kube.node("n1")
    kube.node("n2")
    kube.must(kube.http.patch("/api/v1/nodes/n1", json={"spec": {"unschedulable": True}},
                              headers={"content-type": "application/merge-patch+json"}))
    time.sleep(0.3)
    for i in range(5):
        kube.pod(f"p{i}")
    assert {kube.wait_bound(f"p{i}") for i in range(5)} == {"n2"}


def test_other_schedulers_pods_are_left_alone_and_the_lease_is_held(kube: Kube) -> None:
    kube.node("n1")
    kube.pod("mine")
    kube.pod("theirs", schedulerName="someone-else")
    assert kube.wait_bound("mine") == "n1"
    time.sleep(0.5)
    theirs = kube.get("theirs")
    assert not theirs["spec"].get("nodeName") and not kube.condition("theirs")
    lease = kube.must(kube.http.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"))
    assert lease["spec"]["holderIdentity"]


def test_throughput_of_200_pods(kube: Kube) -> None:
    for i in range(20):
        kube.node(f"n{i:02d}", cpu="4", memory="8Gi")
    start = time.monotonic()
    for i in range(200):
        kube.pod(f"p{i:03d}", cpu="100m")
    wait_for(lambda: all(kube.placement().values()) and len(kube.placement()) == 200, timeout=120, interval=0.2,
             message="200 pods bound")
    elapsed = time.monotonic() - start
    per_node: dict[str, int] = {}
    for node in kube.placement().values():
        per_node[node] = per_node.get(node, 0) + 1
    assert len(per_node) == 20 and max(per_node.values()) <= 40
    print(f"\n200 pods over 20 nodes created and bound in {elapsed:.1f}s ({200 / elapsed:.0f} pods/s end to end)")
