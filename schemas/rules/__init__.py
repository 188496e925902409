"""Semantic validation of built-in kinds, as the API server's strategies run it after decoding and
defaulting. Messages, paths and error types follow upstream's field.ErrorList, so a caller can build
the ``<Kind> "<name>" is invalid: ...`` Status from the returned :class:`FieldError` list.

``validate(group, kind, obj)`` checks a create, ``validate_update(group, kind, new, old)`` an update.
Kinds without specific rules get generic ObjectMeta checks (names as DNS subdomains, namespace scope
not checked). Inputs are defaulted plain dicts; they are not modified (except that a Secret update
inherits the old ``type`` when the new one is empty, as upstream does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.fielderrors import FieldError
from schemas.rules import core, discovery, pods, workloads
from schemas.rules.meta import (
    FIELD_IMMUTABLE,
    immutable,
    semantic_equal,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

__all__ = ["validate", "validate_update", "validate_object_meta", "validate_object_meta_update",
           "validate_label_selector", "validate_labels", "validate_annotations", "immutable",
           "semantic_equal", "FIELD_IMMUTABLE", "RULES"]

Obj = dict[str, Any]
Create = Callable[[Obj], list[FieldError]]
Update = Callable[[Obj, Obj], list[FieldError]]

#: (group, kind) -> (create validator, update validator)
RULES: dict[tuple[str, str], tuple[Create, Update]] = {
    ("", "Pod"): (pods.validate_pod, pods.validate_pod_update),
    ("", "ConfigMap"): (core.validate_config_map, core.validate_config_map_update),
    ("", "Secret"): (core.validate_secret, core.validate_secret_update),
    ("", "Service"): (core.validate_service, core.validate_service_update),
    ("", "PersistentVolumeClaim"): (core.validate_pvc, core.validate_pvc_update),
    ("", "Namespace"): (core.validate_namespace, core.validate_namespace_update),
    ("", "ReplicationController"): (workloads.validate_replication_controller,
                                    lambda new, old: _meta_update(new, old)
                                    + [e for e in workloads.validate_replication_controller(new)
                                       if not e.field.startswith("metadata.")]),
    ("apps", "Deployment"): (workloads.validate_deployment, workloads.validate_deployment_update),
    ("apps", "ReplicaSet"): (workloads.validate_replica_set, workloads.validate_replica_set_update),
    ("apps", "StatefulSet"): (workloads.validate_stateful_set, workloads.validate_stateful_set_update),
    ("apps", "DaemonSet"): (workloads.validate_daemon_set, workloads.validate_daemon_set_update),
    ("batch", "Job"): (workloads.validate_job, workloads.validate_job_update),
    ("batch", "CronJob"): (workloads.validate_cron_job, workloads.validate_cron_job_update),
    ("discovery.k8s.io", "EndpointSlice"): (discovery.validate_endpoint_slice,
                                            discovery.validate_endpoint_slice_update),
}


def _meta_update(new: Obj, old: Obj) -> list[FieldError]:
    return validate_object_meta_update(new.get("metadata"), old.get("metadata"))


def validate(group: str, kind: str, obj: Obj) -> list[FieldError]:
    """Errors for creating ``obj`` (empty when valid)."""
    rule = RULES.get((group, kind))
    if rule is not None:
        return rule[0](obj)
    return validate_object_meta(obj.get("metadata"), namespaced=None)


def validate_update(group: str, kind: str, new: Obj, old: Obj) -> list[FieldError]:
    """Errors for replacing ``old`` with ``new`` (empty when valid)."""
    rule = RULES.get((group, kind))
    if rule is not None:
        return rule[1](new, old)
    return _meta_update(new, old)
