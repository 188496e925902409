"""Structural-schema checks of a v1 ``openAPIV3Schema`` (apiextensions-apiserver pkg/apiserver/schema:
NewStructural, ValidateStructural and its completeness check), on plain dicts.

A schema node is *structural* where it is reached through ``properties``, ``items`` and
``additionalProperties`` only; what sits under ``allOf``/``anyOf``/``oneOf``/``not`` is *value validation*
and may not introduce types, defaults, descriptions or Kubernetes extensions.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.crd._go import child, index, key
from schemas.fielderrors import FieldError, forbidden, invalid, required

__all__ = ["new_structural_error", "validate_structural", "go_regexp_error", "compile_go_regexp"]

Obj = dict[str, Any]
_ROOT, _ITEM, _FIELD = 0, 1, 2
_INT_OR_STRING_ANYOF = [{"type": "integer"}, {"type": "string"}]


def new_structural_error(s: Any) -> str | None:
    """NewStructural's conversion error (fields a structural schema cannot hold), or None."""
    if not isinstance(s, dict):
        return None
    for name, label in (("id", "id"), ("$schema", "schema")):
        if s.get(name):
            return f"OpenAPIV3Schema '{label}' is not supported"
    if s.get("$ref"):
        return "OpenAPIV3Schema '$ref' is not supported"
    for name in ("patternProperties", "dependencies"):
        if s.get(name):
            return f"OpenAPIV3Schema '{name}' is not supported"
    if s.get("additionalItems") is not None:
        return "OpenAPIV3Schema 'additionalItems' is not supported"
    if s.get("definitions"):
        return "OpenAPIV3Schema 'definitions' is not supported"
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    items = s.get("items")
    if isinstance(items, list) and items:
        return "OpenAPIV3Schema 'items' must be a schema, but is an array"
    subs: list[Any] = [items] if isinstance(items, dict) else []
    subs += list((s.get("properties") or {}).values())
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        subs.append(ap)
    for junctor in ("allOf", "anyOf", "oneOf"):
        subs += list(s.get(junctor) or ())
    if isinstance(s.get("not"), dict):
        subs.append(s["not"])
    for sub in subs:
        err = new_structural_error(sub)
        if err:
            return err
    return None


def go_regexp_error(pattern: str) -> str | None:
    """Go's regexp.Compile error for ``pattern`` (RE2 syntax), approximated, or None when it compiles."""
    m = re.search(r"\(\?<?[=!]", pattern)
    if m:
        return f"error parsing regexp: invalid or unsupported Perl syntax: `{m.group(0)}`"
    m = re.search(r"\\[1-9]", pattern)
    if m:
        return f"error parsing regexp: invalid escape sequence: `{m.group(0)}`"
    try:
        compile_go_regexp(pattern)
    except re.error as e:
        msg = next((go for py, go in _RE_ERRORS if e.msg.startswith(py)), e.msg)
        return f"error parsing regexp: {msg}: `{pattern}`"
    return None


_RE_ERRORS = (("missing ), unterminated subpattern", "missing closing )"), ("unbalanced parenthesis", "unexpected )"),
              ("unterminated character set", "missing closing ]"), ("nothing to repeat", "missing argument to repetition operator"),
              ("multiple repeat", "invalid nested repetition operator"), ("bad escape", "invalid escape sequence"),
              ("bad character range", "invalid character class range"))

_RX_CACHE: dict[str, re.Pattern[str]] = {}


def compile_go_regexp(pattern: str) -> re.Pattern[str]:
    """A Python regex matching as Go's RE2 ``pattern`` does (``$`` and ``\\z`` only at the very end)."""
    rx = _RX_CACHE.get(pattern)
    if rx is None:
        rx = re.compile(_translate(pattern))
        if len(_RX_CACHE) < 4096:
            _RX_CACHE[pattern] = rx
    return rx


def _translate(pattern: str) -> str:
    multiline = re.match(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\Z" if nxt == "z" and not in_class else c + nxt)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":
                j = i + (2 if pattern[i + 1] == "]" else 3)
                out.append(pattern[i:j])
                i = j
                continue
        elif c == "$" and not multiline:
            out.append("\\Z")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def validate_structural(path: str, s: Obj) -> list[FieldError]:
    """ValidateStructural: invariants plus completeness, sorted by message as upstream sorts them."""
    errs = _invariants(s, _ROOT, path) + _completeness(s, path)
    errs.sort(key=lambda e: e.error())
    return errs


def _has(s: Obj, name: str) -> bool:
    return s.get(name) is not None


def _invariants(s: Any, lvl: int, path: str) -> list[FieldError]:
    if not isinstance(s, dict):
        return []
    errs: list[FieldError] = []
    typ = s.get("type") or ""
    items = s.get("items")
    if typ == "array" and not isinstance(items, dict):
        errs.append(required(child(path, "items"), "must be specified"))
    errs += _invariants(items, _ITEM, child(path, "items"))
    for k, v in (s.get("properties") or {}).items():
        errs += _invariants(v, _FIELD, key(child(path, "properties"), k))
    ap = s.get("additionalProperties")
    if ap is not None:
        if lvl == _ROOT:
            errs.append(forbidden(child(path, "additionalProperties"), "must not be used at the root"))
        if isinstance(ap, dict):
            errs += _invariants(ap, _FIELD, child(path, "additionalProperties"))
    ios = s.get("x-kubernetes-int-or-string") is True
    pres = s.get("x-kubernetes-preserve-unknown-fields") is True
    emb = s.get("x-kubernetes-embedded-resource") is True
    if ios and pres:
        errs.append(invalid(child(path, "x-kubernetes-preserve-unknown-fields"), True,
                            "must be false if x-kubernetes-int-or-string is true"))
    if ios and emb:
        errs.append(invalid(child(path, "x-kubernetes-embedded-resource"), True,
                            "must be false if x-kubernetes-int-or-string is true"))
    any_of = s.get("anyOf")
    all_of = s.get("allOf")
    skip_any = any_of == _INT_OR_STRING_ANYOF
    skip_first = (isinstance(all_of, list) and bool(all_of) and isinstance(all_of[0], dict)
                  and all_of[0].get("anyOf") == _INT_OR_STRING_ANYOF)
    errs += _value_validation(s, skip_any, skip_first, lvl, path)
    check_meta = lvl == _ROOT or emb
    if emb and typ != "object":
        msg = "must be object if x-kubernetes-embedded-resource is true"
        errs.append(required(child(path, "type"), msg) if not typ else invalid(child(path, "type"), typ, msg))
    elif not typ and not ios and not pres:
        what = {_ROOT: "at the root", _ITEM: "for specified array items", _FIELD: "for specified object fields"}
        errs.append(required(child(path, "type"), f"must not be empty {what[lvl]}"))
    if emb and ap is not None:
        errs.append(forbidden(child(path, "additionalProperties"),
                              "must not be used if x-kubernetes-embedded-resource is set"))
    if lvl == _ROOT and typ and typ != "object":
        errs.append(invalid(child(path, "type"), typ, "must be object at the root"))
    props = s.get("properties") or {}
    if check_meta:
        for name in ("kind", "apiVersion"):
            if name in props and (props[name] or {}).get("type", "") != "string":
                errs.append(invalid(child(key(child(path, "properties"), name), "type"),
                                    (props[name] or {}).get("type", ""), "must be string"))
    if "metadata" in props:
        errs += _metadata(props["metadata"], check_meta, lvl, key(child(path, "properties"), "metadata"))
    if emb and not pres and not props:
        errs.append(required(child(path, "properties"),
                             "must not be empty if x-kubernetes-embedded-resource is true without "
                             "x-kubernetes-preserve-unknown-fields"))
    return errs


def _metadata(s: Any, check_meta: bool, lvl: int, path: str) -> list[FieldError]:
    s = s if isinstance(s, dict) else {}
    errs: list[FieldError] = []
    if check_meta and s.get("type", "") != "object":
        errs.append(invalid(child(path, "type"), s.get("type", ""), "must be object"))
    if lvl == _ROOT:
        rest = {k: v for k, v in s.items() if k not in ("type", "default") and not _zero(k, v)
                and not (k == "properties" and not v)}
        props = rest.get("properties")
        if isinstance(props, dict) and props and set(props) <= {"name", "generateName"}:
            del rest["properties"]
        if rest:
            errs.append(forbidden(path, "must not specify anything other than name and generateName, but "
                                        "metadata is implicitly specified"))
    return errs


def _zero(name: str, v: Any) -> bool:
    if v is None:
        return True
    if name in ("nullable", "exclusiveMaximum", "exclusiveMinimum", "uniqueItems",
                "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string"):
        return v is False
    if name in ("description", "format", "title", "pattern", "id", "$schema"):
        return bool(v == "")
    return False


def _value_validation(v: Obj, skip_any: bool, skip_first_all: bool, lvl: int, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not skip_any:
        for i, sub in enumerate(v.get("anyOf") or ()):
            errs += _nested(sub, False, lvl, index(child(path, "anyOf"), i))
    for i, sub in enumerate(v.get("allOf") or ()):
        errs += _nested(sub, skip_first_all and i == 0, lvl, index(child(path, "allOf"), i))
    for i, sub in enumerate(v.get("oneOf") or ()):
        errs += _nested(sub, False, lvl, index(child(path, "oneOf"), i))
    if isinstance(v.get("not"), dict):
        errs += _nested(v["not"], False, lvl, child(path, "not"))
    pattern = v.get("pattern")
    if isinstance(pattern, str) and pattern:
        msg = go_regexp_error(pattern)
        if msg:
            errs.append(invalid(child(path, "pattern"), pattern, f"must be a valid regular expression, but isn't: {msg}"))
    return errs


_NESTED_FORBIDDEN = (
    ("title", "must be empty to be structural"), ("description", "must be empty to be structural"),
)


def _nested(v: Any, skip_any: bool, lvl: int, path: str) -> list[FieldError]:
    if not isinstance(v, dict):
        return []
    errs = _value_validation(v, skip_any, False, lvl, path)
    if isinstance(v.get("items"), dict):
        errs += _nested(v["items"], False, lvl, child(path, "items"))
    for k, sub in (v.get("properties") or {}).items():
        errs += _nested(sub, False, _FIELD, key(child(path, "properties"), k))
    if v.get("type"):
        errs.append(forbidden(child(path, "type"), "must be empty to be structural"))
    ap = v.get("additionalProperties")
    if isinstance(ap, dict) or ap is True:
        errs.append(forbidden(child(path, "additionalProperties"), "must be undefined to be structural"))
    if _has(v, "default"):
        errs.append(forbidden(child(path, "default"), "must be undefined to be structural"))
    for name, msg in _NESTED_FORBIDDEN:
        if v.get(name):
            errs.append(forbidden(child(path, name), msg))
    if v.get("nullable") is True:
        errs.append(forbidden(child(path, "nullable"), "must be false to be structural"))
    for name in ("x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                 "x-kubernetes-int-or-string"):
        if v.get(name) is True:
            errs.append(forbidden(child(path, name), "must be false to be structural"))
    if v.get("x-kubernetes-list-map-keys"):
        errs.append(forbidden(child(path, "x-kubernetes-list-map-keys"), "must be empty to be structural"))
    for name in ("x-kubernetes-list-type", "x-kubernetes-map-type"):
        if _has(v, name):
            errs.append(forbidden(child(path, name), "must be undefined to be structural"))
    if v.get("x-kubernetes-validations"):
        errs.append(forbidden(child(path, "x-kubernetes-validations"), "must be empty to be structural"))
    if "metadata" in (v.get("properties") or {}):
        errs.append(forbidden(key(child(path, "properties"), "metadata"), "must not be specified in a nested context"))
    return errs


def _completeness(s: Obj, path: str) -> list[FieldError]:
    """Only the root's junctors are checked against the structural part, as upstream does."""
    return _vv_complete(s, s, path, path)


def _vv_complete(v: Obj, s: Any, s_path: str, v_path: str) -> list[FieldError]:
    if not isinstance(s, dict):
        return [required(s_path, f"because it is defined in {v_path}")]
    errs: list[FieldError] = []
    if isinstance(v.get("not"), dict):
        errs += _nested_complete(v["not"], s, s_path, child(v_path, "not"))
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(v.get(junctor) or ()):
            if isinstance(sub, dict):
                errs += _nested_complete(sub, s, s_path, index(child(v_path, junctor), i))
    return errs


def _nested_complete(v: Obj, s: Any, s_path: str, v_path: str) -> list[FieldError]:
    if not isinstance(s, dict):
        return [required(s_path, f"because it is defined in {v_path}")]
    errs = _vv_complete(v, s, s_path, v_path)
    if isinstance(v.get("items"), dict):
        items = s.get("items") if isinstance(s.get("items"), dict) else None
        errs += _nested_complete(v["items"], items, child(s_path, "items"), child(v_path, "items"))
    props = s.get("properties") or {}
    for k, sub in (v.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if k not in props:
            errs.append(required(key(child(s_path, "properties"), k),
                                 f"because it is defined in {key(child(v_path, 'properties'), k)}"))
        else:
            errs += _nested_complete(sub, props[k], key(child(s_path, "properties"), k),
                                     key(child(v_path, "properties"), k))
    return errs
