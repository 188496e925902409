"""resource.Quantity as the API server sees it: parse errors and the canonical serialized form.

Upstream decodes every Quantity (k8s.io/apimachinery/pkg/api/resource) and re-encodes it, so what a
client reads back is the canonical string: ``0.5`` -> ``"500m"``, ``1024Mi`` -> ``"1Gi"``, the number
``1`` -> ``"1"``. A string already in canonical form is echoed unchanged (upstream caches it).

``canonical(text)`` returns that string or raises :class:`QuantityError` carrying upstream's message.
"""

from __future__ import annotations

import functools
from fractions import Fraction

__all__ = ["QuantityError", "canonical", "parse", "round_up", "FORMAT_WRONG", "NUMERIC", "SUFFIX"]

FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
NUMERIC = "unable to parse numeric part of quantity"
SUFFIX = "unable to parse quantity's suffix"

_DEC = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC.items()}
_BIN_BY_EXP = {v: k for k, v in _BIN.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_NANO = Fraction(1, 10**9)
_MAX_INT64 = 2**63 - 1


class QuantityError(ValueError):
    """A string upstream's ParseQuantity rejects; ``str(err)`` is upstream's error text."""


def _scan(s: str) -> tuple[bool, str, str, str]:
    """Split like upstream's parseQuantityString: (positive, numerator digits, fraction digits, suffix)."""
    positive, pos, end = True, 0, len(s)
    if end and s[0] in "+-":
        positive = s[0] == "+"
        pos = 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and s[pos].isdigit() and s[pos].isascii():
        pos += 1
    num = s[start:pos] or "0"
    denom = ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos].isdigit() and s[pos].isascii():
            pos += 1
        denom = s[start:pos]
        if pos >= end:
            return positive, num, denom, ""
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end:
        if not (s[pos].isdigit() and s[pos].isascii()):
            raise QuantityError(FORMAT_WRONG)
        pos += 1
    return positive, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    if suffix in _DEC:
        return 10, _DEC[suffix], "DecimalSI"
    if suffix in _BIN:
        return 2, _BIN[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        body = rest[1:] if rest[0] in "+-" else rest
        if body.isdigit() and body.isascii():
            return 10, int(rest), "DecimalExponent"
    raise QuantityError(SUFFIX)


def parse(text: str) -> tuple[Fraction, str, str | None]:
    """(value, format, cached) where ``cached`` is the input when upstream keeps it verbatim."""
    s = text
    if not s:
        raise QuantityError(FORMAT_WRONG)
    if s == "0":
        return Fraction(0), "DecimalSI", s
    positive, num, denom, suf = _scan(s)
    base, exp, fmt = _interpret(suf)
    digits = int(num + denom) if (num + denom) else 0
    value = Fraction(digits, 10 ** len(denom)) * Fraction(base) ** exp
    if not positive:
        value = -value
    cached = _cached(s, num, denom, base, exp, fmt, digits)
    if value.denominator != 1 and (value / _NANO).denominator != 1:  # round away from zero to 1n
        scaled = value / _NANO
        mag = -(-abs(scaled.numerator) // scaled.denominator)
        value = Fraction(mag if value > 0 else -mag) * _NANO
    if fmt == "BinarySI" and 0 < abs(value) < 1:
        fmt = "DecimalSI"
    return value, fmt, cached


def _cached(s: str, num: str, denom: str, base: int, exp: int, fmt: str, digits: int) -> str | None:
    """Upstream's fast path remembers the input string when it is already canonical."""
    if fmt == "BinarySI":
        if exp < 0 or denom:
            return None
        precision = 15 - len(num) - int(exp * 3 / 10) - 1
        if precision < 0 or digits << exp > _MAX_INT64:
            return None
        return s if exp % 10 == 0 and digits & 7 else None
    if 18 - (len(num) + len(denom)) < 0:
        return None
    scale = exp - len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    if scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
        return s
    return None


def _strip(value: int, base: int) -> tuple[int, int]:
    neg, v, times = value < 0, abs(value), 0
    while v >= base and v % base == 0:
        v //= base
        times += 1
    return (-v if neg else v), times


def format_value(value: Fraction, fmt: str) -> str:
    """Upstream's CanonicalizeBytes for a value already rounded to nano precision."""
    if value == 0:
        return "0"
    if fmt == "BinarySI":
        if -1024 < value < 1024 or value.denominator != 1:
            fmt = "DecimalSI"
        else:
            mantissa, times = _strip(value.numerator, 1024)
            return f"{mantissa}{_BIN_BY_EXP.get(times * 10, '')}"
    scaled = value / _NANO
    mantissa, times = _strip(scaled.numerator // scaled.denominator, 10)
    exp = times - 9
    while exp % 3:
        mantissa *= 10
        exp -= 1
    if fmt == "DecimalExponent":
        return f"{mantissa}e{exp}" if exp else str(mantissa)
    return f"{mantissa}{_DEC_BY_EXP.get(exp, '')}"


@functools.lru_cache(maxsize=4096)
def canonical(text: str) -> str:
    """The string upstream serializes for a Quantity given as ``text`` (JSON string body or number text)."""
    value, fmt, cached = parse(text.strip())
    return cached if cached is not None else format_value(value, fmt)


@functools.lru_cache(maxsize=4096)
def round_up(text: str, scale: int = -3) -> str:
    """Upstream's Quantity.RoundUp(scale) then serialize (SetDefaults_ResourceList uses milli scale)."""
    value, fmt, cached = parse(text.strip())
    step = Fraction(10) ** scale
    q = value / step
    if q.denominator == 1:
        return cached if cached is not None else format_value(value, fmt)
    mag = -(-abs(q.numerator) // q.denominator)
    return format_value(Fraction(mag if value > 0 else -mag) * step, fmt)
