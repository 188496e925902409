"""Informer event handlers: keep the cache and the queue current, and turn cluster changes into the
events (upstream ClusterEvents) that move parked pods back to be tried again."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .cache import Cache
from .framework import (
    NAMESPACE_CHANGE,
    NODE_ADD,
    NODE_ALLOCATABLE,
    NODE_DELETE,
    NODE_LABEL,
    NODE_TAINT,
    POD_ADD,
    POD_DELETE,
    POD_LABEL,
    PV_CHANGE,
    PVC_CHANGE,
    STORAGECLASS_CHANGE,
    Store,
)
from .podinfo import PodInfo, make_pod_info, pod_key
from .profile import Profile
from .queue import QueuedPodInfo, SchedulingQueue

Obj = dict[str, Any]
BUILTIN_PRIORITIES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


def assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def scheduler_name(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("schedulerName") or "default-scheduler")


def resolve_priority(pod: Obj, classes: Store) -> tuple[int, str]:
    """spec.priority (set by the Priority admission plugin) or, failing that, the PriorityClass's value."""
    spec = pod.get("spec") or {}
    name = spec.get("priorityClassName") or ""
    pc: Obj | None = classes.get(name) if name else next(
        (c for c in classes.list() if c.get("globalDefault")), None)
    if spec.get("priority") is not None:
        priority = int(spec["priority"])
    elif pc is not None:
        priority = int(pc.get("value") or 0)
    else:
        priority = BUILTIN_PRIORITIES.get(name, 0)
    return priority, str(spec.get("preemptionPolicy") or (pc or {}).get("preemptionPolicy") or "")


class EventHandlers:
    def __init__(self, cache: Cache, queue: SchedulingQueue, profiles: dict[str, Profile], *,
                 priority_classes: Store) -> None:
        self.cache = cache
        self.queue = queue
        self.profiles = profiles
        self.priority_classes = priority_classes

    def info(self, pod: Obj) -> PodInfo:
        priority, policy = resolve_priority(pod, self.priority_classes)
        return make_pod_info(pod, priority, policy)

    def responsible(self, pod: Obj) -> bool:
        return scheduler_name(pod) in self.profiles and not terminal(pod)

    # --- pods ---------------------------------------------------------------------------------------------

    def pod_added(self, pod: Obj) -> None:
        key = pod_key(pod)
        if assigned(pod):
            self.queue.delete(key)
            if not terminal(pod):
                self.cache.add_pod(self.info(pod))
                self.dispatch((POD_ADD,), None, pod)
        elif self.responsible(pod) and not self.cache.is_assumed(key):
            self.queue.add(self.info(pod))

    def pod_updated(self, old: Obj, new: Obj) -> None:
        key = pod_key(new)
        if assigned(new):
            self.queue.delete(key)
            if terminal(new):
                if self.cache.remove_pod(key) is not None:
                    self.dispatch((POD_DELETE,), old, None)
                return
            known = self.cache.pod_node(key) is not None and not self.cache.is_assumed(key)
            self.cache.add_pod(self.info(new))
            if not known:
                self.dispatch((POD_ADD,), None, new)
            elif (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
                self.dispatch((POD_LABEL,), old, new)
        elif self.cache.is_assumed(key):
            return  # our binding is on its way
        elif self.responsible(new):
            self.queue.update(self.info(new))
        else:
            self.queue.delete(key)

    def pod_deleted(self, pod: Obj) -> None:
        key = pod_key(pod)
        self.queue.delete(key)
        if self.cache.remove_pod(key) is not None:
            self.dispatch((POD_DELETE,), pod, None)

    # --- nodes and the rest ----------------------------------------------------------------------------------

    def node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.dispatch((NODE_ADD,), None, node)

    def node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        events = []
        if (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable"):
            events.append(NODE_ALLOCATABLE)
        if old["metadata"].get("labels") != new["metadata"].get("labels"):
            events.append(NODE_LABEL)
        before, after = old.get("spec") or {}, new.get("spec") or {}
        if (before.get("taints"), before.get("unschedulable")) != (after.get("taints"), after.get("unschedulable")):
            events.append(NODE_TAINT)
        if events:
            self.dispatch(events, old, new)

    def node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])
        self.dispatch((NODE_DELETE,), node, None)

    def other(self, event: str) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None]]:
        """(on_add, on_update) handlers dispatching ``event`` (PVCs, PVs, StorageClasses, Namespaces)."""
        def on_add(obj: Obj) -> None:
            self.dispatch((event,), None, obj)

        def on_update(old: Obj, new: Obj) -> None:
            if event != NAMESPACE_CHANGE or old["metadata"].get("labels") != new["metadata"].get("labels"):
                self.dispatch((event,), old, new)
        return on_add, on_update

    # --- requeueing ------------------------------------------------------------------------------------------

    def dispatch(self, events: Iterable[str], old: Obj | None, new: Obj | None) -> int:
        """Move the parked pods that a plugin which rejected them says this event may help."""
        kinds = frozenset(events)

        def should_move(qpi: QueuedPodInfo) -> bool:
            if not qpi.unschedulable_plugins:
                return True
            profile = self.profiles.get(scheduler_name(qpi.pod.pod))
            if profile is None:
                return False
            for name in qpi.unschedulable_plugins:
                plugin = profile.plugins.get(name)
                if plugin is None:
                    return True
                if plugin.events & kinds and plugin.hint(kinds, qpi.pod, old, new):
                    return True
            return False

        return self.queue.move(should_move)


OTHER_EVENTS = {"persistentvolumeclaims": PVC_CHANGE, "persistentvolumes": PV_CHANGE,
                "storageclasses": STORAGECLASS_CHANGE, "namespaces": NAMESPACE_CHANGE}
