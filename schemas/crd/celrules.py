"""Evaluation of ``x-kubernetes-validations`` rules over a custom resource, as the CEL validator of
apiextensions-apiserver walks it: every node with rules gets ``self`` (and ``oldSelf`` where the old
value correlates: object fields and ``x-kubernetes-list-type: map`` items), failures are reported on the
node's path (``<nil>`` for the root) - with the value for scalars and without it for objects and arrays:
``spec: Invalid value: minReplicas cannot be larger than replicas``. On an update, failures of values that
did not change are returned as warnings instead (ratcheting), except for transition rules.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.crd import cel
from schemas.crd._go import go_equal
from schemas.fielderrors import FieldError, forbidden, invalid, required

__all__ = ["validate_rules", "MISSING", "BLOCKING_TYPES", "NOT_CHECKED"]

Obj = dict[str, Any]
MISSING: Any = object()
#: error types that keep upstream from running the rules at all (hasBlockingErr)
BLOCKING_TYPES = ("FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
                  "FieldValueTypeInvalid")
NOT_CHECKED = ("some validation rules were not checked because the object was invalid; correct the existing "
               "errors to complete validation")


def validate_rules(obj: Any, schema: Obj | None, *, old: Any = MISSING, path: str = "") -> tuple[
        list[FieldError], list[str]]:
    """(errors, warnings) of every rule in ``schema`` applied to ``obj`` (``old``: the object before an
    update, enabling transition rules and ratcheting)."""
    errs: list[FieldError] = []
    warnings: list[str] = []
    if isinstance(schema, dict):
        _walk(obj, old, schema, path, False, errs, warnings)
    return errs, warnings


def _p(path: str) -> str:
    return path or "<nil>"


def _walk(obj: Any, old: Any, s: Obj, path: str, parent_unchanged: bool, errs: list[FieldError],
          warnings: list[str]) -> None:
    if obj is None:
        return
    unchanged = go_equal(old, obj) if old is not MISSING else parent_unchanged
    rules = s.get("x-kubernetes-validations")
    if isinstance(rules, list) and rules:
        _rules(obj, old, s, [r for r in rules if isinstance(r, dict)], path, unchanged, errs, warnings)
    if isinstance(obj, dict):
        correlatable = s.get("x-kubernetes-map-type") in (None, "granular", "atomic")
        old_map = old if isinstance(old, dict) and correlatable else {}
        ap = s.get("additionalProperties")
        if isinstance(ap, dict):
            for k, v in obj.items():
                _walk(v, old_map.get(k, MISSING), ap, f"{path}[{k}]", unchanged, errs, warnings)
        props = s.get("properties") or {}
        for k, v in obj.items():
            sub = props.get(k)
            if isinstance(sub, dict):
                _walk(v, old_map.get(k, MISSING), sub, f"{path}.{k}" if path else k, unchanged, errs, warnings)
    elif isinstance(obj, list):
        items = s.get("items")
        if not isinstance(items, dict):
            return
        olds = _map_list_olds(s, old, obj)
        for i, v in enumerate(obj):
            _walk(v, olds[i], items, f"{path}[{i}]", unchanged, errs, warnings)


def _map_list_olds(s: Obj, old: Any, new: list[Any]) -> list[Any]:
    keys = s.get("x-kubernetes-list-map-keys") or ()
    if s.get("x-kubernetes-list-type") != "map" or not isinstance(old, list) or not keys:
        return [MISSING] * len(new)

    def ident(v: Any) -> str | None:
        if not isinstance(v, dict):
            return None
        return json.dumps([[k in v, v.get(k)] for k in keys], sort_keys=True)

    by_key = {ident(v): v for v in old if isinstance(v, dict)}
    return [by_key.get(ident(v), MISSING) if isinstance(v, dict) else MISSING for v in new]


def _rules(obj: Any, old: Any, s: Obj, rules: list[Obj], path: str, unchanged: bool, errs: list[FieldError],
           warnings: list[str]) -> None:
    typ = s.get("type") or ""
    if not cel.CEL_SUPPORTED:
        errs.append(invalid(_p(path), typ, f"rule compiler initialization error: {cel.UNSUPPORTED_DETAIL}"))
        return
    self_val = cel.to_cel(obj, s)
    old_val = cel.to_cel(old, s) if old is not MISSING else None
    for rule in rules:
        compiled = cel.compile_rule(rule)
        if compiled.unsupported:
            errs.append(invalid(_p(path), typ, f"rule compiler initialization error: {compiled.error}"))
            continue
        if compiled.error is not None:
            errs.append(invalid(_p(path), typ, f"rule compile error: {compiled.error}"))
            continue
        if compiled.program is None:
            continue
        optional = rule.get("optionalOldSelf") is True and compiled.optional_programs is not None
        program = compiled.program
        if compiled.uses_old_self and old is MISSING:
            if not optional:
                continue
        if optional and compiled.optional_programs is not None:
            program = compiled.optional_programs[0 if old is not MISSING else 1]
        what = cel.rule_error_string(rule)
        try:
            result = cel.evaluate(program, self_val, old_val)
        except cel.EvalError as e:
            msg = str(e)
            if msg.startswith("no such overload"):
                errs.append(invalid(_p(path), typ, f"'{msg}': call arguments did not match a supported operator, "
                                                   f"function or macro signature for rule: {what}"))
            else:
                errs.append(invalid(_p(path), typ, f"{msg} evaluating rule: {what}"))
            continue
        if result is True:
            continue
        err = _failure(rule, compiled, obj, typ, path, self_val, old_val, s)
        if not compiled.uses_old_self and unchanged:
            warnings.append(err.error())
        else:
            errs.append(err)


def _failure(rule: Obj, compiled: cel.CompiledRule, obj: Any, typ: str, path: str, self_val: Any,
             old_val: Any, s: Obj) -> FieldError:
    field_path = path
    fp = rule.get("fieldPath")
    if isinstance(fp, str) and fp.strip():
        try:
            rel, _ = cel.valid_field_path(fp.strip(), s)
            field_path = f"{path}.{rel}" if path else rel
        except ValueError:
            pass
    detail = None
    if compiled.message_program is not None:
        try:
            msg = cel.evaluate(compiled.message_program, self_val, old_val)
            if isinstance(msg, str) and msg.strip() and "\n" not in msg.strip() and len(msg.strip()) <= 5 * 1024:
                detail = msg.strip()
        except cel.EvalError:
            pass
    if detail is None:
        detail = cel.message_or_default(rule)
    reason = rule.get("reason")
    p = _p(field_path)
    if reason == "FieldValueForbidden":
        return forbidden(p, detail)
    if reason == "FieldValueRequired":
        return required(p, detail)
    if typ in ("object", "array"):
        if reason == "FieldValueDuplicate":
            return FieldError("FieldValueDuplicate", p)
        return FieldError("FieldValueInvalid", p, detail=detail)
    if reason == "FieldValueDuplicate":
        return FieldError("FieldValueDuplicate", p, obj)
    return invalid(p, obj, detail)
