"""Pruning, ObjectMeta coercion and defaulting of custom resources (apiextensions-apiserver
pkg/apiserver/schema/{pruning,objectmeta,defaulting}), in place on plain dicts.

``prune`` drops fields the structural schema does not specify (except under
``x-kubernetes-preserve-unknown-fields``; ``apiVersion``/``kind``/``metadata`` of the root and of
``x-kubernetes-embedded-resource`` objects are kept) and returns their paths; ``coerce_metadata`` reduces a
``metadata`` map to ObjectMeta's fields; ``apply_defaults`` removes non-nullable nulls and fills in
``default`` values, top-down, only where the parent object exists.
"""

from __future__ import annotations

import functools
from typing import Any

from schemas.crd._go import deepcopy
from schemas.fielderrors import FieldError, invalid

__all__ = ["prune", "coerce_metadata", "coerce_embedded", "apply_defaults", "META_FIELDS"]

Obj = dict[str, Any]
META_FIELDS = ("apiVersion", "kind", "metadata")
#: ObjectMeta fields that are pointers (kept when zero); every other one is omitempty
_META_POINTERS = ("deletionGracePeriodSeconds",)


def _ap_schema(s: Obj) -> Obj | None:
    ap = s.get("additionalProperties")
    return ap if isinstance(ap, dict) else None


def _join(parent: str, k: str) -> str:
    return f"{parent}.{k}" if parent else k


def prune(obj: Any, schema: Obj | None, *, root: bool = True) -> list[str]:
    """Remove unspecified fields from ``obj`` in place; returns their paths, sorted (``spec.foo``)."""
    s: Obj = dict(schema or {})
    if root:
        s["x-kubernetes-embedded-resource"] = True
    out: list[str] = []
    _prune(obj, s, "", out)
    out.sort()
    return out


def _prune(x: Any, s: Obj | None, parent: str, out: list[str]) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields") is True:
        _skip_prune(x, s, parent, out)
        return
    if isinstance(x, dict):
        if s is None:
            for k in list(x):
                out.append(_join(parent, k))
                del x[k]
            return
        emb = s.get("x-kubernetes-embedded-resource") is True
        props = s.get("properties") or {}
        has_ap = s.get("additionalProperties") is not None
        for k in list(x):
            if emb and k in META_FIELDS:
                continue
            if k in props:
                _prune(x[k], props[k] if isinstance(props[k], dict) else None, _join(parent, k), out)
            elif has_ap:
                _prune(x[k], _ap_schema(s), _join(parent, k), out)
            else:
                if k not in META_FIELDS or parent:
                    out.append(_join(parent, k))
                del x[k]
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for i, v in enumerate(x):
            _prune(v, items if isinstance(items, dict) else None, f"{parent}[{i}]", out)


def _skip_prune(x: Any, s: Obj, parent: str, out: list[str]) -> None:
    if isinstance(x, dict):
        emb = s.get("x-kubernetes-embedded-resource") is True
        props = s.get("properties") or {}
        has_ap = s.get("additionalProperties") is not None
        for k, v in x.items():
            if emb and k in META_FIELDS:
                continue
            if k in props:
                _prune(v, props[k] if isinstance(props[k], dict) else None, _join(parent, k), out)
            elif has_ap:
                _prune(v, _ap_schema(s), _join(parent, k), out)
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(x):
                _skip_prune(v, items, f"{parent}[{i}]", out)


# -- ObjectMeta ------------------------------------------------------------------------------------------

@functools.cache
def _schemas() -> Any:
    from schemas import loader

    return loader.load("1.37")


def coerce_metadata(obj: Obj, prefix: str = "") -> tuple[list[str], FieldError | None]:
    """Round-trip ``obj["metadata"]`` through ObjectMeta, as GetObjectMeta+SetObjectMeta do: unknown fields
    are dropped (and returned as ``<prefix>metadata.foo``), nulls and empty fields dropped, times
    normalized. A value ObjectMeta cannot hold gives the decoder's error (a ``DecodeError``)."""
    from schemas import validation as sv

    if "metadata" not in obj:
        return [], None
    meta = obj["metadata"]
    if meta is None:
        del obj["metadata"]
        return [], None
    wrapper: Obj = {"metadata": deepcopy(meta)}
    res = sv.validate(_schemas(), "", "v1", "ConfigMap", wrapper, field_validation="Strict")
    if res.errors:
        err = res.errors[0]
        message = getattr(err, "message", "") or err.error()
        message = message.replace("Go struct field ObjectMeta.metadata.", "Go struct field ObjectMeta.")
        message = message.replace("Go struct field ConfigMap.metadata of type", "Go value of type")
        return [], sv.DecodeError(err.type, f"{prefix}metadata", meta, message, message=message)
    unknown = [u.split('"', 1)[1].rsplit('"', 1)[0] for u in res.strict if u.startswith("unknown field")]
    clean = wrapper.get("metadata")
    if isinstance(clean, dict):
        obj["metadata"] = {k: v for k, v in clean.items()
                           if k in _META_POINTERS or v not in ("", 0, {}, [], None) or v is False}
    return [f"{prefix}{u}" for u in unknown], None


def coerce_embedded(x: Any, s: Obj | None, path: str = "") -> tuple[list[str], FieldError | None]:
    """objectmeta.Coerce below the root: ``apiVersion``/``kind`` must be strings and ``metadata`` is
    coerced to ObjectMeta in every ``x-kubernetes-embedded-resource`` object."""
    unknown: list[str] = []
    err = _coerce(x, s, path, unknown)
    unknown.sort()
    return unknown, err


def _coerce(x: Any, s: Obj | None, path: str, unknown: list[str]) -> FieldError | None:
    if s is None:
        return None
    if isinstance(x, dict):
        emb = s.get("x-kubernetes-embedded-resource") is True
        props = s.get("properties") or {}
        for k in list(x):
            if k not in x:
                continue
            v = x[k]
            if emb and k in ("apiVersion", "kind") and not isinstance(v, str):
                return invalid(_join(path, k), v, "must be a string")
            if emb and k == "metadata":
                more, err = coerce_metadata(x, path + "." if path else "")
                if err is not None:
                    return err
                unknown.extend(more)
                v = x.get(k)
            if k in props and isinstance(props[k], dict):
                err = _coerce(v, props[k], _join(path, k), unknown)
            elif s.get("additionalProperties") is not None:
                err = _coerce(v, _ap_schema(s), f"{path}[{k}]", unknown)
            else:
                err = None
            if err is not None:
                return err
    elif isinstance(x, list):
        items = s.get("items")
        for i, v in enumerate(x):
            err = _coerce(v, items if isinstance(items, dict) else None, f"{path}[{i}]", unknown)
            if err is not None:
                return err
    return None


# -- defaulting ------------------------------------------------------------------------------------------

def apply_defaults(obj: Any, schema: Obj | None) -> None:
    """PruneNonNullableNullsWithoutDefaults followed by Default, in place."""
    if schema is None:
        return
    _prune_nulls(obj, schema)
    _default(obj, schema)


def _field_schema(s: Obj | None, k: str) -> Obj | None:
    if s is None:
        return None
    props = s.get("properties") or {}
    if k in props:
        return props[k] if isinstance(props[k], dict) else None
    return _ap_schema(s)


def _prune_nulls(x: Any, s: Obj | None) -> None:
    if isinstance(x, dict):
        for k in list(x):
            sub = _field_schema(s, k)
            if x[k] is None and sub is not None and sub.get("nullable") is not True and sub.get("default") is None:
                del x[k]
            else:
                _prune_nulls(x[k], sub)
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for v in x:
            _prune_nulls(v, items if isinstance(items, dict) else None)


def _default(x: Any, s: Obj | None) -> None:
    if s is None:
        return
    if isinstance(x, dict):
        props = s.get("properties") or {}
        for k, prop in props.items():
            if not isinstance(prop, dict) or prop.get("default") is None:
                continue
            if k not in x or (x[k] is None and prop.get("nullable") is not True):
                x[k] = deepcopy(prop["default"])
        ap = _ap_schema(s)
        for k in list(x):
            if k in props:
                _default(x[k], props[k] if isinstance(props[k], dict) else None)
            elif ap is not None:
                if x[k] is None and ap.get("nullable") is not True:
                    x[k] = deepcopy(ap.get("default"))
                _default(x[k], ap)
    elif isinstance(x, list):
        items = s.get("items")
        if not isinstance(items, dict):
            return
        for i in range(len(x)):
            if x[i] is None and items.get("nullable") is not True:
                x[i] = deepcopy(items.get("default"))
            _default(x[i], items)
