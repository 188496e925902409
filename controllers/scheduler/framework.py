"""The scheduling framework: plugin contract, statuses, cycle state, and the failure message upstream prints.

A plugin implements any of the extension points below; the framework calls only those a plugin overrides.
Plugins are synchronous and must not mutate the NodeInfo they are given: the whole scheduling cycle runs
between two awaits, so the cache cannot change under it.

- ``pre_filter(state, pod)``: compute per-cycle state; return ``skip()`` when the plugin has nothing to check
  for this pod, or a rejection that applies to every node.
- ``filter(state, pod, node)``: None when the node fits, else a Status with the reasons upstream reports.
- ``add_pod`` / ``remove_pod``: update pre-filter state when preemption or nominated pods change a node.
- ``pre_score(state, pod, nodes)``, ``score(state, pod, node) -> int``, ``normalize(state, pod, scores)``:
  scores are normalized to 0..100 and then multiplied by the plugin's weight.
- ``pre_bind(state, pod, node_name)``: API writes to make before the binding (volume claims).
- ``events`` and ``hint(events, pod, old, new)``: the cluster events that could make a pod this plugin
  rejected schedulable (upstream's EventsToRegister and queueing hints).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .cache import Cache
from .nodeinfo import NodeInfo
from .podinfo import PodInfo

Obj = dict[str, Any]

SUCCESS = "Success"
ERROR = "Error"
UNSCHEDULABLE = "Unschedulable"
UNRESOLVABLE = "UnschedulableAndUnresolvable"
SKIP = "Skip"

MAX_NODE_SCORE = 100

# cluster events (upstream ClusterEvent resource/action pairs)
NODE_ADD = "Node/Add"
NODE_DELETE = "Node/Delete"
NODE_ALLOCATABLE = "Node/UpdateNodeAllocatable"
NODE_LABEL = "Node/UpdateNodeLabel"
NODE_TAINT = "Node/UpdateNodeTaint"
POD_ADD = "AssignedPod/Add"
POD_LABEL = "AssignedPod/UpdatePodLabel"
POD_DELETE = "AssignedPod/Delete"
PVC_CHANGE = "PersistentVolumeClaim/AddOrUpdate"
PV_CHANGE = "PersistentVolume/AddOrUpdate"
STORAGECLASS_CHANGE = "StorageClass/AddOrUpdate"
NAMESPACE_CHANGE = "Namespace/AddOrUpdate"


@dataclass
class Status:
    code: str = SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def rejected(self) -> bool:
        return self.code in (UNSCHEDULABLE, UNRESOLVABLE)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)


def unschedulable(*reasons: str) -> Status:
    return Status(UNSCHEDULABLE, reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(UNRESOLVABLE, reasons)


def skip() -> Status:
    return Status(SKIP)


class CycleState:
    """Per-pod scratch space keyed by plugin name. Values with a ``clone()`` are copied by ``clone``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def clone(self) -> CycleState:
        c = CycleState()
        c.data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self.data.items()}
        c.skip_filter = set(self.skip_filter)
        c.skip_score = set(self.skip_score)
        return c


class Store(Protocol):
    """What plugins read besides the cache: an informer, or a dict-backed store in tests."""

    def get(self, key: str) -> Obj | None: ...

    def list(self, namespace: str | None = None) -> list[Obj]: ...


class DictStore:
    def __init__(self, objs: Iterable[Obj] = ()) -> None:
        self.objs: dict[str, Obj] = {}
        for o in objs:
            self.put(o)

    def put(self, obj: Obj) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        self.objs[key] = obj

    def get(self, key: str) -> Obj | None:
        return self.objs.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        return [o for o in self.objs.values()
                if namespace is None or o["metadata"].get("namespace", "") == namespace]


class Handle:
    """The cluster as plugins see it: the cache plus listers by plural name (``namespaces``, ``pvcs``, ...)."""

    def __init__(self, cache: Cache, stores: Mapping[str, Store] | None = None) -> None:
        self.cache = cache
        self.stores: dict[str, Store] = dict(stores or {})

    def nodes(self) -> list[NodeInfo]:
        return self.cache.nodes()

    def store(self, name: str) -> Store:
        s = self.stores.get(name)
        if s is None:
            s = self.stores[name] = DictStore()
        return s

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.store("namespaces").get(namespace)
        return dict((ns or {}).get("metadata", {}).get("labels") or {})


class Plugin:
    name: ClassVar[str] = ""
    events: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, handle: Handle, args: Mapping[str, Any] | None = None) -> None:
        self.handle = handle
        self.args: Mapping[str, Any] = args or {}

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None:
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None:
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return 0

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        return None

    def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> list[tuple[str, Obj]]:
        """API writes (path, merge patch) to make before the pod is bound to ``node_name``."""
        return []

    def hint(self, events: frozenset[str], pod: PodInfo, old: Obj | None, new: Obj | None) -> bool:
        """Whether this event may make ``pod`` (which this plugin rejected) schedulable."""
        return True

    @classmethod
    def implements(cls, point: str) -> bool:
        return getattr(cls, point) is not getattr(Plugin, point)


def default_normalize(scores: dict[str, int], *, reverse: bool = False) -> None:
    """Upstream helper.DefaultNormalizeScore: scale to 0..100 by the maximum; ``reverse`` flips."""
    top = max(scores.values(), default=0)
    if top == 0:
        if reverse:
            for k in scores:
                scores[k] = MAX_NODE_SCORE
        return
    for k, s in scores.items():
        v = MAX_NODE_SCORE * s // top
        scores[k] = MAX_NODE_SCORE - v if reverse else v


# --- failure diagnosis ---------------------------------------------------------------------------------

@dataclass
class Diagnosis:
    node_status: dict[str, Status] = field(default_factory=dict)
    #: the status of nodes absent from ``node_status`` (set by preemption)
    absent_status: Status | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


class FitError(Exception):
    """No node fits. ``str()`` is upstream's FitError.Error(): a sorted histogram of reasons."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        d = self.diagnosis
        msg = f"0/{self.num_all_nodes} nodes are available:"
        if d.pre_filter_msg:
            msg += f" {d.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            for status in d.node_status.values():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            absent = self.num_all_nodes - len(d.node_status)
            if absent > 0 and d.absent_status is not None:
                for reason in d.absent_status.reasons:
                    counts[reason] = counts.get(reason, 0) + absent
            histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
            if histogram:
                msg += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            msg += f" {d.post_filter_msg}"
        return msg


class NoNodesAvailable(Exception):
    def __str__(self) -> str:
        return "no nodes available to schedule pods"
