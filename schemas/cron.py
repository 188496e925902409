"""Cron schedules as upstream's CronJob controller reads them (robfig/cron v3 ``ParseStandard``): five fields
(minute hour day-of-month month day-of-week) with ``*``/``?``, lists, ranges, steps and month/weekday names,
the ``@yearly``..``@hourly`` descriptors, ``@every <duration>``, and a ``CRON_TZ=``/``TZ=`` prefix. Parse
errors carry robfig's messages; ``next_after`` follows its ``Next`` (five years at most, then None).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

UTC = dt.UTC
_STAR = 1 << 63
_MONTHS = {n: i + 1 for i, n in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
#: (min, max, names) per field: minute, hour, day of month, month, day of week
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS))


class CronError(ValueError):
    """An unparseable schedule; ``str()`` is robfig/cron's message."""


def _bits(lo: int, hi: int, step: int = 1) -> int:
    out = 0
    for i in range(lo, hi + 1, step):
        out |= 1 << i
    return out


def _all(index: int) -> int:
    lo, hi, _ = _BOUNDS[index]
    return _bits(lo, hi) | _STAR


def load_location(name: str) -> dt.tzinfo:
    """Go's time.LoadLocation: "" and "UTC" are UTC; otherwise the IANA database."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return UTC  # the controller-manager runs in UTC here
    try:
        if not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", name):
            raise ValueError(name)
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        raise CronError(f"unknown time zone {name}") from None


def _parse_int(expr: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", expr):
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax')
    num = int(expr)
    if num < 0:
        raise CronError(f"negative number ({num}) not allowed: {expr}")
    return num


def _int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _parse_int(expr)


def _range(expr: str, index: int) -> int:
    lo_bound, hi_bound, names = _BOUNDS[index]
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    extra = 0
    if low_high[0] in ("*", "?"):
        start, end, extra = lo_bound, hi_bound, _STAR
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _parse_int(range_and_step[1])
        if single:
            end = hi_bound
        if step > 1:
            extra = 0
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < lo_bound:
        raise CronError(f"beginning of range ({start}) below minimum ({lo_bound}): {expr}")
    if end > hi_bound:
        raise CronError(f"end of range ({end}) above maximum ({hi_bound}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return _bits(start, end, step) | extra


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds."""
    s, sign = text, 1.0
    if s[:1] in ("+", "-"):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    parts = re.findall(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)", s)
    if not s or not parts or "".join(n + u for n, u in parts) != s or any(n in ("", ".") for n, _ in parts):
        raise CronError(f'time: invalid duration "{text}"')
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: either cron fields (bit sets, as robfig's SpecSchedule) or a constant delay."""

    minute: int = 0
    hour: int = 0
    dom: int = 0
    month: int = 0
    dow: int = 0
    location: dt.tzinfo | None = None
    every: float = 0.0

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        """The first activation strictly after ``t`` (an aware time), in UTC; None if none within 5 years."""
        t = t.astimezone(UTC)
        if self.every:
            return t.replace(microsecond=0) + dt.timedelta(seconds=self.every)
        return _next(self, t)


_DESCRIPTORS = {
    "@yearly": ("0", "0", "1", "1", "*"), "@annually": ("0", "0", "1", "1", "*"),
    "@monthly": ("0", "0", "1", "*", "*"), "@weekly": ("0", "0", "*", "*", "0"),
    "@daily": ("0", "0", "*", "*", "*"), "@midnight": ("0", "0", "*", "*", "*"),
    "@hourly": ("0", "*", "*", "*", "*"),
}


def parse(spec: str, location: dt.tzinfo | None = None) -> Schedule:
    """robfig/cron ParseStandard. ``location`` is the default zone (spec.timeZone); a TZ prefix wins."""
    if not spec:
        raise CronError("empty spec string")
    loc = location or UTC
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        eq = spec.find("=")
        name = spec[eq + 1:space] if space >= 0 else spec[eq + 1:]
        try:
            loc = load_location(name)
        except CronError as e:
            raise CronError(f"provided bad location {name}: {e}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            try:
                seconds = parse_go_duration(spec[len("@every "):])
            except CronError as e:
                raise CronError(f"failed to parse duration {spec}: {e}") from None
            return Schedule(every=float(max(int(seconds), 1)), location=loc)
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        fields = list(_DESCRIPTORS[spec])
    else:
        fields = spec.split()
        if len(fields) != 5:
            raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    bits = []
    for index, field in enumerate(fields):
        value = 0
        for part in field.split(","):
            value |= _range(part, index)
        bits.append(value)
    return Schedule(bits[0], bits[1], bits[2], bits[3], bits[4], loc)


def validate(spec: str, time_zone: str | None = None) -> str | None:
    """The parse error message for ``spec`` (None when it parses)."""
    try:
        parse(spec, load_location(time_zone) if time_zone else None)
    except CronError as e:
        return str(e)
    return None


# --- Next, with Go's calendar arithmetic ---------------------------------------------------------------


def _wall(t: dt.datetime, loc: dt.tzinfo) -> dt.datetime:
    return t.astimezone(loc).replace(tzinfo=None)


def _date(y: int, mo: int, d: int, h: int, loc: dt.tzinfo) -> dt.datetime:
    """Go's time.Date(y, mo, d, h, 0, 0, 0, loc): out-of-range months and days normalize; a wall time in
    a DST gap or overlap resolves as Go does. Returns UTC."""
    y += (mo - 1) // 12
    mo = (mo - 1) % 12 + 1
    wall = dt.datetime(y, mo, 1) + dt.timedelta(days=d - 1, hours=h)
    guess = wall.replace(tzinfo=UTC)
    off = guess.astimezone(loc).utcoffset() or dt.timedelta(0)
    utc = guess - off
    off2 = utc.astimezone(loc).utcoffset() or dt.timedelta(0)
    if off2 != off:
        utc = guess - off2
    return utc


def _day_matches(s: Schedule, w: dt.datetime) -> bool:
    dom = bool(1 << w.day & s.dom)
    dow = bool(1 << ((w.weekday() + 1) % 7) & s.dow)
    if s.dom & _STAR or s.dow & _STAR:
        return dom and dow
    return dom or dow


def _next(s: Schedule, start: dt.datetime) -> dt.datetime | None:
    loc = s.location or UTC
    t = start.replace(microsecond=0) + dt.timedelta(seconds=1)
    added = False
    year_limit = _wall(t, loc).year + 5
    for _ in range(10000):  # bounded: every wrap advances at least a month
        w = _wall(t, loc)
        if w.year > year_limit:
            return None
        wrapped = False
        while not 1 << w.month & s.month:
            if not added:
                added = True
                t = _date(w.year, w.month, 1, 0, loc)
                w = _wall(t, loc)
            t = _date(w.year, w.month + 1, w.day, w.hour, loc)
            w = _wall(t, loc)
            if w.month == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not _day_matches(s, w):
            if not added:
                added = True
                t = _date(w.year, w.month, w.day, 0, loc)
                w = _wall(t, loc)
            t = _date(w.year, w.month, w.day + 1, w.hour, loc)
            w = _wall(t, loc)
            if w.hour != 0:
                t += dt.timedelta(hours=24 - w.hour) if w.hour > 12 else dt.timedelta(hours=-w.hour)
                w = _wall(t, loc)
            if w.day == 1:
                wrapped = True
                break
        if wrapped:
            continue
        while not 1 << w.hour & s.hour:
            if not added:
                added = True
                t = _date(w.year, w.month, w.day, w.hour, loc)
            t += dt.timedelta(hours=1)
            w = _wall(t, loc)
            if w.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue
        while not 1 << w.minute & s.minute:
            if not added:
                added = True
                t = t.replace(second=0)
            t += dt.timedelta(minutes=1)
            w = _wall(t, loc)
            if w.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue
        if w.second != 0:  # the seconds field is always 0: on to the next minute, then check again
            added = True
            t += dt.timedelta(seconds=60 - w.second)
            continue
        return t
    return None
