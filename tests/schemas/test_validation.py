"""schemas.validation: decode-time type checks, unknown/duplicate fields, pruning and normalization,
with the messages upstream's strict JSON decoder (sigs.k8s.io/json) produces."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from schemas.loader import load
from schemas.validation import DecodeError, Result, validate

SS = load()
QTY_ERR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}},
    }
    base["spec"].update(spec)
    return base


def check(obj: dict[str, Any], kind: str = "Deployment", group: str = "apps", mode: str = "Strict",
          raw: bytes | None = None) -> Result:
    return validate(SS, group, "v1", kind, obj, field_validation=mode, raw=raw)


def test_clean_body() -> None:
    obj = deployment()
    before = copy.deepcopy(obj)
    assert check(obj) == Result([], [], [])
    assert obj == before


def test_type_mismatch_is_a_decode_error() -> None:
    r = check(deployment(replicas="3"))
    assert len(r.errors) == 1
    err = r.errors[0]
    assert isinstance(err, DecodeError)
    assert err.message == ("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
                           "of type int32")
    assert err.error() == 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    assert r.bad_request_message("Deployment", "v1") == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
        "struct field DeploymentSpec.spec.replicas of type int32")


def test_type_mismatch_inside_lists_names_the_inner_struct() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = 5
    msg = check(obj).errors[0]
    assert isinstance(msg, DecodeError)
    assert msg.message == ("json: cannot unmarshal number into Go struct field Container.spec.template.spec."
                           "containers.image of type string")
    assert msg.field == "spec.template.spec.containers[0].image"


def test_type_mismatch_variants() -> None:
    cases = [
        (deployment(replicas=1.5), "number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (deployment(replicas=2**31), "number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (deployment(paused="yes"), "string into Go struct field DeploymentSpec.spec.paused of type bool"),
        (deployment(template="x"), "string into Go struct field DeploymentSpec.spec.template of type v1.PodTemplateSpec"),
        (deployment(selector=[]), "array into Go struct field DeploymentSpec.spec.selector of type v1.LabelSelector"),
        ({"kind": "Deployment", "spec": True}, "bool into Go struct field Deployment.spec of type v1.DeploymentSpec"),
        ({"metadata": {"labels": {"a": 1}}}, "number into Go struct field ObjectMeta.metadata.labels of type string"),
        ({"metadata": {"labels": "x"}}, "string into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
    ]
    for obj, tail in cases:
        err = check(obj).errors[0]
        assert isinstance(err, DecodeError)
        assert err.message == "json: cannot unmarshal " + tail


def test_named_go_types_in_messages() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = 6
    err = check(obj).errors[0]
    assert isinstance(err, DecodeError)
    assert err.message.endswith("ContainerPort.spec.template.spec.containers.ports.protocol of type v1.Protocol")


def test_only_the_first_mismatch_is_reported() -> None:
    r = check(deployment(replicas="x", paused="y"))
    assert len(r.errors) == 1 and r.errors[0].field == "spec.replicas"


def test_unknown_fields_strict() -> None:
    obj = deployment(foo=1)
    obj["bar"] = 2
    obj["metadata"]["baz"] = 3
    obj["spec"]["template"]["spec"]["containers"][0]["qux"] = 4
    r = check(obj)
    assert r.errors == [] and r.warnings == []
    # document order
    assert r.strict == ['unknown field "metadata.baz"', 'unknown field "spec.template.spec.containers[0].qux"',
                        'unknown field "spec.foo"', 'unknown field "bar"']
    assert r.bad_request_message("Deployment", "v1") == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "metadata.baz", unknown field "spec.template.spec.containers[0].qux", '
        'unknown field "spec.foo", unknown field "bar"')
    # dropped from the object whatever the mode
    assert "bar" not in obj and "foo" not in obj["spec"] and "baz" not in obj["metadata"]


def test_unknown_fields_warn_and_ignore() -> None:
    r = check(deployment(foo=1), mode="Warn")
    assert r == Result([], [], ['unknown field "spec.foo"'])
    assert r.bad_request_message("Deployment", "v1") is None
    assert check(deployment(foo=1), mode="") == r  # the server default is Warn
    obj = deployment(foo=1)
    assert check(obj, mode="Ignore") == Result([], [], [])
    assert "foo" not in obj["spec"]


def test_field_names_are_case_sensitive() -> None:
    obj = deployment()
    obj["Spec"] = {}
    assert check(obj).strict == ['unknown field "Spec"']


def test_type_errors_win_over_unknown_fields() -> None:
    r = check(deployment(replicas="x", foo=1))
    assert r.strict == [] and len(r.errors) == 1


def test_duplicate_fields_need_raw_bytes() -> None:
    raw = (b'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","name":"b"},'
           b'"spec":{"replicas":1,"replicas":2,"selector":{"matchLabels":{"x":"1","x":"2"}},"oops":1}}')
    obj = orjson.loads(raw)
    r = check(obj, raw=raw)
    assert r.strict == ['duplicate field "metadata.name"', 'duplicate field "spec.replicas"',
                        'duplicate field "spec.selector.matchLabels.x"', 'unknown field "spec.oops"']
    assert obj["metadata"]["name"] == "b" and obj["spec"]["replicas"] == 2  # last one wins
    assert check(orjson.loads(raw), raw=raw, mode="Warn").warnings == r.strict
    assert check(orjson.loads(raw)).strict == ['unknown field "spec.oops"']  # no raw: no duplicate check


def test_nulls_are_dropped() -> None:
    obj = deployment(replicas=None)
    obj["metadata"]["labels"]["x"] = None
    assert check(obj).errors == []
    assert "replicas" not in obj["spec"]
    assert obj["metadata"]["labels"]["x"] == ""  # a null map value decodes to the zero value


def test_quantities_are_canonicalized() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": 0.5, "memory": "1024Mi"}, "requests": {"cpu": 1, "memory": "128974848"}}
    assert check(obj).errors == []
    res = obj["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "128974848"}}


def test_bad_quantity_aborts_with_parser_message() -> None:
    obj = {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "lots"}}}]}}
    r = check(obj, kind="Pod", group="")
    err = r.errors[0]
    assert isinstance(err, DecodeError) and err.message == QTY_ERR
    assert err.field == "spec.containers[0].resources.limits[cpu]"
    assert r.bad_request_message("Pod", "v1") == f'Pod in version "v1" cannot be handled as a Pod: {QTY_ERR}'
    err = check({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1ki"}}}]}},
                kind="Pod", group="").errors[0]
    assert isinstance(err, DecodeError) and err.message == "unable to parse quantity's suffix"


def test_parser_errors_win_over_earlier_type_errors() -> None:
    obj = {"metadata": {"generation": "x"},
           "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": True}}}]}}
    err = check(obj, kind="Pod", group="").errors[0]
    assert isinstance(err, DecodeError) and err.message == QTY_ERR


def test_int_or_string() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}
    assert check(svc, kind="Service", group="").errors == []
    err = check({"spec": {"ports": [{"port": 80, "targetPort": True}]}}, kind="Service", group="").errors[0]
    assert isinstance(err, DecodeError)
    assert err.message == ("json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort "
                           "of type int32")
    err = check(deployment(strategy={"rollingUpdate": {"maxSurge": 1.5}})).errors[0]
    assert isinstance(err, DecodeError)
    assert err.message == ("json: cannot unmarshal number 1.5 into Go struct field RollingUpdateDeployment."
                           "spec.strategy.rollingUpdate.maxSurge of type int32")


def test_times() -> None:
    obj = {"metadata": {"creationTimestamp": "2024-05-06T07:08:09.5+02:00"}}
    assert check(obj, kind="ConfigMap", group="").errors == []
    assert obj["metadata"]["creationTimestamp"] == "2024-05-06T05:08:09Z"
    err = check({"metadata": {"creationTimestamp": "yesterday"}}, kind="ConfigMap", group="").errors[0]
    assert isinstance(err, DecodeError)
    assert err.message == ('parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" '
                           'as "2006"')
    err = check({"metadata": {"creationTimestamp": 5}}, kind="ConfigMap", group="").errors[0]
    assert isinstance(err, DecodeError)
    assert err.message == ("json: cannot unmarshal number into Go struct field ObjectMeta.metadata."
                           "creationTimestamp of type string")
    lease = {"spec": {"renewTime": "2024-05-06T07:08:09.123456+00:00"}}
    assert validate(SS, "coordination.k8s.io", "v1", "Lease", lease).errors == []
    assert lease["spec"]["renewTime"] == "2024-05-06T07:08:09.123456Z"


def test_secret_bytes() -> None:
    sec = {"data": {"a": "aGVsbG8=\n"}}
    assert check(sec, kind="Secret", group="").errors == []
    assert sec["data"]["a"] == "aGVsbG8="
    r = check({"data": {"a": "not base64"}}, kind="Secret", group="")
    assert r.bad_request_message("Secret", "v1") == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3')


def test_opaque_values_are_kept() -> None:
    crd_default = {"spec": {"group": "x.io", "names": {"plural": "ws", "kind": "W"}, "scope": "Namespaced",
                            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                                "openAPIV3Schema": {"type": "object", "default": {"anything": [1, {"goes": None}]},
                                                    "x-kubernetes-preserve-unknown-fields": True}}}]}}
    r = validate(SS, "apiextensions.k8s.io", "v1", "CustomResourceDefinition", crd_default)
    assert r == Result([], [], [])
    schema = crd_default["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["default"] == {"anything": [1, {"goes": None}]}
    ev = {"involvedObject": {}, "related": None, "series": None}
    assert check(ev, kind="Event", group="").errors == []


def test_unknown_kinds_pass_through() -> None:
    obj = {"anything": 1}
    assert validate(SS, "example.com", "v1", "Widget", obj) == Result([], [], [])
    assert obj == {"anything": 1}
