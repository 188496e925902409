"""`kplane scheduler`: assigns pending pods to nodes (upstream kube-scheduler).

One loop pops the best pending pod, runs its profile's plugins against the cache, *assumes* the pod on
the chosen node and hands the API work (volume pre-binding, ``POST pods/{name}/binding``, the
``Scheduled`` event) to a background task, so the next pod is scheduled while the binding is in flight.
A pod that fits nowhere may preempt lower-priority pods (they get a ``DisruptionTarget`` condition and are
deleted, the pod gets ``status.nominatedNodeName``); it then waits, parked, for an event that could help,
with ``PodScheduled=False`` (reason ``Unschedulable``, upstream's message) and a ``FailedScheduling``
event. The scheduler acts only while it holds the ``kube-system/kube-scheduler`` Lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from .. import metrics
from ..client import ApiError, Client, path_for
from ..events import EventRecorder
from ..leaderelection import LeaderElector
from ..runtime import InformerFactory
from .cache import Cache
from .config import SchedulerConfig, load_config
from .framework import POD_DELETE, CycleState, FitError, Handle, NoNodesAvailable
from .handlers import OTHER_EVENTS, EventHandlers, assigned, scheduler_name
from .podinfo import PodInfo
from .preemption import DefaultPreemption, Outcome
from .profile import Profile, SchedulingError
from .queue import QueuedPodInfo, SchedulingQueue

log = logging.getLogger("kplane.scheduler")

Obj = dict[str, Any]
#: bindings in flight at once; upstream runs each binding cycle in a goroutine of its own, unbounded
MAX_BINDS_IN_FLIGHT = 64
STORES: dict[str, tuple[str, str]] = {
    "namespaces": ("", "v1"), "persistentvolumeclaims": ("", "v1"), "persistentvolumes": ("", "v1"),
    "storageclasses": ("storage.k8s.io", "v1"), "services": ("", "v1"), "replicationcontrollers": ("", "v1"),
    "replicasets": ("apps", "v1"), "statefulsets": ("apps", "v1"), "poddisruptionbudgets": ("policy", "v1"),
    "priorityclasses": ("scheduling.k8s.io", "v1"),
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    """An informer handler that logs its failures: one odd object must not wedge the informer."""
    def handler(*objs: Obj) -> None:
        try:
            fn(*objs)
        except Exception:
            log.exception("handling %s of %s", fn.__name__, objs[-1].get("metadata", {}).get("name"))
    return handler


def _status_path(pod: Obj) -> str:
    meta = pod["metadata"]
    return path_for("", "v1", "pods", meta.get("namespace", ""), meta["name"], "status")


class Scheduler:
    def __init__(self, client: Client, informers: InformerFactory, config: SchedulerConfig | None = None) -> None:
        self.client = client
        self.informers = informers
        self.config = config or SchedulerConfig()
        self.cache = Cache()
        self.pods = informers.get("", "v1", "pods")
        self.nodes = informers.get("", "v1", "nodes")
        stores = {plural: informers.get(g, v, plural) for plural, (g, v) in STORES.items()}
        self.handle = Handle(self.cache, stores)
        self.queue = SchedulingQueue(initial_backoff=self.config.pod_initial_backoff,
                                     max_backoff=self.config.pod_max_backoff)
        self.profiles: dict[str, Profile] = {
            p.scheduler_name: Profile(self.handle, p, nominator=self.queue.nominator,
                                      percentage_of_nodes_to_score=self.config.percentage_of_nodes_to_score)
            for p in self.config.profiles}
        self.preemptors = {name: DefaultPreemption(p) for name, p in self.profiles.items() if p.config.preemption}
        self.recorders = {name: EventRecorder(client, name) for name in self.profiles}
        self.handlers = EventHandlers(self.cache, self.queue, self.profiles, priority_classes=stores["priorityclasses"])
        h = self.handlers
        self.pods.add_handlers(on_add=_guard(h.pod_added), on_update=_guard(h.pod_updated),
                               on_delete=_guard(h.pod_deleted))
        self.nodes.add_handlers(on_add=_guard(h.node_added), on_update=_guard(h.node_updated),
                                on_delete=_guard(h.node_deleted))
        for plural, event in OTHER_EVENTS.items():
            on_add, on_update = h.other(event)
            stores[plural].add_handlers(on_add=_guard(on_add), on_update=_guard(on_update))
        self._binds: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._status_writes: dict[str, asyncio.Task[None]] = {}
        self.scheduled = 0

    # --- running ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        self.informers.start()
        await self.informers.wait_synced()
        log.info("caches synced: %d nodes, %d pending pods", len(self.cache), len(self.queue))
        timers = [asyncio.create_task(self.queue.run_timers(), name="scheduler-queue-timers"),
                  asyncio.create_task(self._housekeeping(), name="scheduler-housekeeping")]
        try:
            while (qpi := await self.queue.pop()) is not None:
                try:
                    self.schedule_one(qpi)
                except Exception:
                    log.exception("scheduling %s failed", qpi.key)
                    self.queue.requeue(qpi, set(), error=True)
                await asyncio.sleep(0)  # let informers and bindings run between pods
                if len(self._binds) >= MAX_BINDS_IN_FLIGHT:
                    await asyncio.wait(self._binds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.queue.close()
            for t in [*timers, *self._binds, *self._background]:
                t.cancel()
            await self.informers.stop()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(10)
            for key in self.cache.cleanup_expired():
                log.warning("assumed pod %s expired without being seen bound", key)

    def _spawn(self, coro: Any, *, bind: bool = False) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        tasks = self._binds if bind else self._background
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    # --- one scheduling cycle --------------------------------------------------------------------------------

    def schedule_one(self, qpi: QueuedPodInfo) -> None:
        """Synchronous up to the assume: nothing can change the cache underneath."""
        key = qpi.key
        current = self.pods.get(key)
        if (current is None or assigned(current) or current["metadata"].get("deletionTimestamp")
                or self.cache.is_assumed(key)):
            self.queue.forget(key)
            return
        profile = self.profiles.get(scheduler_name(current))
        if profile is None:
            self.queue.forget(key)
            return
        pi = self.handlers.info(current)
        qpi.pod = pi
        state = CycleState()
        try:
            node = profile.schedule(state, pi)
        except FitError as fit:
            outcome = None
            preemptor = self.preemptors.get(profile.name)
            if preemptor is not None:
                outcome = preemptor.post_filter(state, pi, fit.diagnosis)
                fit.diagnosis.post_filter_msg = outcome.message
            self._failed(qpi, profile, "Unschedulable", str(fit), fit.diagnosis.unschedulable_plugins,
                         outcome=outcome)
            return
        except (NoNodesAvailable, SchedulingError) as e:
            self._failed(qpi, profile, "SchedulerError", str(e), set(), error=True)
            return
        assumed = pi.with_node(node)
        self.cache.assume(assumed)
        self.queue.forget(key)
        patches = profile.pre_bind(state, pi, node)
        self._spawn(self._bind(qpi, profile, assumed, node, patches), bind=True)

    def _failed(self, qpi: QueuedPodInfo, profile: Profile, reason: str, message: str, plugins: set[str], *,
                error: bool = False, outcome: Outcome | None = None) -> None:
        key = qpi.key
        current = self.pods.get(key)
        if current is None or assigned(current):
            self.queue.forget(key)
            return
        log.debug("pod %s: %s", key, message)
        self.queue.requeue(qpi, plugins, error=error)
        nominated = outcome.nominated if outcome is not None else None
        if outcome is not None and nominated is not None:
            self.queue.nominator.set(qpi.pod, nominated)
        if outcome is not None and nominated:
            for victim in outcome.victims:
                self._spawn(self._evict(profile, qpi.pod, victim, nominated))
            for other in outcome.denominated:
                self.queue.nominator.set(other, "")
                self._spawn(self._patch_status(other.pod, {"status": {"nominatedNodeName": None}}))
        previous = self._status_writes.get(key)
        task = self._spawn(self._write_failure(profile, current, reason, message, nominated, previous))
        self._status_writes[key] = task
        task.add_done_callback(lambda t: self._status_writes.pop(key, None) if self._status_writes.get(key) is t
                               else None)

    # --- API work ----------------------------------------------------------------------------------------------

    async def _write_failure(self, profile: Profile, pod: Obj, reason: str, message: str, nominated: str | None,
                             previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        metrics.schedule_attempts.labels("unschedulable", profile.name).inc()
        await self.recorders[profile.name].record(pod, "Warning", "FailedScheduling", message)
        status = pod.get("status") or {}
        old = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        cond = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "False" else _now()}
        patch: Obj = {}
        if old is None or any(old.get(k) != cond[k] for k in ("status", "reason", "message")):
            patch["conditions"] = [cond]
        if nominated is not None and (status.get("nominatedNodeName") or "") != nominated:
            patch["nominatedNodeName"] = nominated or None
        if patch:
            await self._patch_status(pod, {"status": patch})

    async def _patch_status(self, pod: Obj, patch: Obj) -> None:
        try:
            await self.client.patch(_status_path(pod), patch, patch_type="strategic")
        except ApiError as e:
            if not e.not_found:
                log.warning("updating the status of pod %s/%s: %s", pod["metadata"].get("namespace"),
                            pod["metadata"]["name"], e)
        except Exception as e:  # the API may be going away
            log.debug("status of %s not written: %r", pod["metadata"]["name"], e)

    async def _bind(self, qpi: QueuedPodInfo, profile: Profile, pi: PodInfo, node: str,
                    patches: list[tuple[str, Obj]]) -> None:
        key = pi.key
        pending = self._status_writes.get(key)
        if pending is not None:
            with contextlib.suppress(Exception):
                await pending
        try:
            for path, patch in patches:
                await self.client.patch(path, patch)
            await self.client.create(path_for("", "v1", "pods", pi.namespace, pi.name, "binding"), {
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pi.name, "namespace": pi.namespace, "uid": pi.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
        except Exception as e:
            self.cache.forget(key)
            self.handlers.dispatch((POD_DELETE,), pi.pod, None)  # the room it held is free again
            current = self.pods.get(key)
            if current is None or assigned(current) or (isinstance(e, ApiError) and e.not_found):
                return
            log.warning("binding %s to %s failed: %s", key, node, e)
            metrics.schedule_attempts.labels("error", profile.name).inc()
            self._failed(qpi, profile, "SchedulerError", f"binding rejected: {e}", set(), error=True)
            return
        self.cache.finish_binding(key)
        self.scheduled += 1
        metrics.schedule_attempts.labels("scheduled", profile.name).inc()
        if pi.nominated_node:
            await self._patch_status(pi.pod, {"status": {"nominatedNodeName": None}})
        # the event goes out on its own (upstream's broadcaster is asynchronous) so it holds no binding slot
        self._spawn(self.recorders[profile.name].record(pi.pod, "Normal", "Scheduled",
                                                        f"Successfully assigned {pi.namespace}/{pi.name} to {node}"))

    async def _evict(self, profile: Profile, preemptor: PodInfo, victim: PodInfo, node: str) -> None:
        """Upstream prepareCandidate for one victim: DisruptionTarget condition, delete, Preempted event."""
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                "message": f"{profile.name}: preempting to accommodate a higher priority pod",
                "lastProbeTime": None, "lastTransitionTime": _now()}
        await self._patch_status(victim.pod, {"status": {"conditions": [cond]}})
        try:
            await self.client.delete(path_for("", "v1", "pods", victim.namespace, victim.name))
        except ApiError as e:
            if not e.not_found:
                log.warning("preempting %s: %s", victim.key, e)
            return
        log.info("pod %s preempted %s on %s", preemptor.key, victim.key, node)
        await self.recorders[profile.name].record(victim.pod, "Normal", "Preempted",
                                                  f"Preempted by pod {preemptor.uid} on node {node}")


async def run_scheduler(client: Client, config: SchedulerConfig, *, watch_client: Client | None = None) -> None:
    """Informers may use their own client: long-lived watches then do not share (and slow down) the
    connection pool the bindings and events go through."""
    scheduler = Scheduler(client, InformerFactory(watch_client or client), config)
    await scheduler.run()


async def main(kubeconfig: str, *, leader_elect: bool = True, config_path: str | None = None) -> None:
    config = load_config(config_path)
    agent = "kube-scheduler/v1.37.0 (kplane)"
    client = Client.from_kubeconfig(kubeconfig, user_agent=agent)
    watch_client = Client.from_kubeconfig(kubeconfig, user_agent=agent)
    try:
        if not leader_elect:
            await run_scheduler(client, config, watch_client=watch_client)
            return
        identity = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        elector = LeaderElector(client, name="kube-scheduler", identity=identity)
        await elector.run(lambda: run_scheduler(client, config, watch_client=watch_client))
    finally:
        await client.close()
        await watch_client.close()
