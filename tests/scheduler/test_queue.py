"""The scheduling queue: priority order, backoff, parking and moving, gates; the cache's assume/confirm."""

from __future__ import annotations

import asyncio

from controllers.scheduler.cache import Cache
from controllers.scheduler.queue import ACTIVE, BACKOFF, GATED, IN_FLIGHT, UNSCHEDULABLE, SchedulingQueue

from .builders import info, node, pod


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_priority_then_fifo() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    for name, prio in [("low", 1), ("high", 100), ("low2", 1), ("mid", 50)]:
        q.add(info(pod(name, priority=prio)))
        clock.now += 1
    order = [(await q.pop()) for _ in range(4)]
    assert [qpi.pod.name for qpi in order if qpi] == ["high", "mid", "low", "low2"]


async def test_backoff_doubles_to_the_cap() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info(pod("p")))
    qpi = await q.pop()
    assert qpi is not None and q.where("default/p") == IN_FLIGHT
    durations = []
    for attempts in range(1, 7):
        qpi.attempts = attempts
        durations.append(q.backoff_duration(qpi))
    assert durations == [1, 2, 4, 8, 10, 10]
    qpi.attempts = 1
    q.requeue(qpi, set(), error=True)
    assert q.where("default/p") == BACKOFF
    assert q.flush_backoff() == 1.0
    clock.now += 1.01
    q.flush_backoff()
    assert q.where("default/p") == ACTIVE


async def test_unschedulable_pods_move_on_events_and_after_five_minutes() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    for name in ("fit", "taint"):
        q.add(info(pod(name)))
    a, b = await q.pop(), await q.pop()
    assert a and b
    q.requeue(a, {"NodeResourcesFit"})
    q.requeue(b, {"TaintToleration"})
    assert q.where("default/fit") == UNSCHEDULABLE
    clock.now += 30  # past the backoff
    moved = q.move(lambda qpi: "NodeResourcesFit" in qpi.unschedulable_plugins)
    assert moved == 1 and q.where("default/fit") == ACTIVE and q.where("default/taint") == UNSCHEDULABLE
    assert q.flush_unschedulable() == 0
    clock.now += 301
    assert q.flush_unschedulable() == 1 and q.where("default/taint") == ACTIVE


async def test_moved_pod_still_backing_off_waits_in_backoff() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info(pod("p")))
    qpi = await q.pop()
    assert qpi
    q.requeue(qpi, {"NodeResourcesFit"})
    q.move(lambda _: True)
    assert q.where("default/p") == BACKOFF


async def test_update_reactivates_parked_pod_and_gates_hold() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    gated = pod("g", schedulingGates=[{"name": "wait"}])
    q.add(info(gated))
    assert q.where("default/g") == GATED
    ungated = pod("g")
    ungated["metadata"]["uid"] = gated["metadata"]["uid"]
    q.update(info(ungated))
    assert q.where("default/g") == ACTIVE
    qpi = await q.pop()
    assert qpi
    q.requeue(qpi, {"NodeAffinity"})
    clock.now += 30
    status_only = pod("g")
    status_only["metadata"] = qpi.pod.pod["metadata"]
    status_only["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
    q.update(info(status_only))
    assert q.where("default/g") == UNSCHEDULABLE
    relabeled = pod("g", labels={"x": "y"})
    q.update(info(relabeled))
    assert q.where("default/g") == ACTIVE
    q.delete("default/g")
    assert len(q) == 0


async def test_pop_waits_for_work() -> None:
    q = SchedulingQueue()
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    q.add(info(pod("late")))
    qpi = await asyncio.wait_for(waiter, 1)
    assert qpi is not None and qpi.pod.name == "late"
    q.close()
    assert await q.pop() is None


def test_cache_assume_confirm_forget_and_expire() -> None:
    clock = Clock()
    cache = Cache(clock=clock, assume_ttl=60)
    cache.set_node(node("n1", cpu="2"))
    p = info(pod("p", cpu="1"))
    cache.assume(p.with_node("n1"))
    n1 = cache.node("n1")
    assert n1 is not None and n1.requested["cpu"] == 1000 and cache.is_assumed("default/p")
    cache.forget("default/p")
    assert n1.requested["cpu"] == 0
    cache.assume(p.with_node("n1"))
    cache.add_pod(p.with_node("n1"))  # the informer saw the binding
    assert not cache.is_assumed("default/p") and n1.requested["cpu"] == 1000
    cache.forget("default/p")  # confirmed pods are not forgotten
    assert n1.requested["cpu"] == 1000
    q = info(pod("q", cpu="500m"))
    cache.assume(q.with_node("n1"))
    cache.finish_binding("default/q")
    clock.now += 61
    assert cache.cleanup_expired() == ["default/q"]
    assert n1.requested["cpu"] == 1000


def test_cache_lists_nodes_interleaved_by_zone() -> None:
    cache = Cache()
    zone = "topology.kubernetes.io/zone"
    for name, z in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c")]:
        cache.set_node(node(name, labels={zone: z}))
    assert [n.name for n in cache.nodes()] == ["a1", "b1", "c1", "a2", "a3"]
    cache.remove_node("b1")
    assert [n.name for n in cache.nodes()] == ["a1", "c1", "a2", "a3"]
