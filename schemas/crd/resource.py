"""A custom resource's schema at work: decoding (ObjectMeta coercion, pruning, defaulting), validation
(type meta, ObjectMeta, OpenAPI schema, scale paths, embedded resources, list types, CEL rules) and the
create/update preparation upstream's customresource strategy does.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from schemas.crd import celrules
from schemas.crd._go import as_obj, deepcopy, go_equal
from schemas.crd.columns import go_type, nested_field
from schemas.crd.embedded import validate_embedded, validate_list_types
from schemas.crd.jsonpath import go_sprint
from schemas.crd.openapi import MISSING, validate_value
from schemas.crd.prune import apply_defaults, coerce_embedded, coerce_metadata, prune
from schemas.fielderrors import FieldError, invalid
from schemas.rules import names
from schemas.rules.meta import validate_object_meta, validate_object_meta_update

__all__ = ["CustomResourceSchema", "CRResult"]

Obj = dict[str, Any]
_MAX_INT32 = 2**31 - 1
_STANDARD_FINALIZERS = ("orphan", "foregroundDeletion", "kubernetes")


class CRResult(NamedTuple):
    """``errors``: field errors (a ``schemas.validation.DecodeError`` among them means the body could not be
    decoded: a 400, not a 422); ``unknown``: ``unknown field "spec.foo"`` / ``duplicate field "x"`` texts
    that fail a Strict request; ``warnings``: the same texts for a Warn request plus other warnings."""

    errors: list[FieldError]
    unknown: list[str]
    warnings: list[str]


class CustomResourceSchema:
    """Built from a version's ``openAPIV3Schema``; ``kind``/``api_version`` enable the type-meta check,
    ``namespaced`` the namespace check of ObjectMeta, ``subresources`` the status/scale behaviour."""

    def __init__(self, schema: Obj | None, *, kind: str = "", api_version: str = "",
                 namespaced: bool | None = None, subresources: Obj | None = None,
                 preserve_unknown_fields: bool = False) -> None:
        self.schema = schema if isinstance(schema, dict) else None
        self.kind, self.api_version, self.namespaced = kind, api_version, namespaced
        sub = subresources if isinstance(subresources, dict) else {}
        self.status_enabled = sub.get("status") is not None
        self.scale: Obj | None = sub.get("scale") if isinstance(sub.get("scale"), dict) else None
        self.preserve_unknown_fields = preserve_unknown_fields
        props = (self.schema or {}).get("properties") or {}
        self.status_schema: Obj | None = props.get("status") if isinstance(props.get("status"), dict) else None
        self._has_rules = _has_rules(self.schema)

    @classmethod
    def for_version(cls, crd: Obj, version: str) -> CustomResourceSchema:
        spec = crd.get("spec") or {}
        for v in spec.get("versions") or ():
            if isinstance(v, dict) and v.get("name") == version:
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                return cls(schema, kind=(spec.get("names") or {}).get("kind", ""),
                           api_version=f"{spec.get('group', '')}/{version}",
                           namespaced=spec.get("scope") == "Namespaced", subresources=v.get("subresources"),
                           preserve_unknown_fields=spec.get("preserveUnknownFields") is True)
        raise KeyError(f"version {version} not found in CustomResourceDefinition {crd.get('metadata', {}).get('name')}")

    # -- decoding ----------------------------------------------------------------------------------------

    def _decode(self, obj: Obj) -> tuple[list[str], FieldError | None]:
        unknown, err = coerce_metadata(obj)
        if err is not None:
            return unknown, err
        if not self.preserve_unknown_fields:
            unknown += prune(obj, self.schema)
        more, err = coerce_embedded(obj, self.schema)
        return unknown + more, err

    def prune(self, obj: Obj) -> list[str]:
        """Prune ``obj`` in place (root metadata reduced to ObjectMeta, embedded metadata too); returns
        ``unknown field "spec.foo"`` texts, in upstream's order."""
        unknown, _ = self._decode(obj)
        return [f'unknown field "{u}"' for u in unknown]

    def apply_defaults(self, obj: Obj) -> None:
        """Drop non-nullable nulls and apply ``default`` values in place (on reads and writes alike)."""
        apply_defaults(obj, self.schema)

    # -- validation --------------------------------------------------------------------------------------

    def validate(self, obj: Obj, *, field_validation: str = "Strict", raw: bytes | str | None = None,
                 old: Obj | None = None, subresource: str = "") -> CRResult:
        """Decode (prune, default - in place) and validate ``obj``; ``old`` makes it an update (transition
        rules, ratcheting, immutable metadata), ``subresource="status"`` a status update."""
        mode = field_validation or "Warn"
        strict = _duplicates(raw) if raw is not None and mode != "Ignore" else []
        unknown, err = self._decode(obj)
        if err is not None:
            return CRResult([err], [], [])
        strict += [f'unknown field "{u}"' for u in unknown]
        self.apply_defaults(obj)
        errors, warnings = self.check(obj, old=old, subresource=subresource)
        warnings = _finalizer_warnings(obj, old) + warnings
        if mode == "Strict":
            return CRResult(errors, strict, warnings)
        if mode == "Ignore":
            return CRResult(errors, [], warnings)
        return CRResult(errors, [], strict + warnings)

    def check(self, obj: Obj, *, old: Obj | None = None, subresource: str = "") -> tuple[list[FieldError], list[str]]:
        """Validation only (no decoding): (errors, warnings)."""
        errs = self._type_meta(obj)
        if errs:
            return errs, []
        meta = as_obj(obj.get("metadata"))
        old_meta = as_obj((old or {}).get("metadata"))
        if old is not None:
            errs += validate_object_meta_update(meta, old_meta, core=False)
        else:
            errs += validate_object_meta(meta, namespaced=self.namespaced, core=False)
        if subresource == "status":
            if "status" in obj:
                errs += validate_value(self.status_schema, obj["status"], "status",
                                       old=(old or {}).get("status", MISSING))
            errs += self._scale_status(obj)
        else:
            errs += validate_value(self.schema, obj, None, old=old if old is not None else MISSING)
            errs += self._scale_spec(obj) + self._scale_status(obj)
            errs += validate_embedded(obj, self.schema)
        new_lists = validate_list_types(obj, self.schema)
        if new_lists and (old is None or not validate_list_types(old, self.schema)):
            errs += new_lists
        warnings: list[str] = []
        if self._has_rules:
            if any(e.type in celrules.BLOCKING_TYPES for e in errs):
                errs.append(invalid("<nil>", None, celrules.NOT_CHECKED))
            else:
                more, warnings = celrules.validate_rules(obj, self.schema, old=old if old is not None else MISSING)
                errs += more
        return errs, warnings

    def _type_meta(self, obj: Obj) -> list[FieldError]:
        if not self.kind:
            return []
        errs: list[FieldError] = []
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind != self.kind:
            errs.append(invalid("kind", kind if isinstance(kind, str) else "", f"must be {self.kind}"))
        if self.api_version and api_version != self.api_version:
            errs.append(invalid("apiVersion", api_version if isinstance(api_version, str) else "",
                                f"must be {self.api_version}"))
        return errs

    def _int_path(self, obj: Obj, path: str) -> list[FieldError]:
        value, found, err = nested_field(obj, path)
        if err is None and found and not (isinstance(value, int) and not isinstance(value, bool)):
            err = f".{path.lstrip('.')} accessor error: {go_sprint(value)} is of the type {go_type(value)}, expected int64"
        if err is not None:
            return [invalid(path, 0, err)]
        n = value if found else 0
        if n < 0:
            return [invalid(path, n, "should be a non-negative integer")]
        if n > _MAX_INT32:
            return [invalid(path, n, f"should be less than or equal to {_MAX_INT32}")]
        return []

    def _scale_spec(self, obj: Obj) -> list[FieldError]:
        if self.scale is None:
            return []
        return self._int_path(obj, str(self.scale.get("specReplicasPath", "")))

    def _scale_status(self, obj: Obj) -> list[FieldError]:
        if self.scale is None:
            return []
        errs = self._int_path(obj, str(self.scale.get("statusReplicasPath", "")))
        selector = self.scale.get("labelSelectorPath")
        if isinstance(selector, str):
            value, found, err = nested_field(obj, selector)
            if err is None and found and not isinstance(value, str):
                err = f".{selector.lstrip('.')} accessor error: {go_sprint(value)} is of the type {go_type(value)}, expected string"
            if err is not None:
                errs.append(invalid(selector, "", err))
        return errs

    # -- strategy ----------------------------------------------------------------------------------------

    def prepare_for_create(self, obj: Obj) -> None:
        """Drop ``status`` when the status subresource is enabled and set ``metadata.generation`` to 1."""
        if self.status_enabled:
            obj.pop("status", None)
        obj.setdefault("metadata", {})["generation"] = 1

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        """Keep the old ``status`` (status subresource enabled) and bump the generation when anything but
        metadata changed."""
        if self.status_enabled:
            if "status" in old:
                obj["status"] = deepcopy(old["status"])
            else:
                obj.pop("status", None)
        new_rest = {k: v for k, v in obj.items() if k != "metadata"}
        old_rest = {k: v for k, v in old.items() if k != "metadata"}
        meta = obj.setdefault("metadata", {})
        old_gen = (old.get("metadata") or {}).get("generation") or 0
        meta["generation"] = old_gen if go_equal(new_rest, old_rest) else old_gen + 1


def _has_rules(s: Any) -> bool:
    if isinstance(s, dict):
        return bool(s.get("x-kubernetes-validations")) or any(_has_rules(v) for v in s.values())
    if isinstance(s, list):
        return any(_has_rules(v) for v in s)
    return False


class _Pairs(list[tuple[str, Any]]):
    pass


def _duplicates(raw: bytes | str) -> list[str]:
    try:
        doc = json.loads(raw, object_pairs_hook=_Pairs)
    except ValueError:
        return []
    out: list[str] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, _Pairs):
            seen: set[str] = set()
            for k, x in v:
                p = f"{path}.{k}" if path else k
                if k in seen:
                    msg = f'duplicate field "{p}"'
                    if msg not in out:
                        out.append(msg)
                seen.add(k)
                walk(x, p)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{path}[{i}]")

    walk(doc, "")
    return out


def _finalizer_warnings(obj: Obj, old: Obj | None) -> list[str]:
    fins = (obj.get("metadata") or {}).get("finalizers") or []
    old_fins = set(((old or {}).get("metadata") or {}).get("finalizers") or []) if old is not None else set()
    out: list[str] = []
    for f in sorted({f for f in fins if isinstance(f, str)} - old_fins):
        out += [f'metadata.finalizers: "{f}": {m}' for m in names.qualified_name(f)]
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            hint = "including a path (/) " if "." in f else ""
            out.append(f'metadata.finalizers: "{f}": prefer a domain-qualified finalizer name {hint}to avoid '
                       "accidental conflicts with other finalizer writers")
    return out
