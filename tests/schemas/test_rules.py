"""schemas.rules: semantic validation with upstream's field paths and message texts."""

from __future__ import annotations

import copy
from typing import Any

from schemas import rules
from schemas.defaults import apply_defaults
from schemas.fielderrors import FieldError
from schemas.rules import names
from schemas.rules.meta import selector_matches

Obj = dict[str, Any]

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
POD_UPDATE = ("pod updates may not change fields other than `spec.containers[*].image`,"
              "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
              "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
              "previously negative)\n")


def texts(errs: list[FieldError]) -> list[str]:
    return [e.error() for e in errs]


def made(group: str, kind: str, obj: Obj, version: str = "v1") -> Obj:
    apply_defaults(group, version, kind, obj)
    return obj


def pod(name: str = "web", **spec: Any) -> Obj:
    body: Obj = {"metadata": {"name": name, "namespace": "default"},
                 "spec": {"containers": [{"name": "c", "image": "nginx:1"}], **spec}}
    return made("", "Pod", body)


def deployment(labels: dict[str, str] | None = None, selector: Any = "same") -> Obj:
    labels = {"app": "web"} if labels is None else labels
    spec: Obj = {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "n"}]}}}
    if selector == "same":
        spec["selector"] = {"matchLabels": {"app": "web"}}
    elif selector is not None:
        spec["selector"] = selector
    return made("apps", "Deployment", {"metadata": {"name": "web", "namespace": "default"}, "spec": spec})


def test_name_messages() -> None:
    assert names.dns1123_label("Web") == [LABEL_MSG]
    assert names.dns1123_label("a.b") == ["must not contain dots"]
    assert names.dns1123_subdomain("Web_1") == [SUBDOMAIN_MSG]
    assert names.dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert names.qualified_name("example.com/") == [
        "name part must be non-empty",
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    assert names.label_value("-x") == [
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
        "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
    assert names.config_map_key("a b") == [
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
        "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
    assert names.name_is_dns_subdomain("abc-", prefix=True) == []
    assert names.path_segment_name("a/b") == ["may not contain '/'"]


def test_object_meta() -> None:
    assert texts(rules.validate_object_meta({}, namespaced=True)) == [
        "metadata.name: Required value: name or generateName is required", "metadata.namespace: Required value"]
    assert rules.validate_object_meta({"generateName": "web-", "namespace": "n"}, namespaced=True) == []
    assert texts(rules.validate_object_meta({"name": "My_Name", "namespace": "ns"}, namespaced=False)) == [
        f'metadata.name: Invalid value: "My_Name": {SUBDOMAIN_MSG}',
        "metadata.namespace: Forbidden: not allowed on this type"]
    assert texts(rules.validate_object_meta({"name": "a.b"}, namespaced=False, name_rule="label")) == [
        'metadata.name: Invalid value: "a.b": must not contain dots']
    errs = rules.validate_object_meta({"name": "x", "labels": {"a/b/c": "ok", "k": "bad value"},
                                       "finalizers": ["custom"]}, namespaced=False)
    assert [e.field for e in errs] == ["metadata.labels", "metadata.labels", "metadata.finalizers"]
    assert errs[1].value == "bad value"
    assert errs[2].detail == "name is neither a standard finalizer name nor is it fully qualified"


def test_annotations_size() -> None:
    errs = rules.validate_object_meta({"name": "x", "annotations": {"a": "x" * (256 * 1024)}}, namespaced=False)
    assert texts(errs) == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


def test_object_meta_update() -> None:
    old = {"name": "a", "namespace": "n", "uid": "1", "generation": 3, "deletionTimestamp": "2024-01-01T00:00:00Z",
           "finalizers": ["x/y"]}
    new = dict(old, name="b", uid="2", generation=2, finalizers=["x/y", "x/z"])
    assert texts(rules.validate_object_meta_update(new, old)) == [
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new '
        'finalizers []string{"x/z"}',
        "metadata.generation: Invalid value: 2: must not be decremented",
        'metadata.name: Invalid value: "b": field is immutable',
        'metadata.uid: Invalid value: "2": field is immutable']
    assert texts(rules.immutable({"a": 1}, {"a": 2}, "spec.x")) == ['spec.x: Invalid value: {"a":1}: field is immutable']
    assert rules.immutable({"a": 0, "b": []}, {}, "spec") == []  # absent == zero value


def test_label_selector() -> None:
    sel = {"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]},
                                {"key": "c", "operator": "Near"}]}
    assert texts(rules.validate_label_selector(sel, "spec.selector")) == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or "
        "'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector operator']
    assert selector_matches({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "NotIn",
                                                                              "values": ["2"]}]}, {"a": "1", "b": "3"})


def test_deployment_selector() -> None:
    assert rules.validate("apps", "Deployment", deployment()) == []
    assert texts(rules.validate("apps", "Deployment", deployment(labels={"app": "other", "tier": "a"}))) == [
        'spec.template.metadata.labels: Invalid value: {"app":"other","tier":"a"}: `selector` does not match '
        "template `labels`"]
    assert texts(rules.validate("apps", "Deployment", deployment(selector=None))) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`']
    assert texts(rules.validate("apps", "Deployment", deployment(selector={}))) == [
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment"]


def test_deployment_update_selector_immutable() -> None:
    old = deployment()
    new = deployment(labels={"app": "web", "v": "2"}, selector={"matchLabels": {"app": "web", "v": "2"}})
    new["metadata"]["resourceVersion"] = "5"
    assert texts(rules.validate_update("apps", "Deployment", new, old)) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable']


def test_deployment_spec_rules() -> None:
    d = deployment()
    d["spec"]["replicas"] = -1
    d["spec"]["strategy"]["rollingUpdate"] = {"maxUnavailable": 0, "maxSurge": "0%"}
    d["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert texts(rules.validate("apps", "Deployment", d)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]


def test_pod_create() -> None:
    p = pod(containers=[{"name": "Bad_Name", "image": ""}, {"name": "Bad_Name", "image": " x ",
                                                              "ports": [{"containerPort": 70000, "protocol": "ICMP"}]}])
    apply_defaults("", "v1", "Pod", p)
    assert texts(rules.validate("", "Pod", p)) == [
        f'spec.containers[0].name: Invalid value: "Bad_Name": {LABEL_MSG}',
        "spec.containers[0].image: Required value",
        f'spec.containers[1].name: Invalid value: "Bad_Name": {LABEL_MSG}',
        "spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[1].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[1].name: Duplicate value: "Bad_Name"',
        'spec.containers[1].image: Invalid value: " x ": must not have leading or trailing whitespace']
    assert texts(rules.validate("", "Pod", pod(containers=[]))) == ["spec.containers: Required value"]


def test_pod_update() -> None:
    old = pod(tolerations=[{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}])
    ok = copy.deepcopy(old)
    ok["spec"]["containers"][0]["image"] = "nginx:2"
    ok["spec"]["activeDeadlineSeconds"] = 100
    ok["spec"]["tolerations"][0]["tolerationSeconds"] = 1
    ok["spec"]["tolerations"].append({"key": "x", "operator": "Exists"})
    assert rules.validate_update("", "Pod", ok, old) == []
    bad = copy.deepcopy(old)
    bad["spec"]["containers"][0]["ports"] = [{"containerPort": 81, "protocol": "TCP"}]
    errs = rules.validate_update("", "Pod", bad, old)
    assert len(errs) == 1 and errs[0].type == "FieldValueForbidden" and errs[0].field == "spec"
    assert errs[0].detail.startswith(POD_UPDATE)
    assert errs[0].error().startswith("spec: Forbidden: " + POD_UPDATE)
    more = copy.deepcopy(old)
    more["spec"]["containers"].append({"name": "d", "image": "x", "imagePullPolicy": "Always",
                                       "terminationMessagePolicy": "File"})
    assert texts(rules.validate_update("", "Pod", more, old)) == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"]
    dropped = copy.deepcopy(old)
    dropped["spec"]["tolerations"] = []
    assert texts(rules.validate_update("", "Pod", dropped, old)) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]
    deadline = copy.deepcopy(old)
    deadline["spec"]["activeDeadlineSeconds"] = 5
    raised = copy.deepcopy(deadline)
    raised["spec"]["activeDeadlineSeconds"] = 6
    assert texts(rules.validate_update("", "Pod", raised, deadline)) == [
        "spec.activeDeadlineSeconds: Invalid value: 6: must be less than or equal to previous value"]


def test_config_map() -> None:
    cm = {"metadata": {"name": "c", "namespace": "n"}, "data": {"bad key": "v", "k": "v"}, "binaryData": {"k": "dg=="}}
    assert texts(rules.validate("", "ConfigMap", cm)) == [
        'data[bad key]: Invalid value: "bad key": ' + names.config_map_key("bad key")[0],
        'data[k]: Invalid value: "k": duplicate of key present in binaryData']
    old = {"metadata": {"name": "c", "namespace": "n"}, "immutable": True, "data": {"a": "1"}}
    new = {"metadata": {"name": "c", "namespace": "n"}, "immutable": False, "data": {"a": "2"}}
    assert texts(rules.validate_update("", "ConfigMap", new, old)) == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set"]


def test_secret() -> None:
    meta = {"name": "s", "namespace": "n"}

    def errs(typ: str, data: Obj | None = None, **more: Any) -> list[str]:
        return texts(rules.validate("", "Secret", {"metadata": dict(meta, **more), "type": typ, "data": data or {}}))

    assert errs("Opaque", {"a": "eA=="}) == []
    assert errs("kubernetes.io/tls", {"tls.crt": "eA=="}) == ["data[tls.key]: Required value"]
    assert errs("kubernetes.io/dockerconfigjson") == ["data[.dockerconfigjson]: Required value"]
    assert errs("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "e30="}) == []  # "{}"
    assert errs("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "eA=="}) == [
        'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character \'x\' looking for '
        "beginning of value"]
    assert errs("kubernetes.io/basic-auth") == ["data[%s][username]: Required value", "data[%s][password]: Required value"]
    assert errs("kubernetes.io/ssh-auth") == ["data[%s][ssh-privatekey]: Required value"]
    assert errs("kubernetes.io/service-account-token") == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    old = {"metadata": meta, "type": "Opaque", "immutable": True, "data": {"a": "eA=="}}
    new = {"metadata": meta, "type": "kubernetes.io/tls", "immutable": True, "data": {"a": "eQ=="}}
    assert texts(rules.validate_update("", "Secret", new, old))[:2] == [
        "data: Forbidden: field is immutable when `immutable` is set",
        'type: Invalid value: "kubernetes.io/tls": field is immutable']


def service(**spec: Any) -> Obj:
    return made("", "Service", {"metadata": {"name": "web", "namespace": "n"}, "spec": spec})


def test_service() -> None:
    assert rules.validate("", "Service", service(ports=[{"port": 80}])) == []
    assert texts(rules.validate("", "Service", service())) == ["spec.ports: Required value"]
    assert rules.validate("", "Service", service(clusterIP="None")) == []
    assert texts(rules.validate("", "Service", service(ports=[{"port": 80}, {"port": 80}]))) == [
        "spec.ports[0].name: Required value", "spec.ports[1].name: Required value",
        'spec.ports[1]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,'
        '"NodePort":0}']
    bad_name = made("", "Service", {"metadata": {"name": "1web", "namespace": "n"}, "spec": {"ports": [{"port": 1}]}})
    assert [e.detail for e in rules.validate("", "Service", bad_name)] == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
        "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]


def test_service_cluster_ip_immutable() -> None:
    old = service(ports=[{"port": 80}], clusterIP="10.0.0.5", clusterIPs=["10.0.0.5"])
    new = service(ports=[{"port": 80}], clusterIP="10.0.0.6", clusterIPs=["10.0.0.6"])
    assert texts(rules.validate_update("", "Service", new, old)) == [
        'spec.clusterIPs[0]: Invalid value: ["10.0.0.6"]: may not change once set']
    unset = service(ports=[{"port": 80}])
    assert texts(rules.validate_update("", "Service", unset, old)) == [
        "spec.clusterIPs[0]: Invalid value: null: primary clusterIP can not be unset"]


def pvc(storage: str = "1Gi", **spec: Any) -> Obj:
    return made("", "PersistentVolumeClaim", {"metadata": {"name": "data", "namespace": "n"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}, **spec}})


def test_pvc() -> None:
    assert rules.validate("", "PersistentVolumeClaim", pvc()) == []
    empty = made("", "PersistentVolumeClaim", {"metadata": {"name": "d", "namespace": "n"}, "spec": {}})
    assert texts(rules.validate("", "PersistentVolumeClaim", empty)) == [
        "spec.accessModes: Required value: at least 1 access mode is required", "spec.resources[storage]: Required value"]
    old, new = pvc(), pvc(storageClassName="fast")
    errs = rules.validate_update("", "PersistentVolumeClaim", new, old)
    assert len(errs) == 1 and errs[0].error().startswith(
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims\n")
    bound_old, bound_new = pvc(), pvc("2Gi", volumeName="pv1")
    bound_new["status"] = {"phase": "Bound"}
    assert rules.validate_update("", "PersistentVolumeClaim", bound_new, bound_old) == []


def test_namespace() -> None:
    assert rules.validate("", "Namespace", made("", "Namespace", {"metadata": {"name": "team-a"}})) == []
    assert texts(rules.validate("", "Namespace", {"metadata": {"name": "team.a"}})) == [
        'metadata.name: Invalid value: "team.a": must not contain dots']


def test_statefulset_update_forbidden() -> None:
    def sts(service_name: str) -> Obj:
        return made("apps", "StatefulSet", {"metadata": {"name": "db", "namespace": "n"}, "spec": {
            "serviceName": service_name, "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})

    old, new = sts("db"), sts("other")
    new["spec"]["replicas"] = 5
    assert rules.validate("apps", "StatefulSet", old) == []
    assert texts(rules.validate_update("apps", "StatefulSet", new, old)) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]


def test_job_and_cronjob() -> None:
    job = made("batch", "Job", {"metadata": {"name": "j", "namespace": "n"}, "spec": {
        "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    assert texts(rules.validate("batch", "Job", job)) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']
    cj = made("batch", "CronJob", {"metadata": {"name": "c", "namespace": "n"}, "spec": {
        "schedule": "every minute", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "x"}]}}}}}})
    assert texts(rules.validate("batch", "CronJob", cj)) == [
        'spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]']


def test_generic_kinds_get_meta_checks() -> None:
    assert texts(rules.validate("example.com", "Widget", {"metadata": {"name": "A"}})) == [
        f'metadata.name: Invalid value: "A": {SUBDOMAIN_MSG}']
