"""Strategic merge patch (``application/strategic-merge-patch+json``), as k8s.io/apimachinery does it.

``strategic_merge(original, patch, meta)`` applies a patch the way the apiserver's StrategicMergePatch
does (merge options: parallel lists merged, unmatched nulls ignored). Maps merge recursively and ``null``
deletes a key; a list merges only when its field declares ``x-kubernetes-patch-strategy: merge`` (lists of
maps by ``x-kubernetes-patch-merge-key``, lists of scalars as a set), every other list is replaced. The
directives are ``$patch`` (``replace``/``delete`` on a map, ``replace``/``delete`` items in a merging
list), ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>``.

Upstream reads patch strategies from Go struct tags; the OpenAPI extensions ``x-kubernetes-patch-*`` are
generated from those tags, so :class:`PatchMeta` walks the schemas instead. ``x-kubernetes-list-type:
map`` on its own does not make a list merge (server-side apply reads it, strategic merge does not).

Failures raise :class:`PatchError` with upstream's message and the HTTP status the apiserver answers
with. Results are what upstream hands to its typed decoder: a new list item or a replaced value keeps
whatever the patch carried (nulls, unknown ``$`` keys); pruning those is the caller's business.

``create_two_way_merge_patch`` is upstream's CreateTwoWayMergePatch (with ``$setElementOrder`` lists) and
``create_merge_patch`` builds an RFC 7386 merge patch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

if TYPE_CHECKING:
    from schemas.loader import SchemaSet

__all__ = [
    "PatchError", "PatchMeta", "FieldPatch", "patch_meta_for", "strategic_merge",
    "create_two_way_merge_patch", "create_merge_patch",
]

Obj = dict[str, Any]

DIRECTIVE = "$patch"
DELETE, REPLACE, MERGE = "delete", "replace", "merge"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

# upstream's sentinel errors (k8s.io/apimachinery/pkg/util/mergepatch) and the status each one gets
BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
NO_LIST_OF_LISTS = "lists of lists are not supported"
GO_PANIC = "This request caused apiserver to panic. Look in the logs for details."


class PatchError(Exception):
    """A patch that upstream refuses. ``code`` is the apiserver's HTTP status: 400 and 422 for its
    recognised format errors, 500 for the rest (a plain error becomes an InternalError-less Status with
    the message as is, and a Go panic becomes a bare 500)."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- Go semantics the messages and comparisons depend on ------------------------------------------------

def _go_type(v: Any) -> str:
    """The Go dynamic type a JSON value decodes to (ints stay int64, as the apiserver decodes them)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "map"
    return "slice"


_REFLECT_NAMES = {"map": "map[string]interface {}", "slice": "[]interface {}", "nil": "%!s(<nil>)"}


def _type_name(v: Any) -> str:
    t = _go_type(v)
    return _REFLECT_NAMES.get(t, t)


def _go_eq(a: Any, b: Any) -> bool:
    """Go's ``==`` on two ``interface{}`` values: false across types, a panic on maps and slices."""
    ta = _go_type(a)
    if ta != _go_type(b):
        return False
    if ta in ("map", "slice"):
        raise PatchError(GO_PANIC)
    return bool(a == b)


def _hash_key(v: Any) -> tuple[str, Any]:
    """A key standing for ``v`` in a Go ``map[interface{}]``; maps and slices panic there."""
    t = _go_type(v)
    if t in ("map", "slice"):
        raise PatchError(GO_PANIC)
    return (t, v)


def _go_float(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if str(f).startswith("-") else ""
    if f == 0:
        return sign + "0"
    _, digit_tuple, exp = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exp)
    if point - 1 < -4 or point - 1 >= 6:  # %v is %g with the shortest digits: %e outside [1e-4, 1e6)
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = point - 1
        return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_str(v: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for a decoded JSON value."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_str(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go_str(x) for x in v) + "]"
    return str(v)


def _go_s(v: Any) -> str:
    """``fmt.Sprintf("%s", v)``: strings as is, other scalars as ``%!s(type=value)``."""
    if isinstance(v, str | dict | list):
        return _go_str(v)
    if v is None:
        return "%!s(<nil>)"
    return f"%!s({_go_type(v)}={_go_str(v)})"


def _same(a: Any, b: Any) -> bool:
    """``reflect.DeepEqual`` on decoded JSON: like ``==`` but bool, int and float never equal."""
    ta = _go_type(a)
    if ta != _go_type(b):
        return False
    if ta == "map":
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if ta == "slice":
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _bad_arg_type(expected: str, actual: Any) -> PatchError:
    return PatchError(f"expected a {expected}, but received a {_type_name(actual)}")


def _no_merge_key(m: Any, key: str) -> PatchError:
    return PatchError(f"map: {_go_str(m)} does not contain declared merge key: {key}")


def _go_dedupe(items: list[Any]) -> list[Any]:
    """Upstream's in-place scalar de-duplication (a duplicate's slot takes the last item)."""
    s = list(items)
    last = len(s) - 1
    i = 0
    while i < last:
        j = i + 1
        while j <= last:
            if _go_eq(s[i], s[j]):
                s[j] = s[last]
                s = s[:last]
                last -= 1
                j -= 1
            j += 1
        i += 1
    return s


# --- patch metadata ---------------------------------------------------------------------------------------

class FieldPatch(NamedTuple):
    """A field's ``x-kubernetes-patch-strategy`` (split on commas) and ``x-kubernetes-patch-merge-key``."""

    strategies: tuple[str, ...]
    merge_key: str


_NO_PATCH = FieldPatch((), "")
_SCALAR_KINDS = {"string": "string", "boolean": "bool", "number": "float64"}


class PatchMeta:
    """The patch metadata of one type, found the way upstream's Go struct lookup finds it.

    Built over a ``definitions`` mapping (OpenAPI definitions whose ``$ref`` ends in the definition
    name) at one schema node; ``definitions=None`` makes an untyped meta that knows every field and
    declares no strategy (every list is replaced). ``kind`` is the Go kind the node decodes to
    ("struct", "map", "slice", "string", "int64", ...).
    """

    def __init__(self, definitions: Mapping[str, Any] | None, schema: Mapping[str, Any],
                 name: str = "", *, is_ref: bool = False) -> None:
        self._defs = definitions
        self._schema = schema
        self.name = name
        self.kind = "struct" if is_ref or definitions is None else self._inline_kind(schema)
        self._fields: dict[str, tuple[PatchMeta, FieldPatch]] = {}

    @classmethod
    def for_definition(cls, definitions: Mapping[str, Any], name: str) -> PatchMeta:
        """The meta of definition ``name`` (e.g. "io.k8s.api.core.v1.Pod")."""
        return cls(definitions, definitions[name], name.rsplit(".", 1)[-1], is_ref=True)

    @classmethod
    def untyped(cls) -> PatchMeta:
        """A meta for schemaless data: any field, no strategies."""
        return cls(None, {}, "untyped")

    @staticmethod
    def _inline_kind(schema: Mapping[str, Any]) -> str:
        t = schema.get("type")
        types = t if isinstance(t, list) else [t]
        if "array" in types or "items" in schema:
            return "slice"
        if "properties" in schema:
            return "struct"
        if "additionalProperties" in schema or "object" in types:
            return "map"
        if "integer" in types:
            return "int32" if schema.get("format") == "int32" else "int64"
        for json_type, kind in _SCALAR_KINDS.items():
            if json_type in types:
                return kind
        return "struct"

    def _node(self, prop: Mapping[str, Any]) -> PatchMeta:
        ref = prop.get("$ref")
        if isinstance(ref, str) and self._defs is not None:
            name = ref.rsplit("/", 1)[-1]
            return PatchMeta(self._defs, self._defs.get(name, {}), name.rsplit(".", 1)[-1], is_ref=True)
        return PatchMeta(self._defs, prop)

    def field(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        """The meta of field ``key`` of this struct and its patch metadata (LookupPatchMetadataForStruct)."""
        hit = self._fields.get(key)
        if hit is not None:
            return hit
        if self._defs is None:
            return self, _NO_PATCH
        if self.kind != "struct":
            raise PatchError(f"merging an object in json but data type is not struct, instead is: {self.kind}")
        props: Mapping[str, Any] = self._schema.get("properties") or {}
        prop = props.get(key)
        if prop is None:  # encoding/json matches a field name case-insensitively when no exact match
            prop = next((v for k, v in props.items() if k.lower() == key.lower()), None)
        if prop is None:
            raise PatchError(f'unable to find api field in struct {self.name} for the json field "{key}"')
        strategy = str(prop.get("x-kubernetes-patch-strategy") or "")
        merge_key = str(prop.get("x-kubernetes-patch-merge-key") or "")
        hit = (self._node(prop), FieldPatch(tuple(strategy.split(",")) if strategy else (), merge_key))
        self._fields[key] = hit
        return hit

    def list_field(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        """The meta of the items of list field ``key`` and its patch metadata (LookupPatchMetadataForSlice)."""
        node, patch = self.field(key)
        if self._defs is None:
            return node, patch
        if node.kind == "struct":  # a pointer to a struct looks its element up as the struct itself
            return node, patch
        if node.kind != "slice":
            raise PatchError("expected slice or array type, but got: struct")
        items = node._schema.get("items")
        elem = node._node(items if isinstance(items, Mapping) else {})
        if elem.kind == "slice":
            raise PatchError("unexpected slice of slice")
        return elem, patch

    def __repr__(self) -> str:
        return f"PatchMeta({self.name or self.kind!r})"


def patch_meta_for(schemas: SchemaSet, group: str, version: str, kind: str) -> PatchMeta:
    """The (cached) :class:`PatchMeta` of ``group/version, Kind=kind``; KeyError when no schema has it."""
    cache: dict[tuple[str, str, str], PatchMeta] = schemas.cache.setdefault("strategicpatch", {})
    meta = cache.get((group, version, kind))
    if meta is None:
        name = schemas.for_kind(group, version, kind)
        if name is None:
            raise KeyError(f"no schema for {group}/{version}, Kind={kind}")
        meta = cache[(group, version, kind)] = PatchMeta.for_definition(schemas.definitions, name)
    return meta


def _other_strategy(patch: FieldPatch) -> str:
    """The strategy besides ``retainKeys`` (extractRetainKeysPatchStrategy)."""
    s = patch.strategies
    if len(s) <= 1:
        return "" if not s or s[0] == "retainKeys" else s[0]
    if len(s) == 2 and "retainKeys" in s:
        return s[1] if s[0] == "retainKeys" else s[0]
    raise PatchError(f"unexpected patch strategy: [{' '.join(s)}]")


# --- applying ---------------------------------------------------------------------------------------------

def strategic_merge(original: Obj, patch: Obj, schema: PatchMeta) -> Obj:
    """``original`` with the strategic merge ``patch`` applied; neither argument is changed.

    Raises :class:`PatchError` with upstream's message for a patch upstream refuses.
    """
    return _merge_map(_json_copy(original), _json_copy(patch), schema)


def _json_copy(value: Obj) -> Obj:
    """A deep copy of decoded JSON (kplane issue 11: several times cheaper than copy.deepcopy)."""
    try:
        out: Obj = orjson.loads(orjson.dumps(value))
        return out
    except (TypeError, orjson.JSONDecodeError):  # not plain JSON data (e.g. a 65-bit integer)
        return copy.deepcopy(value)


def _merge_map(original: Obj, patch: Obj, schema: PatchMeta) -> Obj:
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == REPLACE:
            del patch[DIRECTIVE]
            return patch
        if directive == DELETE:
            return {}
        raise PatchError(f"unknown patch type: {_go_s(directive)} in map: {_go_str(patch)}")
    _retain_keys(original, patch)
    _merge_ordered_lists(original, patch, schema)
    for key, value in list(patch.items()):
        is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE)
        if is_delete_list:
            key = _field_of(key, DELETE_FROM_PRIMITIVE)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _go_type(original[key]) != _go_type(value):
            if not is_delete_list:
                _discard_nulls(value)
                _put(original, key, value)
            continue
        current = original[key]
        if isinstance(current, dict):
            sub, field = schema.field(key)
            original[key] = value if _other_strategy(field) == REPLACE else _merge_map(current, value, sub)
        elif isinstance(current, list):
            sub, field = schema.list_field(key)
            original[key] = _merge_list_field(current, value, sub, field, is_delete_list)[0]
        else:
            _put(original, key, value)
    return original


def _put(target: Obj, key: str, value: Any) -> None:
    """Set ``target[key]`` to ``value`` without its ``$patch`` maps; drop the key if ``value`` is one."""
    cleaned, keep = _remove_directives(value)
    if keep:
        target[key] = cleaned
    else:
        target.pop(key, None)


def _remove_directives(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        for k in list(value):
            value[k], keep = _remove_directives(value[k])
            if not keep:
                del value[k]
    elif isinstance(value, list):
        kept = [_remove_directives(v) for v in value]
        value = [v for v, keep in kept if keep]
    return value, True


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for k in list(value):
            if value[k] is None:
                del value[k]
            else:
                _discard_nulls(value[k])
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)


def _field_of(key: str, prefix: str) -> str:
    head, sep, tail = key.partition("/")
    if not sep or head != prefix:
        if prefix == DELETE_FROM_PRIMITIVE:
            raise PatchError(BAD_PRIMITIVE_LIST, 400)
        raise PatchError(BAD_SET_ELEMENT_ORDER, 400)
    return tail


def _retain_keys(original: Obj, patch: Obj) -> None:
    """``$retainKeys``: every key the patch sets must be listed; unlisted keys leave ``original``."""
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError(BAD_RETAIN_KEYS, 400)
    keys = {k for k in keep if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith((DELETE_FROM_PRIMITIVE, SET_ELEMENT_ORDER)):
            continue
        if k not in keys:
            raise PatchError(BAD_RETAIN_KEYS, 400)
    for k in [k for k in original if k not in keys]:
        del original[k]


def _merge_list_field(current: list[Any], value: Any, sub: PatchMeta, field: FieldPatch,
                      is_delete_list: bool) -> tuple[list[Any], list[Any]]:
    """mergeSliceHandler: the merged list, and what upstream's in-place edits leave in ``current``."""
    if not isinstance(value, list):
        raise _bad_arg_type("[]interface {}", value)
    if _other_strategy(field) == MERGE or is_delete_list:
        return _merge_list(current, value, sub, field.merge_key, is_delete_list)
    return value, current


def _element_kind(*lists: list[Any]) -> str:
    """sliceElementType: the one Go type of every item."""
    kind = ""
    for items in lists:
        for v in items:
            t = _go_type(v)
            if not kind:
                if t == "nil":
                    raise PatchError(GO_PANIC)
                if t == "slice":
                    raise PatchError(NO_LIST_OF_LISTS, 422)
                kind = t
            elif t != kind:
                raise PatchError(f"list element types are not identical: {_go_str(list(lists))}")
    if not kind:
        raise PatchError("no elements in any of the given slices")
    return kind


def _merge_list(original: list[Any], patch: list[Any], schema: PatchMeta, merge_key: str,
                is_delete_list: bool) -> tuple[list[Any], list[Any]]:
    if not original and not patch:
        return original, original
    kind = _element_kind(original, patch)
    aliased = original
    if kind != "map":
        if is_delete_list:
            gone = {_hash_key(v) for v in patch}
            return [v for v in original if _hash_key(v) not in gone], original
        merged = _go_dedupe(original + patch)
    else:
        if not merge_key:
            raise PatchError(f"cannot merge lists without merge key for {schema.kind}")
        aliased = _aliased_original(original, patch, merge_key)
        original, patch = _apply_special_items(original, patch, merge_key)
        merged = _merge_by_key(original, patch, merge_key, schema)
    patch_items, server_only = _partition(merged, patch, merge_key)
    return _normalize_order(patch_items, server_only, patch, original, merge_key, kind), aliased


def _apply_special_items(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Carry out ``$patch`` items of a merging list; return the new original and the plain patch items."""
    plain = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            original = [o for o in original if not (merge_key in o and _go_eq(o[merge_key], item[merge_key]))]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type: {_go_s(directive)} in map: {_go_str(item)}")
    return (plain, []) if replace else (original, plain)


def _find_by_key(items: list[Any], merge_key: str, value: Any) -> int:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map")
        if merge_key in item and _go_eq(item[merge_key], value):
            return i
    return -1


def _merge_by_key(original: list[Any], patch: list[Any], merge_key: str, schema: PatchMeta) -> list[Any]:
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        i = _find_by_key(merged, merge_key, item[merge_key])
        if i >= 0:
            merged[i] = _merge_map(merged[i], item, schema)
        else:
            merged.append(item)  # as upstream: kept as sent, nulls and nested directives included
    return merged


def _aliased_original(original: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    """What upstream's caller still sees in its copy of ``original`` after merging ``patch`` into it.

    Upstream deletes ``$patch: delete`` items by shifting the list's backing array in place and then
    appends new items into the freed tail, so a ``$setElementOrder`` pass that reads the server's order
    from its own reference to the list sees new items at the end instead of the deleted ones.
    """
    view = list(original)
    length = len(view)
    plain = []
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
        elif item[DIRECTIVE] == REPLACE:
            return view
        elif item[DIRECTIVE] == DELETE and merge_key in item:
            while (i := _find_by_key(view[:length], merge_key, item[merge_key])) >= 0:
                view[i:length - 1] = view[i + 1:length]
                length -= 1
    for item in plain:
        if length == len(view):
            break
        if merge_key in item and _find_by_key(view[:length], merge_key, item[merge_key]) < 0:
            view[length] = item
            length += 1
    return view


def _item_key(item: Any, merge_key: str, kind: str) -> Any:
    if kind == "map":
        return item.get(merge_key) if isinstance(item, dict) else None
    return item


class _Order:
    """Positions in a reference list (upstream's ``index``): by merge key for maps, by value otherwise."""

    def __init__(self, items: list[Any] | None, merge_key: str, kind: str) -> None:
        self.merge_key, self.kind = merge_key, kind
        self.items = items or []
        self.first: dict[tuple[str, Any], int] = {}
        for i, item in enumerate(self.items):
            v = _item_key(item, merge_key, kind)
            if _go_type(v) not in ("map", "slice"):
                self.first.setdefault((_go_type(v), v), i)

    def pos(self, item: Any) -> int:
        v = _item_key(item, self.merge_key, self.kind)
        if _go_type(v) not in ("map", "slice"):
            return self.first.get((_go_type(v), v), -1)
        return next((i for i, o in enumerate(self.items) if _go_eq(v, _item_key(o, self.merge_key, self.kind))), -1)


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Split ``merged`` into the items present in ``by`` and the rest, keeping order."""
    inside: list[Any] = []
    outside: list[Any] = []
    if not merge_key:
        present = {_hash_key(v) for v in by}
        for v in merged:
            (inside if _hash_key(v) in present else outside).append(v)
        return inside, outside
    for v in merged:
        if not isinstance(v, dict):
            raise _bad_arg_type("map[string]interface {}", v)
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
        (inside if _find_by_key(by, merge_key, v[merge_key]) >= 0 else outside).append(v)
    return inside, outside


def _sort_by(items: list[Any], order: list[Any] | None, merge_key: str, kind: str) -> list[Any]:
    """normalizeSliceOrder: ``items`` in the order of ``order``; ``$patch: delete`` maps go last."""
    deletes: list[Any] = []
    if kind == "map":
        for lst in (items, order or []):
            for v in lst:
                if not isinstance(v, dict):
                    raise _bad_arg_type("map[string]interface {}", v)
                if merge_key not in v:
                    raise _no_merge_key(v, merge_key)
        deletes = [v for v in items if v.get(DIRECTIVE) == DELETE]
        items = [v for v in items if v.get(DIRECTIVE) != DELETE]
    index = _Order(order, merge_key, kind)
    pos = [index.pos(v) for v in items]
    if all(p >= 0 for p in pos):
        ranked = sorted(zip(pos, range(len(items)), items, strict=True))
        return [v for _, _, v in ranked] + deletes
    # upstream's comparator calls an unplaced item smaller than anything; Go's stable sort is an
    # insertion sort at these sizes, which this reproduces
    out = list(zip(pos, items, strict=True))
    for i in range(1, len(out)):
        j = i
        while j > 0 and (out[j][0] < out[j - 1][0] if out[j][0] >= 0 and out[j - 1][0] >= 0 else True):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return [v for _, v in out] + deletes


def _normalize_order(patch_items: list[Any], server_only: list[Any], patch_order: list[Any] | None,
                     server_order: list[Any] | None, merge_key: str, kind: str) -> list[Any]:
    """Patch items in patch order, server-only items in server order, interleaved by server order."""
    right = _sort_by(patch_items, patch_order, merge_key, kind)
    left = _sort_by(server_only, server_order, merge_key, kind)
    index = _Order(server_order, merge_key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = index.pos(left[i]), index.pos(right[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _merge_ordered_lists(original: Obj, patch: Obj, schema: PatchMeta) -> None:
    """``$setElementOrder/<field>``: merge that field's list now and order it as the directive says
    (precedence: the directive's order, then the patch's, then the server's)."""
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        name = _field_of(key, SET_ELEMENT_ORDER)
        in_original, in_patch = name in original, name in patch
        current, change = original.get(name), patch.get(name)
        if in_original and not isinstance(current, list):
            raise _bad_arg_type("[]interface {}", current)
        if in_patch and not isinstance(change, list):
            raise _bad_arg_type("[]interface {}", change)
        sub, field = schema.list_field(name)
        _other_strategy(field)
        _check_order(change or [], order, field.merge_key)
        server = current
        if in_original and in_patch:
            assert current is not None and change is not None
            merged, server = _merge_list_field(current, change, sub, field, False)
        elif in_original:
            merged = current or []
        elif in_patch:
            merged = _remove_directives(change)[0]
        else:
            continue
        kind = _element_kind(server or [], change or [])
        patch_items, server_only = _partition(merged, order, field.merge_key)
        original[name] = _normalize_order(patch_items, server_only, order, server, field.merge_key, kind)
        patch.pop(name, None)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """validatePatchWithSetOrderList: the patch's items appear in ``order`` in the same relative order."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for v in patch_list:
            if not isinstance(v, dict):
                raise _bad_arg_type("map[string]interface {}", v)
        items = [v for v in patch_list if v.get(DIRECTIVE) != DELETE]
    p = o = 0
    while p < len(items) and o < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if _key_equal(items[p], order[o], merge_key) if merge_key else _go_eq(items[p], order[o]):
            p += 1
        o += 1
    if p < len(items) and o >= len(order):
        raise PatchError(f"The order in patch list:\n{_go_str(patch_list)}\n doesn't match "
                         f"{SET_ELEMENT_ORDER} list:\n{_go_str(order)}\n")


def _key_equal(a: Any, b: Any, merge_key: str) -> bool:
    for v in (a, b):
        if not isinstance(v, dict):
            raise _bad_arg_type("map[string]interface {}", v)
        if merge_key not in v:
            raise _no_merge_key(v, merge_key)
    return _go_eq(a[merge_key], b[merge_key])


# --- diffing ----------------------------------------------------------------------------------------------

def create_two_way_merge_patch(original: Obj, modified: Obj, schema: PatchMeta) -> Obj:
    """The strategic merge patch that turns ``original`` into ``modified`` (CreateTwoWayMergePatch:
    deletions as nulls, ``$patch: delete`` items and ``$deleteFromPrimitiveList``, with
    ``$setElementOrder`` lists and ``$retainKeys`` where the schema asks for them)."""
    return _diff_maps(original, modified, schema, False)


def _diff_maps(original: Obj, modified: Obj, schema: PatchMeta, retain_keys: bool) -> Obj:
    patch: Obj = {}
    retained: list[Any] = []
    for key, new in modified.items():
        if retain_keys and new is not None:
            retained.append(key)
        if key not in original:
            patch[key] = copy.deepcopy(new)
            continue
        old = original[key]
        if key == DIRECTIVE:
            if not isinstance(old, str) or not isinstance(new, str):
                raise PatchError(f"invalid value for special key: {DIRECTIVE}")
            if old != new:
                patch[key] = new
        elif _go_type(old) != _go_type(new):
            patch[key] = copy.deepcopy(new)
        elif isinstance(old, dict):
            _diff_map_field(key, old, new, patch, schema)
        elif isinstance(old, list):
            _diff_list_field(key, old, new, patch, schema)
        elif not _same(old, new):
            patch[key] = new
    for key in original:
        if key not in modified:
            patch[key] = None
    if retained and (patch or any(v is not None and k not in modified for k, v in original.items())):
        patch[RETAIN_KEYS] = sorted(retained, key=_go_str)
    return patch


def _diff_map_field(key: str, old: Obj, new: Obj, patch: Obj, schema: PatchMeta) -> None:
    try:
        sub, field = schema.field(key)
    except PatchError:
        if _same(old, new):
            return
        raise
    if _other_strategy(field) == REPLACE:
        patch[key] = copy.deepcopy(new)
        return
    diff = _diff_maps(old, new, sub, "retainKeys" in field.strategies)
    if diff:
        patch[key] = diff


def _diff_list_field(key: str, old: list[Any], new: list[Any], patch: Obj, schema: PatchMeta) -> None:
    try:
        sub, field = schema.list_field(key)
    except PatchError:
        if _same(old, new):
            return
        raise
    if _other_strategy(field) != MERGE:
        if not _same(old, new):
            patch[key] = copy.deepcopy(new)
        return
    additions, deletions, order = _diff_lists(old, new, sub, field.merge_key, "retainKeys" in field.strategies)
    if additions:
        patch[key] = additions
    if deletions:
        patch[f"{DELETE_FROM_PRIMITIVE}/{key}"] = deletions
    if order:
        patch[f"{SET_ELEMENT_ORDER}/{key}"] = order


def _diff_lists(old: list[Any], new: list[Any], schema: PatchMeta, merge_key: str,
                retain_keys: bool) -> tuple[list[Any], list[Any], list[Any]]:
    if not old:
        return copy.deepcopy(new), [], []
    kind = _element_kind(old, new)
    if kind == "map":
        changes, deletes = _diff_lists_of_maps(old, new, schema, merge_key, retain_keys)
        changes = _sort_by(changes, new, merge_key, kind) + deletes
        same_order = len(old) == len(new) and all(
            _key_equal(a, b, merge_key) for a, b in zip(old, new, strict=True))
        order = [{merge_key: v.get(merge_key)} for v in new] if changes or not same_order else []
        return changes, [], order
    additions, deletions = _diff_lists_of_scalars(old, new)
    additions = _sort_by(additions, new, merge_key, kind)
    # upstream has sorted ``old`` in place by now, and compares that with ``new``
    order = copy.deepcopy(new) if deletions or not _same(sorted(old, key=_go_str), new) else []
    return additions, deletions, order


def _diff_lists_of_scalars(old: list[Any], new: list[Any]) -> tuple[list[Any], list[Any]]:
    a, b = sorted(old, key=_go_str), sorted(new, key=_go_str)
    additions, deletions = [], []
    i = j = 0
    while i < len(a) or j < len(b):
        x = _go_str(a[i]) if i < len(a) else None
        y = _go_str(b[j]) if j < len(b) else None
        if x is not None and x == y:
            i, j = i + 1, j + 1
        elif x is None or (y is not None and x > y):
            additions.append(b[j])
            j += 1
        else:
            deletions.append(a[i])
            i += 1
    return additions, _go_dedupe(deletions)


def _diff_lists_of_maps(old: list[Any], new: list[Any], schema: PatchMeta, merge_key: str,
                        retain_keys: bool) -> tuple[list[Any], list[Any]]:
    def keyed(items: list[Any]) -> list[tuple[str, Obj]]:
        out = []
        for v in items:
            if not isinstance(v, dict):
                raise _bad_arg_type("map[string]interface {}", v)
            if merge_key not in v:
                raise _no_merge_key(v, merge_key)
            out.append((_go_str(v.get(merge_key)), v))
        return sorted(out, key=lambda kv: kv[0])

    a, b = keyed(old), keyed(new)
    changes: list[Any] = []
    deletes: list[Any] = []
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i][0] == b[j][0]:
            diff = _diff_maps(a[i][1], b[j][1], schema, retain_keys)
            if diff:
                diff[merge_key] = b[j][1][merge_key]
                changes.append(diff)
            i, j = i + 1, j + 1
        elif i >= len(a) or (j < len(b) and a[i][0] > b[j][0]):
            changes.append(copy.deepcopy(b[j][1]))
            j += 1
        else:
            deletes.append({merge_key: a[i][1][merge_key], DIRECTIVE: DELETE})
            i += 1
    return changes, deletes


def create_merge_patch(original: Any, modified: Any) -> Any:
    """An RFC 7386 merge patch turning ``original`` into ``modified`` (which must hold no nulls in
    objects: a merge patch cannot set one)."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return copy.deepcopy(modified)
    patch: Obj = {k: None for k in original if k not in modified}
    for key, new in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(new)
        elif not _same(original[key], new):
            patch[key] = create_merge_patch(original[key], new) if isinstance(new, dict) else copy.deepcopy(new)
    return patch
