"""SMD types derived from OpenAPI schemas, as kube-openapi's ``schemaconv`` derives them.

An :class:`Atom` is what a schema node allows: a scalar, a map (struct fields by name plus an element type
for other keys, granular or atomic) and/or a list (atomic, a set, or an associative list with keys).
Conversion rules (upstream's, for built-in definitions and CRD structural schemas alike):

* ``x-kubernetes-list-type``: ``atomic`` -> atomic; ``set`` -> associative without keys; ``map`` ->
  associative keyed by ``x-kubernetes-list-map-keys``. Without it, ``x-kubernetes-patch-strategy: merge``
  makes the list associative, keyed by ``x-kubernetes-patch-merge-key`` (a set when there is none);
  everything else is atomic.
* ``x-kubernetes-map-type: atomic`` (on the definition or on the field that references it) makes a map a
  leaf; maps are granular otherwise.
* an object without ``properties`` and without ``additionalProperties`` holds *deduced* values (maps
  granular, lists atomic), as does one under ``x-kubernetes-preserve-unknown-fields``; Quantity and
  int-or-string are scalars; RawExtension is untyped and atomic.

:class:`Schema` is the entry point: ``Schema.for_kind(group, version, kind)`` for built-in kinds (from
``schemas.loader``), ``Schema.from_openapi(structural_schema)`` for custom resources and
``Schema.deduced()`` for objects without a schema.
"""

from __future__ import annotations

import functools
from typing import Any

from apiserver.fieldmanager import gozero
from schemas import loader

__all__ = ["Atom", "MapType", "ListType", "Schema", "DEDUCED", "UNTYPED"]

Obj = dict[str, Any]

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class Ref:
    """A lazily converted type reference (so recursive definitions such as JSONSchemaProps terminate)."""

    __slots__ = ("_types", "_schema", "_preserve", "_override", "_atom", "default")

    def __init__(self, types: _Types, schema: Obj, preserve: bool, override: str | None = None) -> None:
        self._types = types
        self._schema = schema
        self._preserve = preserve
        self._override = override
        self._atom: Atom | None = None
        self.default: Any = schema.get("default")

    @property
    def atom(self) -> Atom:
        a = self._atom
        if a is None:
            a = self._atom = self._types.convert(self._schema, self._preserve, self._override)
        return a


class MapType:
    __slots__ = ("fields", "elem", "atomic", "origin")

    def __init__(self, fields: dict[str, Ref], elem: Ref | Atom | None, atomic: bool,
                 origin: tuple[str, dict[str, Obj]] | None = None) -> None:
        self.fields = fields
        self.elem = elem  # type of keys that are not declared fields (None: not allowed)
        self.atomic = atomic
        self.origin = origin  # (definition name, definitions) of a built-in struct

    def default(self, name: str) -> Any:
        """The schema default of field ``name`` (SMD fills missing list-map keys with it), or None."""
        f = self.fields.get(name)
        if f is not None and f.default is not None:
            return f.default
        if self.origin is not None:
            return gozero.key_default(self.origin[0], name, self.origin[1])
        return None

    def field_type(self, name: str) -> Atom | None:
        f = self.fields.get(name)
        if f is not None:
            return f.atom
        e = self.elem
        return e.atom if isinstance(e, Ref) else e


class ListType:
    __slots__ = ("elem", "atomic", "keys")

    def __init__(self, elem: Ref | Atom, atomic: bool, keys: tuple[str, ...]) -> None:
        self.elem = elem
        self.atomic = atomic
        self.keys = keys  # empty for a set (associative list of scalars)

    @property
    def elem_atom(self) -> Atom:
        e = self.elem
        return e.atom if isinstance(e, Ref) else e


class Atom:
    """``scalar`` is "" (no scalar), "numeric", "string", "boolean" or "untyped"."""

    __slots__ = ("scalar", "map", "list")

    def __init__(self, scalar: str = "", map: MapType | None = None, list: ListType | None = None) -> None:
        self.scalar = scalar
        self.map = map
        self.list = list


#: untyped and atomic: anything, as one leaf (``__untyped_atomic_``)
UNTYPED = Atom(scalar="untyped")
UNTYPED.list = ListType(UNTYPED, True, ())
UNTYPED.map = MapType({}, UNTYPED, True)

#: deduced from the value: granular maps, atomic lists (``__untyped_deduced_``)
DEDUCED = Atom(scalar="untyped", list=ListType(UNTYPED, True, ()))
DEDUCED.map = MapType({}, DEDUCED, False)

_SCALAR = Atom(scalar="untyped")
_SCALARS = {"integer": Atom(scalar="numeric"), "number": Atom(scalar="numeric"), "boolean": Atom(scalar="boolean")}
_STRING = Atom(scalar="string")


def _first_type(s: Obj) -> str:
    t = s.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "")
    return t if isinstance(t, str) else ""


def _ref_name(s: Obj) -> str | None:
    ref = s.get("$ref")
    if not isinstance(ref, str):
        all_of = s.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            ref = all_of[0].get("$ref")
    if isinstance(ref, str) and "/" in ref:
        return ref.rsplit("/", 1)[1]
    return None


def _list_relationship(s: Obj) -> tuple[bool, tuple[str, ...]]:
    lt = s.get("x-kubernetes-list-type")
    if lt is not None:
        if lt == "set":
            return False, ()
        if lt == "map":
            return False, tuple(str(k) for k in s.get("x-kubernetes-list-map-keys") or ())
        return True, ()
    ps = s.get("x-kubernetes-patch-strategy")
    if ps in ("merge", "merge,retainKeys"):
        key = s.get("x-kubernetes-patch-merge-key")
        return False, ((key,) if isinstance(key, str) else ())
    return True, ()


class _Types:
    def __init__(self, definitions: dict[str, Obj]) -> None:
        self.definitions = definitions
        self._named: dict[tuple[str, str | None], Atom] = {}

    def ref(self, s: Obj, preserve: bool) -> Ref:
        return Ref(self, s, preserve)

    def convert(self, s: Obj, preserve: bool, override: str | None = None, name: str | None = None) -> Atom:
        ref = _ref_name(s)
        if ref is not None:
            mt = s.get("x-kubernetes-map-type")
            return self.named(ref, override or (mt if isinstance(mt, str) else None))
        if s.get("x-kubernetes-preserve-unknown-fields") is True:
            preserve = True
        typ = _first_type(s)
        if typ == "object":
            return Atom(map=self._map(s, preserve, override, name))
        if typ == "array":
            return Atom(list=self._list(s, preserve))
        if typ == "string":
            return _STRING if s.get("format", "") in ("", "byte") else _SCALAR
        if typ:
            return _SCALARS.get(typ, _SCALAR)
        alts = s.get("oneOf") or s.get("anyOf")
        if s.get("x-kubernetes-int-or-string") is True or (
                isinstance(alts, list) and alts and all(_first_type(a) not in ("", "object", "array")
                                                         for a in alts if isinstance(a, dict))):
            return _SCALAR
        return Atom(scalar="untyped", map=self._map(s, preserve, override), list=self._list(s, preserve))

    def named(self, name: str, override: str | None) -> Atom:
        key = (name, override)
        a = self._named.get(key)
        if a is None:
            if name == QUANTITY:
                a = _SCALAR
            elif name == RAW_EXTENSION:
                a = UNTYPED
            elif name not in self.definitions:
                a = DEDUCED
            else:
                # a placeholder breaks cycles; Refs resolve lazily so it is never observed half-built
                a = self._named[key] = Atom()
                built = self.convert(self.definitions[name], False, override, name)
                a.scalar, a.map, a.list = built.scalar, built.map, built.list
            self._named[key] = a
        return a

    def _map(self, s: Obj, preserve: bool, override: str | None, name: str | None = None) -> MapType:
        props = s.get("properties") or {}
        fields = {k: self.ref(v, preserve) for k, v in props.items() if isinstance(v, dict)}
        ap = s.get("additionalProperties")
        elem: Ref | Atom | None
        if isinstance(ap, dict):
            elem = self.ref(ap, preserve)
        elif ap is True or (ap is None and (preserve or not props)):
            elem = DEDUCED
        else:
            elem = None
        mt = override or s.get("x-kubernetes-map-type")
        return MapType(fields, elem, mt == "atomic", (name, self.definitions) if name else None)

    def _list(self, s: Obj, preserve: bool) -> ListType:
        atomic, keys = _list_relationship(s)
        items = s.get("items")
        elem: Ref | Atom = self.ref(items, preserve) if isinstance(items, dict) else UNTYPED
        return ListType(elem, atomic, keys)


class Schema:
    """The SMD type of one kind of object, plus what the Go-zero overlay needs (``definition``)."""

    def __init__(self, atom: Atom, *, definition: str | None = None, definitions: dict[str, Obj] | None = None,
                 group: str = "", version: str = "", kind: str = "") -> None:
        self.atom = atom
        self.definition = definition  # built-in definition name, None for CRDs / deduced
        self.definitions = definitions or {}
        self.group, self.version, self.kind = group, version, kind

    @staticmethod
    @functools.cache
    def for_kind(group: str, version: str, kind: str, k8s_version: str = "1.37") -> Schema:
        """The schema of a built-in kind; a deduced schema (with the kind recorded) when it has none."""
        s = loader.load(k8s_version)
        name = s.for_kind(group, version, kind)
        if name is None:
            return Schema(DEDUCED, group=group, version=version, kind=kind)
        types = _types_for(k8s_version)
        return Schema(types.named(name, None), definition=name, definitions=s.definitions,
                      group=group, version=version, kind=kind)

    @staticmethod
    def from_openapi(schema: Obj, *, group: str = "", version: str = "", kind: str = "",
                     k8s_version: str = "1.37") -> Schema:
        """A custom resource's schema from its (OpenAPI v3 structural) ``openAPIV3Schema``.

        As the CRD's published OpenAPI does, ``apiVersion`` and ``kind`` are strings and ``metadata`` is
        ObjectMeta whatever the schema says about them.
        """
        props = dict(schema.get("properties") or {})
        props.update(apiVersion={"type": "string"}, kind={"type": "string"},
                     metadata={"$ref": "#/definitions/" + _OBJECT_META})
        root = {**schema, "properties": props}
        if not _first_type(root):
            root["type"] = "object"
        return Schema(_types_for(k8s_version).convert(root, False), group=group, version=version, kind=kind)

    @staticmethod
    def deduced(*, group: str = "", version: str = "", kind: str = "") -> Schema:
        return Schema(DEDUCED, group=group, version=version, kind=kind)


@functools.cache
def _types_for(k8s_version: str) -> _Types:
    return _Types(loader.load(k8s_version).definitions)
