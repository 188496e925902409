"""schemas.crd: CRD validation, custom resource pruning/defaulting/validation (incl. CEL) and printer
columns, against upstream's texts (apiextensions-apiserver validation tests and the CronTab docs example)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.crd import (
    CEL_SUPPORTED,
    CustomResourceSchema,
    TableConvertor,
    default_crd,
    field_value,
    human_duration,
    prepare_crd_for_create,
    prepare_crd_for_update,
    printer_columns,
    row_cells,
    validate_crd,
    validate_crd_update,
    validate_value,
)

Obj = dict[str, Any]

# https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
CRONTAB: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com",
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "cronSpec": {"type": "string"}, "image": {"type": "string"}, "replicas": {"type": "integer"}}}}}},
            "additionalPrinterColumns": [
                {"name": "Spec", "type": "string", "description": "The cron spec defining the interval a CronJob is run",
                 "jsonPath": ".spec.cronSpec"},
                {"name": "Replicas", "type": "integer", "description": "The number of jobs launched by the CronJob",
                 "jsonPath": ".spec.replicas"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
        }],
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
    },
}

CRON_OBJECT: Obj = {
    "apiVersion": "stable.example.com/v1", "kind": "CronTab",
    "metadata": {"name": "my-new-cron-object", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
    "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"},
}


def crd(mutate: Any = None) -> Obj:
    c = copy.deepcopy(CRONTAB)
    if mutate is not None:
        mutate(c)
    default_crd(c)
    prepare_crd_for_create(c)
    return c


def errors(c: Obj) -> list[str]:
    return [e.error() for e in validate_crd(c)]


def schema_of(c: Obj, i: int = 0) -> Obj:
    return c["spec"]["versions"][i]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def spec_props(c: Obj) -> Obj:
    return schema_of(c)["properties"]["spec"]["properties"]  # type: ignore[no-any-return]


S = "spec.validation.openAPIV3Schema"


# -- CRD validation -----------------------------------------------------------------------------------------

def test_crontab_is_valid_and_defaulted() -> None:
    c = copy.deepcopy(CRONTAB)
    del c["spec"]["names"]["singular"]
    default_crd(c)
    assert c["spec"]["names"]["singular"] == "crontab"
    assert c["spec"]["names"]["listKind"] == "CronTabList"
    assert c["spec"]["conversion"] == {"strategy": "None"}
    assert c["status"]["storedVersions"] == ["v1"]
    prepare_crd_for_create(c)
    assert c["metadata"]["generation"] == 1
    assert validate_crd(c) == []


def test_crd_names_group_scope() -> None:
    def mutate(c: Obj) -> None:
        c["metadata"]["name"] = "crontab.stable.example.com"
        c["spec"]["group"] = "example"
        c["spec"]["scope"] = "Global"
        c["spec"]["names"].update(kind="Cron_Tab", listKind="Cron_Tab", shortNames=["CT"])
    assert errors(crd(mutate)) == [
        'metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group',
        'spec.group: Invalid value: "example": should be a domain with at least one dot',
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
        "spec.names.kind: Invalid value: \"Cron_Tab\": may have mixed case, but should otherwise match: a DNS-1035 "
        "label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and "
        "end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')",
        "spec.names.listKind: Invalid value: \"Cron_Tab\": may have mixed case, but should otherwise match: a "
        "DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
        "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        "spec.names.shortNames[0]: Invalid value: \"CT\": a DNS-1035 label must consist of lower case alphanumeric "
        "characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        'spec.names.listKind: Invalid value: "Cron_Tab": kind and listKind may not be the same',
    ]


def test_crd_versions_storage_and_schema_required() -> None:
    def mutate(c: Obj) -> None:
        v = c["spec"]["versions"][0]
        v["storage"] = False
        del v["schema"]
    errs = errors(crd(mutate))
    assert errs[0] == "spec.versions[0].schema.openAPIV3Schema: Required value"
    assert errs[1].startswith('spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":false,')
    assert errs[1].endswith(": must have exactly one version marked as storage version")
    assert errs[2] == "status.storedVersions: Invalid value: null: must have at least one stored version"


def test_crd_duplicate_version_names_use_per_version_paths() -> None:
    def mutate(c: Obj) -> None:
        v2 = copy.deepcopy(c["spec"]["versions"][0])
        v2["storage"] = False
        v2["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["x"] = {}
        c["spec"]["versions"].append(v2)
    errs = errors(crd(mutate))
    assert errs[0] == ("spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[x].type: Required value: "
                       "must not be empty for specified object fields")
    assert errs[1].startswith("spec.versions: Invalid value: [") and errs[1].endswith("must contain unique version names")


@pytest.mark.parametrize(("schema", "expected"), [
    ({"properties": {"spec": {"type": "object"}}},
     [f"{S}.type: Required value: must not be empty at the root"]),
    ({"type": "object", "properties": {"spec": {"type": "object", "properties": {"image": {}}}}},
     [f"{S}.properties[spec].properties[image].type: Required value: must not be empty for specified object fields"]),
    ({"type": "object", "properties": {"list": {"type": "array"}}},
     [f"{S}.properties[list].items: Required value: must be specified"]),
    ({"type": "object", "properties": {"list": {"type": "array", "items": {"properties": {}}}}},
     [f"{S}.properties[list].items.type: Required value: must not be empty for specified array items"]),
    ({"type": "string"}, [f'{S}.type: Invalid value: "string": must be object at the root']),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}},
     [f"{S}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but "
      "metadata is implicitly specified"]),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string",
                                                                                               "maxLength": 10}}}}},
     []),
    ({"type": "object", "properties": {"x": {"type": "object", "x-kubernetes-preserve-unknown-fields": False}}},
     [f"{S}.properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"]),
    ({"type": "object", "properties": {"x": {"x-kubernetes-int-or-string": True,
                                             "anyOf": [{"type": "integer"}, {"type": "string"}]}}}, []),
    ({"type": "object", "properties": {"x": {"x-kubernetes-int-or-string": True,
                                             "x-kubernetes-preserve-unknown-fields": True}}},
     [f"{S}.properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if "
      "x-kubernetes-int-or-string is true"]),
    ({"type": "object", "properties": {"x": {"type": "string", "anyOf": [{"type": "string", "description": "d"}]}}},
     [f"{S}.properties[x].anyOf[0].description: Forbidden: must be empty to be structural",
      f"{S}.properties[x].anyOf[0].type: Forbidden: must be empty to be structural"]),
    ({"type": "object", "additionalProperties": {"type": "string"}},
     [f"{S}.additionalProperties: Forbidden: must not be used at the root"]),
    ({"type": "object", "properties": {"e": {"type": "object", "x-kubernetes-embedded-resource": True}}},
     [f"{S}.properties[e].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true "
      "without x-kubernetes-preserve-unknown-fields"]),
    ({"type": "object", "properties": {"x": {"type": "object", "properties": {"a": {"type": "string"}},
                                             "additionalProperties": False}}},
     [f"{S}.properties[x].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"]),
    ({"type": "object", "properties": {"x": {"type": "string", "uniqueItems": True}}},
     [f"{S}.properties[x].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity "
      "becomes quadratic"]),
    ({"type": "object", "properties": {"x": {"type": "strin"}}},
     [f'{S}.properties[x].type: Unsupported value: "strin": supported values: "array", "boolean", "integer", '
      '"number", "object", "string"']),
    ({"type": "object", "properties": {"x": {"type": "string", "pattern": "+"}}},
     [f'{S}.properties[x].pattern: Invalid value: "+": must be a valid regular expression, but isn\'t: error parsing '
      "regexp: missing argument to repetition operator: `+`"]),
    ({"type": "object", "properties": {"ports": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}},
     [f"{S}.properties[ports].items.properties[name].default: Required value: this property is in "
      "x-kubernetes-list-map-keys, so it must have a default or be a required property"]),
    ({"type": "object", "properties": {"tags": {"type": "object", "x-kubernetes-list-type": "set"}}},
     [f'{S}.properties[tags].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified']),
    ({"type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": {
        "type": "integer", "default": "one"}}}}},
     [f'{S}.properties[spec].properties[replicas].default: Invalid value: "string":  in body must be of type '
      'integer: "string"']),
    ({"type": "object", "properties": {"spec": {"type": "object", "default": {"a": 1}, "properties": {}}}},
     [f'{S}.properties[spec].default: Invalid value: {{"a":1}}: must not have unknown fields']),
    ({"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}},
     [f"{S}.properties[metadata].default: Forbidden: must not be set in top-level metadata"]),
])
def test_crd_schema_errors(schema: Obj, expected: list[str]) -> None:
    def mutate(c: Obj) -> None:
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    assert errors(crd(mutate)) == expected


def test_crd_status_subresource_root_and_scale_paths() -> None:
    def mutate(c: Obj) -> None:
        c["spec"]["versions"][0]["subresources"] = {"status": {}, "scale": {
            "specReplicasPath": "spec.replicas", "statusReplicasPath": ".spec.replicas", "labelSelectorPath": ".x"}}
        schema_of(c)["anyOf"] = [{"required": ["spec"]}]
    errs = errors(crd(mutate))
    assert errs[0].startswith(f'{S}: Invalid value: {{"ID":"","Schema":"","Ref":null,"Description":"","Type":"object"')
    assert errs[0].endswith(": only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum "
                            "MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items "
                            "Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed "
                            "at the root of the schema if the status subresource is enabled")
    assert errs[1:] == [
        'spec.subresources.scale.specReplicasPath: Invalid value: "spec.replicas": must be a simple json path '
        "starting with .",
        'spec.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under '
        ".status",
        'spec.subresources.scale.labelSelectorPath: Invalid value: ".x": should be a json path under either .spec '
        "or .status",
    ]


def test_crd_printer_columns_and_selectable_fields() -> None:
    def mutate(c: Obj) -> None:
        v = c["spec"]["versions"][0]
        v["additionalPrinterColumns"] = [{"name": "", "type": "time", "format": "hex", "jsonPath": "spec.x"},
                                         {"name": "N", "jsonPath": ""}]
        v["selectableFields"] = [{"jsonPath": ".spec.cronSpec"}, {"jsonPath": ".spec.cronSpec"},
                                 {"jsonPath": ".spec.nope"}, {"jsonPath": ".spec"}, {"jsonPath": ".metadata.name"}]
    assert errors(crd(mutate)) == [
        "spec.additionalPrinterColumns[0].name: Required value",
        'spec.additionalPrinterColumns[0].type: Invalid value: "time": must be one of boolean,date,integer,number,string',
        'spec.additionalPrinterColumns[0].format: Invalid value: "hex": must be one of '
        "byte,date,date-time,double,float,int32,int64,password",
        'spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.x": must be a simple json path starting with .',
        "spec.additionalPrinterColumns[1].type: Required value: must be one of boolean,date,integer,number,string",
        "spec.additionalPrinterColumns[1].JSONPath: Required value",
        'spec.selectableFields[1].jsonPath: Duplicate value: ".spec.cronSpec"',
        'spec.selectableFields[2].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a '
        "valid field",
        'spec.selectableFields[3].jsonPath: Invalid value: ".spec": must point to a field of type string, boolean or '
        "integer. Enum string fields and strings with formats are allowed.",
        'spec.selectableFields[4].jsonPath: Invalid value: ".metadata.name": is an invalid path: does not refer to '
        "a valid field",
    ]


def test_crd_too_many_selectable_fields() -> None:
    def mutate(c: Obj) -> None:
        props = spec_props(c)
        for i in range(9):
            props[f"f{i}"] = {"type": "string"}
        c["spec"]["versions"][0]["selectableFields"] = [{"jsonPath": f".spec.f{i}"} for i in range(9)]
    assert errors(crd(mutate)) == ["spec.selectableFields: Too many: 9: must have at most 8 items"]


def test_crd_conversion() -> None:
    def webhook(c: Obj) -> None:
        c["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
            "clientConfig": {"url": "http://example.com/convert?x=1"}, "conversionReviewVersions": ["v2"]}}
    assert errors(crd(webhook)) == [
        "spec.conversion.webhookClientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; "
        "desired format: https://host[/path]",
        'spec.conversion.webhookClientConfig.url: Invalid value: "x=1": query parameters are not permitted in the URL',
        'spec.conversion.conversionReviewVersions: Invalid value: ["v2"]: must include at least one of v1, v1beta1',
    ]

    def none_with_webhook(c: Obj) -> None:
        c["spec"]["conversion"] = {"strategy": "Sideways"}
    assert errors(crd(none_with_webhook)) == [
        'spec.conversion.strategy: Unsupported value: "Sideways": supported values: "None", "Webhook"']


def test_crd_protected_group_needs_approval() -> None:
    def mutate(c: Obj) -> None:
        c["spec"]["group"] = "stable.k8s.io"
        c["metadata"]["name"] = "crontabs.stable.k8s.io"
    assert errors(crd(mutate)) == [
        'metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval '
        'annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111']


@pytest.mark.skipif(not CEL_SUPPORTED, reason="no CEL runtime")
def test_crd_cel_rules_compiled() -> None:
    def mutate(c: Obj) -> None:
        schema_of(c)["properties"]["spec"]["x-kubernetes-validations"] = [
            {"rule": "self.replicas <= "}, {"rule": "self.replicas", "messageExpression": "1"},
            {"rule": "self.replicas > 0", "optionalOldSelf": True}]
        spec_props(c)["items"] = {"type": "array", "items": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf"}]}}
    errs = errors(crd(mutate))
    p = f"{S}.properties[spec]"
    assert errs[0] == (f'{p}.properties[items].items.x-kubernetes-validations[0].rule: Invalid value: "self == oldSelf": '
                       f"oldSelf cannot be used on the uncorrelatable portion of the schema within {p}.properties[items]")
    assert errs[1].startswith(f'{p}.x-kubernetes-validations[0].rule: Invalid value: {{"Rule":"self.replicas <= ",'
                              '"Message":"","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: '
                              "compilation failed: ERROR: <input>:1:18: Syntax error: ")
    assert errs[2].endswith(": messageExpression must evaluate to a string")
    assert errs[3] == (f"{p}.x-kubernetes-validations[2].optionalOldSelf: Invalid value: true: may not be set if "
                       "oldSelf is not used in rule")


def test_crd_update_immutable_fields() -> None:
    old = crd()
    old["status"]["conditions"] = [{"type": "Established", "status": "True"}]
    new = copy.deepcopy(old)
    new["spec"]["group"] = "other.example.com"
    new["spec"]["scope"] = "Cluster"
    new["spec"]["names"]["plural"] = "crons"
    new["spec"]["names"]["kind"] = "Cron"
    new["metadata"]["name"] = "crons.other.example.com"
    prepare_crd_for_update(new, old)
    errs = [e.error() for e in validate_crd_update(new, old)]
    assert 'spec.scope: Invalid value: "Cluster": field is immutable' in errs
    assert 'spec.names.kind: Invalid value: "Cron": field is immutable' in errs
    assert 'spec.group: Invalid value: "other.example.com": field is immutable' in errs
    assert 'spec.names.plural: Invalid value: "crons": field is immutable' in errs
    assert 'metadata.name: Invalid value: "crons.other.example.com": field is immutable' in errs
    assert new["metadata"]["generation"] == 2


# -- custom resources ---------------------------------------------------------------------------------------

def cron_schema() -> CustomResourceSchema:
    return CustomResourceSchema.for_version(crd(), "v1")


def test_crontab_object_is_valid() -> None:
    obj = copy.deepcopy(CRON_OBJECT)
    assert cron_schema().validate(obj) == ([], [], [])
    assert obj == CRON_OBJECT


def test_crontab_wrong_types() -> None:
    obj = copy.deepcopy(CRON_OBJECT)
    obj["spec"].update(cronSpec=1, replicas="three")
    errs, unknown, warnings = cron_schema().validate(obj)
    assert [e.error() for e in errs] == [
        'spec.cronSpec: Invalid value: "integer": spec.cronSpec in body must be of type string: "integer"',
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    ]
    assert errs[0].type == "FieldValueTypeInvalid"


def test_type_meta_checked_first() -> None:
    obj = copy.deepcopy(CRON_OBJECT)
    obj["kind"] = "Cron"
    obj["spec"]["cronSpec"] = 1
    errs, _, _ = cron_schema().validate(obj)
    assert [e.error() for e in errs] == ['kind: Invalid value: "Cron": must be CronTab']


def test_pruning_strict_warn_ignore() -> None:
    def body() -> Obj:
        obj = copy.deepcopy(CRON_OBJECT)
        obj["spec"]["foo"] = {"x": 1}
        obj["metadata"]["bogus"] = True
        obj["extra"] = 1
        return obj
    obj = body()
    res = cron_schema().validate(obj, field_validation="Strict")
    assert res.unknown == ['unknown field "metadata.bogus"', 'unknown field "extra"', 'unknown field "spec.foo"']
    assert res.errors == [] and res.warnings == []
    assert obj == CRON_OBJECT
    res = cron_schema().validate(body(), field_validation="Warn")
    assert res.unknown == [] and res.warnings[0] == 'unknown field "metadata.bogus"'
    assert cron_schema().validate(body(), field_validation="Ignore") == ([], [], [])
    raw = b'{"spec": {"replicas": 1, "replicas": 2}}'
    assert cron_schema().validate({"spec": {"replicas": 2}}, raw=raw).unknown == ['duplicate field "spec.replicas"']


def test_prune_keeps_preserved_and_embedded_meta() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"typed": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object"}}},
        "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}}
    obj = {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}},
           "spec": {"free": {"any": {"thing": 1}, "typed": {"a": "x", "b": 2}},
                    "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {}},
                    "items": [{"a": "x", "b": 1}]}}
    s = CustomResourceSchema(schema)
    assert s.prune(obj) == ['unknown field "spec.free.typed.b"', 'unknown field "spec.items[0].b"',
                            'unknown field "spec.template.metadata.junk"']
    assert obj["spec"] == {"free": {"any": {"thing": 1}, "typed": {"a": "x"}},
                           "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
                           "items": [{"a": "x"}]}
    assert obj["metadata"] == {"name": "n", "labels": {"a": "b"}}


def test_defaulting() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 1},
        "strategy": {"type": "object", "properties": {"type": {"type": "string", "default": "Rolling"}}},
        "withDefault": {"type": "object", "default": {}, "properties": {"x": {"type": "string", "default": "dx"}}},
        "nullable": {"type": "string", "nullable": True, "default": "d"},
        "dropped": {"type": "string"},
        "list": {"type": "array", "items": {"type": "object", "properties": {"p": {"type": "integer", "default": 80}}}},
    }}}}
    s = CustomResourceSchema(schema)
    obj: Obj = {"spec": {"replicas": None, "nullable": None, "dropped": None, "list": [{}, {"p": 1}]}}
    s.apply_defaults(obj)
    assert obj == {"spec": {"replicas": 1, "nullable": None, "withDefault": {"x": "dx"},
                            "list": [{"p": 80}, {"p": 1}]}}
    bare: Obj = {}
    s.apply_defaults(bare)
    assert bare == {}  # nested defaults only apply where the parent exists


@pytest.mark.parametrize(("schema", "obj", "expected"), [
    ({"type": "object", "properties": {"field": {"type": "object"}}}, {"field": None},
     ['field: Invalid value: "null": field in body must be of type object: "null"']),
    ({"type": "object", "properties": {"field": {"type": "object", "nullable": True}}}, {"field": None}, []),
    ({"type": "object", "required": ["field"], "properties": {"field": {
        "type": "object", "required": ["nested"], "properties": {"nested": {}}}}},
     {"field": {}}, ["field.nested: Required value"]),
    ({"type": "object", "properties": {"field": {"type": "object", "required": ["nestedint", "nestedstring"],
                                                 "properties": {"nestedint": {"type": "integer", "enum": [1, 2]},
                                                                "nestedstring": {"type": "string", "enum": ["a", "b"]}}}}},
     {"field": {"nestedint": "x", "nestedstring": True}},
     ['field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string"',
      'field.nestedint: Unsupported value: "x": supported values: "1", "2"',
      'field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: "boolean"',
      'field.nestedstring: Unsupported value: true: supported values: "a", "b"']),
    ({"type": "object", "properties": {"field": {"type": "string", "pattern": "+"}}}, {"field": "foo"},
     ["field: Invalid value: \"foo\": field in body should match '+, but pattern is invalid: error parsing regexp: "
      "missing argument to repetition operator: `+`'"]),
    ({"type": "object", "properties": {"f": {"type": "string", "pattern": "^[a-z]+$"}}}, {"f": "A"},
     ["f: Invalid value: \"A\": f in body should match '^[a-z]+$'"]),
    ({"type": "object", "properties": {"fieldX": {"type": "object", "maxProperties": 2}}},
     {"fieldX": {"a": True, "b": True, "c": True}}, ["fieldX: Too many: 3: must have at most 2 items"]),
    ({"type": "object", "properties": {"fieldX": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}},
     {"fieldX": ["a", "b", "c"]}, ["fieldX: Too many: 3: must have at most 2 items"]),
    ({"type": "object", "properties": {"f": {"type": "array", "items": {"type": "string"}, "minItems": 2}}},
     {"f": ["a"]}, ["f: Invalid value: 1: f in body should have at least 2 items"]),
    ({"type": "object", "properties": {"fieldX": {"type": "string", "maxLength": 2}}}, {"fieldX": "abc"},
     ["fieldX: Too long: may not be more than 2 bytes"]),
    ({"type": "object", "properties": {"f": {"type": "string", "minLength": 2}}}, {"f": "a"},
     ['f: Invalid value: "a": f in body should be at least 2 chars long']),
    ({"type": "object", "properties": {"r": {"type": "integer", "minimum": 1, "maximum": 10}}}, {"r": 11},
     ["r: Invalid value: 11: r in body should be less than or equal to 10"]),
    ({"type": "object", "properties": {"r": {"type": "number", "minimum": 0.5, "exclusiveMinimum": True}}},
     {"r": 0.5}, ["r: Invalid value: 0.5: r in body should be greater than 0.5"]),
    ({"type": "object", "properties": {"fieldX": {"type": "string", "format": "k8s-short-name"}}}, {"fieldX": "a-"},
     ['fieldX: Invalid value: "a-": fieldX in body must be of type k8s-short-name: "a-"']),
    ({"type": "object", "properties": {"t": {"type": "string", "format": "date-time"}}}, {"t": "yesterday"},
     ['t: Invalid value: "yesterday": t in body must be of type date-time: "yesterday"']),
    ({"type": "object", "properties": {"t": {"type": "string", "format": "not-a-format"}}}, {"t": "x"}, []),
    ({"type": "object", "properties": {"intThirtyTwo": {"type": "integer", "format": "int32"}}},
     {"intThirtyTwo": 2**31},
     ['<nil>: Invalid value: "": Checked value must be of type integer with format int32 in intThirtyTwo']),
    ({"type": "object", "properties": {"field": {"nullable": True, "x-kubernetes-int-or-string": True,
                                                 "anyOf": [{"type": "integer"}, {"type": "string"}]}}},
     {"field": 1.2},
     ['field: Invalid value: "number": field in body must be of type integer,string: "number"',
      '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
      'field: Invalid value: "number": field in body must be of type integer: "number"',
      '<nil>: Invalid value: "": Checked value must be of type integer (default format) in field']),
    ({"type": "object", "properties": {"field": {"x-kubernetes-int-or-string": True}}}, {"field": 42}, []),
])
def test_schema_validation_texts(schema: Obj, obj: Obj, expected: list[str]) -> None:
    assert [e.error() for e in validate_value(schema, obj)] == expected


def test_list_types_embedded_and_scale() -> None:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "x-kubernetes-preserve-unknown-fields": True}}},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}
    s = CustomResourceSchema(schema, subresources={"status": {}, "scale": {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}})
    obj = {"metadata": {"name": "x"}, "spec": {"replicas": -1, "tags": ["a", "b", "a"],
                                               "ports": [{"name": "p"}, {"name": "p"}],
                                               "template": {"kind": "Pod", "metadata": {"name": "a/b"}}}}
    assert [e.error() for e in s.validate(obj).errors] == [
        ".spec.replicas: Invalid value: -1: should be a non-negative integer",
        "spec.template.apiVersion: Required value",
        "spec.template.metadata.name: Invalid value: \"a/b\": may not contain '/'",
        'spec.tags[2]: Duplicate value: "a"',
        'spec.ports[1]: Duplicate value: {"name":"p"}',
    ]


# -- CEL ----------------------------------------------------------------------------------------------------

CEL_SCHEMA: Obj = {"type": "object", "properties": {"spec": {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.minReplicas <= self.replicas", "message": "minReplicas cannot be larger than replicas"},
        {"rule": "self.replicas < 100", "messageExpression": "'too many replicas: ' + string(self.replicas)"}],
    "properties": {
        "replicas": {"type": "integer"}, "minReplicas": {"type": "integer"},
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "Value is immutable"}]},
        "mode": {"type": "string", "x-kubernetes-validations": [{"rule": "self in ['a', 'b']"}]},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"], "properties": {
                      "name": {"type": "string"},
                      "v": {"type": "number", "x-kubernetes-validations": [{"rule": "self >= oldSelf"}]}}}},
    }}}}


@pytest.mark.skipif(not CEL_SUPPORTED, reason="no CEL runtime")
def test_cel_rules() -> None:
    s = CustomResourceSchema(CEL_SCHEMA)
    errs, _, _ = s.validate({"metadata": {"name": "x"}, "spec": {"replicas": 150, "minReplicas": 200, "mode": "c"}})
    assert [e.error() for e in errs] == [
        "spec: Invalid value: minReplicas cannot be larger than replicas",
        "spec: Invalid value: too many replicas: 150",
        "spec.mode: Invalid value: \"c\": failed rule: self in ['a', 'b']",
    ]
    errs, _, _ = s.validate({"metadata": {"name": "x"}, "spec": {"replicas": 1}})
    assert [e.error() for e in errs] == [
        'spec: Invalid value: "object": no such key: minReplicas evaluating rule: minReplicas cannot be larger than '
        "replicas"]


@pytest.mark.skipif(not CEL_SUPPORTED, reason="no CEL runtime")
def test_cel_transition_rules_and_ratcheting() -> None:
    s = CustomResourceSchema(CEL_SCHEMA)
    old = {"metadata": {"name": "x"}, "spec": {"replicas": 1, "minReplicas": 0, "name": "x", "mode": "z",
                    "ports": [{"name": "a", "v": 1.0}]}}
    new = copy.deepcopy(old)
    new["spec"]["name"] = "y"
    new["spec"]["ports"][0]["v"] = 0.9
    errs, _, warnings = s.validate(new, old=old)
    assert [e.error() for e in errs] == ['spec.name: Invalid value: "y": Value is immutable',
                                         "spec.ports[0].v: Invalid value: 0.9: failed rule: self >= oldSelf"]
    assert warnings == ["spec.mode: Invalid value: \"z\": failed rule: self in ['a', 'b']"]  # unchanged: ratcheted
    assert s.validate(copy.deepcopy(old)).errors[0].error() == "spec.mode: Invalid value: \"z\": failed rule: self in ['a', 'b']"


@pytest.mark.skipif(not CEL_SUPPORTED, reason="no CEL runtime")
def test_cel_blocked_by_schema_errors_and_reasons() -> None:
    schema = copy.deepcopy(CEL_SCHEMA)
    schema["properties"]["spec"]["required"] = ["mode"]
    schema["x-kubernetes-validations"] = [{"rule": "self.metadata.name.startsWith('a')", "reason": "FieldValueForbidden",
                                           "fieldPath": ".spec", "message": "name must start with a"}]
    s = CustomResourceSchema(schema)
    errs, _, _ = s.validate({"metadata": {"name": "b"}, "spec": {"replicas": 1, "minReplicas": 0}})
    assert [e.error() for e in errs] == [
        "spec.mode: Required value",
        "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; "
        "correct the existing errors to complete validation"]
    errs, _, _ = s.validate({"metadata": {"name": "b"}, "spec": {"replicas": 1, "minReplicas": 0, "mode": "a"}})
    assert [e.error() for e in errs] == ["spec: Forbidden: name must start with a"]


# -- printer columns and field values --------------------------------------------------------------------

def test_crontab_printer_columns_and_cells() -> None:
    version = crd()["spec"]["versions"][0]
    cols = printer_columns(version)
    assert [(c["name"], c["type"], c["format"]) for c in cols] == [
        ("Name", "string", "name"), ("Spec", "string", ""), ("Replicas", "integer", ""), ("Age", "date", "")]
    assert cols[1]["description"] == "The cron spec defining the interval a CronJob is run"
    assert cols[3]["description"] == ("Custom resource definition column (in JSONPath format): "
                                      ".metadata.creationTimestamp")
    now = datetime(2024, 1, 1, 0, 5, 3, tzinfo=UTC)
    assert row_cells(version, CRON_OBJECT, now) == ["my-new-cron-object", "* * * * */5", None, "5m3s"]
    obj = copy.deepcopy(CRON_OBJECT)
    obj["spec"]["replicas"] = 3
    obj["metadata"]["creationTimestamp"] = "not a time"
    assert row_cells(version, obj, now)[2:] == [3, "<invalid>"]


def test_default_columns_are_name_and_age() -> None:
    cols = printer_columns({"name": "v1"})
    assert [c["name"] for c in cols] == ["Name", "Age"]
    assert cols[1]["description"].startswith("CreationTimestamp is a timestamp representing the server time")
    now = datetime(2024, 1, 3, tzinfo=UTC)
    assert TableConvertor({"name": "v1"}).row(CRON_OBJECT, now) == ["my-new-cron-object", "2d"]


def test_column_value_rendering() -> None:
    version = {"additionalPrinterColumns": [
        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
        {"name": "First", "type": "string", "jsonPath": ".spec.items[*].name"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
        {"name": "Map", "type": "string", "jsonPath": ".spec.map"},
        {"name": "Bad", "type": "integer", "jsonPath": ".spec.tags[9]"}]}
    obj = {"metadata": {"name": "o"}, "spec": {"tags": ["a", "b"], "items": [{"name": "x"}, {"name": "y"}],
                                               "ratio": 2, "on": "yes", "map": {"b": 1, "a": 1.5}},
           "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert row_cells(version, obj) == ["o", '["a","b"]', "x", "True", 2.0, None, '{"a":1.5,"b":1}', None]


def test_field_value_and_human_duration() -> None:
    obj = {"spec": {"color": "blue", "size": 3, "on": True, "nil": None}}
    assert field_value(obj, ".spec.color") == "blue"
    assert field_value(obj, ".spec.size") == "3"
    assert field_value(obj, ".spec.on") == "true"
    assert field_value(obj, ".spec.nil") is None
    assert field_value(obj, ".spec.missing") is None
    assert [human_duration(timedelta(seconds=s)) for s in (5, 119, 123, 600, 10_800, 28_799, 172_800, 691_200)] == [
        "5s", "119s", "2m3s", "10m", "3h", "7h59m", "2d", "8d"]
    assert human_duration(-5) == "<invalid>"


def test_prepare_for_create_and_update() -> None:
    s = CustomResourceSchema(CEL_SCHEMA, subresources={"status": {}})
    obj: Obj = {"metadata": {"name": "x"}, "spec": {"replicas": 1}, "status": {"ok": True}}
    s.prepare_for_create(obj)
    assert "status" not in obj and obj["metadata"]["generation"] == 1
    old = dict(obj, status={"ok": True})
    new = copy.deepcopy(old)
    new["status"] = {"ok": False}
    new["metadata"]["labels"] = {"a": "b"}
    s.prepare_for_update(new, old)
    assert new["status"] == {"ok": True} and new["metadata"]["generation"] == 1
    new["spec"]["replicas"] = 2
    s.prepare_for_update(new, old)
    assert new["metadata"]["generation"] == 2


@pytest.mark.skipif(not CEL_SUPPORTED, reason="no CEL runtime")
def test_cel_kubernetes_libraries_and_optional_old_self() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "host": {"type": "string", "x-kubernetes-validations": [{"rule": "!isIP(self)", "message": "no IPs"}]},
        "net": {"type": "string", "x-kubernetes-validations": [{"rule": "cidr(self).containsIP('10.0.0.1')"}]},
        "mem": {"type": "string", "x-kubernetes-validations": [
            {"rule": "quantity(self).isLessThan(quantity('1Gi'))", "message": "too much memory"}]},
        "count": {"type": "integer", "x-kubernetes-validations": [
            {"rule": "!oldSelf.hasValue() || self >= oldSelf.value()", "optionalOldSelf": True,
             "message": "count may not decrease"}]},
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "!format.dns1123Label().validate(self).hasValue()"}]}}}}}
    s = CustomResourceSchema(schema)
    obj = {"metadata": {"name": "x"}, "spec": {"host": "10.1.1.1", "net": "192.168.0.0/16", "mem": "2Gi", "count": 5}}
    assert [e.error() for e in s.validate(copy.deepcopy(obj)).errors] == [
        'spec.host: Invalid value: "10.1.1.1": no IPs',
        "spec.net: Invalid value: \"192.168.0.0/16\": failed rule: cidr(self).containsIP('10.0.0.1')",
        'spec.mem: Invalid value: "2Gi": too much memory']
    ok = {"metadata": {"name": "x"}, "spec": {"count": 5}}
    assert s.validate(copy.deepcopy(ok)).errors == []
    lower = {"metadata": {"name": "x"}, "spec": {"count": 4}}
    assert [e.error() for e in s.validate(lower, old=ok).errors] == [
        "spec.count: Invalid value: 4: count may not decrease"]
    # a CRD may use a Kubernetes CEL library this server lacks; objects then get an explicit error
    c = crd(lambda c: spec_props(c).update(name=schema["properties"]["spec"]["properties"]["name"]))
    assert errors(c) == []
    named = {"metadata": {"name": "x"}, "spec": {"name": "n"}}
    assert [e.error() for e in s.validate(named).errors] == [
        "spec.name: Invalid value: \"string\": rule compiler initialization error: the Kubernetes CEL function "
        "'format' is not supported by this server"]
