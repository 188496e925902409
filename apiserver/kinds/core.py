"""core/v1 resources."""

from __future__ import annotations

from ..strategy import Obj, Strategy
from . import STATUS_VERBS, ResourceInfo, SimpleStrategy, Subresource, proxy, scale, status


class NamespaceStrategy(Strategy):
    has_status = True
    return_deleted_object = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        # as upstream: the kubernetes finalizer is required, other finalizers given at create are kept
        finalizers = list(spec.get("finalizers") or [])
        spec["finalizers"] = finalizers if "kubernetes" in finalizers else [*finalizers, "kubernetes"]
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        new["spec"] = old.get("spec", {})
        labels = new["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = new["metadata"]["name"]

    def prepare_for_delete(self, obj: Obj) -> bool:
        status = obj.setdefault("status", {})
        if status.get("phase") == "Terminating":
            return False
        status["phase"] = "Terminating"
        return True

    def deletion_pending(self, obj: Obj) -> bool:
        """spec.finalizers hold a namespace until the namespace controller finalizes it."""
        return bool((obj.get("spec") or {}).get("finalizers"))

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        return {"status.phase": obj.get("status", {}).get("phase", "")}


class PodStrategy(Strategy):
    has_status = True
    tracks_generation = True
    return_deleted_object = True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """As upstream: a pod that never reached a node, or has finished, goes at once."""
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
        return max(int(grace), 0)

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        return {
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.restartPolicy": spec.get("restartPolicy", ""),
            "spec.schedulerName": spec.get("schedulerName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": status.get("phase", ""),
            "status.podIP": status.get("podIP", ""),
            "status.nominatedNodeName": status.get("nominatedNodeName", ""),
        }


class SecretStrategy(Strategy):
    def field_attrs(self, obj: Obj) -> dict[str, str]:
        return {"type": obj.get("type", "")}


class EventStrategy(Strategy):
    def field_attrs(self, obj: Obj) -> dict[str, str]:
        inv = obj.get("involvedObject") or {}
        source = obj.get("source") or {}
        return {
            "involvedObject.kind": inv.get("kind", ""),
            "involvedObject.namespace": inv.get("namespace", ""),
            "involvedObject.name": inv.get("name", ""),
            "involvedObject.uid": inv.get("uid", ""),
            "involvedObject.apiVersion": inv.get("apiVersion", ""),
            "involvedObject.resourceVersion": inv.get("resourceVersion", ""),
            "involvedObject.fieldPath": inv.get("fieldPath", ""),
            "reason": obj.get("reason", ""),
            "reportingComponent": obj.get("reportingComponent", ""),
            "source": source.get("component", ""),
            "type": obj.get("type", ""),
        }


class VolumeStrategy(SimpleStrategy):
    """PersistentVolumes and claims: a new object's status is reset to ``phase: Pending`` (upstream resets
    it and its defaulting, applied again on every read from storage, fills in the phase)."""

    def __init__(self) -> None:
        super().__init__(status=True, returns_deleted=True)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["status"] = {"phase": "Pending"}


class NodeStrategy(Strategy):
    has_status = True

    def prepare_for_create(self, obj: Obj) -> None:
        # upstream lets a Node be created with its status (kubelets register that way)
        obj.setdefault("spec", {})

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        return {"spec.unschedulable": "true" if (obj.get("spec") or {}).get("unschedulable") else "false"}


class ServiceStrategy(Strategy):
    has_status = True
    return_deleted_object = True

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """A replace that leaves allocated values out keeps them (upstream's patchAllocatedValues)."""
        super().prepare_for_update(new, old)
        spec, before = new.setdefault("spec", {}), old.get("spec") or {}
        if spec.get("type", "ClusterIP") == "ExternalName" or before.get("type", "ClusterIP") == "ExternalName":
            return
        if not spec.get("clusterIP") and before.get("clusterIP"):
            spec["clusterIP"] = before["clusterIP"]
        if not spec.get("clusterIPs") and before.get("clusterIPs") and spec.get("clusterIP") == before.get(
                "clusterIP"):
            spec["clusterIPs"] = before["clusterIPs"]
        for key in ("ipFamilies", "ipFamilyPolicy", "healthCheckNodePort"):
            if not spec.get(key) and before.get(key):
                spec[key] = before[key]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = before.get("ports") or []
            for port in spec.get("ports") or []:
                if port.get("nodePort"):
                    continue
                for prev in old_ports:
                    if prev.get("nodePort") and (prev.get("name") == port.get("name") or (
                            prev.get("port"), prev.get("protocol", "TCP")) == (port.get("port"),
                                                                               port.get("protocol", "TCP"))):
                        port["nodePort"] = prev["nodePort"]
                        break

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        spec = obj.get("spec") or {}
        return {"spec.clusterIP": spec.get("clusterIP", ""), "spec.type": spec.get("type", "")}


def qos_class(spec: Obj) -> str:
    """Guaranteed: every container limits cpu and memory with requests equal to limits;
    BestEffort: no requests or limits anywhere; otherwise Burstable."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or requests.get(r, limits[r]) != limits[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _connect(name: str, kind: str) -> Subresource:
    return Subresource(name, kind, ("create", "get"), methods=("GET", "POST"))


_POD_SUBRESOURCES = (
    _connect("attach", "PodAttachOptions"),
    Subresource("binding", "Binding", ("create",)),
    Subresource("ephemeralcontainers", "", STATUS_VERBS),
    Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
    _connect("exec", "PodExecOptions"),
    Subresource("log", "", ("get",)),
    _connect("portforward", "PodPortForwardOptions"),
    proxy("PodProxyOptions"),
    Subresource("resize", "", STATUS_VERBS),
    status(),
)

NO_COLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")

RESOURCES = [
    ResourceInfo("", "v1", "bindings", "Binding", True, verbs=("create",), stored=False),
    ResourceInfo("", "v1", "componentstatuses", "ComponentStatus", False, verbs=("get", "list"),
                 short_names=("cs",), stored=False),
    ResourceInfo("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceInfo("", "v1", "endpoints", "Endpoints", True, short_names=("ep",), storage_name="services/endpoints"),
    ResourceInfo("", "v1", "events", "Event", True, short_names=("ev",), strategy=EventStrategy()),
    ResourceInfo("", "v1", "limitranges", "LimitRange", True, short_names=("limits",)),
    ResourceInfo("", "v1", "namespaces", "Namespace", False, verbs=NO_COLLECTION, short_names=("ns",),
                 subresources=(Subresource("finalize", "", ("update",)), status()),
                 strategy=NamespaceStrategy()),
    ResourceInfo("", "v1", "nodes", "Node", False, short_names=("no",),
                 subresources=(proxy("NodeProxyOptions"), status()),
                 strategy=NodeStrategy(), storage_name="minions"),
    ResourceInfo("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, short_names=("pvc",),
                 subresources=(status(),), strategy=VolumeStrategy()),
    ResourceInfo("", "v1", "persistentvolumes", "PersistentVolume", False, short_names=("pv",),
                 subresources=(status(),), strategy=VolumeStrategy()),
    ResourceInfo("", "v1", "pods", "Pod", True, short_names=("po",), categories=("all",),
                 subresources=_POD_SUBRESOURCES, strategy=PodStrategy()),
    ResourceInfo("", "v1", "podtemplates", "PodTemplate", True,
                 strategy=SimpleStrategy(returns_deleted=True)),
    ResourceInfo("", "v1", "replicationcontrollers", "ReplicationController", True, short_names=("rc",),
                 categories=("all",), subresources=(scale(), status()), storage_name="controllers",
                 strategy=SimpleStrategy(status=True, generation=True, fields=("status.replicas",))),
    ResourceInfo("", "v1", "resourcequotas", "ResourceQuota", True, short_names=("quota",),
                 subresources=(status(),), strategy=SimpleStrategy(status=True, returns_deleted=True)),
    ResourceInfo("", "v1", "secrets", "Secret", True, strategy=SecretStrategy()),
    ResourceInfo("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",),
                 subresources=(Subresource("token", "TokenRequest", ("create",),
                                           group="authentication.k8s.io", version="v1"),),
                 strategy=SimpleStrategy(returns_deleted=True)),
    ResourceInfo("", "v1", "services", "Service", True, short_names=("svc",), categories=("all",),
                 subresources=(proxy("ServiceProxyOptions"), status()), strategy=ServiceStrategy(),
                 storage_name="services/specs"),
]
