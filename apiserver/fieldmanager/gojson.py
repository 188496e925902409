"""Byte-exact Go renderings that leak into field-manager output.

Upstream builds managedFields keys (``k:{"name":"nginx"}``), manager identifiers and conflict messages with
Go's ``encoding/json`` (jsoniter in its standard-library mode) and ``fmt``. Clients see those strings
verbatim, so the helpers here reproduce them:

* :func:`go_json` -- ``json.Marshal``: compact, map keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029
  escaped as ``\\u003c`` etc., floats in Go's shortest form (``80`` not ``80.0``; exponent only below 1e-6
  or from 1e21).
* :func:`go_quote` -- ``strconv.Quote`` / ``%q`` of a string.
* :func:`go_value_string` -- SMD's ``value.ToString`` (``%v`` floats, ``%q`` strings), used in path texts
  such as ``[name="nginx"]``.
"""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal
from typing import Any

__all__ = ["go_json", "go_quote", "go_value_string", "go_float_json", "go_float_v"]

_JSON_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        e = _JSON_ESC.get(ch)
        if e is not None:
            out.append(e)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _plain_digits(f: float) -> str:
    """Shortest round-trip digits of ``f`` written without an exponent (strconv 'f', -1)."""
    text = format(Decimal(repr(f)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def go_float_json(f: float) -> str:
    """A float64 as Go's encoding/json writes it."""
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"unsupported value: {f!r}")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        mant, _, exp = repr(f).partition("e")
        if not exp:  # repr chose plain notation; force an exponent
            mant, _, exp = f"{f:e}".partition("e")
            mant = mant.rstrip("0").rstrip(".")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        return f"{mant}e{sign}{digits}"
    return _plain_digits(f)


def go_float_v(f: float) -> str:
    """A float64 as ``fmt`` prints it with ``%v`` (strconv 'g' with the shortest precision)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    d = Decimal(repr(abs(f)))
    exponent = d.adjusted()
    # strconv 'g' with the shortest precision switches to %e from exponent 6 (1e+06) or below -4
    if exponent < -4 or exponent >= 6:
        mant = format(d.scaleb(-exponent).normalize(), "f")
        sign = "-" if f < 0 else ""
        return f"{sign}{mant}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return _plain_digits(f)


def go_json(v: Any) -> str:
    """``v`` (a JSON value) encoded as Go's json.Marshal would encode the equivalent interface{} value."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float_json(v)
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, dict):
        return "{" + ",".join(_json_str(k) + ":" + go_json(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    raise TypeError(f"not a JSON value: {type(v).__name__}")


_QUOTE_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
              "\\": "\\\\", '"': '\\"'}


def _go_printable(ch: str) -> bool:
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote(s)``: escapes quotes, backslashes and non-printable runes."""
    out = ['"']
    for ch in s:
        e = _QUOTE_ESC.get(ch)
        if e is not None:
            out.append(e)
        elif _go_printable(ch):
            out.append(ch)
        else:
            o = ord(ch)
            if o < 0x80:
                out.append(f"\\x{o:02x}")
            elif o < 0x10000:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def go_value_string(v: Any) -> str:
    """SMD ``value.ToString``: the human form of a value inside a path (``"nginx"``, ``80``, ``true``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float_v(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_value_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={go_value_string(x)}" for k, x in v.items())
    return "{{undefined}}"
