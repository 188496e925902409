"""Plugins that look at one node at a time: NodeUnschedulable, NodeName, NodePorts, TaintToleration,
NodeAffinity (nodeSelector + node affinity) and ImageLocality."""

from __future__ import annotations

from typing import Any

from ..framework import (
    MAX_NODE_SCORE,
    NODE_ADD,
    NODE_LABEL,
    NODE_TAINT,
    POD_DELETE,
    CycleState,
    Plugin,
    Status,
    default_normalize,
    skip,
    unresolvable,
    unschedulable,
)
from ..nodeinfo import NodeInfo, normalized_image
from ..podinfo import (
    UNSCHEDULABLE_TAINT,
    PodInfo,
    required_node_affinity_matches,
    term_matches,
    tolerated,
    untolerated_taint,
)

Obj = dict[str, Any]
NODE_EVENTS = frozenset({NODE_ADD, NODE_LABEL, NODE_TAINT})


def _node_labels(node: Obj) -> dict[str, str]:
    return dict(node["metadata"].get("labels") or {})


class NodeUnschedulable(Plugin):
    name = "NodeUnschedulable"
    events = frozenset({NODE_ADD, NODE_TAINT})
    REASON = "node(s) were unschedulable"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.unschedulable and not tolerated(pod.tolerations, UNSCHEDULABLE_TAINT):
            return unresolvable(self.REASON)
        return None

    def hint(self, events: frozenset[str], pod: PodInfo, old: Obj | None, new: Obj | None) -> bool:
        if new is None:
            return False
        return not (new.get("spec") or {}).get("unschedulable") or tolerated(pod.tolerations, UNSCHEDULABLE_TAINT)


class NodeName(Plugin):
    name = "NodeName"
    events = NODE_EVENTS
    REASON = "node(s) didn't match the requested node name"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.node_name else skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        wanted = pod.node_name
        if wanted and wanted != node.name:
            return unresolvable(self.REASON)
        return None


class NodePorts(Plugin):
    name = "NodePorts"
    events = frozenset({POD_DELETE, NODE_ADD, NODE_LABEL, NODE_TAINT})
    REASON = "node(s) didn't have free ports for the requested pod ports"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.host_ports else skip()

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for ip, protocol, port in pod.host_ports:
            if node.port_conflict(ip, protocol, port):
                return unschedulable(self.REASON)
        return None


class TaintToleration(Plugin):
    """Filter on NoSchedule/NoExecute taints; score by untolerated PreferNoSchedule taints (fewer is better)."""

    name = "TaintToleration"
    events = NODE_EVENTS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = untolerated_taint(node.taints, pod.tolerations)
        if taint is None:
            return None
        return unresolvable(f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}")

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        state.data[self.name] = [t for t in pod.tolerations if (t.get("effect") or "PreferNoSchedule")
                                 == "PreferNoSchedule"]
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tolerations = state.data[self.name]
        return sum(1 for t in node.taints
                   if t.get("effect") == "PreferNoSchedule" and not tolerated(tolerations, t))

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores, reverse=True)

    def hint(self, events: frozenset[str], pod: PodInfo, old: Obj | None, new: Obj | None) -> bool:
        if new is None:
            return False
        was = old is None or untolerated_taint((old.get("spec") or {}).get("taints") or [], pod.tolerations)
        now = untolerated_taint((new.get("spec") or {}).get("taints") or [], pod.tolerations)
        return bool(was) and now is None


class NodeAffinity(Plugin):
    """Required: spec.nodeSelector and requiredDuringScheduling terms. Score: weights of matching preferred terms."""

    name = "NodeAffinity"
    events = NODE_EVENTS
    REASON = "node(s) didn't match Pod's node affinity/selector"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        spec = pod.spec
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        if not spec.get("nodeSelector") and not node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"):
            return skip()
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if required_node_affinity_matches(pod.pod, node.labels, node.name):
            return None
        return unresolvable(self.REASON)

    def _preferred(self, pod: PodInfo) -> list[Obj]:
        node_affinity = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
        return [t for t in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
                if t.get("weight")]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        terms = self._preferred(pod)
        if not terms:
            return skip()
        state.data[self.name] = terms
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(int(t["weight"]) for t in state.data[self.name]
                   if term_matches(t.get("preference"), node.labels, node.name))

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores)

    def hint(self, events: frozenset[str], pod: PodInfo, old: Obj | None, new: Obj | None) -> bool:
        if new is None:
            return False
        name = new["metadata"]["name"]
        now = required_node_affinity_matches(pod.pod, _node_labels(new), name)
        return now and (old is None or not required_node_affinity_matches(pod.pod, _node_labels(old), name))


MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality(Plugin):
    """Favor nodes that already hold the pod's images, scaled by how widely each image is spread."""

    name = "ImageLocality"

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if not node.images:
            return 0
        containers = list(pod.spec.get("initContainers") or []) + list(pod.spec.get("containers") or [])
        total_nodes = max(len(self.handle.nodes()), 1)
        cache = self.handle.cache
        total = 0
        for c in containers:
            image = normalized_image(c.get("image") or "")
            size = node.images.get(image)
            if size is not None:
                total += int(size * (cache.image_num_nodes(image) / total_nodes))
        max_threshold = MAX_CONTAINER_THRESHOLD * max(len(containers), 1)
        total = min(max(total, MIN_THRESHOLD), max_threshold)
        return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)
