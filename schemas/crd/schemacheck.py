"""Validation of a CRD's ``openAPIV3Schema`` (apiextensions validation: validateCustomResourceDefinitionValidation,
ValidateCustomResourceDefinitionOpenAPISchema, the structural-schema and defaults checks, and the static
checks of ``x-kubernetes-validations`` rules including their CEL compilation)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from schemas.crd import cel
from schemas.crd._go import GO_FIELD, PLAIN_FIELDS, child, go_items, go_rule, go_schema, index, key
from schemas.crd.structural import new_structural_error, validate_structural
from schemas.fielderrors import FieldError, forbidden, invalid, not_supported, required

__all__ = ["Options", "validate_schema_block", "has_schema_with"]

Obj = dict[str, Any]
_OPENAPI_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
_META_FIELDS = ("metadata", "kind", "apiVersion")
_ROOT_ALLOWED = ["Description", "Type", "Format", "Title", "Maximum", "ExclusiveMaximum", "Minimum", "ExclusiveMinimum",
                 "MaxLength", "MinLength", "Pattern", "MaxItems", "MinItems", "UniqueItems", "MultipleOf", "Required",
                 "Items", "Properties", "ExternalDocs", "Example", "XPreserveUnknownFields", "XValidations"]
_REASONS = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]
_NEWLINES = re.compile(r"[\n\r]+")


@dataclass(frozen=True)
class Options:
    allow_defaults: bool = True
    require_structural: bool = True
    require_pruned_defaults: bool = True
    require_atomic_set_type: bool = True
    require_map_list_keys_map_set: bool = True
    require_valid_property_type: bool = True


@dataclass(frozen=True)
class _SSV:
    allow_defaults: bool = True
    disallow_reason: str = ""
    inside_meta: bool = False
    uncorrelatable: str | None = None

    def forbid_defaults(self, reason: str) -> _SSV:
        return replace(self, allow_defaults=False, disallow_reason=reason)

    def forbid_old_self(self, path: str) -> _SSV:
        return self if self.uncorrelatable is not None else replace(self, uncorrelatable=path)


def _go_zero(name: str, v: Any) -> bool:
    if v is None:
        return True
    if name in PLAIN_FIELDS:
        return v is False or v == ""
    return False


def validate_schema_block(validation: Obj | None, status_enabled: bool, opts: Options, path: str) -> list[FieldError]:
    """validateCustomResourceDefinitionValidation for a ``{openAPIV3Schema: ...}`` block at ``path``."""
    if not isinstance(validation, dict):
        return []
    schema = validation.get("openAPIV3Schema")
    if not isinstance(schema, dict):
        return []
    errs: list[FieldError] = []
    p = child(path, "openAPIV3Schema")
    if status_enabled:
        for name in GO_FIELD:
            v = schema.get(name)
            if _go_zero(name, v):
                continue
            if name == "type":
                if v != "object":
                    errs.append(invalid(f"{path}.openAPIV3Schema.type", v, 'only "object" is allowed as the type at '
                                        "the root of the schema if the status subresource is enabled"))
                    break
                continue
            if GO_FIELD.get(name) not in _ROOT_ALLOWED:
                errs.append(invalid(p, go_schema(schema), f"only [{' '.join(_ROOT_ALLOWED)}] fields are allowed at "
                                    "the root of the schema if the status subresource is enabled"))
                break
    if schema.get("nullable") is True:
        errs.append(forbidden(f"{path}.openAPIV3Schema.nullable", "nullable cannot be true at the root"))
    cel_ok = False
    init_errs: list[FieldError] = []
    if opts.require_structural:
        init = new_structural_error(schema)
        if init:
            init_errs.append(invalid(p, "", init))
        else:
            structural = validate_structural(p, schema)
            if structural:
                errs += structural
            else:
                defaults = validate_defaults(p, schema, opts.require_pruned_defaults)
                if defaults:
                    errs += defaults
                else:
                    cel_ok = True
    schema_errs, cel_errs = _walk(schema, p, _SSV(opts.allow_defaults), True, opts, cel_ok)
    errs += schema_errs + cel_errs
    if not errs and init_errs:
        errs += init_errs
    return errs


def _walk(s: Any, path: str, ssv: _SSV, is_root: bool, opts: Options, cel_ok: bool) -> tuple[
        list[FieldError], list[FieldError]]:
    if not isinstance(s, dict):
        return [], []
    errs = _standard(s, path, ssv, opts)
    cel_errs: list[FieldError] = []

    def merge(res: tuple[list[FieldError], list[FieldError]]) -> None:
        errs.extend(res[0])
        cel_errs.extend(res[1])

    if s.get("uniqueItems") is True:
        errs.append(forbidden(child(path, "uniqueItems"),
                              "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    props = s.get("properties") or {}
    ap = s.get("additionalProperties")
    if ap is not None:
        if props and (ap is False or isinstance(ap, dict)):
            errs.append(forbidden(child(path, "additionalProperties"),
                                  "additionalProperties and properties are mutual exclusive"))
        sub = ssv.forbid_defaults("inside additionalProperties applying to object metadata") if ssv.inside_meta else ssv
        merge(_walk(ap, child(path, "additionalProperties"), sub, False, opts, cel_ok))
    for name, prop in props.items() if isinstance(props, dict) else ():
        sub = ssv
        if s.get("x-kubernetes-map-type") not in (None, "granular", "atomic"):
            sub = sub.forbid_old_self(path)
        if (is_root or s.get("x-kubernetes-embedded-resource") is True) and name in _META_FIELDS:
            sub = replace(sub, inside_meta=True)
            if is_root:
                sub = sub.forbid_defaults(f"in top-level {name}")
        merge(_walk(prop, key(child(path, "properties"), name), sub, False, opts, cel_ok))
    merge(_walk(s.get("not"), child(path, "not"), ssv, False, opts, False))
    for junctor in ("allOf", "oneOf", "anyOf"):
        for i, sub_s in enumerate(s.get(junctor) or ()):
            merge(_walk(sub_s, index(child(path, junctor), i), ssv, False, opts, False))
    for name, sub_s in (s.get("definitions") or {}).items():
        merge(_walk(sub_s, key(child(path, "definitions"), name), ssv, False, opts, False))
    items = s.get("items")
    if items is not None:
        sub = ssv if s.get("x-kubernetes-list-type") == "map" else ssv.forbid_old_self(path)
        if isinstance(items, dict):
            merge(_walk(items, child(path, "items"), sub, False, opts, cel_ok))
        elif isinstance(items, list):
            for i, it in enumerate(items):
                merge(_walk(it, index(child(path, "items"), i), sub, False, opts, cel_ok))
    for name, dep in (s.get("dependencies") or {}).items():
        if isinstance(dep, dict):
            merge(_walk(dep, key(child(path, "dependencies"), name), ssv, False, opts, False))
    errs += _extensions(s, path, opts)
    errs += _rules_static(s, path)
    if not errs and cel_ok and s.get("x-kubernetes-validations"):
        cel_errs += _rules_compile(s, path, ssv)
    return errs, cel_errs


def _standard(s: Obj, path: str, ssv: _SSV, opts: Options) -> list[FieldError]:
    errs: list[FieldError] = []
    typ = s.get("type")
    if opts.require_valid_property_type and typ and typ not in _OPENAPI_TYPES:
        errs.append(not_supported(child(path, "type"), typ, _OPENAPI_TYPES))
    if s.get("default") is not None and not ssv.allow_defaults:
        detail = "must not be set" + (" " + ssv.disallow_reason if ssv.disallow_reason else "")
        errs.append(forbidden(child(path, "default"), detail))
    checks = (("id", "id is not supported"), ("additionalItems", "additionalItems is not supported"),
              ("patternProperties", "patternProperties is not supported"),
              ("definitions", "definitions is not supported"), ("dependencies", "dependencies is not supported"))
    for name, msg in checks:
        v = s.get(name)
        if v is not None and v != "" and (name in ("additionalItems", "dependencies") or v):
            errs.append(forbidden(child(path, name), msg))
    if s.get("$ref") is not None:
        errs.append(forbidden(child(path, "$ref"), "$ref is not supported"))
    if typ == "null":
        errs.append(forbidden(child(path, "type"), "type cannot be set to null, use nullable as an alternative"))
    if isinstance(s.get("items"), list) and s["items"]:
        errs.append(forbidden(child(path, "items"), "items must be a schema object and not an array"))
    if ssv.inside_meta and s.get("x-kubernetes-embedded-resource") is True:
        errs.append(forbidden(child(path, "x-kubernetes-embedded-resource"), "must not be used inside of resource meta"))
    return errs


def _extensions(s: Obj, path: str, opts: Options) -> list[FieldError]:
    errs: list[FieldError] = []
    typ = s.get("type") or ""
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(invalid(child(path, "x-kubernetes-preserve-unknown-fields"), False, "must be true or undefined"))
    mt = s.get("x-kubernetes-map-type")
    if mt is not None and typ != "object":
        msg = "must be object if x-kubernetes-map-type is specified"
        errs.append(required(child(path, "type"), msg) if not typ else invalid(child(path, "type"), typ, msg))
    if mt is not None and mt not in ("atomic", "granular"):
        errs.append(not_supported(child(path, "x-kubernetes-map-type"), mt, ["atomic", "granular"]))
    lt = s.get("x-kubernetes-list-type")
    items = s.get("items")
    if lt is not None and typ != "array":
        msg = "must be array if x-kubernetes-list-type is specified"
        errs.append(required(child(path, "type"), msg) if not typ else invalid(child(path, "type"), typ, msg))
    elif opts.require_atomic_set_type and lt == "set" and isinstance(items, dict):
        msg = "must be atomic as item of a list with x-kubernetes-list-type=set"
        if items.get("type") == "array" and items.get("x-kubernetes-list-type") not in (None, "atomic"):
            errs.append(invalid(f"{path}.items.x-kubernetes-list-type", items.get("x-kubernetes-list-type"), msg))
        elif items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            errs.append(invalid(f"{path}.items.x-kubernetes-map-type", items.get("x-kubernetes-list-type"), msg))
    if lt is not None and lt not in ("atomic", "set", "map"):
        errs.append(not_supported(child(path, "x-kubernetes-list-type"), lt, ["atomic", "set", "map"]))
    keys = s.get("x-kubernetes-list-map-keys") or []
    if keys:
        msg = "must be map if x-kubernetes-list-map-keys is non-empty"
        if lt is None:
            errs.append(required(child(path, "x-kubernetes-list-type"), msg))
        elif lt != "map":
            errs.append(invalid(child(path, "x-kubernetes-list-type"), lt, msg))
    if lt == "map":
        errs += _map_list(s, path, keys)
    if opts.require_map_list_keys_map_set and lt in ("set", "map") and isinstance(items, dict):
        if items.get("nullable") is True:
            errs.append(forbidden(f"{path}.items.nullable", f"cannot be nullable when x-kubernetes-list-type is {lt}"))
        if lt == "map":
            req = set(items.get("required") or ())
            iprops = items.get("properties") or {}
            for k in keys:
                if k not in iprops:
                    continue
                p = key(f"{path}.items.properties", k)
                if k not in req and (iprops[k] or {}).get("default") is None:
                    errs.append(required(child(p, "default"), "this property is in x-kubernetes-list-map-keys, so it "
                                                              "must have a default or be a required property"))
                if (iprops[k] or {}).get("nullable") is True:
                    errs.append(forbidden(child(p, "nullable"),
                                          "this property is in x-kubernetes-list-map-keys, so it cannot be nullable"))
    return errs


def _map_list(s: Obj, path: str, keys: list[Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    items = s.get("items")
    if not keys:
        errs.append(required(child(path, "x-kubernetes-list-map-keys"), "must not be empty if x-kubernetes-list-type is map"))
    if items is None:
        errs.append(required(child(path, "items"), "must have a schema if x-kubernetes-list-type is map"))
    elif not isinstance(items, dict):
        errs.append(invalid(child(path, "items"), go_items(items), "must only have a single schema if "
                                                                 "x-kubernetes-list-type is map"))
    elif items.get("type") != "object":
        errs.append(invalid(f"{path}.items.type", items.get("type", ""),
                            "must be object if parent array's x-kubernetes-list-type is map"))
    else:
        seen: set[str] = set()
        iprops = items.get("properties") or {}
        for k in keys:
            if k in iprops:
                if (iprops[k] or {}).get("type") in ("array", "object"):
                    errs.append(invalid(f"{key(path + '.items.properties', k)}.type", items.get("type", ""),
                                        "must be a scalar type if parent array's x-kubernetes-list-type is map"))
            else:
                errs.append(invalid(child(path, "x-kubernetes-list-map-keys"), keys,
                                    "entries must all be names of item properties"))
            if k in seen:
                errs.append(invalid(child(path, "x-kubernetes-list-map-keys"), keys, "must not contain duplicate entries"))
            seen.add(k)
    return errs


def _rules_static(s: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(s.get("x-kubernetes-validations") or ()):
        rule = rule if isinstance(rule, dict) else {}
        p = index(child(path, "x-kubernetes-validations"), i)
        text, msg, mexpr = (str(rule.get(k) or "") for k in ("rule", "message", "messageExpression"))
        if not text.strip():
            errs.append(required(child(p, "rule"), "rule is not specified"))
        elif msg and not msg.strip():
            errs.append(invalid(child(p, "message"), msg, "must be non-empty if specified"))
        elif _NEWLINES.search(msg.strip()):
            errs.append(invalid(child(p, "message"), msg, "must not contain line breaks"))
        elif _NEWLINES.search(text.strip()) and not msg.strip():
            errs.append(required(child(p, "message"), "message must be specified if rule contains line breaks"))
        if mexpr and not mexpr.strip():
            errs.append(required(child(p, "messageExpression"), "messageExpression must be non-empty if specified"))
        reason = rule.get("reason")
        if reason is not None and reason not in _REASONS:
            errs.append(not_supported(child(p, "reason"), reason, _REASONS))
        fp = rule.get("fieldPath")
        if isinstance(fp, str) and fp:
            if not fp.strip():
                errs.append(invalid(child(p, "fieldPath"), fp, "must be non-empty if specified"))
            if _NEWLINES.search(fp):
                errs.append(invalid(child(p, "fieldPath"), fp, "must not contain line breaks"))
            if new_structural_error(s) is None:
                try:
                    cel.valid_field_path(fp, s)
                except ValueError:
                    errs.append(invalid(child(p, "fieldPath"), fp, "must be a valid path"))
    return errs


def _rules_compile(s: Obj, path: str, ssv: _SSV) -> list[FieldError]:
    errs: list[FieldError] = []
    if not cel.CEL_SUPPORTED:
        return errs
    for i, rule in enumerate(s.get("x-kubernetes-validations") or ()):
        if not isinstance(rule, dict):
            continue
        p = index(child(path, "x-kubernetes-validations"), i)
        compiled = cel.compile_rule(rule)
        if compiled.error is not None and not compiled.unsupported:
            errs.append(invalid(child(p, "rule"), go_rule(rule), compiled.error))
        if compiled.message_error is not None:
            errs.append(invalid(child(p, "messageExpression"), go_rule(rule), compiled.message_error))
        if compiled.uses_old_self:
            if ssv.uncorrelatable is not None:
                errs.append(invalid(child(p, "rule"), rule.get("rule", ""), "oldSelf cannot be used on the "
                                    f"uncorrelatable portion of the schema within {ssv.uncorrelatable}"))
        elif rule.get("optionalOldSelf") is not None:
            errs.append(invalid(child(p, "optionalOldSelf"), rule["optionalOldSelf"],
                                "may not be set if oldSelf is not used in rule"))
    return errs


def validate_defaults(path: str, schema: Obj, require_pruned: bool) -> list[FieldError]:
    """structuraldefaulting.ValidateDefaults: every default must be pruned, valid for its schema (and rules)."""
    from schemas.crd.defaults import validate_defaults as impl

    return impl(path, schema, require_pruned)


def has_schema_with(schemas: list[Any], pred: Any) -> bool:
    """SchemaHas over several schemas: whether ``pred`` holds anywhere inside one of them."""
    def walk(s: Any) -> bool:
        if not isinstance(s, dict):
            return False
        if pred(s):
            return True
        items = s.get("items")
        subs: list[Any] = [items] if isinstance(items, dict) else list(items) if isinstance(items, list) else []
        for junctor in ("allOf", "anyOf", "oneOf"):
            subs += list(s.get(junctor) or ())
        subs += [s.get("not"), s.get("additionalProperties"), s.get("additionalItems")]
        for m in ("properties", "patternProperties", "definitions", "dependencies"):
            subs += list((s.get(m) or {}).values()) if isinstance(s.get(m), dict) else []
        return any(walk(x) for x in subs)

    return any(walk(s) for s in schemas)
