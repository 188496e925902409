"""Defaulting for the non-core groups (apps, batch, networking, rbac, storage, scheduling, autoscaling,
admissionregistration, discovery, policy), mirroring upstream's pkg/apis/<group>/<version>/defaults.go.

``BY_KIND`` maps (group, version, kind) to a defaulter; version "" matches every version of the group.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from schemas.defaults_pod import pod_spec, pvc_spec

__all__ = ["BY_KIND"]

Obj = dict[str, Any]
_RBAC = "rbac.authorization.k8s.io"


def _d(obj: Obj, key: str) -> Obj:
    v = obj.get(key)
    if not isinstance(v, dict):
        v = obj[key] = {}
    return v


def _unset(d: Obj, key: str) -> bool:
    v = d.get(key)
    return v is None or v == ""


def _nil(d: Obj, key: str, value: Any) -> None:
    if d.get(key) is None:
        d[key] = value


def _template(spec: Obj) -> None:
    tpl = _d(spec, "template")
    _d(tpl, "metadata")
    pod_spec(_d(tpl, "spec"))


def _deployment(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _nil(spec, "replicas", 1)
    strategy = _d(spec, "strategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        _nil(ru, "maxUnavailable", "25%")
        _nil(ru, "maxSurge", "25%")
    _nil(spec, "revisionHistoryLimit", 10)
    _nil(spec, "progressDeadlineSeconds", 600)
    _template(spec)
    _d(obj, "status")


def _replica_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _nil(spec, "replicas", 1)
    _template(spec)
    _d(obj, "status").setdefault("replicas", 0)


def _stateful_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    if _unset(spec, "podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = _d(spec, "updateStrategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
        _d(strategy, "rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        _nil(strategy["rollingUpdate"], "partition", 0)
    retention = _d(spec, "persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled"):
        if _unset(retention, key):
            retention[key] = "Retain"
    _nil(spec, "replicas", 1)
    _nil(spec, "revisionHistoryLimit", 10)
    _template(spec)
    for claim in spec.get("volumeClaimTemplates") or ():
        if isinstance(claim, dict):
            # stored claims templates come back as full PersistentVolumeClaims
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            _d(claim, "metadata")
            pvc_spec(_d(claim, "spec"))
            status = _d(claim, "status")
            if _unset(status, "phase"):
                status["phase"] = "Pending"
    status = _d(obj, "status")
    status.setdefault("replicas", 0)
    status.setdefault("availableReplicas", 0)


def _daemon_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    strategy = _d(spec, "updateStrategy")
    if _unset(strategy, "type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        _nil(ru, "maxUnavailable", 1)
        _nil(ru, "maxSurge", 0)
    _nil(spec, "revisionHistoryLimit", 10)
    _template(spec)
    status = _d(obj, "status")
    for key in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"):
        status.setdefault(key, 0)


def _job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _nil(spec, "parallelism", 1)
    _nil(spec, "backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6)
    _nil(spec, "completionMode", "NonIndexed")
    _nil(spec, "suspend", False)
    _nil(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") is not None
         else "TerminatingOrFailed")
    _nil(spec, "manualSelector", False)
    for rule in (spec.get("podFailurePolicy") or {}).get("rules") or ():
        for pattern in (rule.get("onPodConditions") or ()) if isinstance(rule, dict) else ():
            if isinstance(pattern, dict) and _unset(pattern, "status"):
                pattern["status"] = "True"


def _job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _job_spec(spec)
    _template(spec)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    meta = _d(obj, "metadata")
    if labels is not None and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _d(obj, "status")


def _cron_job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    if _unset(spec, "concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    _nil(spec, "suspend", False)
    _nil(spec, "successfulJobsHistoryLimit", 3)
    _nil(spec, "failedJobsHistoryLimit", 1)
    job_template = _d(spec, "jobTemplate")
    _d(job_template, "metadata")
    _template(_d(job_template, "spec"))
    _d(obj, "status")


def _network_policy(obj: Obj) -> None:
    spec = _d(obj, "spec")
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or ():
            for port in (rule.get("ports") or ()) if isinstance(rule, dict) else ():
                if isinstance(port, dict):
                    _nil(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _ingress(obj: Obj) -> None:
    _d(_d(obj, "status"), "loadBalancer")


def _ingress_class(obj: Obj) -> None:
    params = (obj.get("spec") or {}).get("parameters")
    if isinstance(params, dict):
        _nil(params, "scope", "Cluster")


def _binding(obj: Obj) -> None:
    role_ref = _d(obj, "roleRef")
    if not role_ref.get("apiGroup"):
        role_ref["apiGroup"] = _RBAC
    for subject in obj.get("subjects") or ():
        if isinstance(subject, dict) and not subject.get("apiGroup"):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = _RBAC
            elif subject.get("kind") == "ServiceAccount":
                subject.pop("apiGroup", None)


def _storage_class(obj: Obj) -> None:
    _nil(obj, "reclaimPolicy", "Delete")
    _nil(obj, "volumeBindingMode", "Immediate")


def _csi_driver(obj: Obj) -> None:
    spec = _d(obj, "spec")
    for key, value in (("attachRequired", True), ("podInfoOnMount", False), ("storageCapacity", False),
                       ("fsGroupPolicy", "ReadWriteOnceWithFSType"), ("requiresRepublish", False),
                       ("seLinuxMount", False)):
        _nil(spec, key, value)
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def _priority_class(obj: Obj) -> None:
    _nil(obj, "preemptionPolicy", "PreemptLowerPriority")


def _hpa_v1(obj: Obj) -> None:
    _nil(_d(obj, "spec"), "minReplicas", 1)
    status = _d(obj, "status")
    status.setdefault("currentReplicas", 0)
    status.setdefault("desiredReplicas", 0)


_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
_SCALE_DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _hpa_v2(obj: Obj) -> None:
    spec = _d(obj, "spec")
    _nil(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for key, default in (("scaleUp", _SCALE_UP), ("scaleDown", _SCALE_DOWN)):
            rules = copy.deepcopy(default)
            given = behavior.get(key)
            if isinstance(given, dict):
                rules.update({k: v for k, v in given.items() if v is not None})
            behavior[key] = rules
    _d(obj, "status").setdefault("desiredReplicas", 0)


def _webhooks(obj: Obj, mutating: bool) -> None:
    for hook in obj.get("webhooks") or ():
        if not isinstance(hook, dict):
            continue
        for key, value in (("failurePolicy", "Fail"), ("matchPolicy", "Equivalent"), ("namespaceSelector", {}),
                           ("objectSelector", {}), ("sideEffects", "Unknown"), ("timeoutSeconds", 10)):
            _nil(hook, key, copy.copy(value))
        if mutating:
            _nil(hook, "reinvocationPolicy", "Never")
        if not hook.get("admissionReviewVersions"):
            hook["admissionReviewVersions"] = ["v1"]
        for rule in hook.get("rules") or ():
            if isinstance(rule, dict):
                _nil(rule, "scope", "*")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            _nil(service, "port", 443)


def _endpoint_slice(obj: Obj) -> None:
    for port in obj.get("ports") or ():
        if isinstance(port, dict):
            _nil(port, "name", "")
            _nil(port, "protocol", "TCP")


def _pdb(obj: Obj) -> None:
    status = _d(obj, "status")
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        status.setdefault(key, 0)


BY_KIND: dict[tuple[str, str, str], Callable[[Obj], None]] = {
    ("apps", "", "Deployment"): _deployment,
    ("apps", "", "ReplicaSet"): _replica_set,
    ("apps", "", "StatefulSet"): _stateful_set,
    ("apps", "", "DaemonSet"): _daemon_set,
    ("batch", "", "Job"): _job,
    ("batch", "", "CronJob"): _cron_job,
    ("networking.k8s.io", "", "NetworkPolicy"): _network_policy,
    ("networking.k8s.io", "", "Ingress"): _ingress,
    ("networking.k8s.io", "", "IngressClass"): _ingress_class,
    (_RBAC, "", "RoleBinding"): _binding,
    (_RBAC, "", "ClusterRoleBinding"): _binding,
    ("storage.k8s.io", "", "StorageClass"): _storage_class,
    ("storage.k8s.io", "", "CSIDriver"): _csi_driver,
    ("scheduling.k8s.io", "", "PriorityClass"): _priority_class,
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): _hpa_v1,
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): _hpa_v2,
    ("admissionregistration.k8s.io", "", "ValidatingWebhookConfiguration"): lambda o: _webhooks(o, False),
    ("admissionregistration.k8s.io", "", "MutatingWebhookConfiguration"): lambda o: _webhooks(o, True),
    ("discovery.k8s.io", "", "EndpointSlice"): _endpoint_slice,
    ("policy", "", "PodDisruptionBudget"): _pdb,
}
