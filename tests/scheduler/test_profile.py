"""The scheduling algorithm, preemption, configuration and event handling on plain dicts."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from controllers.scheduler.config import ProfileConfig, load_config
from controllers.scheduler.framework import CycleState, FitError, NoNodesAvailable
from controllers.scheduler.handlers import EventHandlers, resolve_priority
from controllers.scheduler.preemption import DefaultPreemption
from controllers.scheduler.profile import num_feasible_nodes_to_find
from controllers.scheduler.queue import ACTIVE, UNSCHEDULABLE, SchedulingQueue

from .builders import cluster, info, node, pod, profile


def schedule(prof: object, p: dict) -> str:
    return prof.schedule(CycleState(), info(p))  # type: ignore[attr-defined, no-any-return]


def test_picks_the_least_allocated_node_and_spreads_a_burst() -> None:
    h = cluster([node("n1"), node("n2"), node("n3")], [pod("x", cpu="2", node_name="n1")])
    prof = profile(h)
    assert schedule(prof, pod("p", cpu="1")) in ("n2", "n3")
    for i in range(12):
        pi = info(pod(f"b{i}", cpu="500m", memory="512Mi"))
        chosen = prof.schedule(CycleState(), pi)
        h.cache.assume(pi.with_node(chosen))  # what the scheduler does before binding
    used = [n.requested["cpu"] for n in h.nodes()]
    assert sum(used) == 8000 and max(used) - min(used) <= 500


def test_burst_never_oversubscribes() -> None:
    h = cluster([node("n1", cpu="1"), node("n2", cpu="1")])
    prof = profile(h)
    placed = []
    with pytest.raises(FitError) as e:
        for i in range(10):
            pi = info(pod(f"b{i}", cpu="300m"))
            chosen = prof.schedule(CycleState(), pi)
            h.cache.assume(pi.with_node(chosen))
            placed.append(chosen)
    assert len(placed) == 6 and Counter(placed) == {"n1": 3, "n2": 3}
    assert str(e.value) == "0/2 nodes are available: 2 Insufficient cpu."


def test_ties_are_broken_at_random() -> None:
    h = cluster([node(f"n{i}") for i in range(4)])
    seen = {profile(h, seed=s).schedule(CycleState(), info(pod("p"))) for s in range(40)}
    assert len(seen) > 1


def test_message_for_mixed_failures() -> None:
    h = cluster([node("n1", cpu="1"), node("n2", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
                 node("n3", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}])])
    with pytest.raises(FitError) as e:
        schedule(profile(h), pod("p", cpu="2"))
    assert str(e.value) == ("0/3 nodes are available: 1 Insufficient cpu, "
                            "2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.")
    assert e.value.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "TaintToleration"}
    with pytest.raises(NoNodesAvailable):
        schedule(profile(cluster([])), pod("p"))


def test_num_feasible_nodes_to_find() -> None:
    assert num_feasible_nodes_to_find(50, 0) == 50
    assert num_feasible_nodes_to_find(1000, 0) == 420
    assert num_feasible_nodes_to_find(5000, 0) == 500
    assert num_feasible_nodes_to_find(200, 10) == 100
    assert num_feasible_nodes_to_find(1000, 100) == 1000


def test_nominated_pods_hold_their_room() -> None:
    h = cluster([node("n1", cpu="1"), node("n2", cpu="1")])
    prof = profile(h)
    prof.nominator.set(info(pod("big", cpu="800m", priority=100)), "n1")
    assert schedule(prof, pod("small", cpu="500m", priority=1)) == "n2"
    # a pod of higher priority than the nominated one ignores the reservation
    assert schedule(prof, pod("vip", cpu="500m", priority=1000, nodeSelector={"kubernetes.io/hostname": "n1"})) == "n1"


# --- preemption -----------------------------------------------------------------------------------------------

def preempt(h: object, p: dict) -> tuple[str, object]:
    prof = profile(h)  # type: ignore[arg-type]
    state = CycleState()
    pi = info(p)
    with pytest.raises(FitError) as e:
        prof.schedule(state, pi)
    outcome = DefaultPreemption(prof).post_filter(state, pi, e.value.diagnosis)
    e.value.diagnosis.post_filter_msg = outcome.message
    return str(e.value), outcome


def test_preemption_evicts_the_fewest_lowest_priority_pods() -> None:
    h = cluster([node("n1", cpu="2"), node("n2", cpu="2")], [
        pod("a", cpu="1", priority=10, node_name="n1"), pod("b", cpu="1", priority=5, node_name="n1"),
        pod("c", cpu="1", priority=50, node_name="n2"), pod("d", cpu="1", priority=50, node_name="n2")])
    message, outcome = preempt(h, pod("vip", cpu="1", priority=100))
    assert message == "0/2 nodes are available: 2 Insufficient cpu."
    assert outcome.nominated == "n1" and [v.name for v in outcome.victims] == ["b"]


def test_preemption_respects_pdbs_where_it_can() -> None:
    pdb = {"metadata": {"name": "keep", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "db"}}}, "status": {"disruptionsAllowed": 0}}
    h = cluster([node("n1", cpu="1"), node("n2", cpu="1")], [
        pod("db", cpu="1", priority=1, labels={"app": "db"}, node_name="n1"),
        pod("web", cpu="1", priority=1, labels={"app": "web"}, node_name="n2")], poddisruptionbudgets=[pdb])
    _, outcome = preempt(h, pod("vip", cpu="1", priority=100))
    assert outcome.nominated == "n2" and [v.name for v in outcome.victims] == ["web"]


def test_preemption_messages_when_it_cannot_help() -> None:
    h = cluster([node("n1", cpu="1"), node("n2", cpu="1")],
                [pod("a", cpu="1", priority=100, node_name="n1"), pod("b", cpu="1", priority=100, node_name="n2")])
    message, outcome = preempt(h, pod("p", cpu="1", priority=1))
    assert message == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                       "2 No preemption victims found for incoming pod.")
    assert outcome.nominated == ""
    message, _ = preempt(h, pod("huge", cpu="8", priority=1000))
    assert message == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                       "2 Preemption is not helpful for scheduling.")
    message, _ = preempt(h, pod("never", cpu="1", priority=1000, preemptionPolicy="Never"))
    assert message.endswith(" preemption: not eligible due to preemptionPolicy=Never.")


# --- configuration ---------------------------------------------------------------------------------------------

def test_config_file_most_allocated_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        podMaxBackoffSeconds: 5
        profiles:
        - schedulerName: default-scheduler
          plugins:
            score:
              disabled: [{name: NodeResourcesBalancedAllocation}]
              enabled: [{name: NodeResourcesFit, weight: 5}]
          pluginConfig:
          - name: NodeResourcesFit
            args: {scoringStrategy: {type: MostAllocated}}
        - schedulerName: no-preempt
          plugins:
            postFilter: {disabled: [{name: DefaultPreemption}]}
    """))
    cfg = load_config(path)
    assert cfg.pod_max_backoff == 5
    first, second = cfg.profiles
    weights = dict(first.plugins)
    assert weights["NodeResourcesFit"] == 5 and weights["NodeResourcesBalancedAllocation"] == 0
    assert weights["TaintToleration"] == 3 and second.preemption is False
    h = cluster([node("n1"), node("n2")], [pod("x", cpu="2", node_name="n1")])
    assert schedule(profile(h, first), pod("p", cpu="1")) == "n1"  # bin packing
    assert schedule(profile(h, ProfileConfig()), pod("p", cpu="1")) == "n2"


# --- events move parked pods ---------------------------------------------------------------------------------------

async def test_node_events_move_only_pods_they_can_help() -> None:
    h = cluster([node("n1", cpu="1")])
    q = SchedulingQueue(initial_backoff=0, max_backoff=0)
    prof = profile(h)
    handlers = EventHandlers(h.cache, q, {"default-scheduler": prof}, priority_classes=h.store("priorityclasses"))
    for p in (pod("big", cpu="4"), pod("picky", nodeSelector={"disk": "ssd"})):
        handlers.pod_added(p)
    for _ in range(2):
        qpi = await q.pop()
        assert qpi
        with pytest.raises(FitError) as e:
            prof.schedule(CycleState(), qpi.pod)
        q.requeue(qpi, e.value.diagnosis.unschedulable_plugins)
    handlers.node_added(node("small", cpu="1"))
    assert q.where("default/big") == UNSCHEDULABLE and q.where("default/picky") == UNSCHEDULABLE
    handlers.node_added(node("ssd", cpu="1", labels={"disk": "ssd"}))
    assert q.where("default/picky") == ACTIVE and q.where("default/big") == UNSCHEDULABLE
    handlers.node_added(node("huge", cpu="8"))
    assert q.where("default/big") == ACTIVE
    # a bound pod appears, then goes: resources come back
    handlers.pod_added(pod("filler", cpu="1", node_name="n1"))
    assert h.cache.node("n1").requested["cpu"] == 1000  # type: ignore[union-attr]
    handlers.pod_deleted(pod("filler", cpu="1", node_name="n1"))
    assert h.cache.node("n1").requested.get("cpu") == 0  # type: ignore[union-attr]


def test_priority_resolution() -> None:
    h = cluster([], priorityclasses=[{"metadata": {"name": "high"}, "value": 1000},
                                     {"metadata": {"name": "default"}, "value": 7, "globalDefault": True},
                                     {"metadata": {"name": "polite"}, "value": 500, "preemptionPolicy": "Never"}])
    classes = h.store("priorityclasses")
    assert resolve_priority(pod("a", priorityClassName="high"), classes) == (1000, "")
    assert resolve_priority(pod("b"), classes) == (7, "")
    assert resolve_priority(pod("c", priority=3, priorityClassName="high"), classes) == (3, "")
    assert resolve_priority(pod("d", priorityClassName="polite"), classes) == (500, "Never")
    assert resolve_priority(pod("e", priorityClassName="system-node-critical"), classes)[0] == 2000001000
