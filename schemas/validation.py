"""Decode-time checking of a request body, as the API server's strict JSON decoder does it.

Upstream decodes a body into the Go type of the target version with sigs.k8s.io/json. That step:

* fails on a JSON type mismatch with a 400 BadRequest whose message is
  ``<Kind> in version "<v>" cannot be handled as a <Kind>: json: cannot unmarshal string into Go struct
  field DeploymentSpec.spec.replicas of type int32`` (only the first mismatch is reported; a Quantity,
  IntOrString or Time that fails its own parser aborts decoding with that parser's error instead);
* collects unknown and duplicate fields as ``unknown field "spec.foo"`` / ``duplicate field "x"``
  (paths use ``.`` between fields and map keys and ``[i]`` for list items, at most 100, deduplicated).
  With fieldValidation=Strict they fail the request: ``... cannot be handled as a Deployment: strict
  decoding error: unknown field "spec.foo", unknown field "bar"``; with Warn each one becomes a
  ``Warning`` header; with Ignore they are dropped silently;
* drops unknown fields and nulls, and re-encodes what the Go types normalize (Quantity canonical form,
  RFC 3339 times in UTC, base64 bytes), which is what clients then read back.

:func:`validate` does all of that on an already parsed body, in place, with a per-definition compiled
walker (no generic JSON-schema engine at request time).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn, cast

import orjson

from schemas import compiled as c
from schemas.fielderrors import FieldError
from schemas.gotext import GoError, decode_base64
from schemas.gotext import parse_time as _parse_time
from schemas.loader import SchemaSet
from schemas.quantity import FORMAT_WRONG, QuantityError, canonical

__all__ = ["validate", "Result", "DecodeError", "MAX_STRICT_ERRORS"]

MAX_STRICT_ERRORS = 100
_INT_RANGE = {32: (-(2**31), 2**31 - 1), 64: (-(2**63), 2**63 - 1)}

Path = tuple[Any, str, Any] | None  # (parent, "f" struct field | "k" map key | "i" index, name)

#: a pure function of its text; heartbeats repeat the same few timestamps across many objects
_parse_time_cached = functools.lru_cache(maxsize=4096)(_parse_time)
_CANONICAL_TIME = {False: re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"),
                   True: re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")}


def parse_time(text: str, micro: bool = False) -> str:
    """gotext.parse_time; a time already in its canonical spelling (what clients send back) is its own
    answer once its fields are known to be in range (year 1 or later, a real date, no leap second)."""
    if _CANONICAL_TIME[micro].fullmatch(text):
        try:
            _dt.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                         int(text[17:19]))
            return text
        except ValueError:
            pass
    return _parse_time_cached(text, micro)


@dataclass
class DecodeError(FieldError):
    """A body the Go decoder rejects. ``message`` is upstream's decoder text (``json: cannot unmarshal
    ...``, a Quantity or time parse error); ``error()`` gives the schema-style rendering
    (``spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"``)."""

    message: str = ""


class Result(NamedTuple):
    """``errors``: decode failures (at most one, as upstream reports one); ``strict``: unknown/duplicate
    field messages that fail a Strict request; ``warnings``: the same messages for a Warn request."""

    errors: list[FieldError]
    strict: list[str]
    warnings: list[str]

    def bad_request_message(self, kind: str, version: str, target_kind: str | None = None) -> str | None:
        """Upstream's BadRequest message for this result, or None when the body decodes cleanly.

        ``kind``/``version`` are those the body names (``version`` without the group, e.g. "v1");
        ``target_kind`` is the kind of the endpoint (defaults to ``kind``).
        """
        if self.errors:
            first = self.errors[0]
            base = first.message if isinstance(first, DecodeError) else first.error()
        elif self.strict:
            base = "strict decoding error: " + ", ".join(self.strict)
        else:
            return None
        return f'{kind} in version "{version}" cannot be handled as a {target_kind or kind}: {base}'


class _Pairs(list[tuple[str, Any]]):
    """A JSON object that repeated a key, kept as its (key, value) pairs in document order."""


class _Abort(Exception):
    pass


class _Ctx:
    __slots__ = ("collect", "strict", "seen", "first")

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.strict: list[str] = []
        self.seen: set[str] = set()
        self.first: DecodeError | None = None

    def strict_error(self, kind: str, path: Path, key: str) -> None:
        if not self.collect or len(self.strict) >= MAX_STRICT_ERRORS:
            return
        parent = _strict_path(path)
        msg = f"{kind} {json.dumps(parent + '.' + key if parent else key, ensure_ascii=False)}"
        if msg not in self.seen:
            self.seen.add(msg)
            self.strict.append(msg)


def _strict_path(path: Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, kind, name = path
        parts.append(f"[{name}]" if kind == "i" else f".{name}")
    return "".join(reversed(parts)).lstrip(".")


def _field_path(path: Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, kind, name = path
        parts.append(f".{name}" if kind == "f" else f"[{name}]")
    return "".join(reversed(parts)).lstrip(".")


def _go_fields(path: Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, kind, name = path
        if kind == "f":
            parts.append(name)
    return ".".join(reversed(parts))


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) and not isinstance(v, _Pairs) else "object"


def _type_name(v: Any) -> str:
    k = _json_kind(v)
    return {"bool": "boolean", "number": "integer" if isinstance(v, int) else "number"}.get(k, k)


def _number_text(v: int | float) -> str:
    return str(v) if isinstance(v, int) else repr(v)


def _decode_error(node: c.Node, v: Any, path: Path, struct: str, jvalue: str, go: str = "") -> DecodeError:
    go = go or node.go
    fields = _go_fields(path)
    if struct or fields:
        msg = f"json: cannot unmarshal {jvalue} into Go struct field {struct}.{fields} of type {go}"
    else:
        msg = f"json: cannot unmarshal {jvalue} into Go value of type {go}"
    fpath = _field_path(path)
    got = _type_name(v)
    return DecodeError("FieldValueTypeInvalid", fpath, got,
                       f'{fpath} in body must be of type {node.type_name}: "{got}"', message=msg)


def _mismatch(ctx: _Ctx, node: c.Node, v: Any, path: Path, struct: str) -> None:
    if ctx.first is None:
        ctx.first = _decode_error(node, v, path, struct, _json_kind(v))


def _abort(ctx: _Ctx, err: DecodeError) -> NoReturn:
    ctx.first = err
    raise _Abort


def _parser_error(node: c.Node, v: Any, path: Path, message: str) -> DecodeError:
    fpath = _field_path(path)
    return DecodeError("FieldValueInvalid", fpath, v if isinstance(v, str) else _type_name(v), message,
                       message=message)


def _zero(node: c.Node) -> Any:
    return {c.STR: "", c.INT: 0, c.FLOAT: 0, c.BOOL: False, c.OBJ: {}, c.INTSTR: 0, c.QTY: "0"}.get(node.kind)


def _items(v: dict[str, Any] | _Pairs) -> list[tuple[str, Any]]:
    return list(v) if isinstance(v, _Pairs) else list(v.items())


def _walk(node: c.Node, v: Any, path: Path, struct: str, ctx: _Ctx) -> Any:
    kind = node.kind
    if kind == c.OBJ:
        if not isinstance(v, dict | _Pairs):
            _mismatch(ctx, node, v, path, struct)
            return v
        fields = node.fields()
        dups = isinstance(v, _Pairs)
        out: dict[str, Any] = {} if dups else cast(dict[str, Any], v)
        seen: set[str] = set()
        for key, val in _items(v):
            sub = fields.get(key)
            if sub is None:
                if node.preserve:
                    out[key] = _plain(val, (path, "f", key), ctx)
                    continue
                ctx.strict_error("unknown field", path, key)
                if not dups:
                    del out[key]
                continue
            if dups:
                if key in seen:
                    ctx.strict_error("duplicate field", path, key)
                seen.add(key)
            if val is None:
                if dups:
                    out.pop(key, None)
                else:
                    del out[key]
                continue
            nv = _walk(sub, val, (path, "f", key), node.struct, ctx)
            if dups or nv is not val:
                out[key] = nv
        return out
    if kind == c.ARR:
        if not isinstance(v, list) or isinstance(v, _Pairs):
            _mismatch(ctx, node, v, path, struct)
            return v
        elem = node.elem
        assert elem is not None
        for i, item in enumerate(v):
            nv = _zero(elem) if item is None else _walk(elem, item, (path, "i", i), struct, ctx)
            if nv is not item:
                v[i] = nv
        return v
    if kind == c.MAP:
        if not isinstance(v, dict | _Pairs):
            _mismatch(ctx, node, v, path, struct)
            return v
        elem = node.elem
        assert elem is not None
        dups = isinstance(v, _Pairs)
        mout: dict[str, Any] = {} if dups else cast(dict[str, Any], v)
        mseen: set[str] = set()
        for key, item in _items(v):
            if dups:
                if key in mseen:
                    ctx.strict_error("duplicate field", path, key)
                mseen.add(key)
            nv = _zero(elem) if item is None else _walk(elem, item, (path, "k", key), struct, ctx)
            if dups or nv is not item:
                mout[key] = nv
        return mout
    return _scalar(node, kind, v, path, struct, ctx)


def _scalar(node: c.Node, kind: int, v: Any, path: Path, struct: str, ctx: _Ctx) -> Any:
    if kind == c.STR:
        if not isinstance(v, str):
            _mismatch(ctx, node, v, path, struct)
        return v
    if kind == c.INT:
        if isinstance(v, int) and not isinstance(v, bool):
            lo, hi = _INT_RANGE[node.bits]
            if not lo <= v <= hi and ctx.first is None:
                ctx.first = _decode_error(node, v, path, struct, f"number {v}")
        elif isinstance(v, float):
            if ctx.first is None:
                ctx.first = _decode_error(node, v, path, struct, f"number {_number_text(v)}")
        else:
            _mismatch(ctx, node, v, path, struct)
        return v
    if kind == c.FLOAT:
        if not isinstance(v, int | float) or isinstance(v, bool):
            _mismatch(ctx, node, v, path, struct)
        return v
    if kind == c.BOOL:
        if not isinstance(v, bool):
            _mismatch(ctx, node, v, path, struct)
        return v
    if kind == c.BYTES:
        if not isinstance(v, str):
            _mismatch(ctx, node, v, path, struct)
            return v
        try:
            return base64.b64encode(decode_base64(v)).decode()
        except GoError as e:
            if ctx.first is None:
                ctx.first = _parser_error(node, v, path, str(e))
            return v
    if kind == c.INTSTR:
        if isinstance(v, str):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            if -(2**31) <= v < 2**31:
                return v
            _abort(ctx, _decode_error(node, v, path, struct, f"number {v}", "int32"))
        jv = f"number {_number_text(v)}" if isinstance(v, float) else _json_kind(v)
        _abort(ctx, _decode_error(node, v, path, struct, jv, "int32"))
    if kind == c.QTY:
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            _abort(ctx, _parser_error(node, v, path, FORMAT_WRONG))
        text = v if isinstance(v, str) else _number_text(v)
        try:
            return canonical(text)
        except QuantityError as e:
            _abort(ctx, _parser_error(node, v, path, str(e)))
    if kind in (c.TIME, c.MTIME):
        if not isinstance(v, str):
            _abort(ctx, _decode_error(node, v, path, struct, _json_kind(v), "string"))
        try:
            return parse_time(v, micro=kind == c.MTIME)
        except GoError as e:
            _abort(ctx, _parser_error(node, v, path, str(e)))
    return _plain(v, path, ctx)



def _plain(v: Any, path: Path, ctx: _Ctx) -> Any:
    """An untyped (interface{}) value: kept verbatim, but objects that repeated keys are reported and
    collapsed (last value wins), as upstream's untyped decoding does."""
    if isinstance(v, _Pairs):
        out: dict[str, Any] = {}
        for key, item in v:
            if key in out:
                ctx.strict_error("duplicate field", path, key)
            out[key] = _plain(item, (path, "k", key), ctx)
        return out
    if isinstance(v, dict):
        for key, item in v.items():
            if isinstance(item, dict | list):
                nv = _plain(item, (path, "k", key), ctx)
                if nv is not item:
                    v[key] = nv
        return v
    if isinstance(v, list):
        for i, item in enumerate(v):
            if isinstance(item, dict | list):
                nv = _plain(item, (path, "i", i), ctx)
                if nv is not item:
                    v[i] = nv
    return v


def _has_duplicates(raw: bytes) -> bool:
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> None:
        nonlocal found
        if not found and len(pairs) > 1 and len(dict(pairs)) != len(pairs):
            found = True

    try:
        json.loads(raw, object_pairs_hook=hook)
    except ValueError:  # not JSON (the caller parsed something else): nothing to report
        return False
    return found


def _with_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Pairs:
    return dict(pairs) if len({k for k, _ in pairs}) == len(pairs) else _Pairs(pairs)


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON text (``True`` is not ``1``): conservative, a false answer only costs a walk."""
    if a is b:
        return True
    if a != b:
        return False
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except TypeError:
        return False


def _walk_changed(node: c.Node, v: Any, old: Any, path: Path, struct: str, ctx: _Ctx, depth: int) -> Any:
    """:func:`_walk` of an object's fields that differ from ``old`` (a stored, hence already decoded,
    version of it); fields equal to the stored ones are kept as they are. ``depth`` levels of objects."""
    if depth <= 0 or node.kind != c.OBJ or node.preserve or not isinstance(v, dict) or not isinstance(old, dict):
        return _walk(node, v, path, struct, ctx)
    fields = node.fields()
    for key, val in list(v.items()):
        sub = fields.get(key)
        if sub is None:
            ctx.strict_error("unknown field", path, key)
            del v[key]
            continue
        if val is None:
            del v[key]
            continue
        if key in old and _same_json(val, old[key]):
            continue
        nv = _walk_changed(sub, val, old.get(key), (path, "f", key), node.struct, ctx, depth - 1)
        if nv is not val:
            v[key] = nv
    return v


def validate(schemas: SchemaSet, group: str, version: str, kind: str, obj: dict[str, Any], *,
             field_validation: str = "Strict", raw: bytes | None = None, stored: dict[str, Any] | None = None
             ) -> Result:
    """Check ``obj`` (the parsed body) against the Go type of ``group/version, Kind=kind``, in place.

    Unknown fields and nulls are removed and normalized values rewritten whatever the outcome.
    ``field_validation`` is the request's fieldValidation ("Strict", "Warn", "Ignore"; "" means Warn,
    upstream's default). Pass the request bytes as ``raw`` to have duplicate keys detected (a parsed
    dict has already lost them). Kinds without a definition are accepted unchecked.
    ``stored``: the object as stored (decoded when it was written) that ``obj`` was made from, e.g. by a
    patch; fields of ``obj`` (three levels of objects deep) equal to it are taken as decoded already.
    """
    definition = schemas.for_kind(group, version, kind)
    if definition is None:
        return Result([], [], [])
    mode = field_validation or "Warn"
    ctx = _Ctx(collect=mode != "Ignore")
    node = c.root(schemas, definition)
    body: Any = obj
    if raw is not None and ctx.collect and _has_duplicates(raw):
        body = json.loads(raw, object_pairs_hook=_with_pairs)
    try:
        if stored is not None and body is obj:
            out = _walk_changed(node, body, stored, None, "", ctx, 3)
        else:
            out = _walk(node, body, None, "", ctx)
    except _Abort:
        out = None
    if ctx.first is not None:
        return Result([ctx.first], [], [])
    if out is not obj and isinstance(out, dict):
        obj.clear()
        obj.update(out)
    if mode == "Strict":
        return Result([], ctx.strict, [])
    return Result([], [], ctx.strict if ctx.collect else [])
