"""Server-side defaulting: what a client reads back that it did not send.

``apply_defaults(group, version, kind, obj)`` edits ``obj`` in place with, for the kinds users create
most, the union of

* upstream's SetDefaults_* functions and declarative ``+default`` markers for that version;
* the decode/encode round trip of the Go types (a value-typed struct such as ``status`` or a
  container's ``resources`` is always serialized, as ``{}`` or with its non-omitempty zero fields;
  ``serviceAccount`` mirrors ``serviceAccountName``; Secret ``stringData`` folds into ``data``);
* with ``admission=True`` (creates), what default admission plugins add to Pods: DefaultTolerationSeconds
  (not-ready/unreachable NoExecute for 300s), Priority (``priority`` 0 and ``preemptionPolicy``) and the
  ServiceAccount plugin's ``serviceAccountName: default``. Token-volume injection needs I/O and belongs
  to the caller: register it in :data:`POD_ADMISSION_HOOKS`.

Name generation, clusterIP/nodePort allocation, Job selectors/labels and status resets are strategy work
and are not done here. Unknown kinds are left untouched.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from schemas.defaults_pod import pod_spec, pvc_spec, resource_list
from schemas.defaults_types import BY_KIND as _MORE

__all__ = ["apply_defaults", "POD_ADMISSION_HOOKS", "SYSTEM_PRIORITIES"]

Obj = dict[str, Any]
Defaulter = Callable[[Obj], None]

#: called with the Pod after the built-in admission defaults, when ``admission`` is true
POD_ADMISSION_HOOKS: list[Callable[[Obj], None]] = []

#: priorities of the built-in PriorityClasses (others are resolved by the caller's hooks)
SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}

_TOLERATED = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def _d(obj: Obj, key: str) -> Obj:
    """obj[key] as a dict, created when absent (Go value struct)."""
    v = obj.get(key)
    if not isinstance(v, dict):
        v = obj[key] = {}
    return v


def _unset(d: Obj, key: str) -> bool:
    v = d.get(key)
    return v is None or v == ""


def _template(spec: Obj, key: str = "template") -> None:
    tpl = spec.get(key)
    if isinstance(tpl, dict):
        _d(tpl, "metadata")
        pod_spec(_d(tpl, "spec"))


def _pod(obj: Obj) -> None:
    pod_spec(_d(obj, "spec"), is_pod=True)


def _admit_pod(obj: Obj) -> None:
    spec = _d(obj, "spec")
    if _unset(spec, "serviceAccountName") and not (obj.get("metadata") or {}).get("annotations", {}).get(
            "kubernetes.io/config.mirror"):
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    if spec.get("priority") is None:
        name = spec.get("priorityClassName") or ""
        if not name:
            spec["priority"] = 0
        elif name in SYSTEM_PRIORITIES:
            spec["priority"] = SYSTEM_PRIORITIES[name]
    if spec.get("preemptionPolicy") is None and not spec.get("priorityClassName"):
        spec["preemptionPolicy"] = "PreemptLowerPriority"
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    for key in _TOLERATED:
        covered = any(isinstance(t, dict) and t.get("key", "") in (key, "")
                      and t.get("effect", "") in ("NoExecute", "") for t in tolerations)
        if not covered:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300})
    if tolerations:
        spec["tolerations"] = tolerations
    for hook in POD_ADMISSION_HOOKS:
        hook(obj)


def _pod_template(obj: Obj) -> None:
    _template(obj)


def _replication_controller(obj: Obj) -> None:
    spec = _d(obj, "spec")
    tpl = spec.get("template")
    labels = ((tpl or {}).get("metadata") or {}).get("labels") if isinstance(tpl, dict) else None
    if labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _d(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _template(spec)
    _d(obj, "status").setdefault("replicas", 0)


def _service(obj: Obj) -> None:
    spec = _d(obj, "spec")
    if _unset(spec, "sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig") or {}
        if ((cfg.get("clientIP") or {}).get("timeoutSeconds")) is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if _unset(spec, "type"):
        spec["type"] = "ClusterIP"
    for port in spec.get("ports") or ():
        if not isinstance(port, dict):
            continue
        if _unset(port, "protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    stype = spec["type"]
    external = stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and spec.get("externalIPs"))
    if external and _unset(spec, "externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and stype in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if stype != "ExternalName" and spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = "SingleStack"
    _d(_d(obj, "status"), "loadBalancer")


def _namespace(obj: Obj) -> None:
    meta = _d(obj, "metadata")
    if meta.get("name"):
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels["kubernetes.io/metadata.name"] = meta["name"]
    status = _d(obj, "status")
    if _unset(status, "phase"):
        status["phase"] = "Active"


def _secret(obj: Obj) -> None:
    if _unset(obj, "type"):
        obj["type"] = "Opaque"
    string_data = obj.pop("stringData", None)  # conversion folds stringData into data
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _pv(obj: Obj) -> None:
    spec = _d(obj, "spec")
    if _unset(spec, "persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    resource_list(spec.get("capacity"))
    host_path = spec.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    status = _d(obj, "status")
    if _unset(status, "phase"):
        status["phase"] = "Pending"


def _pvc(obj: Obj) -> None:
    pvc_spec(_d(obj, "spec"))
    status = _d(obj, "status")
    if _unset(status, "phase"):
        status["phase"] = "Pending"
    resource_list(status.get("capacity"))


def _endpoints(obj: Obj) -> None:
    for subset in obj.get("subsets") or ():
        for port in (subset.get("ports") or ()) if isinstance(subset, dict) else ():
            if isinstance(port, dict) and _unset(port, "protocol"):
                port["protocol"] = "TCP"


def _limit_range(obj: Obj) -> None:
    for item in (obj.get("spec") or {}).get("limits") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "Container":
            default = _d(item, "default")
            request = _d(item, "defaultRequest")
            for src, dst in (("max", default), ("default", request), ("min", request)):
                for k, v in (item.get(src) or {}).items():
                    dst.setdefault(k, v)
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            resource_list(item.get(key))


def _resource_quota(obj: Obj) -> None:
    resource_list((obj.get("spec") or {}).get("hard"))
    status = obj.get("status") or {}
    resource_list(status.get("hard"))
    resource_list(status.get("used"))


_CORE: dict[str, Defaulter] = {
    "Pod": _pod, "PodTemplate": _pod_template, "ReplicationController": _replication_controller,
    "Service": _service, "Namespace": _namespace, "Secret": _secret, "PersistentVolume": _pv,
    "PersistentVolumeClaim": _pvc, "Endpoints": _endpoints, "LimitRange": _limit_range,
    "ResourceQuota": _resource_quota,
}


def _lookup(group: str, version: str, kind: str) -> Defaulter | None:
    if group == "":
        return _CORE.get(kind)
    return _MORE.get((group, version, kind)) or _MORE.get((group, "", kind))


def apply_defaults(group: str, version: str, kind: str, obj: Obj, *, admission: bool = False) -> None:
    """Default ``obj`` (a ``group/version, Kind=kind`` object) in place; see the module docstring.

    ``admission`` adds what admission plugins set on a Pod being created.
    """
    fn = _lookup(group, version, kind)
    if fn is not None:
        fn(obj)
    if admission and group == "" and kind == "Pod":
        _admit_pod(obj)
