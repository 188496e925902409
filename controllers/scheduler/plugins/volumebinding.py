"""VolumeBinding, the basics: a pod's PersistentVolumeClaims must exist and be bound, or bindable on the node.

- a missing or deleting claim, or an unbound claim whose StorageClass binds Immediately, rejects the pod
  everywhere (PreFilter, as upstream);
- a bound claim's PersistentVolume must exist and its nodeAffinity must match the node;
- an unbound WaitForFirstConsumer claim needs, on that node, an Available PV of its class that is large
  enough, has the access modes and matches the node, or a provisioner that can create one there.

Before the pod is bound, static matches get ``spec.claimRef`` on their PV and claims to provision get the
``volume.kubernetes.io/selected-node`` annotation. Unlike upstream, the scheduler does not wait for the
PV controller to finish before binding the pod.
"""

from __future__ import annotations

from typing import Any

from ..framework import (
    NODE_ADD,
    NODE_LABEL,
    PV_CHANGE,
    PVC_CHANGE,
    STORAGECLASS_CHANGE,
    CycleState,
    Plugin,
    Status,
    skip,
    unresolvable,
)
from ..nodeinfo import NodeInfo
from ..podinfo import PodInfo, safe_selector, selects, term_matches
from ..resources import quantity

Obj = dict[str, Any]
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
NO_PROVISIONER = "kubernetes.io/no-provisioner"


def pv_fits_node(pv: Obj, node: NodeInfo) -> bool:
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required"))
    if not required:
        return True
    return any(term_matches(t, node.labels, node.name) for t in required.get("nodeSelectorTerms") or [])


def _class_of(pvc: Obj) -> str:
    return str((pvc.get("spec") or {}).get("storageClassName") or "")


def pv_matches_claim(pv: Obj, pvc: Obj) -> bool:
    spec, cspec = pv.get("spec") or {}, pvc.get("spec") or {}
    ref = spec.get("claimRef")
    meta = pvc["metadata"]
    if ref and (ref.get("name"), ref.get("namespace")) != (meta["name"], meta.get("namespace")):
        return False
    if (pv.get("status") or {}).get("phase", "Available") not in ("Available", "Pending", ""):
        return False
    if (spec.get("storageClassName") or "") != _class_of(pvc):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (cspec.get("volumeMode") or "Filesystem"):
        return False
    if not set(cspec.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    want = quantity(((cspec.get("resources") or {}).get("requests") or {}).get("storage"))
    if quantity((spec.get("capacity") or {}).get("storage")) < want:
        return False
    sel = cspec.get("selector")
    return sel is None or selects(safe_selector(sel), pv["metadata"].get("labels") or {})


def _topology_allows(sc: Obj, node: NodeInfo) -> bool:
    terms = sc.get("allowedTopologies") or []
    if not terms:
        return True
    return any(all(node.labels.get(e.get("key", "")) in (e.get("values") or [])
                   for e in t.get("matchLabelExpressions") or []) for t in terms)


def claim_names(pod: PodInfo) -> list[str]:
    names = []
    for v in pod.spec.get("volumes") or []:
        if v.get("persistentVolumeClaim"):
            names.append(v["persistentVolumeClaim"].get("claimName", ""))
        elif v.get("ephemeral"):
            names.append(f"{pod.name}-{v.get('name', '')}")
    return names


class _State:
    def __init__(self) -> None:
        self.bound: list[Obj] = []
        self.delayed: list[Obj] = []
        #: node -> (static [(pvc, pv)], claims to provision)
        self.decisions: dict[str, tuple[list[tuple[Obj, Obj]], list[Obj]]] = {}


class VolumeBinding(Plugin):
    name = "VolumeBinding"
    events = frozenset({PVC_CHANGE, PV_CHANGE, STORAGECLASS_CHANGE, NODE_ADD, NODE_LABEL})

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        names = claim_names(pod)
        if not names:
            return skip()
        st = _State()
        claims, classes = self.handle.store("persistentvolumeclaims"), self.handle.store("storageclasses")
        for name in names:
            pvc = claims.get(f"{pod.namespace}/{name}")
            if pvc is None:
                return unresolvable(f'persistentvolumeclaim "{name}" not found')
            if pvc["metadata"].get("deletionTimestamp"):
                return unresolvable(f'persistentvolumeclaim "{name}" is being deleted')
            if (pvc.get("spec") or {}).get("volumeName"):
                st.bound.append(pvc)
                continue
            sc = classes.get(_class_of(pvc)) if _class_of(pvc) else None
            if sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer":
                st.delayed.append(pvc)
            else:
                return unresolvable(IMMEDIATE)
        state.data[self.name] = st
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        st: _State = state.data[self.name]
        reasons: list[str] = []
        volumes = self.handle.store("persistentvolumes")
        for pvc in st.bound:
            pv = volumes.get(pvc["spec"]["volumeName"])
            if pv is None:
                reasons.append(PV_NOT_EXIST)
            elif not pv_fits_node(pv, node):
                reasons.append(NODE_CONFLICT)
        static: list[tuple[Obj, Obj]] = []
        provision: list[Obj] = []
        if st.delayed and not self._find(st.delayed, node, static, provision):
            reasons.append(BIND_CONFLICT)
        if reasons:
            return unresolvable(*dict.fromkeys(reasons))
        st.decisions[node.name] = (static, provision)
        return None

    def _find(self, claims: list[Obj], node: NodeInfo, static: list[tuple[Obj, Obj]], provision: list[Obj]) -> bool:
        taken: set[str] = set()
        volumes = self.handle.store("persistentvolumes").list()
        classes = self.handle.store("storageclasses")
        for pvc in claims:
            selected = (pvc["metadata"].get("annotations") or {}).get(SELECTED_NODE)
            if selected and selected != node.name:
                return False
            if not selected:
                candidates = [pv for pv in volumes if pv["metadata"]["name"] not in taken
                              and pv_matches_claim(pv, pvc) and pv_fits_node(pv, node)]
                if candidates:
                    best = min(candidates, key=lambda pv: quantity(pv["spec"].get("capacity", {}).get("storage")))
                    taken.add(best["metadata"]["name"])
                    static.append((pvc, best))
                    continue
            sc = classes.get(_class_of(pvc)) or {}
            if not sc.get("provisioner") or sc.get("provisioner") == NO_PROVISIONER or not _topology_allows(sc, node):
                return False
            provision.append(pvc)
        return True

    def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> list[tuple[str, Obj]]:
        st: _State | None = state.data.get(self.name)
        if st is None or node_name not in st.decisions:
            return []
        static, provision = st.decisions[node_name]
        out: list[tuple[str, Obj]] = []
        for pvc, pv in static:
            meta = pvc["metadata"]
            out.append((f"/api/v1/persistentvolumes/{pv['metadata']['name']}", {
                "metadata": {"annotations": {"pv.kubernetes.io/bound-by-controller": "yes"}},
                "spec": {"claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                      "namespace": meta.get("namespace"), "name": meta["name"],
                                      "uid": meta.get("uid")}}}))
        for pvc in provision:
            meta = pvc["metadata"]
            out.append((f"/api/v1/namespaces/{meta.get('namespace')}/persistentvolumeclaims/{meta['name']}",
                        {"metadata": {"annotations": {SELECTED_NODE: node_name}}}))
        return out
