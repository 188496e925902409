"""Go decoding behaviour the API server exposes in its messages: RFC 3339 times and base64 bytes.

``parse_time(text, micro)`` follows Go's ``time.Parse(time.RFC3339 / RFC3339Micro, text)`` closely enough
to reproduce its error text (``parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as
"2006"``) and returns the canonical form upstream re-serializes (UTC, ``Z``; seconds for metav1.Time,
microseconds for metav1.MicroTime). ``decode_base64(text)`` follows Go's ``base64.StdEncoding`` and
raises with ``illegal base64 data at input byte N``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as _dt

__all__ = ["GoError", "parse_time", "decode_base64", "go_quote"]

RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
_CHUNKS = [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05")]


class GoError(ValueError):
    """A value Go's decoder rejects; ``str(err)`` is Go's error text."""


def go_quote(s: str) -> str:
    """Go's time-package quote: printable ASCII verbatim (escaping \\ and "), other bytes as \\xHH."""
    out = ['"']
    for ch in s:
        if " " <= ch < "\x7f":
            out.append("\\" + ch if ch in '"\\' else ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    out.append('"')
    return "".join(out)


class _Fail(Exception):
    def __init__(self, layout_elem: str, value_elem: str, message: str = "") -> None:
        self.layout_elem, self.value_elem, self.message = layout_elem, value_elem, message


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not s or not ("0" <= s[0] <= "9"):
        raise ValueError
    if len(s) < 2 or not ("0" <= s[1] <= "9"):
        if fixed:
            raise ValueError
        return int(s[0]), s[1:]
    return int(s[:2]), s[2:]


def _parse(value: str, micro: bool) -> tuple[list[int], int, int]:
    fields: list[int] = []
    nsec = 0
    for prefix, std in _CHUNKS:
        for ch in prefix:
            if not value or value[0] != ch:
                raise _Fail(prefix, value)
            value = value[1:]
        hold = value
        try:
            if std == "2006":
                if len(value) < 4 or not ("0" <= value[0] <= "9") or not value[:4].isdigit():
                    raise ValueError
                fields.append(int(value[:4]))
                value = value[4:]
            else:
                n, value = _getnum(value, std != "15")
                fields.append(n)
        except ValueError:
            raise _Fail(std, hold) from None
        n = fields[-1]
        rng = {"01": "month" if not 1 <= n <= 12 else "", "15": "hour" if n >= 24 else "",
               "04": "minute" if n >= 60 else "", "05": "second" if n >= 60 else ""}.get(std, "")
        if rng:
            raise _Fail(std, value, f": {rng} out of range")
    if micro:
        if len(value) < 7 or value[0] not in ".,":
            raise _Fail(".000000", value)
        digits = value[1:7]
        if not digits.isdigit():
            raise _Fail(".000000", value)
        nsec, value = int(digits) * 1000, value[7:]
    elif len(value) >= 2 and value[0] in ".," and "0" <= value[1] <= "9":
        n = 2
        while n < len(value) and "0" <= value[n] <= "9":
            n += 1
        frac = value[1:n][:9]
        nsec, value = int(frac.ljust(9, "0")), value[n:]
    hold = value
    if value[:1] == "Z":
        offset, value = 0, value[1:]
    else:
        if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
            raise _Fail("Z07:00", hold)
        try:
            hh, _ = _getnum(value[1:3], True)
            mm, _ = _getnum(value[4:6], True)
        except ValueError:
            raise _Fail("Z07:00", hold) from None
        if hh > 24:
            raise _Fail("Z07:00", value[6:], ": time zone offset hour out of range")
        if mm > 60:
            raise _Fail("Z07:00", value[6:], ": time zone offset minute out of range")
        offset = (hh * 60 + mm) * 60 * (1 if value[0] == "+" else -1)
        value = value[6:]
    if value:
        raise _Fail("", value, ": extra text: " + go_quote(value))
    year, month, day = fields[0], fields[1], fields[2]
    if day < 1 or day > (calendar.monthrange(year, month)[1] if year >= 1 else 31):
        raise _Fail("", value, ": day out of range")
    return fields, nsec, offset


def parse_time(text: str, micro: bool = False) -> str:
    """Canonical serialization of a metav1.Time (or MicroTime when ``micro``) given as ``text``."""
    layout = RFC3339_MICRO if micro else RFC3339
    try:
        fields, nsec, offset = _parse(text, micro)
    except _Fail as f:
        head = "parsing time " + go_quote(text)
        if f.message:
            raise GoError(head + f.message) from None
        raise GoError(f"{head} as {go_quote(layout)}: cannot parse {go_quote(f.value_elem)} as "
                      f"{go_quote(f.layout_elem)}") from None
    year, month, day, hour, minute, sec = fields
    if year < 1:
        return text  # outside what Python's datetime models; keep the client's spelling
    try:
        when = _dt.datetime(year, month, day, hour, minute, sec, tzinfo=_dt.UTC)
        when -= _dt.timedelta(seconds=offset)
    except OverflowError:
        return text
    stamp = f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    if micro:
        stamp += f".{nsec // 1000:06d}"
    return stamp + "Z"


_STD = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def decode_base64(text: str) -> bytes:
    """Go's base64.StdEncoding.DecodeString: padding required, CR/LF ignored."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    src = text.encode("utf-8", "surrogatepass")
    si, n = 0, len(src)
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return base64.b64decode(bytes(c for c in src if c not in b"\r\n"), validate=False)
                # StdEncoding requires padding: a short final quantum is an error
                raise GoError(f"illegal base64 data at input byte {si - j}")
            c = src[si]
            si += 1
            if c in _STD:
                j += 1
                continue
            if c in b"\r\n":
                continue
            if c != ord("="):
                raise GoError(f"illegal base64 data at input byte {si - 1}")
            if j in (0, 1):
                raise GoError(f"illegal base64 data at input byte {si - 1}")
            if j == 2:
                while si < n and src[si] in b"\r\n":
                    si += 1
                if si == n:
                    raise GoError(f"illegal base64 data at input byte {n}")
                if src[si] != ord("="):
                    raise GoError(f"illegal base64 data at input byte {si - 1}")
                si += 1
            while si < n and src[si] in b"\r\n":
                si += 1
            if si < n:
                raise GoError(f"illegal base64 data at input byte {si}")
            return base64.b64decode(bytes(c for c in src if c not in b"\r\n"), validate=False)
