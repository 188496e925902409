"""Checks of a custom resource beyond its OpenAPI schema: embedded resources (objects marked
``x-kubernetes-embedded-resource``: apiVersion, kind and ObjectMeta, as objectmeta.Validate) and the
uniqueness invariants of ``x-kubernetes-list-type: set`` / ``map`` lists (listtype.ValidateListSetsAndMaps).
"""

from __future__ import annotations

import json
from typing import Any

from schemas.crd._go import child, index, key
from schemas.fielderrors import FieldError, duplicate, invalid, required
from schemas.rules import names
from schemas.rules.meta import validate_object_meta

__all__ = ["validate_embedded", "validate_list_types"]

Obj = dict[str, Any]


def _ap(s: Obj) -> Obj | None:
    ap = s.get("additionalProperties")
    return ap if isinstance(ap, dict) else None


def validate_embedded(x: Any, s: Obj | None, path: str = "") -> list[FieldError]:
    """objectmeta.Validate below the root (the root's own metadata is checked by the resource validator)."""
    if s is None:
        return []
    errs: list[FieldError] = []
    if isinstance(x, dict):
        if s.get("x-kubernetes-embedded-resource") is True:
            errs += _embedded(x, path)
        props = s.get("properties") or {}
        ap = _ap(s)
        for k, v in x.items():
            if isinstance(props.get(k), dict):
                errs += validate_embedded(v, props[k], child(path, k))
            elif ap is not None:
                errs += validate_embedded(v, ap, key(path, k))
    elif isinstance(x, list):
        items = s.get("items")
        for i, v in enumerate(x):
            errs += validate_embedded(v, items if isinstance(items, dict) else None, index(path, i))
    return errs


def _embedded(x: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if "apiVersion" not in x:
        errs.append(required(child(path, "apiVersion")))
    if "kind" not in x:
        errs.append(required(child(path, "kind")))
    for k, v in x.items():
        p = child(path, k)
        if k == "apiVersion":
            if not isinstance(v, str):
                errs.append(invalid(p, v, "must be a string"))
            elif not v:
                errs.append(invalid(p, v, "must not be empty"))
            elif v.count("/") > 1:
                errs.append(invalid(p, v, f"unexpected GroupVersion string: {v}"))
        elif k == "kind":
            if not isinstance(v, str):
                errs.append(invalid(p, v, "must be a string"))
            elif not v:
                errs.append(invalid(p, v, "must not be empty"))
            else:
                msgs = names.dns1035_label(v.lower())
                if msgs:
                    errs.append(invalid(p, v, "may have mixed case, but should otherwise match: " + ",".join(msgs)))
        elif k == "metadata" and isinstance(v, dict):
            meta = dict(v)
            if not meta.get("name"):
                meta["name"] = "fakename"
            errs += validate_object_meta(meta, namespaced=bool(meta.get("namespace")), name_rule="path", path=p)
    return errs


def validate_list_types(obj: Any, s: Obj | None, path: str = "") -> list[FieldError]:
    """Duplicate items of set lists and duplicate keys of map lists (``Duplicate value: ...``)."""
    if s is None or not isinstance(obj, dict):
        return []
    errs: list[FieldError] = []
    ap = _ap(s)
    if ap is not None:
        for k, v in obj.items():
            errs += _value(v, ap, key(path, k))
    props = s.get("properties")
    if props:
        for k, v in obj.items():
            if isinstance(props.get(k), dict):
                errs += _value(v, props[k], child(path, k))
    return errs


def _value(v: Any, s: Obj, path: str) -> list[FieldError]:
    if isinstance(v, list):
        return _array(v, s, path)
    if isinstance(v, dict):
        return validate_list_types(v, s, path)
    return []


def _ident(x: Any) -> Any:
    """A hashable identity distinguishing what Go's map[interface{}] keys distinguish (int64 vs float64)."""
    if isinstance(x, dict | list):
        return ("json", json.dumps(x, sort_keys=True, separators=(",", ":")))
    return (type(x).__name__, x)


def _non_unique(values: list[Any]) -> list[int]:
    seen: dict[Any, int] = {}
    out: list[int] = []
    for i, x in enumerate(values):
        ident = _ident(x)
        seen[ident] = seen.get(ident, 0) + 1
        if seen[ident] == 2:
            out.append(i)
    return out


_UNSPECIFIED = object()


def _array(obj: list[Any], s: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    lt = s.get("x-kubernetes-list-type")
    if lt == "set" and len(obj) > 1:
        errs += [duplicate(index(path, i), _sorted(obj[i])) for i in _non_unique(obj)]
    elif lt == "map":
        errs += _map_list(obj, s, path)
    items = s.get("items")
    if isinstance(items, dict):
        for i, v in enumerate(obj):
            errs += _value(v, items, index(path, i))
    return errs


def _map_list(obj: list[Any], s: Obj, path: str) -> list[FieldError]:
    for i, x in enumerate(obj):
        if x is not None and not isinstance(x, dict):
            return [invalid(index(path, i), x, "must be an object for an array of list-type map")]
    if len(obj) <= 1:
        return []
    keys: list[str] = list(s.get("x-kubernetes-list-map-keys") or ())
    if len(keys) == 1:
        k = keys[0]
        vals = [x[k] if isinstance(x, dict) and k in x else _UNSPECIFIED for x in obj]
        idents = [("unspecified",) if v is _UNSPECIFIED else _ident(v) for v in vals]
        errs = []
        for i in _non_unique(idents):
            errs.append(duplicate(index(path, i), {} if vals[i] is _UNSPECIFIED else {k: vals[i]}))
        return errs
    composite = [{k: x[k] for k in keys if k in x} if isinstance(x, dict) else {} for x in obj]
    return [duplicate(index(path, i), _sorted(composite[i])) for i in _non_unique(composite)]


def _sorted(v: Any) -> Any:
    """Maps as json.Marshal renders them (keys sorted, recursively)."""
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted(x) for x in v]
    return v
