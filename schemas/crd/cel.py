"""``x-kubernetes-validations`` (CEL) rules: compilation checks for CRDs and evaluation against custom
resources, with upstream's error texts (apiextensions-apiserver pkg/apiserver/schema/cel).

Evaluation uses ``cel-expr-python`` (Google's CEL C++ runtime). ``self``/``oldSelf`` are dynamically
typed, so type errors a typed upstream compile would report surface at evaluation instead. Without the
library ``CEL_SUPPORTED`` is False and every rule yields ``rule compiler initialization error: ...``
rather than being skipped, so no object is silently accepted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CEL_SUPPORTED", "CompiledRule", "compile_rule", "evaluate", "to_cel", "valid_field_path",
           "UNSUPPORTED_DETAIL"]

Obj = dict[str, Any]

try:  # pragma: no branch
    from cel_expr_python import cel as _cel
    from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

    CEL_SUPPORTED = True
except ImportError:  # pragma: no cover - the dependency is declared; this is the documented fallback
    _cel = None
    CEL_SUPPORTED = False

UNSUPPORTED_DETAIL = "CEL expressions cannot be evaluated by this server (no CEL runtime installed)"


@functools.cache
def _env() -> Any:
    assert _cel is not None
    from schemas.crd.cellib import declarations

    t = _cel.Type
    functions = declarations(_cel)
    exts = [ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_math.ExtMath(), ext_encoders.ExtEncoders(),
            ext_bindings.ExtBindings()]
    return _cel.NewEnv(variables={"self": t.DYN, "oldSelf": t.DYN, "__old": t.DYN}, extensions=exts, functions=functions)


def _issues(e: Exception) -> str:
    msg = str(e)
    msg = re.sub(r"^[A-Z_]+: ", "", msg)
    return re.sub(r" \[[A-Z_]+\]$", "", msg)


_STRING_LIT = re.compile(r"""'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""", re.S)


def _uses_old_self(expr: str) -> bool:
    return re.search(r"\boldSelf\b", _STRING_LIT.sub("''", expr)) is not None


@dataclass
class CompiledRule:
    rule: Obj
    program: Any = None
    message_program: Any = None
    error: str | None = None
    message_error: str | None = None
    uses_old_self: bool = False
    #: for optionalOldSelf rules: (program with oldSelf = optional.of(old), with optional.none())
    optional_programs: tuple[Any, Any] | None = None
    #: the rule needs a Kubernetes CEL library this server lacks: accepted in CRDs, an error at evaluation
    unsupported: bool = False


#: Kubernetes CEL libraries not implemented here (name prefixes as they appear in "undeclared reference")
_MISSING_LIBS = frozenset({"format", "semver", "isSemver", "authorizer"})


def _unsupported(error: str | None) -> str | None:
    m = re.search(r"undeclared reference to '([^']+)'", error or "")
    if m and m.group(1).split(".")[0] in _MISSING_LIBS:
        return f"the Kubernetes CEL function {m.group(1)!r} is not supported by this server"
    return None


def _return_ok(program: Any, *wanted: Any) -> bool:
    return program.return_type() in (*wanted, _cel.Type.DYN)


@functools.lru_cache(maxsize=4096)
def _compile(expr: str, message_expr: str, optional_old_self: bool) -> tuple[Any, Any, str | None, str | None,
                                                                                tuple[Any, Any] | None]:
    if not CEL_SUPPORTED:
        return None, None, UNSUPPORTED_DETAIL, None, None
    env = _env()
    t = _cel.Type
    program = message_program = optional = None
    error = message_error = None
    if expr.strip():
        try:
            program = env.compile(expr)
            if not _return_ok(program, t.BOOL):
                program, error = None, "cel expression must evaluate to a bool"
        except Exception as e:  # noqa: BLE001 - the library reports compile errors as RuntimeError
            error = "compilation failed: " + _issues(e)
        if program is not None and optional_old_self:
            optional = (env.compile(f"cel.bind(oldSelf, optional.of(__old), {expr})"),
                        env.compile(f"cel.bind(oldSelf, optional.none(), {expr})"))
    if message_expr.strip():
        try:
            message_program = env.compile(message_expr)
            if not _return_ok(message_program, t.STRING):
                message_program, message_error = None, "messageExpression must evaluate to a string"
        except Exception as e:  # noqa: BLE001
            message_error = "messageExpression compilation failed: " + _issues(e)
    return program, message_program, error, message_error, optional


def compile_rule(rule: Obj) -> CompiledRule:
    expr = str(rule.get("rule") or "")
    mexpr = str(rule.get("messageExpression") or "")
    program, mprogram, err, merr, optional = _compile(expr, mexpr, rule.get("optionalOldSelf") is True)
    missing = _unsupported(err)
    if missing is not None:
        return CompiledRule(rule, None, mprogram, missing, merr, _uses_old_self(expr), None, True)
    return CompiledRule(rule, program, mprogram, err, merr, _uses_old_self(expr), optional)


_ERRORS = ((re.compile(r'^Key not found in map : "(.*)"$'), r"no such key: \1"),
           (re.compile(r"^No matching overloads found.*"), "no such overload"),
           (re.compile(r"^divide by zero$"), "division by zero"),
           (re.compile(r"^Index error: index=(-?\d+) size=\d+$"), r"index out of bounds: \1"),
           (re.compile(r"^No such key: (.*)$"), r"no such key: \1"))


def _runtime_error(msg: str) -> str:
    msg = re.sub(r"^[A-Z_]+: ", "", msg)
    for rx, repl in _ERRORS:
        if rx.match(msg):
            return rx.sub(repl, msg)
    return msg


class EvalError(Exception):
    pass


def evaluate(program: Any, self_val: Any, old_val: Any = None) -> Any:
    """Evaluate a compiled program; raises EvalError with cel-go's wording for runtime errors."""
    assert _cel is not None
    try:
        v = program.eval(data={"self": self_val, "oldSelf": old_val, "__old": old_val})
    except Exception as e:  # noqa: BLE001
        raise EvalError(_runtime_error(str(e))) from e
    if v.type() == _cel.Type.ERROR:
        raise EvalError(_runtime_error(str(v.value())))
    return v.value()


def to_cel(v: Any, s: Obj | None) -> Any:
    """A JSON value as upstream presents it to CEL: ``number`` fields as doubles, ``byte`` strings as bytes."""
    if s is None:
        return v
    if isinstance(v, dict):
        props = s.get("properties") or {}
        ap = s.get("additionalProperties")
        return {k: to_cel(x, props.get(k) if isinstance(props.get(k), dict) else
                          ap if isinstance(ap, dict) else None) for k, x in v.items()}
    if isinstance(v, list):
        items = s.get("items")
        return [to_cel(x, items if isinstance(items, dict) else None) for x in v]
    if s.get("type") == "number" and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if s.get("type") == "string" and s.get("format") == "byte" and isinstance(v, str):
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            return v
    return v


def _tokens(path: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(path):
        if path[i] == "'":
            j = i + 1
            while j < len(path) and not (path[j] == "'" and path[j - 1] != "\\"):
                j += 1
            out.append(path[i:j + 1])
            i = j + 1
        elif path[i] in ".[]":
            out.append(path[i])
            i += 1
        else:
            j = i
            while j < len(path) and path[j] not in ".[]":
                j += 1
            out.append(path[i:j])
            i = j
    return out


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "'": "'", "\\": "\\"}


def _unescape(s: str) -> str:
    def repl(m: re.Match[str]) -> str:
        c = m.group(0)[1]
        if c not in _ESCAPES:
            raise ValueError(f"invalid string literal: invalid escape char {m.group(0)}")
        return _ESCAPES[c]

    return re.sub(r"\\.", repl, s)


def valid_field_path(json_path: str, schema: Obj | None, *, allow_array: bool = True) -> tuple[str, Obj | None]:
    """cel.ValidFieldPath: the field path a JSON path like ``.spec.foo['a.b']`` names in ``schema`` and the
    schema found there; ValueError with upstream's message when it names no field."""
    toks = _tokens(json_path)
    path, s = "", schema
    i = 0

    def step(name: str) -> None:
        nonlocal path, s
        if s is None:
            raise ValueError("does not refer to a valid field")
        props = s.get("properties") or {}
        if props:
            if name not in props:
                raise ValueError("does not refer to a valid field")
            path = f"{path}.{name}" if path else name
            s = props[name] if isinstance(props[name], dict) else None
        elif s.get("additionalProperties") is not None:
            path = f"{path}[{name}]"
            ap = s.get("additionalProperties")
            s = ap if isinstance(ap, dict) else None
        else:
            raise ValueError("does not refer to a valid field")

    while i < len(toks):
        tok = toks[i]
        if tok == "[":
            if not allow_array:
                raise ValueError("array notation is not allowed")
            if i + 1 >= len(toks):
                raise ValueError("unexpected end of JSON path")
            tok = toks[i + 1]
            if len(tok) < 2 or tok[0] != "'" or tok[-1] != "'":
                raise ValueError(f"expected single quoted string but got {tok}")
            step(_unescape(tok[1:-1]))
            if i + 2 >= len(toks):
                raise ValueError("unexpected end of JSON path")
            if toks[i + 2] != "]":
                raise ValueError(f"expected ] but got {toks[i + 2]}")
            i += 3
        elif tok == ".":
            if i + 1 >= len(toks):
                raise ValueError("unexpected end of JSON path")
            step(toks[i + 1])
            i += 2
        else:
            raise ValueError(f"expected [ or . but got: {tok}")
    return path, s


def rule_error_string(rule: Obj) -> str:
    msg = rule.get("message")
    if isinstance(msg, str) and msg:
        return msg.strip()
    return str(rule.get("rule") or "").strip()


def message_or_default(rule: Obj) -> str:
    msg = rule.get("message")
    if not msg:
        return f"failed rule: {rule_error_string(rule)}"
    return str(msg).strip()


def dumps(v: Any) -> str:
    return json.dumps(v)
