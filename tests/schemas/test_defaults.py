"""schemas.defaults: what upstream's defaulting (and default admission) adds to created objects."""

from __future__ import annotations

import base64
from typing import Any

from schemas.defaults import POD_ADMISSION_HOOKS, apply_defaults
from schemas.defaults_pod import pull_policy

Obj = dict[str, Any]


def defaulted(group: str, version: str, kind: str, obj: Obj, **kw: Any) -> Obj:
    apply_defaults(group, version, kind, obj, **kw)
    return obj


def test_pull_policy() -> None:
    assert pull_policy("nginx") == "Always"
    assert pull_policy("nginx:latest") == "Always"
    assert pull_policy("nginx:1.25") == "IfNotPresent"
    assert pull_policy("registry.local:5000/team/app") == "Always"
    assert pull_policy("registry.local:5000/team/app:v2") == "IfNotPresent"
    assert pull_policy("nginx@sha256:" + "a" * 64) == "IfNotPresent"
    assert pull_policy("NGINX") == "IfNotPresent"  # unparsable: no tag seen


def test_pod() -> None:
    pod = defaulted("", "v1", "Pod", {"metadata": {"name": "p"}, "spec": {"containers": [{
        "name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}],
        "resources": {"limits": {"cpu": "1"}},
        "readinessProbe": {"httpGet": {"port": 80}}, "livenessProbe": {"grpc": {"port": 9}},
        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "x"}}, {"name": "e"},
                    {"name": "h", "hostPath": {"path": "/x"}},
                    {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]}})
    spec = pod["spec"]
    assert {k: spec[k] for k in ("dnsPolicy", "restartPolicy", "securityContext", "terminationGracePeriodSeconds",
                                 "schedulerName", "enableServiceLinks")} == {
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {},
        "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler", "enableServiceLinks": True}
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert c["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["livenessProbe"]["grpc"] == {"port": 9, "service": ""}
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["s"]["secret"]["defaultMode"] == 420
    assert vols["e"]["emptyDir"] == {}
    assert vols["h"]["hostPath"]["type"] == ""
    assert vols["p"]["projected"]["defaultMode"] == 420
    assert vols["p"]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600
    # no admission unless asked
    assert "tolerations" not in spec and "priority" not in spec and "serviceAccountName" not in spec


def test_pod_admission() -> None:
    seen: list[Obj] = []
    POD_ADMISSION_HOOKS.append(seen.append)
    try:
        pod = defaulted("", "v1", "Pod", {"spec": {"containers": [{"name": "c", "image": "x"}], "tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 10}]}}, admission=True)
    finally:
        POD_ADMISSION_HOOKS.remove(seen.append)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
    assert seen == [pod]
    crit = defaulted("", "v1", "Pod", {"spec": {"priorityClassName": "system-node-critical", "containers": []}},
                     admission=True)
    assert crit["spec"]["priority"] == 2000001000 and "preemptionPolicy" not in crit["spec"]


def test_service_account_alias_mirrors() -> None:
    pod = defaulted("", "v1", "Pod", {"spec": {"serviceAccount": "old", "containers": []}})
    assert pod["spec"]["serviceAccountName"] == pod["spec"]["serviceAccount"] == "old"


def test_deployment() -> None:
    d = defaulted("apps", "v1", "Deployment", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "n"}]}}}})
    spec = d["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["template"]["metadata"] == {}
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always" and "enableServiceLinks" not in tspec  # Pod-only default
    assert tspec["containers"][0]["resources"] == {}
    assert d["status"] == {}
    recreate = defaulted("apps", "v1", "Deployment", {"spec": {"strategy": {"type": "Recreate"}}})
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}


def test_statefulset_daemonset_replicaset() -> None:
    sts = defaulted("apps", "v1", "StatefulSet", {"spec": {"volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}})
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    claim = spec["volumeClaimTemplates"][0]
    assert claim["apiVersion"] == "v1" and claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}
    assert sts["status"] == {"replicas": 0, "availableReplicas": 0}
    ds = defaulted("apps", "v1", "DaemonSet", {"spec": {}})
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["spec"]["revisionHistoryLimit"] == 10
    assert ds["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                            "numberReady": 0}
    rs = defaulted("apps", "v1", "ReplicaSet", {"spec": {}})
    assert rs["spec"]["replicas"] == 1 and rs["status"] == {"replicas": 0}


def test_job_and_cronjob() -> None:
    job = defaulted("batch", "v1", "Job", {"spec": {"template": {"metadata": {"labels": {"a": "b"}},
                                                                "spec": {"restartPolicy": "Never", "containers": []}}}})
    spec = job["spec"]
    assert {k: spec[k] for k in ("completions", "parallelism", "backoffLimit", "completionMode", "suspend",
                                 "podReplacementPolicy", "manualSelector")} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": False}
    assert job["metadata"]["labels"] == {"a": "b"}
    parallel = defaulted("batch", "v1", "Job", {"spec": {"parallelism": 3, "podFailurePolicy": {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}})["spec"]
    assert "completions" not in parallel and parallel["podReplacementPolicy"] == "Failed"
    assert parallel["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"
    cj = defaulted("batch", "v1", "CronJob", {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}}})
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]  # job-level defaults are not applied to templates
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"


def test_service() -> None:
    svc = defaulted("", "v1", "Service", {"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster" and spec["ipFamilyPolicy"] == "SingleStack"
    assert "externalTrafficPolicy" not in spec
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"port": 443, "targetPort": "https", "protocol": "TCP"}]
    assert svc["status"] == {"loadBalancer": {}}
    lb = defaulted("", "v1", "Service", {"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP"}})["spec"]
    assert lb["externalTrafficPolicy"] == "Cluster" and lb["allocateLoadBalancerNodePorts"] is True
    assert lb["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    ext = defaulted("", "v1", "Service", {"spec": {"type": "ExternalName", "externalName": "a.b"}})["spec"]
    assert "ipFamilyPolicy" not in ext and "internalTrafficPolicy" not in ext


def test_core_small_kinds() -> None:
    ns = defaulted("", "v1", "Namespace", {"metadata": {"name": "team"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    assert ns["status"] == {"phase": "Active"}
    sec = defaulted("", "v1", "Secret", {"stringData": {"user": "admin"}, "data": {"x": "eQ=="}})
    assert sec["type"] == "Opaque" and "stringData" not in sec
    assert sec["data"] == {"x": "eQ==", "user": base64.b64encode(b"admin").decode()}
    pvc = defaulted("", "v1", "PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "0.0001"}}}})
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1m"
    pv = defaulted("", "v1", "PersistentVolume", {"spec": {"hostPath": {"path": "/d"}}})
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["status"] == {"phase": "Pending"}
    rc = defaulted("", "v1", "ReplicationController", {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}})
    assert rc["spec"]["selector"] == {"a": "b"} and rc["metadata"]["labels"] == {"a": "b"}
    assert rc["spec"]["replicas"] == 1


def test_other_groups() -> None:
    np = defaulted("networking.k8s.io", "v1", "NetworkPolicy", {"spec": {"egress": [{"ports": [{"port": 53}]}]}})
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"
    assert defaulted("networking.k8s.io", "v1", "NetworkPolicy", {"spec": {}})["spec"]["policyTypes"] == ["Ingress"]
    rb = defaulted("rbac.authorization.k8s.io", "v1", "RoleBinding", {"roleRef": {"kind": "Role", "name": "r"},
                   "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}]})
    assert rb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert rb["subjects"] == [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"},
                              {"kind": "ServiceAccount", "name": "s"}]
    sc = defaulted("storage.k8s.io", "v1", "StorageClass", {"provisioner": "x"})
    assert sc["reclaimPolicy"] == "Delete" and sc["volumeBindingMode"] == "Immediate"
    pc = defaulted("scheduling.k8s.io", "v1", "PriorityClass", {"value": 5})
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    hpa = defaulted("autoscaling", "v2", "HorizontalPodAutoscaler", {"spec": {"maxReplicas": 3,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}})["spec"]
    assert hpa["minReplicas"] == 1
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert hpa["behavior"]["scaleDown"] == {"selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}], "stabilizationWindowSeconds": 60}
    assert hpa["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}
    assert defaulted("autoscaling", "v1", "HorizontalPodAutoscaler", {"spec": {}})["spec"] == {"minReplicas": 1}
    vwc = defaulted("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", {"webhooks": [
        {"name": "w", "clientConfig": {"service": {"name": "s", "namespace": "n"}}, "rules": [{}]}]})
    hook = vwc["webhooks"][0]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == \
        ("Fail", "Equivalent", "Unknown", 10)
    assert hook["namespaceSelector"] == {} and hook["objectSelector"] == {} and "reinvocationPolicy" not in hook
    assert hook["admissionReviewVersions"] == ["v1"] and hook["rules"] == [{"scope": "*"}]
    assert hook["clientConfig"]["service"]["port"] == 443
    eps = defaulted("discovery.k8s.io", "v1", "EndpointSlice", {"ports": [{"port": 80}]})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]


def test_unknown_kind_untouched() -> None:
    obj: Obj = {"spec": {}}
    apply_defaults("example.com", "v1", "Widget", obj)
    assert obj == {"spec": {}}
