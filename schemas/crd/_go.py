"""Small Go-behaviour helpers shared by the CRD modules: field paths, Go's ``%v`` for numbers, Go's
``reflect.DeepEqual`` on decoded JSON, and the JSON rendering of apiextensions' *internal* Go structs
(they carry no json tags, so ``json.Marshal`` - which field.Error uses for a bad value - writes the Go
field names: ``{"Name":"v1","Served":true,...}``)."""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from typing import Any, TypeGuard

__all__ = ["as_obj", "child", "key", "index", "go_num", "go_equal", "deepcopy", "go_schema", "go_rule", "go_version",
           "go_versions", "go_items", "go_json_float", "go_json", "go_sprint", "print_value", "enum_match", "go_list", "is_int", "is_num", "kind_of", "display_value"]

Obj = dict[str, Any]


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def as_obj(v: Any) -> dict[str, Any]:
    """``v`` when it is a JSON object, else an empty one."""
    return v if isinstance(v, dict) else {}


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def kind_of(v: Any) -> str:
    """The JSON schema type name of a decoded value (Go's reflect kind as kube-openapi names it)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(v) and the decimal exponent of the first digit."""
    _, digits_t, exponent = Decimal(repr(abs(v))).normalize().as_tuple()
    digits = "".join(map(str, digits_t))
    return digits, len(digits) - 1 + int(exponent)


def _e_form(neg: str, digits: str, exp: int, min_exp_digits: int = 2) -> str:
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{neg}{mant}e{'-' if exp < 0 else '+'}{str(abs(exp)).zfill(min_exp_digits)}"


def _f_form(neg: str, digits: str, exp: int) -> str:
    if exp < 0:
        return f"{neg}0.{'0' * (-exp - 1)}{digits}"
    whole = digits[:exp + 1].ljust(exp + 1, "0")
    frac = digits[exp + 1:]
    return f"{neg}{whole}.{frac}" if frac else f"{neg}{whole}"


def go_num(v: float | int) -> str:
    """Go's ``%v`` of an int64 or float64: shortest digits, ``%e`` form when the decimal exponent is below
    -4 or at least 6 (``1e+06``, ``1.5``, ``123456``, ``1.234567e+06``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    if v == 0:
        return "0"
    digits, exp = _digits(v)
    neg = "-" if v < 0 else ""
    if exp < -4 or exp >= 6:
        return _e_form(neg, digits, exp)
    return _f_form(neg, digits, exp)


def go_json_float(v: float) -> str:
    """encoding/json's rendering of a float64 (``1``, ``0.5``, ``1e+21``, ``1e-7``)."""
    if v == 0 or not math.isfinite(v):
        return "0"
    digits, exp = _digits(v)
    neg = "-" if v < 0 else ""
    if abs(v) < 1e-6 or abs(v) >= 1e21:
        return _e_form(neg, digits, exp, 1 if exp < 0 else 2)
    return _f_form(neg, digits, exp)


def display_value(v: Any) -> Any:
    """A decoded value as field.Error would print it: Go prints a whole float64 without ``.0``."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    return v


def go_equal(a: Any, b: Any) -> bool:
    """reflect.DeepEqual on JSON values decoded the Go way (int64 and float64 differ, bool is no number)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(go_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(go_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def deepcopy(v: Any) -> Any:
    return copy.deepcopy(v)


# -- internal apiextensions structs rendered as json.Marshal writes them -------------------------------

_SCHEMA_FIELDS: list[tuple[str, str, str]] = [
    # (v1 json name, Go field name, kind) - kind: s string, b bool, p pointer/any, l list, m map of schemas,
    # S schema pointer, L list of schemas, I items, A schema-or-bool, D dependencies, R rules, E ext docs
    ("id", "ID", "s"), ("$schema", "Schema", "s"), ("$ref", "Ref", "p"), ("description", "Description", "s"),
    ("type", "Type", "s"), ("nullable", "Nullable", "b"), ("format", "Format", "s"), ("title", "Title", "s"),
    ("default", "Default", "p"), ("maximum", "Maximum", "p"), ("exclusiveMaximum", "ExclusiveMaximum", "b"),
    ("minimum", "Minimum", "p"), ("exclusiveMinimum", "ExclusiveMinimum", "b"), ("maxLength", "MaxLength", "p"),
    ("minLength", "MinLength", "p"), ("pattern", "Pattern", "s"), ("maxItems", "MaxItems", "p"),
    ("minItems", "MinItems", "p"), ("uniqueItems", "UniqueItems", "b"), ("multipleOf", "MultipleOf", "p"),
    ("enum", "Enum", "l"), ("maxProperties", "MaxProperties", "p"), ("minProperties", "MinProperties", "p"),
    ("required", "Required", "l"), ("items", "Items", "I"), ("allOf", "AllOf", "L"), ("oneOf", "OneOf", "L"),
    ("anyOf", "AnyOf", "L"), ("not", "Not", "S"), ("properties", "Properties", "m"),
    ("additionalProperties", "AdditionalProperties", "A"), ("patternProperties", "PatternProperties", "m"),
    ("dependencies", "Dependencies", "D"), ("additionalItems", "AdditionalItems", "A"),
    ("definitions", "Definitions", "m"), ("externalDocs", "ExternalDocs", "E"), ("example", "Example", "p"),
    ("x-kubernetes-preserve-unknown-fields", "XPreserveUnknownFields", "p"),
    ("x-kubernetes-embedded-resource", "XEmbeddedResource", "b"),
    ("x-kubernetes-int-or-string", "XIntOrString", "b"), ("x-kubernetes-list-map-keys", "XListMapKeys", "l"),
    ("x-kubernetes-list-type", "XListType", "p"), ("x-kubernetes-map-type", "XMapType", "p"),
    ("x-kubernetes-validations", "XValidations", "R"),
]

#: v1 json name -> internal Go field name (for the status-subresource root restriction)
GO_FIELD = {j: g for j, g, _ in _SCHEMA_FIELDS}
#: v1 json names whose Go type is a plain string or bool (zero when "" / false)
PLAIN_FIELDS = {j for j, _, k in _SCHEMA_FIELDS if k in ("s", "b")}


def _sorted_map(m: Any, fn: Any) -> Any:
    if not isinstance(m, dict):
        return None
    return {k: fn(m[k]) for k in sorted(m)}


def go_schema(s: Any) -> Any:
    """An (internal) JSONSchemaProps as json.Marshal renders it."""
    if not isinstance(s, dict):
        return None
    out: Obj = {}
    for j, g, k in _SCHEMA_FIELDS:
        v = s.get(j)
        if k == "s":
            out[g] = v if isinstance(v, str) else ""
        elif k == "b":
            out[g] = v is True
        elif k == "p":
            out[g] = v
        elif k == "l":
            out[g] = v if isinstance(v, list) else None
        elif k == "S":
            out[g] = go_schema(v)
        elif k == "L":
            out[g] = [go_schema(x) for x in v] if isinstance(v, list) else None
        elif k == "m":
            out[g] = _sorted_map(v, go_schema)
        elif k == "I":
            out[g] = go_items(v)
        elif k == "A":
            out[g] = None if v is None else (
                {"Allows": v, "Schema": None} if isinstance(v, bool) else {"Allows": True, "Schema": go_schema(v)})
        elif k == "D":
            out[g] = _sorted_map(v, lambda d: {"Schema": None, "Property": d} if isinstance(d, list)
                                 else {"Schema": go_schema(d), "Property": None})
        elif k == "E":
            out[g] = None if not isinstance(v, dict) else {"Description": v.get("description", ""),
                                                            "URL": v.get("url", "")}
        else:
            out[g] = [go_rule(r) for r in v] if isinstance(v, list) else None
    return out


def go_items(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, list):
        return {"Schema": None, "JSONSchemas": [go_schema(x) for x in v]}
    return {"Schema": go_schema(v), "JSONSchemas": None}


def go_rule(r: Any) -> Any:
    r = r if isinstance(r, dict) else {}
    return {"Rule": r.get("rule", ""), "Message": r.get("message", ""),
            "MessageExpression": r.get("messageExpression", ""), "Reason": r.get("reason"),
            "FieldPath": r.get("fieldPath", ""), "OptionalOldSelf": r.get("optionalOldSelf")}


def _go_subresources(s: Any) -> Any:
    if not isinstance(s, dict):
        return None
    scale = s.get("scale")
    return {"Status": {} if s.get("status") is not None else None,
            "Scale": None if not isinstance(scale, dict) else {
                "SpecReplicasPath": scale.get("specReplicasPath", ""),
                "StatusReplicasPath": scale.get("statusReplicasPath", ""),
                "LabelSelectorPath": scale.get("labelSelectorPath")}}


def _go_column(c: Any) -> Any:
    c = c if isinstance(c, dict) else {}
    return {"Name": c.get("name", ""), "Type": c.get("type", ""), "Format": c.get("format", ""),
            "Description": c.get("description", ""), "Priority": c.get("priority", 0),
            "JSONPath": c.get("jsonPath", "")}


def go_version(v: Obj) -> Obj:
    """An internal CustomResourceDefinitionVersion (per-version fields as left by the v1 conversion)."""
    schema = v.get("schema")
    cols = v.get("additionalPrinterColumns")
    sel = v.get("selectableFields")
    return {"Name": v.get("name", ""), "Served": v.get("served") is True, "Storage": v.get("storage") is True,
            "Deprecated": v.get("deprecated") is True, "DeprecationWarning": v.get("deprecationWarning"),
            "Schema": None if not isinstance(schema, dict) else {
                "OpenAPIV3Schema": go_schema(schema.get("openAPIV3Schema"))},
            "Subresources": _go_subresources(v.get("subresources")),
            "AdditionalPrinterColumns": [_go_column(c) for c in cols] if cols else None,
            "SelectableFields": [{"JSONPath": (f or {}).get("jsonPath", "")} for f in sel] if sel else None}


def go_versions(versions: list[Obj]) -> list[Obj]:
    return [go_version(v) for v in versions]


# -- Go's printing of decoded JSON values ----------------------------------------------------------------

def go_json(v: Any) -> str:
    """json.Marshal of a decoded JSON value (map keys sorted, <>& escaped, Go's float format)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_json_float(v)
    if isinstance(v, str):
        s = json.dumps(v, ensure_ascii=False)
        return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(v, list):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v[k])}" for k in sorted(v)) + "}"
    return json.dumps(v)


def go_sprint(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return go_num(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def print_value(v: Any) -> str:
    """PrintResults of one value: maps and lists as JSON, ``null`` for null, other values as text."""
    if isinstance(v, dict | list):
        return go_json(v)
    if v is None:
        return "null"
    return go_sprint(v)


def enum_match(data: Any, e: Any) -> bool:
    if data is None or e is None:
        return False
    if go_equal(data, e):
        return True
    if isinstance(e, bool) or isinstance(data, bool):
        return False
    if isinstance(e, int | float) and isinstance(data, int | float):
        return float(data) == float(e) if isinstance(e, float) else int(data) == e
    if isinstance(e, str) and is_int(data):
        return 0 <= data <= 0x10FFFF and chr(data) == e  # Go converts an integer to a string as a rune
    return False


def go_list(v: list[Any]) -> str:
    return "[" + " ".join(x if isinstance(x, str) else go_num(x) if isinstance(x, int | float) else
                          json.dumps(x) for x in v) + "]"
