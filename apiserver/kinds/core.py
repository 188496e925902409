"""core/v1 resources."""

from __future__ import annotations

from ..strategy import Strategy
from . import ResourceInfo, Subresource

Obj = dict


class NamespaceStrategy(Strategy):
    has_status = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        spec["finalizers"] = ["kubernetes"]
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        new["spec"] = old.get("spec", {})
        labels = new["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = new["metadata"]["name"]

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        return {"status.phase": obj.get("status", {}).get("phase", "")}


class PodStrategy(Strategy):
    has_status = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

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


class NodeStrategy(Strategy):
    has_status = True

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        return {"spec.unschedulable": "true" if (obj.get("spec") or {}).get("unschedulable") else "false"}


class ServiceStrategy(Strategy):
    has_status = True


def _status(kind: str = "") -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


RESOURCES = [
    ResourceInfo("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceInfo("", "v1", "endpoints", "Endpoints", True, short_names=("ep",), storage_name="services/endpoints"),
    ResourceInfo("", "v1", "events", "Event", True, short_names=("ev",), strategy=EventStrategy()),
    ResourceInfo("", "v1", "namespaces", "Namespace", False,
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"), short_names=("ns",),
                 subresources=(Subresource("finalize", "", ("update",)), _status()),
                 strategy=NamespaceStrategy()),
    ResourceInfo("", "v1", "nodes", "Node", False, short_names=("no",), subresources=(_status(),),
                 strategy=NodeStrategy(), storage_name="minions"),
    ResourceInfo("", "v1", "pods", "Pod", True, short_names=("po",), categories=("all",),
                 subresources=(Subresource("binding", "Binding", ("create",)), _status()),
                 strategy=PodStrategy()),
    ResourceInfo("", "v1", "secrets", "Secret", True, strategy=SecretStrategy()),
    ResourceInfo("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    ResourceInfo("", "v1", "services", "Service", True, short_names=("svc",), categories=("all",),
                 verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                 subresources=(_status(),), strategy=ServiceStrategy(), storage_name="services/specs"),
]
