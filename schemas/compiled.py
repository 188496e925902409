"""Schema definitions compiled into small decode nodes, one per Go type, built once and cached.

A :class:`Node` tells the validator what Go's JSON decoder would do with a value: which JSON types a
field accepts, how it is re-encoded (Quantity, Time, IntOrString, []byte), which keys a struct knows,
and the Go type and struct names that appear in upstream's ``json: cannot unmarshal ...`` messages.
Nodes are compiled lazily, per definition, and cached on the :class:`SchemaSet`.
"""

from __future__ import annotations

from typing import Any

from schemas.loader import REF_PREFIX, SchemaSet

__all__ = ["Node", "root", "ANY", "OBJ", "MAP", "ARR", "STR", "INT", "FLOAT", "BOOL", "BYTES",
           "INTSTR", "QTY", "TIME", "MTIME"]

ANY, OBJ, MAP, ARR, STR, INT, FLOAT, BOOL, BYTES, INTSTR, QTY, TIME, MTIME = range(13)

#: definitions whose Go type has its own UnmarshalJSON and takes any JSON verbatim
_OPAQUE = frozenset({
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
})
_SPECIAL = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": QTY,
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": INTSTR,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": TIME,
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": MTIME,
}

#: named Go types (``type Protocol string``) that upstream messages print instead of the base type,
#: keyed by (struct, json field); only the fields users commonly get wrong are listed
_NAMED = {
    ("Container", "imagePullPolicy"): "v1.PullPolicy",
    ("Container", "terminationMessagePolicy"): "v1.TerminationMessagePolicy",
    ("ContainerPort", "protocol"): "v1.Protocol",
    ("ServicePort", "protocol"): "v1.Protocol",
    ("PodSpec", "restartPolicy"): "v1.RestartPolicy",
    ("PodSpec", "dnsPolicy"): "v1.DNSPolicy",
    ("ServiceSpec", "type"): "v1.ServiceType",
    ("ServiceSpec", "sessionAffinity"): "v1.ServiceAffinity",
    ("ServiceSpec", "externalTrafficPolicy"): "v1.ServiceExternalTrafficPolicy",
    ("ServiceSpec", "ipFamilyPolicy"): "v1.IPFamilyPolicy",
    ("ServiceSpec", "ipFamilies"): "v1.IPFamily",
    ("Secret", "type"): "v1.SecretType",
    ("PersistentVolumeClaimSpec", "accessModes"): "v1.PersistentVolumeAccessMode",
    ("PersistentVolumeClaimSpec", "volumeMode"): "v1.PersistentVolumeMode",
    ("ResourceRequirements", "limits"): "v1.ResourceList",
    ("ResourceRequirements", "requests"): "v1.ResourceList",
    ("Toleration", "operator"): "v1.TolerationOperator",
    ("Toleration", "effect"): "v1.TaintEffect",
    ("Taint", "effect"): "v1.TaintEffect",
    ("DeploymentStrategy", "type"): "v1.DeploymentStrategyType",
    ("StatefulSetSpec", "podManagementPolicy"): "v1.PodManagementPolicyType",
    ("CronJobSpec", "concurrencyPolicy"): "v1.ConcurrencyPolicy",
    ("JobSpec", "completionMode"): "v1.CompletionMode",
    ("LabelSelectorRequirement", "operator"): "v1.LabelSelectorOperator",
    ("ObjectMeta", "uid"): "types.UID",
    ("OwnerReference", "uid"): "types.UID",
}

_TYPE_NAMES = {ANY: "object", OBJ: "object", MAP: "object", ARR: "array", STR: "string", INT: "integer",
               FLOAT: "number", BOOL: "boolean", BYTES: "string", INTSTR: "integer-or-string",
               QTY: "string", TIME: "string", MTIME: "string"}


class Node:
    """How Go decodes one JSON value (see module docstring). ``props`` is filled lazily for structs."""

    __slots__ = ("kind", "go", "struct", "props", "elem", "bits", "preserve", "_schema", "_set")

    def __init__(self, kind: int, go: str = "") -> None:
        self.kind = kind
        self.go = go
        self.struct = ""
        self.props: dict[str, Node] | None = None
        self.elem: Node | None = None
        self.bits = 64
        self.preserve = False
        self._schema: dict[str, Any] | None = None
        self._set: SchemaSet | None = None

    @property
    def type_name(self) -> str:
        """The OpenAPI type name used in schema-style messages ("integer", "object", ...)."""
        return _TYPE_NAMES[self.kind]

    def fields(self) -> dict[str, Node]:
        """A struct's known JSON fields (compiled on first use)."""
        props = self.props
        if props is None:
            props = self.props = {}
            schema, ss = self._schema, self._set
            assert schema is not None and ss is not None
            for name, sub in (schema.get("properties") or {}).items():
                props[name] = _compile(ss, sub, self.struct, name)
            self._schema = None
        return props


def _defs_cache(ss: SchemaSet) -> dict[str, Node]:
    cache: dict[str, Node] | None = ss.cache.get("compiled")
    if cache is None:
        cache = ss.cache["compiled"] = {}
    return cache


def _definition(ss: SchemaSet, name: str) -> Node:
    cache = _defs_cache(ss)
    node = cache.get(name)
    if node is not None:
        return node
    schema = ss.definitions.get(name, {})
    short = name.rsplit(".", 1)[-1]
    pkg = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
    if name in _OPAQUE:
        node = Node(ANY, f"{pkg}.{short}")
    elif name in _SPECIAL:
        node = Node(_SPECIAL[name], f"{pkg}.{short}")
    elif "properties" in schema or _types(schema) == {"object"}:
        node = Node(OBJ, f"{pkg}.{short}")
        node.struct = short
        node.preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        node._schema, node._set = schema, ss
    else:
        node = _compile(ss, schema, "", "")
    cache[name] = node
    return node


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if isinstance(x, str) and x != "null"}
    return set()


def _compile(ss: SchemaSet, schema: dict[str, Any], struct: str, field: str) -> Node:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return _definition(ss, ref[len(REF_PREFIX):])
    if schema.get("x-kubernetes-int-or-string"):
        return Node(INTSTR, "intstr.IntOrString")
    types = _types(schema)
    named = _NAMED.get((struct, field))
    if types == {"array"}:
        node = Node(ARR)
        item = schema.get("items") or {}
        elem = _compile(ss, item, "", "") if item else Node(ANY, "interface {}")
        if named and elem.kind == STR:
            elem = Node(STR, named)
        node.elem = elem
        node.go = "[]" + elem.go
        return node
    if types == {"object"}:
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            node = Node(MAP)
            node.elem = _compile(ss, addl, "", "")
            node.go = named or "map[string]" + node.elem.go
            return node
        if "properties" in schema:  # an inline struct (only CRD-style schemas have these)
            node = Node(OBJ, "struct")
            node.struct = struct
            node.preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
            node._schema, node._set = schema, ss
            return node
        return Node(ANY, "map[string]interface {}")
    if types == {"string"}:
        fmt = schema.get("format")
        if fmt == "byte":
            return Node(BYTES, "[]uint8")
        if fmt == "date-time":
            return Node(TIME, "v1.Time")
        return Node(STR, named or "string")
    if types == {"integer"}:
        node = Node(INT, "int32" if schema.get("format") == "int32" else "int64")
        node.bits = 32 if node.go == "int32" else 64
        return node
    if types == {"number"}:
        return Node(FLOAT, "float64")
    if types == {"boolean"}:
        return Node(BOOL, "bool")
    return Node(ANY, "interface {}")


def root(ss: SchemaSet, definition: str) -> Node:
    """The node for a top-level definition (e.g. "io.k8s.api.apps.v1.Deployment")."""
    return _definition(ss, definition)
