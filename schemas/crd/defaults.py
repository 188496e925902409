"""structuraldefaulting.ValidateDefaults: ``default`` values in a CRD schema must survive pruning, be valid
embedded resources where applicable, validate against their own schema node and satisfy its rules."""

from __future__ import annotations

from typing import Any

from schemas.crd._go import child, deepcopy, go_equal, key
from schemas.crd.celrules import validate_rules
from schemas.crd.embedded import validate_embedded
from schemas.crd.openapi import validate_value
from schemas.crd.prune import META_FIELDS, coerce_embedded, prune
from schemas.fielderrors import FieldError, invalid

__all__ = ["validate_defaults"]

Obj = dict[str, Any]


def validate_defaults(path: str, schema: Obj, require_pruned: bool) -> list[FieldError]:
    root = dict(schema)
    root["x-kubernetes-embedded-resource"] = True
    return _validate(path, root, False, require_pruned)


def _validate(path: str, s: Any, inside_meta: bool, require_pruned: bool) -> list[FieldError]:
    if not isinstance(s, dict):
        return []
    if s.get("x-kubernetes-embedded-resource") is True:
        inside_meta = False
    errs: list[FieldError] = []
    default = s.get("default")
    if default is not None:
        dpath = child(path, "default")
        if inside_meta:
            errs += validate_value(s, default, dpath)
        else:
            if require_pruned:
                pruned = deepcopy(default)
                prune(pruned, s, root=False)
                if not go_equal(pruned, default):
                    errs.append(invalid(dpath, default, "must not have unknown fields"))
            _, coerce_err = coerce_embedded(deepcopy(default), s, dpath)
            if coerce_err is not None:
                errs.append(coerce_err)
            else:
                more = validate_embedded(default, s, dpath) or validate_value(s, default, dpath)
                if not more:
                    more, _ = validate_rules(default, s, old=default, path=dpath)
                errs += more
    # additionalProperties are not followed: defaults are forbidden there
    errs += _validate(child(path, "items"), s.get("items"), inside_meta, require_pruned)
    emb = s.get("x-kubernetes-embedded-resource") is True
    for k, sub in (s.get("properties") or {}).items():
        sub_meta = inside_meta or (emb and k in META_FIELDS)
        errs += _validate(key(child(path, "properties"), k), sub, sub_meta, require_pruned)
    return errs
