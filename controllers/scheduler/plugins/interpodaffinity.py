"""InterPodAffinity: required pod affinity / anti-affinity (the pod's own and the existing pods'),
and preferred terms as a score (upstream plugins/interpodaffinity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..framework import (
    MAX_NODE_SCORE,
    NAMESPACE_CHANGE,
    NODE_ADD,
    NODE_LABEL,
    NODE_TAINT,
    POD_ADD,
    POD_DELETE,
    POD_LABEL,
    CycleState,
    Handle,
    Plugin,
    Status,
    skip,
    unresolvable,
    unschedulable,
)
from ..nodeinfo import NodeInfo
from ..podinfo import AffinityTerm, PodInfo

Obj = dict[str, Any]
Pair = tuple[str, str]
AFFINITY_REASON = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_REASON = "node(s) didn't satisfy existing pods anti-affinity rules"


def _bump(counts: dict[Pair, int], node: NodeInfo, key: str, delta: int) -> None:
    value = node.labels.get(key)
    if value is None:
        return
    n = counts.get((key, value), 0) + delta
    if n:
        counts[(key, value)] = n
    else:
        counts.pop((key, value), None)


class _NsLabels:
    def __init__(self, handle: Handle) -> None:
        self.handle = handle
        self.cache: dict[str, dict[str, str]] = {}

    def __call__(self, ns: str) -> dict[str, str]:
        got = self.cache.get(ns)
        if got is None:
            got = self.cache[ns] = self.handle.namespace_labels(ns)
        return got


class _FilterState:
    def __init__(self, ns_labels: _NsLabels) -> None:
        self.ns_labels = ns_labels
        self.existing_anti: dict[Pair, int] = {}
        self.affinity: dict[Pair, int] = {}
        self.anti: dict[Pair, int] = {}

    def clone(self) -> _FilterState:
        c = _FilterState(self.ns_labels)
        c.existing_anti, c.affinity, c.anti = dict(self.existing_anti), dict(self.affinity), dict(self.anti)
        return c

    def update(self, pod: PodInfo, other: PodInfo, node: NodeInfo, delta: int) -> None:
        mine = self.ns_labels(pod.namespace)
        for t in other.required_anti_affinity:
            if t.matches(pod, mine):
                _bump(self.existing_anti, node, t.topology_key, delta)
        theirs = self.ns_labels(other.namespace)
        if pod.required_affinity and all(t.matches(other, theirs) for t in pod.required_affinity):
            for t in pod.required_affinity:
                _bump(self.affinity, node, t.topology_key, delta)
        for t in pod.required_anti_affinity:
            if t.matches(other, theirs):
                _bump(self.anti, node, t.topology_key, delta)


class InterPodAffinity(Plugin):
    """Args: ``hardPodAffinityWeight`` (default 1), ``ignorePreferredTermsOfExistingPods`` (default false)."""

    name = "InterPodAffinity"
    events = frozenset({POD_ADD, POD_LABEL, POD_DELETE, NODE_ADD, NODE_LABEL, NODE_TAINT, NAMESPACE_CHANGE})

    def __init__(self, handle: Handle, args: Mapping[str, Any] | None = None) -> None:
        super().__init__(handle, args)
        self.hard_weight = int(self.args.get("hardPodAffinityWeight", 1))
        self.ignore_existing_preferred = bool(self.args.get("ignorePreferredTermsOfExistingPods", False))

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        nodes = self.handle.nodes()
        has_own = bool(pod.required_affinity or pod.required_anti_affinity)
        if not has_own and not self.handle.cache.anti_affinity_pods:
            return skip()
        st = _FilterState(_NsLabels(self.handle))
        for node in nodes:
            if has_own:
                for other in node.pods.values():
                    st.update(pod, other, node, 1)
            else:
                for other in node.with_required_anti_affinity.values():
                    st.update(pod, other, node, 1)
        state.data[self.name] = st
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        st: _FilterState = state.data[self.name]
        if not self._affinity_ok(st, pod, node):
            return unresolvable(AFFINITY_REASON)
        if st.anti:
            for t in pod.required_anti_affinity:
                value = node.labels.get(t.topology_key)
                if value is not None and st.anti.get((t.topology_key, value), 0) > 0:
                    return unschedulable(ANTI_AFFINITY_REASON)
        if st.existing_anti and any(st.existing_anti.get(pair, 0) > 0 for pair in node.labels.items()):
            return unschedulable(EXISTING_ANTI_AFFINITY_REASON)
        return None

    @staticmethod
    def _affinity_ok(st: _FilterState, pod: PodInfo, node: NodeInfo) -> bool:
        if not pod.required_affinity:
            return True
        exist = True
        for t in pod.required_affinity:
            value = node.labels.get(t.topology_key)
            if value is None:
                return False
            if st.affinity.get((t.topology_key, value), 0) <= 0:
                exist = False
        if exist:
            return True
        # the first pod of a group with affinity to itself may go anywhere the topology exists
        mine = st.ns_labels(pod.namespace)
        return not st.affinity and all(t.matches(pod, mine) for t in pod.required_affinity)

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None:
        st: _FilterState | None = state.data.get(self.name)
        if st is not None:
            st.update(pod, added, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None:
        st: _FilterState | None = state.data.get(self.name)
        if st is not None:
            st.update(pod, removed, node, -1)

    # --- score ---------------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        has_own = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not has_own and (self.ignore_existing_preferred or not self.handle.cache.affinity_pods):
            return skip()
        ns_labels = _NsLabels(self.handle)
        mine = ns_labels(pod.namespace)
        scores: dict[str, dict[str, int]] = {}

        def add(term: AffinityTerm, weight: int, target: PodInfo, target_ns: Mapping[str, str] | None,
                node: NodeInfo) -> None:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(target, target_ns):
                per_key = scores.setdefault(term.topology_key, {})
                per_key[value] = per_key.get(value, 0) + weight

        for node in self.handle.nodes():
            if not node.labels:
                continue
            existing = node.pods if has_own else node.with_affinity
            for other in existing.values():
                theirs = ns_labels(other.namespace)
                for t in pod.preferred_affinity:
                    add(t, t.weight, other, theirs, node)
                for t in pod.preferred_anti_affinity:
                    add(t, -t.weight, other, theirs, node)
                if self.hard_weight > 0:
                    for t in other.required_affinity:
                        add(t, self.hard_weight, pod, mine, node)
                for t in other.preferred_affinity:
                    add(t, t.weight, pod, mine, node)
                for t in other.preferred_anti_affinity:
                    add(t, -t.weight, pod, mine, node)
        if not scores:
            return skip()
        state.data[self.name + "/score"] = scores
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: dict[str, dict[str, int]] = state.data[self.name + "/score"]
        total = 0
        for key, per_value in scores.items():
            value = node.labels.get(key)
            if value is not None:
                total += per_value.get(value, 0)
        return total

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        low, high = min(scores.values(), default=0), max(scores.values(), default=0)
        spread = high - low
        for name, s in scores.items():
            scores[name] = int(MAX_NODE_SCORE * ((s - low) / spread)) if spread > 0 else 0
