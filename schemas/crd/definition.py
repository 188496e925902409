"""Validation of CustomResourceDefinitions (apiextensions.k8s.io/v1) with upstream's paths and messages
(apiextensions-apiserver pkg/apis/apiextensions/validation), plus v1 defaulting and the strategy's
create/update preparation.

Upstream validates the *internal* form of a v1 CRD: when every version carries the same ``schema``,
``subresources``, ``additionalPrinterColumns`` or ``selectableFields``, the conversion moves them to the
top level, so errors in them read ``spec.validation.openAPIV3Schema...``, ``spec.subresources...``,
``spec.additionalPrinterColumns[0]...`` (always so for a single-version CRD); otherwise they read
``spec.versions[i]...``. Error values of internal structs render with Go field names.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from schemas.crd import cel
from schemas.crd._go import as_obj, deepcopy, go_equal, go_versions, index
from schemas.crd.crdextras import (
    default_crd,
    prepare_crd_for_create,
    prepare_crd_for_update,
    validate_approval,
    validate_conversion,
    validate_stored_versions,
)
from schemas.crd.prune import prune
from schemas.crd.schemacheck import Options, has_schema_with, validate_schema_block
from schemas.crd.structural import new_structural_error, validate_structural
from schemas.fielderrors import FieldError, duplicate, invalid, not_supported, required, too_many
from schemas.rules import names
from schemas.rules.meta import immutable, validate_object_meta, validate_object_meta_update

__all__ = ["validate_crd", "validate_crd_update", "default_crd", "prepare_crd_for_create", "prepare_crd_for_update",
           "MAX_SELECTABLE_FIELDS"]

Obj = dict[str, Any]
MAX_SELECTABLE_FIELDS = 8
_COLUMN_TYPES = "boolean,date,integer,number,string"
_COLUMN_FORMATS = "byte,date,date-time,double,float,int32,int64,password"
_PER_VERSION = ("schema", "subresources", "additionalPrinterColumns", "selectableFields")


def _internal(spec: Obj) -> tuple[Obj, list[Obj]]:
    """The v1 -> internal conversion: per-version fields identical in every version move to the top."""
    versions = [as_obj(v) for v in spec.get("versions") or ()]
    top: Obj = {}
    out = [dict(v) for v in versions]
    if versions:
        for name in _PER_VERSION:
            values = [v.get(name) or None for v in versions]
            if all(x == values[0] for x in values):
                top[name] = values[0]
                for v in out:
                    v.pop(name, None)
    return top, out


def _schemas(top: Obj, versions: list[Obj]) -> list[Any]:
    blocks = [top.get("schema")] + [v.get("schema") for v in versions]
    return [(b or {}).get("openAPIV3Schema") for b in blocks if isinstance(b, dict)]


def validate_crd(crd: Obj) -> list[FieldError]:
    """Errors for creating ``crd`` (defaulted with :func:`default_crd` and prepared, as upstream does)."""
    return _validate(crd, None)


def validate_crd_update(new: Obj, old: Obj) -> list[FieldError]:
    """Errors for replacing ``old`` with ``new``; checks the old object did not need are relaxed likewise."""
    return _validate(new, old)


def _validate(crd: Obj, old: Obj | None) -> list[FieldError]:
    spec = as_obj(crd.get("spec"))
    meta = as_obj(crd.get("metadata"))
    opts = Options()
    require_recognized = True
    immutable_names = False
    if old is not None:
        ospec = as_obj(old.get("spec"))
        otop, oversions = _internal(ospec)
        oschemas = _schemas(otop, oversions)
        conv = ospec.get("conversion") or {}
        review = ((conv.get("webhook") or {}).get("conversionReviewVersions") or []) if isinstance(conv, dict) else []
        require_recognized = not review or any(v in ("v1", "v1beta1") for v in review)
        immutable_names = any(c.get("type") == "Established" and c.get("status") == "True"
                              for c in (old.get("status") or {}).get("conditions") or () if isinstance(c, dict))
        opts = Options(
            require_structural=not any(_non_structural(s) for s in oschemas),
            require_atomic_set_type=not has_schema_with(oschemas, _non_atomic_set),
            require_map_list_keys_map_set=not has_schema_with(oschemas, _invalid_map_set),
            require_pruned_defaults=not has_schema_with(oschemas, _unpruned_default),
            require_valid_property_type=not has_schema_with(oschemas, _invalid_type))
        errs = validate_object_meta_update(meta, (old.get("metadata") or {}), core=False)
    else:
        errs = _meta(meta, spec)
    errs += _spec(spec, opts, require_recognized, old)
    if old is not None:
        ospec = old.get("spec") or {}
        if immutable_names:
            errs += immutable(spec.get("scope"), ospec.get("scope"), "spec.scope")
            errs += immutable((spec.get("names") or {}).get("kind"), (ospec.get("names") or {}).get("kind"),
                              "spec.names.kind")
        errs += immutable(spec.get("group"), ospec.get("group"), "spec.group")
        errs += immutable((spec.get("names") or {}).get("plural"), (ospec.get("names") or {}).get("plural"),
                          "spec.names.plural")
    status = as_obj(crd.get("status"))
    errs += _names(status.get("acceptedNames") or {}, "status.acceptedNames")
    errs += validate_stored_versions(status.get("storedVersions"), spec.get("versions") or [])
    errs += validate_approval(crd, old)
    if spec.get("preserveUnknownFields") is True and not (old and (old.get("spec") or {}).get("preserveUnknownFields")):
        errs.append(invalid("spec.preserveUnknownFields", True, "cannot set to true, set x-kubernetes-preserve-unknown"
                            "-fields to true in spec.versions[*].schema instead"))
    return errs


def _non_structural(s: Any) -> bool:
    return isinstance(s, dict) and (new_structural_error(s) is not None or bool(validate_structural("", s)))


def _non_atomic_set(s: Obj) -> bool:
    items = s.get("items")
    if s.get("x-kubernetes-list-type") != "set" or not isinstance(items, dict):
        return False
    if items.get("type") == "array":
        return items.get("x-kubernetes-list-type") not in (None, "atomic")
    return items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic"


def _invalid_map_set(s: Obj) -> bool:
    items = s.get("items")
    lt = s.get("x-kubernetes-list-type")
    if lt not in ("set", "map") or not isinstance(items, dict):
        return False
    if items.get("nullable") is True:
        return True
    props, req = as_obj(items.get("properties")), set(items.get("required") or ())
    return lt == "map" and any(
        k in props and ((k not in req and as_obj(props[k]).get("default") is None) or as_obj(props[k]).get("nullable"))
        for k in s.get("x-kubernetes-list-map-keys") or ())


def _unpruned_default(s: Obj) -> bool:
    default = s.get("default")
    if default is None:
        return False
    pruned = deepcopy(default)
    prune(pruned, s, root=False)
    return not go_equal(pruned, default)


def _invalid_type(s: Obj) -> bool:
    t = s.get("type")
    return bool(t) and t not in ("string", "number", "integer", "boolean", "array", "object")


def _meta(meta: Obj, spec: Obj) -> list[FieldError]:
    errs = validate_object_meta(meta, namespaced=False, core=False)
    names_ = as_obj(spec.get("names"))
    wanted = f"{names_.get('plural', '')}.{spec.get('group', '')}"
    extra = 'must be spec.names.plural+"."+spec.group'
    out: list[FieldError] = []
    for fld in ("generateName", "name"):
        value = meta.get(fld) or ""
        mine = [e for e in errs if e.field == f"metadata.{fld}"]
        out += mine
        if value and value != wanted:
            out.append(invalid(f"metadata.{fld}", value, extra))
    return out + [e for e in errs if e.field not in ("metadata.name", "metadata.generateName")]


def _spec(spec: Obj, opts: Options, require_recognized: bool, old: Obj | None) -> list[FieldError]:
    errs: list[FieldError] = []
    group = spec.get("group") or ""
    if not group:
        errs.append(required("spec.group"))
    elif names.dns1123_subdomain(group):
        errs.append(invalid("spec.group", group, ",".join(names.dns1123_subdomain(group))))
    elif len(group.split(".")) < 2:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope") or ""
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    top, versions = _internal(spec)
    raw_versions = [as_obj(v) for v in spec.get("versions") or ()]
    validation = top.get("schema")
    if not isinstance(validation, dict) or not isinstance(validation.get("openAPIV3Schema"), dict):
        for i, v in enumerate(versions):
            if not isinstance((v.get("schema") or {}).get("openAPIV3Schema"), dict):
                errs.append(required(f"spec.versions[{i}].schema.openAPIV3Schema"))
    schemas = _schemas(top, versions)
    if has_schema_with(schemas, lambda s: s.get("default") is not None) and spec.get("preserveUnknownFields") is True:
        errs.append(invalid("spec.preserveUnknownFields", True, "must be false in order to use defaults in the schema"))
    any_status = any((v.get("subresources") or {}).get("status") is not None for v in raw_versions)
    storage, seen, unique = 0, set(), True
    for i, v in enumerate(versions):
        p = f"spec.versions[{i}]"
        storage += v.get("storage") is True
        unique = unique and v.get("name") not in seen
        seen.add(v.get("name"))
        vname = v.get("name") or ""
        if names.dns1035_label(vname):
            errs.append(invalid(f"{p}.name", vname, ",".join(names.dns1035_label(vname))))
        sub = top.get("subresources") if "subresources" in top else v.get("subresources")
        errs += _version(v, p, (sub or {}).get("status") is not None, opts, old, vname)
    shown = go_versions(versions) if spec.get("versions") is not None else None
    if not unique:
        errs.append(invalid("spec.versions", shown, "must contain unique version names"))
    if storage != 1:
        errs.append(invalid("spec.versions", shown, "must have exactly one version marked as storage version"))
    if versions and versions[0].get("name") and names.dns1035_label(versions[0]["name"]):
        errs.append(invalid("spec.version", versions[0]["name"], ",".join(names.dns1035_label(versions[0]["name"]))))
    nm = as_obj(spec.get("names"))
    for f in ("plural", "singular", "kind", "listKind"):
        if not nm.get(f):
            errs.append(required(f"spec.names.{f}"))
    errs += _names(nm, "spec.names")
    errs += validate_schema_block(validation, any_status, opts, "spec.validation")
    errs += _subresources(top.get("subresources"), "spec.subresources")
    for i, col in enumerate(top.get("additionalPrinterColumns") or ()):
        errs += _column(col, f"spec.additionalPrinterColumns[{i}]")
    if top.get("selectableFields"):
        if not isinstance(validation, dict):
            errs.append(invalid("spec.selectableFields", "", "may only be set when validations.schema is included"))
        else:
            schema = validation.get("openAPIV3Schema")
            init = new_structural_error(schema)
            if init:
                errs.append(invalid("spec.schema.openAPIV3Schema", "", init))
            errs += _selectable(top["selectableFields"], schema, "spec.selectableFields", _old_selectable(old, None))
    errs += validate_conversion(spec.get("conversion"), require_recognized)
    return errs


def _old_selectable(old: Obj | None, version: str | None) -> Any:
    if old is None:
        return None
    otop, oversions = _internal(old.get("spec") or {})
    if version is None:
        return otop.get("selectableFields")
    return next((v.get("selectableFields") for v in oversions if v.get("name") == version), None)


def _version(v: Obj, p: str, status_enabled: bool, opts: Options, old: Obj | None, vname: str) -> list[FieldError]:
    errs: list[FieldError] = []
    warning = v.get("deprecationWarning")
    for msg in _deprecation(v.get("deprecated") is True, warning):
        errs.append(invalid(f"{p}.deprecationWarning", warning, msg))
    errs += validate_schema_block(v.get("schema"), status_enabled, opts, f"{p}.schema")
    errs += _subresources(v.get("subresources"), f"{p}.subresources")
    for i, col in enumerate(v.get("additionalPrinterColumns") or ()):
        errs += _column(col, f"{p}.additionalPrinterColumns[{i}]")
    fields = v.get("selectableFields")
    if fields:
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            errs.append(invalid(f"{p}.selectableFields", "",
                                "may only be set when `version.schema.openAPIV3Schema` is not included"))
        else:
            init = new_structural_error(schema)
            if init:
                errs.append(invalid(f"{p}.schema.openAPIV3Schema", "", init))
            errs += _selectable(fields, schema, f"{p}.selectableFields", _old_selectable(old, vname))
    return errs


def _deprecation(deprecated: bool, warning: Any) -> list[str]:
    if not deprecated and warning is not None:
        return ["can only be set for deprecated versions"]
    if not isinstance(warning, str):
        return []
    out = []
    if len(warning.encode()) > 256:
        out.append("must be <= 256 characters long")
    if not warning:
        out.append("must not be an empty string")
    for i, r in enumerate(warning):
        cat = unicodedata.category(r)
        if cat.startswith("C") and cat != "Cc" or cat in ("Zl", "Zp"):
            out.append(f"must only contain printable UTF-8 characters; non-printable character found at index {i}")
            break
        if cat == "Cc":
            out.append(f"must only contain printable UTF-8 characters; control character found at index {i}")
            break
    return out


def _names(nm: Obj, p: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in ("plural", "singular"):
        v = nm.get(f) or ""
        if v and names.dns1035_label(v):
            errs.append(invalid(f"{p}.{f}", v, ",".join(names.dns1035_label(v))))
    for f in ("kind", "listKind"):
        v = nm.get(f) or ""
        if v and names.dns1035_label(v.lower()):
            errs.append(invalid(f"{p}.{f}", v, "may have mixed case, but should otherwise match: "
                                + ",".join(names.dns1035_label(v.lower()))))
    for i, s in enumerate(nm.get("shortNames") or ()):
        if names.dns1035_label(s):
            errs.append(invalid(f"{p}.shortNames[{i}]", s, ",".join(names.dns1035_label(s))))
    if nm.get("kind") and nm.get("kind") == nm.get("listKind"):
        errs.append(invalid(f"{p}.listKind", nm["listKind"], "kind and listKind may not be the same"))
    for i, c in enumerate(nm.get("categories") or ()):
        if names.dns1035_label(c):
            errs.append(invalid(f"{p}.categories[{i}]", c, ",".join(names.dns1035_label(c))))
    return errs


def _simple_json_path(s: str, p: str) -> list[FieldError]:
    if not s:
        return [invalid(p, s, "must not be empty")]
    if s[0] != ".":
        return [invalid(p, s, "must be a simple json path starting with .")]
    return []


def _subresources(sub: Any, p: str) -> list[FieldError]:
    if not isinstance(sub, dict) or not isinstance(sub.get("scale"), dict):
        return []
    scale, errs = sub["scale"], []
    for f, prefixes, what in (("specReplicasPath", (".spec.",), ".spec"), ("statusReplicasPath", (".status.",), ".status")):
        v = scale.get(f) or ""
        if not v:
            errs.append(required(f"{p}.scale.{f}"))
        else:
            more = _simple_json_path(v, f"{p}.scale.{f}")
            if not more and not v.startswith(prefixes):
                more = [invalid(f"{p}.scale.{f}", v, f"should be a json path under {what}")]
            errs += more
    selector = scale.get("labelSelectorPath")
    if isinstance(selector, str) and selector:
        more = _simple_json_path(selector, f"{p}.scale.labelSelectorPath")
        if not more and not selector.startswith((".spec.", ".status.")):
            more = [invalid(f"{p}.scale.labelSelectorPath", selector, "should be a json path under either .spec or .status")]
        errs += more
    return errs


def _column(col: Any, p: str) -> list[FieldError]:
    col = as_obj(col)
    errs: list[FieldError] = []
    if not col.get("name"):
        errs.append(required(f"{p}.name"))
    typ = col.get("type") or ""
    if not typ:
        errs.append(required(f"{p}.type", f"must be one of {_COLUMN_TYPES}"))
    elif typ not in _COLUMN_TYPES.split(","):
        errs.append(invalid(f"{p}.type", typ, f"must be one of {_COLUMN_TYPES}"))
    fmt = col.get("format") or ""
    if fmt and fmt not in _COLUMN_FORMATS.split(","):
        errs.append(invalid(f"{p}.format", fmt, f"must be one of {_COLUMN_FORMATS}"))
    path = col.get("jsonPath") or ""
    if not path:
        errs.append(required(f"{p}.JSONPath"))
    else:
        errs += _simple_json_path(path, f"{p}.JSONPath")
    return errs


def _selectable(fields: list[Any], schema: Any, p: str, old_fields: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, f in enumerate(fields):
        jp = (f or {}).get("jsonPath") or "" if isinstance(f, dict) else ""
        fp = f"{index(p, i)}.jsonPath"
        if not jp:
            errs.append(required(fp))
            continue
        try:
            path, found = cel.valid_field_path(jp, schema if isinstance(schema, dict) else None, allow_array=False)
        except ValueError as e:
            errs.append(invalid(fp, jp, f"is an invalid path: {e}"))
            continue
        if path.split(".")[0].split("[")[0] == "metadata":
            errs.append(invalid(fp, jp, "must not point to fields in metadata"))
        if not isinstance(found, dict) or found.get("type") not in ("string", "boolean", "integer"):
            errs.append(invalid(fp, jp, "must point to a field of type string, boolean or integer. Enum string fields "
                                        "and strings with formats are allowed."))
        if path in seen:
            errs.append(duplicate(fp, jp))
        seen.add(path)
    allowed = isinstance(old_fields, list) and len(old_fields) > MAX_SELECTABLE_FIELDS and old_fields == fields
    if len(seen) > MAX_SELECTABLE_FIELDS and not allowed:
        errs.append(too_many(p, len(seen), MAX_SELECTABLE_FIELDS))
    return errs


