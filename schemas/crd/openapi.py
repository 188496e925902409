"""Validation of a value against a CRD's OpenAPI v3 schema, as kube-openapi's SchemaValidator does it and
as apiextensions turns its result into field errors (kubeOpenAPIResultToFieldErrors).

Messages and paths are kube-openapi's: ``spec.replicas in body should be less than or equal to 10``,
``spec.cronSpec in body must be of type string: "integer"``; errors that are not tied to a path
(``"spec.port" must validate at least one schema (anyOf)``) are reported on the caller's path, which is
``<nil>`` for a whole object. With ``old`` (an update) unchanged values are not checked (ratcheting).
"""

from __future__ import annotations

import json
import math
from typing import Any

from schemas.crd._go import display_value, enum_match, go_equal, go_list, go_num, is_int, kind_of
from schemas.crd.formats import check_format, effective_format
from schemas.crd.structural import compile_go_regexp, go_regexp_error
from schemas.fielderrors import FieldError, invalid, not_supported, required, too_long, too_many

__all__ = ["validate_value", "MISSING"]

Obj = dict[str, Any]
MISSING: Any = object()
_REQUIRED, _ENUM, _TOO_LONG, _MAX_ITEMS, _TOO_MANY_PROPS, _TYPE, _OTHER = range(7)
_I32 = (-(2**31), 2**31 - 1)
_I64 = (-(2**63), 2**63 - 1)
_F32_MAX = 3.4028234663852886e38


class _Err:
    __slots__ = ("code", "name", "value", "valid", "message")

    def __init__(self, code: int | None, name: str, message: str, value: Any = None, valid: Any = None) -> None:
        self.code, self.name, self.message, self.value, self.valid = code, name, message, value, valid


class _Res:
    __slots__ = ("errors", "count")

    def __init__(self) -> None:
        self.errors: list[_Err] = []
        self.count = 0

    def add(self, *errs: _Err) -> _Res:
        for e in errs:
            if all(e.message != x.message for x in self.errors):
                self.errors.append(e)
        return self

    def merge(self, *others: _Res | None) -> _Res:
        for o in others:
            if o is not None:
                self.add(*o.errors)
                self.count += o.count
        return self


def _err(e: _Err) -> _Res:
    return _Res().add(e)


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _types(s: Obj) -> list[str]:
    if s.get("x-kubernetes-int-or-string") is True:
        return ["integer", "string"]
    t = s.get("type")
    return [t] if isinstance(t, str) and t else []


def _invalid_type(path: str, type_name: str, value: str) -> _Err:
    return _Err(_TYPE, path, f"{path} in body must be of type {type_name}: {_q(value)}", value)


def _check_type(s: Obj, path: str, types: list[str], fmt: str, data: Any) -> _Res:
    if data is None:
        if types and "null" not in types and s.get("nullable") is not True:
            return _err(_invalid_type(path, ",".join(types), "null"))
        return _Res()
    sch = kind_of(data)
    dfmt = "int64" if sch == "integer" else "float64" if sch == "number" else ""
    float_int = sch == "number" and _json_integer(float(data)) and "integer" in types
    int_float = sch == "integer" and "number" in types
    if sch not in ("string", "array") and fmt and not (sch in types or dfmt == fmt or float_int or int_float):
        return _err(_invalid_type(path, fmt, dfmt))
    ok = _Res()
    ok.count = 1
    if "number" not in types and "integer" not in types and fmt and sch in ("string", "array"):
        return ok
    if not (sch in types or float_int or int_float):
        return _err(_invalid_type(path, ",".join(types), sch))
    return ok


def _json_integer(f: float) -> bool:
    """swag.IsFloat64AJSONInteger: integral and within +-(2^53-1)."""
    return math.isfinite(f) and abs(f) <= 2**53 - 1 and f.is_integer()


def _range_error(val: Any, type_name: str, fmt: str, prefix: str, path: str) -> _Err | None:
    rep = str(val) if is_int(val) else _ffmt(float(val))
    bad = False
    if type_name == "integer":
        lo, hi = _I32 if fmt == "int32" else _I64
        try:
            bad = not lo <= int(rep) <= hi
        except ValueError:
            bad = True
    elif fmt == "float":
        f = float(rep)
        bad = math.isfinite(f) and abs(f) > _F32_MAX
    if not bad:
        return None
    if fmt:
        return _Err(None, "", f"{prefix} value must be of type {type_name} with format {fmt} in {path}")
    return _Err(None, "", f"{prefix} value must be of type {type_name} (default format) in {path}")


def _ffmt(f: float) -> str:
    if f.is_integer() and abs(f) < 1e21:
        return str(int(f))
    s = repr(f)
    return s if "e" not in s else format(f, "f")


def _bound(path: str, data: Any, limit: float, exclusive: bool, is_max: bool, native: bool) -> _Err | None:
    if native and is_int(data):
        lim: int | float = int(limit)
        shown = str(lim)
    else:
        lim, shown = limit, go_num(limit)
    d = data
    fail = (d > lim or (exclusive and d == lim)) if is_max else (d < lim or (exclusive and d == lim))
    if not fail:
        return None
    word = ("less than" if exclusive else "less than or equal to") if is_max else (
        "greater than" if exclusive else "greater than or equal to")
    return _Err(_OTHER, path, f"{path} in body should be {word} {shown}", data)


def _multiple(path: str, data: Any, factor: float, native: bool) -> _Err | None:
    if native and is_int(data):
        f = int(factor)
        if f <= 0:
            return _Err(_OTHER, path, f"factor MultipleOf declared for {path} must be positive: {f}", f)
        if data % f != 0 if data >= 0 else (-data) % f != 0:
            return _Err(_OTHER, path, f"{path} in body should be a multiple of {f}", data)
        return None
    if factor <= 0:
        return _Err(_OTHER, path, f"factor MultipleOf declared for {path} must be positive: {go_num(factor)}", factor)
    mult = (1 / factor * data) if factor < 1 else (data / factor)
    if not (math.isfinite(mult) and float(mult).is_integer()):
        return _Err(_OTHER, path, f"{path} in body should be a multiple of {go_num(factor)}", data)
    return None


def _check_number(s: Obj, path: str, types: list[str], data: Any) -> _Res:
    type_name = fmt = ""
    if len(types) == 1 and types[0] in ("integer", "number"):
        type_name = types[0]
        f = s.get("format") or ""
        fmt = f if (type_name == "integer" and f in ("int32", "int64")) or (
            type_name == "number" and f in ("float", "double")) else ""
    res, parts = _Res(), []
    range_err = _range_error(data, type_name, fmt, "Checked", path)
    if range_err:
        res.add(range_err)
    for name, prefix in (("multipleOf", "MultipleOf"), ("minimum", "Minimum boundary"),
                         ("maximum", "Maximum boundary")):
        limit = s.get(name)
        sub = _Res()
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            bad = _range_error(limit, type_name, fmt, prefix, path)
            if bad:
                sub.add(bad)
            if name == "multipleOf":
                e = _multiple(path, data, float(limit), bad is None)
            else:
                excl = s.get("exclusiveMaximum" if name == "maximum" else "exclusiveMinimum") is True
                e = _bound(path, data, float(limit), excl, name == "maximum", bad is None)
            if e:
                sub.add(e)
        parts.append(sub)
    res.merge(*parts)
    res.count += 1
    return res


def _check_string(s: Obj, path: str, data: str) -> _Res | None:
    n = len(data)
    mx, mn, pattern = s.get("maxLength"), s.get("minLength"), s.get("pattern")
    if is_int(mx) and n > mx:
        return _err(_Err(_TOO_LONG, path, f"{path} in body should be at most {mx} chars long", data, mx))
    if is_int(mn) and n < mn:
        return _err(_Err(_OTHER, path, f"{path} in body should be at least {mn} chars long", data, mn))
    if isinstance(pattern, str) and pattern:
        bad = go_regexp_error(pattern)
        if bad:
            return _err(_Err(_OTHER, path, f"{path} in body should match '{pattern}, but pattern is invalid: {bad}'", data))
        if compile_go_regexp(pattern).search(data) is None:
            return _err(_Err(_OTHER, path, f"{path} in body should match '{pattern}'", data))
    return None


def _check_enum(s: Obj, path: str, data: Any) -> _Res | None:
    enum = s.get("enum")
    if not isinstance(enum, list) or not enum:
        return None
    for e in enum:
        if enum_match(data, e):
            return None
    return _err(_Err(_ENUM, path, f"{path} in body should be one of {go_list(enum)}", data, enum))


def _check_object(s: Obj, path: str, data: Obj, old: Any) -> _Res:
    res = _Res()
    mn, mx = s.get("minProperties"), s.get("maxProperties")
    if is_int(mn) and len(data) < mn:
        res.add(_Err(_OTHER, path, f"{path} in body should have at least {mn} properties", len(data), mn))
    if is_int(mx) and len(data) > mx:
        res.add(_Err(_TOO_MANY_PROPS, path, f"{path} in body should have at most {mx} properties", len(data), mx))
    props: Obj = s.get("properties") or {}
    ap = s.get("additionalProperties")
    old_map = old if isinstance(old, dict) else {}
    if ap is False:
        for k in data:
            if k not in props:
                res.add(_Err(_OTHER, path, f"{path}.{k} in body is a forbidden property", k))
    elif isinstance(ap, dict):
        for k, v in data.items():
            if k not in props:
                res.merge(_validate(ap, v, f"{path}.{k}", old_map.get(k, MISSING)))
    for name, sub in props.items():
        if name in data and isinstance(sub, dict):
            res.merge(_validate(sub, data[name], f"{path}.{name}" if path else name, old_map.get(name, MISSING)))
    for k in s.get("required") or ():
        if k not in data:
            res.add(_Err(_REQUIRED, f"{path}.{k}", f"{path}.{k} in body is required"))
    return res


def _check_slice(s: Obj, path: str, data: list[Any], old: Any) -> _Res:
    res = _Res()
    items = s.get("items")
    if isinstance(items, dict):
        olds = _correlate_list(s, old, data)
        for i, v in enumerate(data):
            res.merge(_validate(items, v, f"{path}[{i}]", olds[i]))
    mn, mx = s.get("minItems"), s.get("maxItems")
    if is_int(mn) and len(data) < mn:
        res.add(_Err(_OTHER, path, f"{path} in body should have at least {mn} items", len(data), mn))
    if is_int(mx) and len(data) > mx:
        res.add(_Err(_MAX_ITEMS, path, f"{path} in body should have at most {mx} items", len(data), mx))
    if s.get("uniqueItems") is True:
        for i, v in enumerate(data):
            if any(go_equal(v, u) for u in data[:i]):
                res.add(_Err(_OTHER, path, f"{path} in body shouldn't contain duplicates"))
                break
    res.count += 1
    return res


def _correlate_list(s: Obj, old: Any, new: list[Any]) -> list[Any]:
    """Old items matched by key for list-type=map lists (the only correlatable lists)."""
    keys = s.get("x-kubernetes-list-map-keys") or ()
    if s.get("x-kubernetes-list-type") != "map" or not isinstance(old, list) or not keys:
        return [MISSING] * len(new)

    def k(v: Any) -> Any:
        return json.dumps([v.get(x) for x in keys], sort_keys=True) if isinstance(v, dict) else None

    by_key = {k(v): v for v in old if isinstance(v, dict)}
    return [by_key.get(k(v), MISSING) for v in new]


def _check_junctors(s: Obj, path: str, data: Any) -> _Res:
    main = _Res()
    any_of = [x for x in s.get("anyOf") or () if isinstance(x, dict)]
    if any_of:
        best: _Res | None = None
        first_ok: _Res | None = None
        for sub in any_of:
            r = _validate(sub, data, path, MISSING)
            if not r.errors:
                best, first_ok = None, first_ok or r
                break
            if best is None or r.count > best.count:
                best = r
        if first_ok is None:
            main.add(_Err(None, "", f"{_q(path)} must validate at least one schema (anyOf)"))
        main.merge(best if best is not None else first_ok)
    one_of = [x for x in s.get("oneOf") or () if isinstance(x, dict)]
    if one_of:
        valid, best, first_ok = 0, None, None
        for sub in one_of:
            r = _validate(sub, data, path, MISSING)
            if not r.errors:
                valid, best = valid + 1, None
                first_ok = first_ok or r
                continue
            if valid == 0 and (best is None or r.count > best.count):
                best = r
        if valid != 1:
            extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            main.add(_Err(None, "", f"{_q(path)} must validate one and only one schema (oneOf). {extra}"))
            main.merge(best)
        else:
            main.merge(first_ok)
    all_of = [x for x in s.get("allOf") or () if isinstance(x, dict)]
    if all_of:
        valid = 0
        for sub in all_of:
            r = _validate(sub, data, path, MISSING)
            valid += not r.errors
            main.merge(r)
        if valid != len(all_of):
            extra = ". None validated" if valid == 0 else ""
            main.add(_Err(None, "", f"{_q(path)} must validate all the schemas (allOf){extra}"))
    if isinstance(s.get("not"), dict) and not _validate(s["not"], data, path, MISSING).errors:
        main.add(_Err(None, "", f"{_q(path)} must not validate the schema (not)"))
    main.count += 1
    return main


def _validate(s: Obj, data: Any, path: str, old: Any) -> _Res:
    if old is not MISSING and go_equal(old, data):
        return _Res()
    types = _types(s)
    fmt = effective_format(types, s.get("format") or "")
    res = _Res()
    if data is None:
        return res.merge(_check_type(s, path, types, fmt, None), _check_enum(s, path, None))
    kind = kind_of(data)
    if types or fmt:
        res.merge(_check_type(s, path, types, fmt, data))
        res.count += 1
    res.merge(_check_junctors(s, path, data))
    res.count += 1
    if kind == "string":
        res.merge(_check_string(s, path, data))
        res.count += 1
        if fmt and check_format(fmt, data) is False:
            res.add(_Err(_TYPE, path, f"{path} in body must be of type {fmt}: {_q(data)}", data))
            res.count += 1
    if kind in ("integer", "number"):
        res.merge(_check_number(s, path, types, data))
        res.count += 1
    if kind == "array":
        res.merge(_check_slice(s, path, data, old))
        res.count += 1
    res.merge(_check_enum(s, path, data))
    res.count += 1
    if kind == "object":
        res.merge(_check_object(s, path, data, old))
        res.count += 1
    res.count += 1
    return res


def validate_value(schema: Obj | None, data: Any, fld_path: str | None = None, *, old: Any = MISSING) -> list[FieldError]:
    """Field errors for ``data`` against ``schema``; ``fld_path`` prefixes the paths (None: a whole object,
    whose path-less errors then read ``<nil>``). ``old`` enables ratcheting of unchanged values."""
    if not isinstance(schema, dict):
        return []
    res = _validate(schema, data, "", old)
    out: list[FieldError] = []
    base = fld_path if fld_path is not None else "<nil>"
    for e in res.errors:
        if e.code is None:
            out.append(invalid(base, "", e.message))
            continue
        name = e.name[1:] if e.name.startswith(".") else e.name
        path = (f"{fld_path}.{name}" if fld_path else name) if name and name != "." else base
        if e.code == _REQUIRED:
            out.append(required(path))
        elif e.code == _ENUM:
            values = [v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
                      for v in e.valid]
            out.append(not_supported(path, display_value(e.value), values))
        elif e.code == _TOO_LONG:
            out.append(too_long(path, "", e.valid))
        elif e.code in (_MAX_ITEMS, _TOO_MANY_PROPS):
            out.append(too_many(path, e.value, e.valid))
        elif e.code == _TYPE:
            out.append(FieldError("FieldValueTypeInvalid", path, e.value if e.value is not None else "", e.message))
        else:
            out.append(invalid(path, display_value(e.value) if e.value is not None else "", e.message))
    return out
