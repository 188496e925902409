"""NodeResourcesFit (filter + LeastAllocated/MostAllocated score) and NodeResourcesBalancedAllocation.

Filtering compares the pod's requests with allocatable minus what bound and assumed pods request, and the
pod count with ``allocatable.pods``. A request larger than the whole node's allocatable is
UnschedulableAndUnresolvable (preemption cannot help); otherwise Unschedulable.

Scoring uses the non-zero requests for cpu and memory (a container without requests counts as 100m and
200Mi), as upstream does, so best-effort pods still spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..framework import (
    MAX_NODE_SCORE,
    NODE_ADD,
    NODE_ALLOCATABLE,
    NODE_LABEL,
    NODE_TAINT,
    POD_DELETE,
    CycleState,
    Handle,
    Plugin,
    Status,
    skip,
)
from ..nodeinfo import NodeInfo
from ..podinfo import PodInfo
from ..resources import CPU, MEMORY, PODS, is_scalar, node_allocatable

Obj = dict[str, Any]
DEFAULT_RESOURCES: list[tuple[str, int]] = [(CPU, 1), (MEMORY, 1)]


def insufficient(pod: PodInfo, node: NodeInfo) -> list[tuple[str, bool]]:
    """(reason, unresolvable) for each resource the node cannot give the pod (upstream fitsRequest)."""
    out: list[tuple[str, bool]] = []
    allowed = node.allocatable.get(PODS, 0)
    if len(node.pods) + 1 > allowed:
        out.append(("Too many pods", False))
    for name, want in pod.requests.items():
        if want <= 0:
            continue
        have = node.allocatable.get(name, 0)
        if want > have - node.requested.get(name, 0):
            out.append((f"Insufficient {name}", want > have))
    return out


def _resources_arg(args: Mapping[str, Any]) -> list[tuple[str, int]]:
    raw = args.get("resources")
    if not raw:
        return list(DEFAULT_RESOURCES)
    return [(r["name"], int(r.get("weight", 1))) for r in raw]


class _AllocationScorer:
    """Shared by Fit's score and BalancedAllocation: (requested, allocatable) per configured resource."""

    #: where a node's current usage comes from
    NON_ZERO_CPU, NON_ZERO_MEMORY, REQUESTED = 0, 1, 2

    def __init__(self, resources: list[tuple[str, int]], *, use_requested: bool) -> None:
        self.resources = resources
        self.use_requested = use_requested

    def pod_request(self, pod: PodInfo, name: str) -> int:
        if not self.use_requested and name == CPU:
            return pod.non_zero_cpu
        if not self.use_requested and name == MEMORY:
            return pod.non_zero_memory
        return pod.requests.get(name, 0)

    def prepare(self, pod: PodInfo) -> list[tuple[str, int, int, int]]:
        """(resource, the pod's request, weight, usage source) computed once per cycle."""
        out = []
        for name, weight in self.resources:
            want = self.pod_request(pod, name)
            if want == 0 and is_scalar(name):
                continue
            source = self.REQUESTED
            if not self.use_requested and name in (CPU, MEMORY):
                source = self.NON_ZERO_CPU if name == CPU else self.NON_ZERO_MEMORY
            out.append((name, want, weight, source))
        return out

    def pairs(self, prepared: list[tuple[str, int, int, int]], node: NodeInfo) -> list[tuple[int, int, int]]:
        """(requested incl. this pod, allocatable, weight); resources the node lacks are left out."""
        out = []
        alloc_of, requested = node.allocatable, node.requested
        for name, want, weight, source in prepared:
            alloc = alloc_of.get(name, 0)
            if alloc == 0:
                continue
            if source == self.NON_ZERO_CPU:
                used = node.non_zero_cpu
            elif source == self.NON_ZERO_MEMORY:
                used = node.non_zero_memory
            else:
                used = requested.get(name, 0)
            out.append((used + want, alloc, weight))
        return out


def least_allocated(pairs: list[tuple[int, int, int]]) -> int:
    total = weights = 0
    for requested, alloc, weight in pairs:
        score = 0 if requested > alloc else (alloc - requested) * MAX_NODE_SCORE // alloc
        total += score * weight
        weights += weight
    return total // weights if weights else 0


def most_allocated(pairs: list[tuple[int, int, int]]) -> int:
    total = weights = 0
    for requested, alloc, weight in pairs:
        total += min(requested, alloc) * MAX_NODE_SCORE // alloc * weight
        weights += weight
    return total // weights if weights else 0


class NodeResourcesFit(Plugin):
    """Args (as upstream's NodeResourcesFitArgs): ``scoringStrategy: {type: LeastAllocated|MostAllocated,
    resources: [{name, weight}]}``, ``ignoredResources``, ``ignoredResourceGroups``."""

    name = "NodeResourcesFit"
    events = frozenset({POD_DELETE, NODE_ADD, NODE_ALLOCATABLE, NODE_LABEL, NODE_TAINT})

    def __init__(self, handle: Handle, args: Mapping[str, Any] | None = None) -> None:
        super().__init__(handle, args)
        strategy = self.args.get("scoringStrategy") or {}
        self.strategy = strategy.get("type") or "LeastAllocated"
        if self.strategy not in ("LeastAllocated", "MostAllocated"):
            raise ValueError(f"scoring strategy {self.strategy} is not supported")
        self.scorer = _AllocationScorer(_resources_arg(strategy), use_requested=False)
        self.ignored = set(self.args.get("ignoredResources") or [])
        self.ignored_groups = set(self.args.get("ignoredResourceGroups") or [])

    def _ignored(self, reason: str) -> bool:
        name = reason.removeprefix("Insufficient ")
        if name == reason or "/" not in name or "kubernetes.io/" in name:
            return False
        return name in self.ignored or name.split("/", 1)[0] in self.ignored_groups

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        missing = insufficient(pod, node)
        if self.ignored or self.ignored_groups:
            missing = [m for m in missing if not self._ignored(m[0])]
        if not missing:
            return None
        code = "UnschedulableAndUnresolvable" if any(u for _, u in missing) else "Unschedulable"
        return Status(code, tuple(r for r, _ in missing))

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        state.data[self.name] = self.scorer.prepare(pod)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        pairs = self.scorer.pairs(state.data[self.name], node)
        return most_allocated(pairs) if self.strategy == "MostAllocated" else least_allocated(pairs)

    def hint(self, events: frozenset[str], pod: PodInfo, old: Obj | None, new: Obj | None) -> bool:
        if POD_DELETE in events:
            return True
        if new is None:
            return False
        alloc = node_allocatable(new)
        if alloc.get(PODS, 0) < 1 or any(v > alloc.get(k, 0) for k, v in pod.requests.items()):
            return False
        if old is None:
            return True
        before = node_allocatable(old)
        return alloc.get(PODS, 0) > before.get(PODS, 0) or any(
            alloc.get(k, 0) > before.get(k, 0) for k in pod.requests)


class NodeResourcesBalancedAllocation(Plugin):
    """Favor nodes whose cpu and memory fractions stay close: (1 - std of the fractions) * 100."""

    name = "NodeResourcesBalancedAllocation"

    def __init__(self, handle: Handle, args: Mapping[str, Any] | None = None) -> None:
        super().__init__(handle, args)
        self.scorer = _AllocationScorer(_resources_arg(self.args), use_requested=True)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if all(self.scorer.pod_request(pod, name) == 0 for name, _ in self.scorer.resources):
            return skip()  # best-effort pods would all pile onto the same node otherwise
        state.data[self.name] = self.scorer.prepare(pod)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        pairs = self.scorer.pairs(state.data[self.name], node)
        fractions = [min(requested / alloc, 1.0) for requested, alloc, _ in pairs]
        std = 0.0
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
        return int((1 - std) * MAX_NODE_SCORE)

