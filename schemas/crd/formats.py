"""String formats a CRD schema can enforce (kube-openapi strfmt as filtered by apiextensions'
StripUnsupportedFormatsPostProcessor). Unsupported formats are ignored, as upstream strips them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

__all__ = ["effective_format", "check_format", "SUPPORTED"]

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_UUID = "^[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}$"
_RE: dict[str, re.Pattern[str]] = {
    "uuid": re.compile(_UUID % ("[0-9a-f]", "[0-9a-f]"), re.I),
    "uuid3": re.compile(_UUID % ("3", "[0-9a-f]"), re.I),
    "uuid4": re.compile(_UUID % ("4", "[89ab]"), re.I),
    "uuid5": re.compile(_UUID % ("5", "[89ab]"), re.I),
    "ssn": re.compile(r"^\d{3}[- ]\d{2}[- ]\d{4}\Z"),
    "hexcolor": re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})\Z"),
    "rgbcolor": re.compile(r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])"
                           r"\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)\Z"),
    "byte": re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})\Z"),
    "bsonobjectid": re.compile(r"^[0-9a-fA-F]{24}\Z"),
    "k8sshortname": re.compile(f"^{_LABEL}\\Z"),
    "k8slongname": re.compile(f"^{_LABEL}(\\.{_LABEL})*\\Z"),
    "hostname": re.compile(r"^([^\W_]((-?[^\W_]{0,62})?)|([^\W_](([^\W_]|-){0,61}[^\W_])?)(\.)){1,}"
                           r"([^\W\d_]){2,63}\Z|^[^\W_](-?[^\W_]{0,62})?\Z"),
    "email": re.compile(r"^([^<>@\s]+@[^<>@\s]+\.?[^<>@\s]*|[^<>]*<[^<>@\s]+@[^<>@\s]+>)\Z"),
    "uri": re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*:[^\s]*|/[^\s]*)\Z"),
    "datetime": re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))\Z"),
    "goduration": re.compile(r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\Z"),
    "scaladuration": re.compile(r"(\d+)\s*([A-Za-zµ]+)"),
    "mac": re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}\Z|^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){7}\Z"
                      r"|^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){19}\Z|^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}\Z"
                      r"|^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){3}\Z|^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){9}\Z"),
}
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SCALA_UNITS = (("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
                ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"))


def _is_date(s: str) -> bool:
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})\Z", s)
    if not m:
        return False
    y, mo, d = (int(g) for g in m.groups())
    if not 1 <= mo <= 12 or d < 1 or d > _DAYS[mo - 1]:
        return False
    return not (mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)))


def _is_datetime(s: str) -> bool:
    if len(s) < 4:
        return False
    parts = s.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    m = _RE["datetime"].match(parts[1])
    return m is not None and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


def _is_duration(s: str) -> bool:
    if _RE["goduration"].match(s):
        return True
    for _, unit in _RE["scaladuration"].findall(s):
        u = unit.strip().lower()
        for variants in _SCALA_UNITS:
            if any(u == v.lower() for v in variants) or u.startswith(variants[-1]):
                return True
    return False


def _sloppy_ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "." in s and ":" not in s:
        parts = s.split(".")
        if len(parts) == 4 and all(p.isdigit() and 0 < len(p) <= 3 and int(p) < 256 for p in parts):
            return ipaddress.IPv4Address(".".join(str(int(p)) for p in parts))
        return None
    try:
        return ipaddress.IPv6Address(s)
    except ValueError:
        return None


def _is_cidr(s: str) -> bool:
    ip, sep, bits = s.partition("/")
    addr = _sloppy_ip(ip)
    if not sep or addr is None or not bits.isdigit() or len(bits) > 3:
        return False
    return int(bits) <= (32 if addr.version == 4 else 128)


def _isbn10(s: str) -> bool:
    s = re.sub(r"[\s-]", "", s)
    if not re.match(r"^\d{9}[\dX]\Z", s):
        return False
    total = sum((i + 1) * (10 if c == "X" else int(c)) for i, c in enumerate(s))
    return total % 11 == 0


def _isbn13(s: str) -> bool:
    s = re.sub(r"[\s-]", "", s)
    if not re.match(r"^\d{13}\Z", s):
        return False
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s[:12]))
    return (10 - total % 10) % 10 == int(s[12])


def _creditcard(s: str) -> bool:
    digits = re.sub(r"[^0-9]", "", s)
    if not re.match(r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]"
                    r"|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}"
                    r"|(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})\Z", digits):
        return False
    total, double = 0, False
    for c in reversed(digits):
        d = int(c) * (2 if double else 1)
        total += d - 9 if d > 9 else d
        double = not double
    return total % 10 == 0


def _hostname(s: str) -> bool:
    return bool(_RE["hostname"].match(s)) and len(s) <= 255 and all(len(p) <= 63 for p in s.split("."))


_CHECKS: dict[str, Callable[[str], bool]] = {
    "uri": lambda s: bool(_RE["uri"].match(s)),
    "email": lambda s: bool(_RE["email"].match(s.strip())),
    "hostname": _hostname,
    "ipv4": lambda s: "." in s and _sloppy_ip(s) is not None,
    "ipv6": lambda s: ":" in s and _sloppy_ip(s) is not None,
    "cidr": _is_cidr,
    "mac": lambda s: bool(_RE["mac"].match(s)),
    "isbn": lambda s: _isbn10(s) or _isbn13(s),
    "isbn10": _isbn10,
    "isbn13": _isbn13,
    "creditcard": _creditcard,
    "password": lambda s: True,
    "date": _is_date,
    "datetime": _is_datetime,
    "duration": _is_duration,
    "k8sshortname": lambda s: len(s) <= 63 and bool(_RE["k8sshortname"].match(s)),
    "k8slongname": lambda s: len(s) <= 253 and bool(_RE["k8slongname"].match(s)),
}
for _name in ("uuid", "uuid3", "uuid4", "uuid5", "ssn", "hexcolor", "rgbcolor", "byte", "bsonobjectid"):
    _CHECKS[_name] = (lambda rx: lambda s: bool(rx.match(s)))(_RE[_name])

#: normalized (dash-less) names of the string formats CRD schemas validate
SUPPORTED = frozenset(_CHECKS)


def effective_format(schema_type: str | list[str], fmt: str) -> str:
    """The format left after upstream strips unsupported ones for the schema's type ("" if none)."""
    if not fmt:
        return ""
    t = schema_type if isinstance(schema_type, str) else (schema_type[0] if len(schema_type) == 1 else "")
    if t in ("", "string"):
        return fmt if fmt.replace("-", "") in SUPPORTED else ""
    if t == "integer":
        return fmt if fmt in ("int32", "int64") else ""
    if t == "number":
        return fmt if fmt in ("float", "double") else ""
    return ""


def check_format(fmt: str, value: str) -> bool | None:
    """Whether ``value`` is valid for the (effective) string format; None when no validator is known."""
    fn = _CHECKS.get(fmt.replace("-", ""))
    return None if fn is None else fn(value)
