"""PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway constraints (or the system default
constraints, for pods owned by a Service/ReplicaSet/StatefulSet/ReplicationController) score.

Skew on a domain = matching pods there + 1 if the pod itself matches - the global minimum over eligible
domains (0 when fewer than minDomains domains exist). Eligible nodes carry every topology key and, by the
default inclusion policies, satisfy the pod's node affinity (taints are ignored unless
``nodeTaintsPolicy: Honor``). Terminating pods are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.selectors import LabelSelector, Requirement

from ..framework import (
    MAX_NODE_SCORE,
    NODE_ADD,
    NODE_DELETE,
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
from ..podinfo import (
    HOSTNAME,
    ZONE,
    PodInfo,
    required_node_affinity_matches,
    safe_selector,
    selects,
    untolerated_taint,
)

Obj = dict[str, Any]
REASON = "node(s) didn't match pod topology spread constraints"
LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"
SYSTEM_DEFAULTS: list[Obj] = [
    {"maxSkew": 3, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
]


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    key: str
    selector: LabelSelector | None
    min_domains: int = 1
    honor_affinity: bool = True
    honor_taints: bool = False

    def includes(self, pod: PodInfo, node: NodeInfo) -> bool:
        if (self.honor_affinity and pod.has_node_constraints
                and not required_node_affinity_matches(pod.pod, node.labels, node.name)):
            return False
        return not (self.honor_taints and untolerated_taint(node.taints, pod.tolerations) is not None)


def count_matching(pods: Mapping[str, PodInfo], selector: LabelSelector | None, namespace: str) -> int:
    if not selector:  # nil selects nothing; upstream also counts nothing for an empty selector
        return 0
    return sum(1 for p in pods.values()
               if p.namespace == namespace and not p.deleting and selects(selector, p.labels))


class MatchCounts:
    """Matching pods per node, kept across scheduling cycles: (selector, namespace) -> node name ->
    (NodeInfo generation, count). A node's count is recomputed only when its pods changed, so the pods of
    one Deployment scheduled one after another do not rescan every node's pods each cycle."""

    def __init__(self, limit: int = 128) -> None:
        self._by: dict[tuple[LabelSelector | None, str], dict[str, tuple[int, int]]] = {}
        self._limit = limit

    def count(self, node: NodeInfo, selector: LabelSelector | None, namespace: str) -> int:
        key = (selector, namespace)
        per = self._by.get(key)
        if per is None:
            if len(self._by) >= self._limit:
                self._by.clear()
            per = self._by[key] = {}
        hit = per.get(node.name)
        if hit is not None and hit[0] == node.generation:
            return hit[1]
        n = count_matching(node.pods, selector, namespace)
        per[node.name] = (node.generation, n)
        return n


def _parse(raw: list[Obj], pod: PodInfo, action: str, selector: LabelSelector | None = None) -> list[Constraint]:
    out = []
    for c in raw:
        if c.get("whenUnsatisfiable", "DoNotSchedule") != action:
            continue
        sel = selector if selector is not None else safe_selector(c.get("labelSelector"))
        keys = [k for k in c.get("matchLabelKeys") or [] if k in pod.labels]
        if keys and sel is not None:
            sel = tuple(Requirement(k, "=", (pod.labels[k],)) for k in keys) + sel
        out.append(Constraint(max_skew=int(c.get("maxSkew", 1)), key=c.get("topologyKey", ""), selector=sel,
                              min_domains=int(c.get("minDomains") or 1),
                              honor_affinity=c.get("nodeAffinityPolicy", "Honor") == "Honor",
                              honor_taints=c.get("nodeTaintsPolicy", "Ignore") == "Honor"))
    return out


class _FilterState:
    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.counts: dict[tuple[str, str], int] = {}
        self.minimum: dict[str, int] = {}
        self.domains: dict[str, int] = {}

    def recompute(self) -> None:
        self.minimum, self.domains = {}, {}
        for (key, _), n in self.counts.items():
            self.domains[key] = self.domains.get(key, 0) + 1
            self.minimum[key] = min(self.minimum.get(key, n), n)

    def clone(self) -> _FilterState:
        c = _FilterState(self.constraints)
        c.counts, c.minimum, c.domains = dict(self.counts), dict(self.minimum), dict(self.domains)
        return c


class _ScoreState:
    def __init__(self, constraints: list[Constraint], namespace: str, matches: MatchCounts) -> None:
        self.constraints = constraints
        self.namespace = namespace
        self.ignored: set[str] = set()
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self.weights: list[float] = []
        self.matches = matches

    def count(self, i: int, node: NodeInfo) -> int:
        return self.matches.count(node, self.constraints[i].selector, self.namespace)


class PodTopologySpread(Plugin):
    """Args: ``defaultConstraints`` (list), ``defaultingType`` (System | List)."""

    name = "PodTopologySpread"
    events = frozenset({POD_ADD, POD_LABEL, POD_DELETE, NODE_ADD, NODE_DELETE, NODE_LABEL, NODE_TAINT})

    def __init__(self, handle: Handle, args: Mapping[str, Any] | None = None) -> None:
        super().__init__(handle, args)
        self.system_defaulted = self.args.get("defaultingType", "System") == "System"
        self.matches = MatchCounts()
        self.defaults: list[Obj] = (SYSTEM_DEFAULTS if self.system_defaulted
                                    else list(self.args.get("defaultConstraints") or []))

    def _constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        own = pod.spec.get("topologySpreadConstraints") or []
        if own:
            return _parse(own, pod, action)
        if not any(c.get("whenUnsatisfiable", "DoNotSchedule") == action for c in self.defaults):
            return []
        selector = self.default_selector(pod)
        return _parse(self.defaults, pod, action, selector) if selector else []

    def default_selector(self, pod: PodInfo) -> LabelSelector:
        """AND of the selectors of the Services, RCs, ReplicaSets and StatefulSets that select the pod."""
        labels: dict[str, str] = {}
        reqs: list[Requirement] = []
        for plural in ("services", "replicationcontrollers"):
            for obj in self.handle.store(plural).list(pod.namespace):
                sel = (obj.get("spec") or {}).get("selector") or {}
                if sel and all(pod.labels.get(k) == v for k, v in sel.items()):
                    labels.update(sel)
        for plural in ("replicasets", "statefulsets"):
            for obj in self.handle.store(plural).list(pod.namespace):
                sel = safe_selector((obj.get("spec") or {}).get("selector"))
                if sel and selects(sel, pod.labels):
                    reqs.extend(sel)
        return tuple(Requirement(k, "=", (v,)) for k, v in sorted(labels.items())) + tuple(reqs)

    # --- filter ---------------------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        constraints = self._constraints(pod, "DoNotSchedule")
        if not constraints:
            return skip()
        st = _FilterState(constraints)
        keys = [c.key for c in constraints]
        for node in self.handle.nodes():
            if not all(k in node.labels for k in keys):
                continue
            for c in constraints:
                if c.includes(pod, node):
                    pair = (c.key, node.labels[c.key])
                    st.counts[pair] = st.counts.get(pair, 0) + self.matches.count(node, c.selector, pod.namespace)
        st.recompute()
        state.data[self.name] = st
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        st: _FilterState = state.data[self.name]
        for c in st.constraints:
            value = node.labels.get(c.key)
            if value is None:
                return unresolvable(LABEL_REASON)
            minimum = st.minimum.get(c.key, 0) if st.domains.get(c.key, 0) >= c.min_domains else 0
            self_match = 1 if selects(c.selector, pod.labels) else 0
            if st.counts.get((c.key, value), 0) + self_match - minimum > c.max_skew:
                return unschedulable(REASON)
        return None

    def _update(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo, delta: int) -> None:
        st: _FilterState | None = state.data.get(self.name)
        if st is None or other.namespace != pod.namespace:
            return
        if not all(c.key in node.labels for c in st.constraints):
            return
        for c in st.constraints:
            if selects(c.selector, other.labels) and c.includes(pod, node):
                pair = (c.key, node.labels[c.key])
                st.counts[pair] = st.counts.get(pair, 0) + delta
        st.recompute()

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None:
        self._update(state, pod, added, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None:
        self._update(state, pod, removed, node, -1)

    # --- score ------------------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        constraints = self._constraints(pod, "ScheduleAnyway")
        if not constraints:
            return skip()
        require_all = bool(pod.spec.get("topologySpreadConstraints")) or not self.system_defaulted
        st = _ScoreState(constraints, pod.namespace, self.matches)
        sizes = [0] * len(constraints)
        for node in nodes:
            if require_all and not all(c.key in node.labels for c in constraints):
                st.ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.key == HOSTNAME:
                    continue
                value = node.labels.get(c.key, "")
                if value not in st.counts[i]:
                    st.counts[i][value] = 0
                    sizes[i] += 1
        for i, c in enumerate(constraints):
            size = len(nodes) - len(st.ignored) if c.key == HOSTNAME else sizes[i]
            st.weights.append(math.log(size + 2))
        for node in self.handle.nodes():
            # as upstream: only nodes carrying every topology key count (nodes without a zone label add
            # nothing to a zone constraint, whatever the policy), which also keeps this loop cheap
            if not all(c.key in node.labels for c in constraints):
                continue
            for i, c in enumerate(constraints):
                if c.key == HOSTNAME or not c.includes(pod, node):
                    continue
                value = node.labels.get(c.key, "")
                if value in st.counts[i]:
                    st.counts[i][value] += st.count(i, node)
        state.data[self.name + "/score"] = st
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        st: _ScoreState = state.data[self.name + "/score"]
        if node.name in st.ignored:
            return 0
        total = 0.0
        for i, c in enumerate(st.constraints):
            value = node.labels.get(c.key)
            if value is None:
                continue
            if c.key == HOSTNAME:
                cnt = st.count(i, node)
            else:
                cnt = st.counts[i].get(value, 0)
            total += cnt * st.weights[i] + (c.max_skew - 1)
        return math.floor(total + 0.5)  # Go's math.Round: halves away from zero

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        st: _ScoreState = state.data[self.name + "/score"]
        live = [s for name, s in scores.items() if name not in st.ignored]
        low, high = min(live, default=0), max(live, default=0)
        for name, s in scores.items():
            if name in st.ignored:
                scores[name] = 0
            elif high == 0:
                scores[name] = MAX_NODE_SCORE
            else:
                scores[name] = MAX_NODE_SCORE * (high + low - s) // high

    def hint(self, events: frozenset[str], pod: PodInfo, old: Obj | None, new: Obj | None) -> bool:
        constraints = self._constraints(pod, "DoNotSchedule") + self._constraints(pod, "ScheduleAnyway")
        if not constraints:
            return True
        if any(e.startswith("AssignedPod/") for e in events):
            for obj in (old, new):
                if obj is None or obj["metadata"].get("namespace") != pod.namespace:
                    continue
                labels = obj["metadata"].get("labels") or {}
                if any(selects(c.selector, labels) for c in constraints):
                    return True
            return False
        return any(obj is not None and all(c.key in (obj["metadata"].get("labels") or {}) for c in constraints)
                   for obj in (old, new))
