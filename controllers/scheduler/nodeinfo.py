"""NodeInfo: one node and the pods on it, with the sums filters and scores read (upstream framework.NodeInfo)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from .podinfo import PodInfo
from .resources import Resources, node_allocatable

Obj = dict[str, Any]


def normalized_image(name: str) -> str:
    """Upstream ImageLocality's normalization: an image without a tag means ``:latest``."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


#: generations come from one counter for every NodeInfo (and clone), as upstream's nextGeneration: a
#: (node name, generation) pair never names two different contents
_GENERATIONS = itertools.count(1)

class NodeInfo:
    """Mutable aggregate. ``node`` is None once the Node object is gone but pods still reference it."""

    __slots__ = ("name", "node", "labels", "taints", "unschedulable", "allocatable", "images", "pods",
                 "requested", "non_zero_cpu", "non_zero_memory", "ports", "with_affinity",
                 "with_required_anti_affinity", "generation")

    def __init__(self, name: str, node: Obj | None = None) -> None:
        self.name = name
        self.node: Obj | None = None
        self.labels: dict[str, str] = {}
        self.taints: list[Obj] = []
        self.unschedulable = False
        self.allocatable: Resources = {}
        self.images: dict[str, int] = {}
        self.pods: dict[str, PodInfo] = {}
        self.requested: Resources = {}
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.ports: Counter[tuple[str, str, int]] = Counter()
        self.with_affinity: dict[str, PodInfo] = {}
        self.with_required_anti_affinity: dict[str, PodInfo] = {}
        self.generation = 0
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj | None) -> None:
        self.node = node
        self.generation = next(_GENERATIONS)
        if node is None:
            return
        self.labels = dict(node["metadata"].get("labels") or {})
        spec = node.get("spec") or {}
        self.taints = list(spec.get("taints") or [])
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = node_allocatable(node)
        self.images = {}
        for image in (node.get("status") or {}).get("images") or []:
            size = int(image.get("sizeBytes") or 0)
            for n in image.get("names") or []:
                self.images[normalized_image(n)] = size

    def add_pod(self, pi: PodInfo) -> None:
        self.pods[pi.key] = pi
        for k, v in pi.requests.items():
            self.requested[k] = self.requested.get(k, 0) + v
        self.non_zero_cpu += pi.non_zero_cpu
        self.non_zero_memory += pi.non_zero_memory
        for port in pi.host_ports:
            self.ports[port] += 1
        if pi.has_affinity:
            self.with_affinity[pi.key] = pi
        if pi.required_anti_affinity:
            self.with_required_anti_affinity[pi.key] = pi
        self.generation = next(_GENERATIONS)

    def remove_pod(self, key: str) -> PodInfo | None:
        pi = self.pods.pop(key, None)
        if pi is None:
            return None
        for k, v in pi.requests.items():
            self.requested[k] = self.requested.get(k, 0) - v
        self.non_zero_cpu -= pi.non_zero_cpu
        self.non_zero_memory -= pi.non_zero_memory
        for port in pi.host_ports:
            self.ports[port] -= 1
            if self.ports[port] <= 0:
                del self.ports[port]
        self.with_affinity.pop(key, None)
        self.with_required_anti_affinity.pop(key, None)
        self.generation = next(_GENERATIONS)
        return pi

    def clone(self) -> NodeInfo:
        c = NodeInfo.__new__(NodeInfo)
        for slot in NodeInfo.__slots__:
            setattr(c, slot, getattr(self, slot))
        c.pods = dict(self.pods)
        c.requested = dict(self.requested)
        c.ports = Counter(self.ports)
        c.with_affinity = dict(self.with_affinity)
        c.with_required_anti_affinity = dict(self.with_required_anti_affinity)
        return c

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """Upstream HostPortInfo.CheckConflict: 0.0.0.0 collides with every address of the same port."""
        if not self.ports:
            return False
        if ip == "0.0.0.0":
            return any(p == port and proto == protocol for (_, proto, p) in self.ports)
        return (("0.0.0.0", protocol, port) in self.ports) or ((ip, protocol, port) in self.ports)

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)}, requested={self.requested})"
