"""Plain-dict builders for scheduler tests: Nodes, Pods, and a cache/handle/profile over them."""

from __future__ import annotations

import itertools
from typing import Any

from controllers.scheduler.cache import Cache
from controllers.scheduler.config import ProfileConfig
from controllers.scheduler.framework import DictStore, Handle
from controllers.scheduler.podinfo import PodInfo, make_pod_info
from controllers.scheduler.profile import Profile

Obj = dict[str, Any]
_uids = itertools.count(1)


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None, unschedulable: bool = False, images: list[Obj] | None = None,
         extra: dict[str, str] | None = None) -> Obj:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"capacity": dict(alloc), "allocatable": alloc, "images": images or [],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, *, ns: str = "default", cpu: str | None = None, memory: str | None = None,
        labels: dict[str, str] | None = None, node_name: str = "", priority: int | None = None, **spec: Any) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "c", "image": spec.pop("image", "nginx"), "resources": {"requests": requests}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    body: Obj = {"containers": [container], "schedulerName": "default-scheduler", **spec}
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{next(_uids)}", "labels": labels or {},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": body, "status": {"phase": "Pending"}}


def info(p: Obj) -> PodInfo:
    return make_pod_info(p, int(p["spec"].get("priority") or 0))


def cluster(nodes: list[Obj], pods: list[Obj] = (), **stores: list[Obj]) -> Handle:  # type: ignore[assignment]
    cache = Cache()
    for n in nodes:
        cache.set_node(n)
    for p in pods:
        cache.add_pod(info(p))
    return Handle(cache, {name: DictStore(objs) for name, objs in stores.items()})


def profile(handle: Handle, config: ProfileConfig | None = None, seed: int = 1) -> Profile:
    import random

    return Profile(handle, config or ProfileConfig(), rng=random.Random(seed))
