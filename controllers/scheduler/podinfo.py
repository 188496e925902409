"""Pods as the scheduler sees them: a pod dict plus what every cycle would otherwise recompute
(requests, host ports, parsed affinity terms, priority), and the matching rules shared by plugins
(tolerations vs taints, node selector terms, pod affinity terms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.selectors import LabelSelector, SelectorError, labels_match, selector_from_object

from .resources import Resources, pod_non_zero_requests, pod_requests

Obj = dict[str, Any]

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def pod_key(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def safe_selector(sel: Mapping[str, Any] | None) -> LabelSelector | None:
    """A metav1.LabelSelector; None (and an invalid selector) selects nothing, ``{}`` everything."""
    try:
        return selector_from_object(sel)
    except SelectorError:
        return None


def selects(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    return selector is not None and labels_match(selector, labels)


# --- taints and tolerations ----------------------------------------------------------------------

def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Upstream Toleration.ToleratesTaint: empty effect/key are wildcards; operator Equal (default) or Exists."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: Sequence[Obj], taint: Obj) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def untolerated_taint(taints: Sequence[Obj], tolerations: Sequence[Obj],
                      effects: tuple[str, ...] = ("NoSchedule", "NoExecute")) -> Obj | None:
    """The first taint with one of ``effects`` the pod does not tolerate."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(tolerations, taint):
            return taint
    return None


# --- node selectors ---------------------------------------------------------------------------------

def _requirement_matches(req: Obj, values: Mapping[str, str]) -> bool:
    key, op = req.get("key", ""), req.get("operator", "")
    vals = req.get("values") or []
    present = key in values
    if op == "In":
        return present and values[key] in vals
    if op == "NotIn":
        return not present or values[key] not in vals
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(vals) == 1:
        try:
            have, want = int(values[key]), int(vals[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Obj | None, node_labels: Mapping[str, str], node_name: str) -> bool:
    """A NodeSelectorTerm: all matchExpressions and matchFields hold; an empty term matches nothing."""
    if not term:
        return False
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(_requirement_matches(r, node_labels) for r in exprs):
        return False
    return all(_requirement_matches(r, {"metadata.name": node_name}) for r in fields)


def required_node_affinity_matches(pod: Obj, node_labels: Mapping[str, str], node_name: str) -> bool:
    """nodeSelector AND any of the required nodeAffinity terms (upstream GetRequiredNodeAffinity)."""
    spec = pod.get("spec") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if node_labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(t, node_labels, node_name) for t in required.get("nodeSelectorTerms") or [])


# --- pod affinity terms -------------------------------------------------------------------------------

@dataclass(frozen=True)
class AffinityTerm:
    """A parsed PodAffinityTerm. Empty namespaces and no namespaceSelector mean the owning pod's namespace."""

    selector: LabelSelector | None
    namespaces: frozenset[str]
    ns_selector: LabelSelector | None
    topology_key: str
    weight: int = 0

    def matches(self, pod: PodInfo, ns_labels: Mapping[str, str] | None) -> bool:
        if pod.namespace not in self.namespaces and not selects(self.ns_selector, ns_labels):
            return False
        return selects(self.selector, pod.labels)


def _terms(namespace: str, raw: Sequence[Obj], weighted: bool) -> list[AffinityTerm]:
    out = []
    for item in raw:
        term = (item.get("podAffinityTerm") or {}) if weighted else item
        namespaces = term.get("namespaces") or []
        ns_sel = term.get("namespaceSelector")
        out.append(AffinityTerm(
            selector=safe_selector(term.get("labelSelector")),
            namespaces=frozenset(namespaces if namespaces or ns_sel is not None else [namespace]),
            ns_selector=safe_selector(ns_sel) if ns_sel is not None else None,
            topology_key=term.get("topologyKey", ""),
            weight=int(item.get("weight") or 0) if weighted else 0))
    return out


# --- PodInfo -----------------------------------------------------------------------------------------

@dataclass(eq=False)
class PodInfo:
    pod: Obj
    key: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    priority: int
    preemption_policy: str
    requests: Resources
    non_zero_cpu: int
    non_zero_memory: int
    host_ports: list[tuple[str, str, int]]
    tolerations: list[Obj]
    deleting: bool = False
    #: spec.nodeSelector or required node affinity present
    has_node_constraints: bool = False
    required_affinity: list[AffinityTerm] = field(default_factory=list)
    required_anti_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_anti_affinity: list[AffinityTerm] = field(default_factory=list)

    @property
    def spec(self) -> Obj:
        spec: Obj = self.pod.get("spec") or {}
        return spec

    @property
    def node_name(self) -> str:
        return str(self.spec.get("nodeName") or "")

    @property
    def nominated_node(self) -> str:
        return str((self.pod.get("status") or {}).get("nominatedNodeName") or "")

    @property
    def has_affinity(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity or self.preferred_affinity
                     or self.preferred_anti_affinity)

    def with_node(self, node_name: str) -> PodInfo:
        """The same pod as if bound to ``node_name`` (what the assume cache holds)."""
        pod = dict(self.pod)
        pod["spec"] = dict(self.spec, nodeName=node_name)
        return replace(self, pod=pod)


def _host_ports(spec: Obj) -> list[tuple[str, str, int]]:
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    out = []
    for c in containers:
        for p in c.get("ports") or []:
            port = int(p.get("hostPort") or 0)
            if port > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", port))
    return out


def make_pod_info(pod: Obj, priority: int = 0, preemption_policy: str = "") -> PodInfo:
    """Precompute a pod. ``priority`` is the resolved priority (spec.priority or its PriorityClass)."""
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    ns = meta.get("namespace", "")
    affinity = spec.get("affinity") or {}
    pa, paa = affinity.get("podAffinity") or {}, affinity.get("podAntiAffinity") or {}
    cpu, mem = pod_non_zero_requests(spec)
    req = "requiredDuringSchedulingIgnoredDuringExecution"
    pref = "preferredDuringSchedulingIgnoredDuringExecution"
    return PodInfo(
        pod=pod, key=pod_key(pod), namespace=ns, name=meta["name"], uid=meta.get("uid", ""),
        labels=dict(meta.get("labels") or {}), priority=priority,
        preemption_policy=preemption_policy or spec.get("preemptionPolicy") or "PreemptLowerPriority",
        requests=pod_requests(spec), non_zero_cpu=cpu, non_zero_memory=mem, host_ports=_host_ports(spec),
        tolerations=list(spec.get("tolerations") or []),
        deleting=bool(meta.get("deletionTimestamp")),
        has_node_constraints=bool(spec.get("nodeSelector") or (affinity.get("nodeAffinity") or {}).get(req)),
        required_affinity=_terms(ns, pa.get(req) or [], False),
        required_anti_affinity=_terms(ns, paa.get(req) or [], False),
        preferred_affinity=_terms(ns, pa.get(pref) or [], True),
        preferred_anti_affinity=_terms(ns, paa.get(pref) or [], True))


def start_time(pod: Obj) -> str:
    """For preemption's "more important": an earlier start wins; a pod not started sorts last."""
    return str((pod.get("status") or {}).get("startTime") or "9999")
