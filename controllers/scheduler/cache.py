"""The scheduler cache: nodes and the pods bound (or assumed bound) to them.

A pod is *assumed* the moment the scheduler picks its node, before the binding is written, so the next
pods of a burst see its resources. The informer later reports the pod bound, which *confirms* the
assumption; a failed binding *forgets* it. An assumed pod whose binding finished but that the informer
never reports is dropped after ``assume_ttl`` (a safety net; upstream keeps them until the informer speaks).

Nodes are listed interleaved by zone, as upstream's node tree does, so a search that stops early still
visits every zone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .nodeinfo import NodeInfo
from .podinfo import REGION, ZONE, PodInfo

Obj = dict[str, Any]


class Cache:
    def __init__(self, *, assume_ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}
        #: key -> deadline once binding finished (None while the binding is in flight)
        self._assumed: dict[str, float | None] = {}
        self._order: list[NodeInfo] | None = None
        self._image_nodes: dict[str, int] = {}
        #: pods with any pod (anti-)affinity term / with a required anti-affinity term, cluster-wide
        self.affinity_pods = 0
        self.anti_affinity_pods = 0
        self.assume_ttl = assume_ttl
        self.clock = clock

    # --- nodes ------------------------------------------------------------------------------------

    def set_node(self, node: Obj) -> NodeInfo:
        name = node["metadata"]["name"]
        ni = self._nodes.get(name)
        if ni is None:
            ni = self._nodes[name] = NodeInfo(name)
        if ni.node is not None:
            self._count_images(ni, -1)
        zone_before = _zone(ni.labels) if ni.node is not None else None
        ni.set_node(node)
        self._count_images(ni, 1)
        if zone_before != _zone(ni.labels):
            self._order = None
        return ni

    def remove_node(self, name: str) -> None:
        ni = self._nodes.get(name)
        if ni is None or ni.node is None:
            return
        self._count_images(ni, -1)
        ni.set_node(None)
        if not ni.pods:
            del self._nodes[name]
        self._order = None

    def _count_images(self, ni: NodeInfo, delta: int) -> None:
        for image in ni.images:
            n = self._image_nodes.get(image, 0) + delta
            if n > 0:
                self._image_nodes[image] = n
            else:
                self._image_nodes.pop(image, None)

    def image_num_nodes(self, image: str) -> int:
        return self._image_nodes.get(image, 0)

    def node(self, name: str) -> NodeInfo | None:
        ni = self._nodes.get(name)
        return ni if ni is not None and ni.node is not None else None

    def nodes(self) -> list[NodeInfo]:
        """Every node with a Node object, interleaved by zone."""
        if self._order is None:
            zones: dict[str, list[NodeInfo]] = {}
            for ni in self._nodes.values():
                if ni.node is not None:
                    zones.setdefault(_zone(ni.labels), []).append(ni)
            order: list[NodeInfo] = []
            columns = list(zones.values())
            for i in range(max((len(c) for c in columns), default=0)):
                order.extend(c[i] for c in columns if i < len(c))
            self._order = order
        return self._order

    def __len__(self) -> int:
        return len(self.nodes())

    # --- pods ---------------------------------------------------------------------------------------

    def _place(self, pi: PodInfo, node_name: str) -> None:
        ni = self._nodes.get(node_name)
        if ni is None:
            ni = self._nodes[node_name] = NodeInfo(node_name)
        ni.add_pod(pi)
        self._pod_node[pi.key] = node_name
        self.affinity_pods += pi.has_affinity
        self.anti_affinity_pods += bool(pi.required_anti_affinity)

    def _unplace(self, key: str) -> PodInfo | None:
        node_name = self._pod_node.pop(key, None)
        if node_name is None:
            return None
        ni = self._nodes.get(node_name)
        if ni is None:
            return None
        pi = ni.remove_pod(key)
        if pi is not None:
            self.affinity_pods -= pi.has_affinity
            self.anti_affinity_pods -= bool(pi.required_anti_affinity)
        if ni.node is None and not ni.pods:
            del self._nodes[node_name]
        return pi

    def add_pod(self, pi: PodInfo) -> None:
        """A bound pod from the informer (confirms an assumed one, or replaces an older version)."""
        self._assumed.pop(pi.key, None)
        self._unplace(pi.key)
        self._place(pi, pi.node_name)

    def remove_pod(self, key: str) -> PodInfo | None:
        self._assumed.pop(key, None)
        return self._unplace(key)

    def assume(self, pi: PodInfo) -> None:
        """``pi`` already carries its node (PodInfo.with_node)."""
        self._unplace(pi.key)
        self._place(pi, pi.node_name)
        self._assumed[pi.key] = None

    def finish_binding(self, key: str) -> None:
        if key in self._assumed:
            self._assumed[key] = self.clock() + self.assume_ttl

    def forget(self, key: str) -> None:
        """Undo an assumption (binding failed); a confirmed pod is left alone."""
        if key in self._assumed:
            del self._assumed[key]
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def pod_node(self, key: str) -> str | None:
        return self._pod_node.get(key)

    def cleanup_expired(self) -> list[str]:
        now = self.clock()
        expired = [k for k, deadline in self._assumed.items() if deadline is not None and deadline < now]
        for key in expired:
            self.forget(key)
        return expired


def _zone(labels: dict[str, str]) -> str:
    region, zone = labels.get(REGION, ""), labels.get(ZONE, "")
    return f"{region}:\x00:{zone}" if region or zone else ""
