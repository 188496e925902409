"""Kubernetes CEL libraries for ``x-kubernetes-validations`` (k8s.io/apiserver/pkg/cel/library): IP, CIDR,
URL, Quantity, regex and list extensions. Kubernetes' opaque IP/CIDR/URL/Quantity values are modelled as
their canonical strings, so their member functions are declared on strings."""

from __future__ import annotations

import ipaddress
import re
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs, urlsplit

from schemas.quantity import QuantityError, format_value
from schemas.quantity import parse as parse_quantity

__all__ = ["declarations"]


def _ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if "%" in s:
        raise ValueError(f"IP Address {s!r} with zone value is not allowed")
    addr = ipaddress.ip_address(s)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address {s!r} is not allowed")
    return addr


def _is_ip(s: str) -> bool:
    try:
        _ip(s)
        return True
    except ValueError:
        return False


def _to_ip(s: str) -> str:
    try:
        return str(_ip(s))
    except ValueError as e:
        raise ValueError(f"IP Address {s!r} parse error during conversion from string: {e}") from None


def _net(s: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    ip, _, _ = s.partition("/")
    _ip(ip)
    return ipaddress.ip_network(s, strict=False)


def _is_cidr(s: str) -> bool:
    try:
        _net(s)
        return "/" in s
    except ValueError:
        return False


def _to_cidr(s: str) -> str:
    if not _is_cidr(s):
        raise ValueError(f"network address {s!r} parse error during conversion from string")
    ip, _, bits = s.partition("/")
    return f"{_ip(ip)}/{int(bits)}"


def _contains_ip(c: str, ip: str) -> bool:
    return _ip(ip) in _net(c)


def _contains_cidr(c: str, other: str) -> bool:
    a, b = _net(c), _net(other)
    return a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


def _quantity(s: str) -> tuple[Fraction, str]:
    value, fmt, _ = parse_quantity(s)
    return value, fmt


def _is_quantity(s: str) -> bool:
    try:
        _quantity(s)
        return True
    except QuantityError:
        return False


def _to_quantity(s: str) -> str:
    value, fmt = _quantity(s)
    return format_value(value, fmt)


def _q(s: str) -> Fraction:
    return _quantity(s)[0]


def _cmp(a: str, b: str) -> int:
    x, y = _q(a), _q(b)
    return (x > y) - (x < y)


def _q_add(a: str, b: Any) -> str:
    value, fmt = _quantity(a)
    return format_value(value + (_q(b) if isinstance(b, str) else Fraction(int(b))), fmt)


def _q_sub(a: str, b: Any) -> str:
    value, fmt = _quantity(a)
    return format_value(value - (_q(b) if isinstance(b, str) else Fraction(int(b))), fmt)


def _as_integer(s: str) -> int:
    v = _q(s)
    if v.denominator != 1 or not -(2**63) <= v <= 2**63 - 1:
        raise ValueError("cannot convert value to integer")
    return int(v)


def _url(s: str) -> str:
    if not _is_url(s):
        raise ValueError(f"URL parse error during conversion from string: {s!r}")
    return s


def _is_url(s: str) -> bool:
    if not s or any(c.isspace() for c in s):
        return False
    if s.startswith("/"):
        return True
    return re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", s) is not None


def _host(s: str) -> str:
    return urlsplit(s).netloc.rsplit("@", 1)[-1]


def _hostname(s: str) -> str:
    h = _host(s)
    if h.startswith("["):
        return h[1:h.index("]")] if "]" in h else h[1:]
    return h.rsplit(":", 1)[0] if ":" in h else h


def _port(s: str) -> str:
    h = _host(s)
    tail = h.rsplit("]", 1)[-1] if h.startswith("[") else h
    return tail.rsplit(":", 1)[1] if ":" in tail else ""


def declarations(cel: Any) -> list[Any]:
    """FunctionDecls for the libraries, built with the ``cel_expr_python.cel`` module given."""
    t = cel.Type
    s, b, i, d, lst = t.STRING, t.BOOL, t.INT, t.DOUBLE, t.List(t.DYN)

    def decl(name: str, *overloads: tuple[str, Any, list[Any], bool, Any]) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(oid, ret, params, is_member=member, impl=impl)
                                       for oid, ret, params, member, impl in overloads])

    def member(name: str, ret: Any, params: list[Any], impl: Any) -> Any:
        return decl(name, (f"string_{name}", ret, params, True, impl))

    def glob(name: str, ret: Any, params: list[Any], impl: Any) -> Any:
        return decl(name, (name.replace(".", "_"), ret, params, False, impl))

    return [
        member("isSorted", b, [lst], lambda xs: all(xs[k] <= xs[k + 1] for k in range(len(xs) - 1))),
        member("sum", t.DYN, [lst], lambda xs: sum(xs) if xs else 0),
        member("min", t.DYN, [lst], min),
        member("max", t.DYN, [lst], max),
        member("find", s, [s, s], lambda x, p: (m.group(0) if (m := re.search(p, x)) else "")),
        member("findAll", t.List(s), [s, s], lambda x, p: [m.group(0) for m in re.finditer(p, x)]),
        glob("isIP", b, [s], _is_ip),
        glob("ip.isCanonical", b, [s], lambda x: _to_ip(x) == x),
        decl("ip", ("ip_string", s, [s], False, _to_ip), ("cidr_ip", s, [s], True, lambda c: str(_ip(c.partition("/")[0])))),
        member("family", i, [s], lambda x: _ip(x).version),
        member("isUnspecified", b, [s], lambda x: _ip(x).is_unspecified),
        member("isLoopback", b, [s], lambda x: _ip(x).is_loopback),
        member("isLinkLocalMulticast", b, [s], lambda x: _ip(x).is_multicast and _ip(x).is_link_local),
        member("isLinkLocalUnicast", b, [s], lambda x: _ip(x).is_link_local and not _ip(x).is_multicast),
        member("isGlobalUnicast", b, [s], lambda x: not (_ip(x).is_multicast or _ip(x).is_loopback or
                                                         _ip(x).is_link_local or _ip(x).is_unspecified or
                                                         str(_ip(x)) == "255.255.255.255")),
        glob("isCIDR", b, [s], _is_cidr),
        glob("cidr", s, [s], _to_cidr),
        member("containsIP", b, [s, s], _contains_ip),
        member("containsCIDR", b, [s, s], _contains_cidr),
        member("masked", s, [s], lambda c: str(_net(c))),
        member("prefixLength", i, [s], lambda c: _net(c).prefixlen),
        glob("isURL", b, [s], _is_url),
        glob("url", s, [s], _url),
        member("getScheme", s, [s], lambda u: urlsplit(u).scheme),
        member("getHost", s, [s], _host),
        member("getHostname", s, [s], _hostname),
        member("getPort", s, [s], _port),
        member("getEscapedPath", s, [s], lambda u: urlsplit(u).path),
        member("getQuery", t.Map(s, t.List(s)), [s], lambda u: parse_qs(urlsplit(u).query, keep_blank_values=True)),
        glob("isQuantity", b, [s], _is_quantity),
        glob("quantity", s, [s], _to_quantity),
        member("sign", i, [s], lambda q: (_q(q) > 0) - (_q(q) < 0)),
        member("isInteger", b, [s], lambda q: _q(q).denominator == 1),
        member("asInteger", i, [s], _as_integer),
        member("asApproximateFloat", d, [s], lambda q: float(_q(q))),
        member("compareTo", i, [s, s], _cmp),
        member("isGreaterThan", b, [s, s], lambda a, c: _cmp(a, c) > 0),
        member("isLessThan", b, [s, s], lambda a, c: _cmp(a, c) < 0),
        decl("add", ("quantity_add", s, [s, s], True, _q_add), ("quantity_add_int", s, [s, i], True, _q_add)),
        decl("sub", ("quantity_sub", s, [s, s], True, _q_sub), ("quantity_sub_int", s, [s, i], True, _q_sub)),
    ]
