"""Formatting helpers shared by the printers: reading plain-dict objects, durations, labels, quantities.

Everything here mirrors how the Go API server renders a value in a Table cell, working on the JSON
form of objects (plain dicts) instead of typed structs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from schemas.duration import human_duration as human_duration

Obj = dict[str, Any]

NONE = "<none>"
UNSET = "<unset>"
UNKNOWN = "<unknown>"


# --------------------------------------------------------------------------- reading dicts


def get(obj: Any, *path: str | int) -> Any:
    """The value at path, or None when any step is missing or of the wrong shape."""
    cur = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                return None
            cur = cur[step]
        else:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(step)
    return cur


def has(obj: Any, *path: str) -> bool:
    """Whether the last key of path is present and not null (a Go pointer that is set)."""
    return get(obj, *path) is not None


def gstr(obj: Any, *path: str | int) -> str:
    v = get(obj, *path)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def gint(obj: Any, *path: str | int) -> int:
    v = get(obj, *path)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            return 0
    return 0


def gbool(obj: Any, *path: str | int) -> bool:
    return get(obj, *path) is True


def glist(obj: Any, *path: str | int) -> list[Any]:
    v = get(obj, *path)
    return v if isinstance(v, list) else []


def gdict(obj: Any, *path: str | int) -> Obj:
    v = get(obj, *path)
    return v if isinstance(v, dict) else {}


def dicts(obj: Any, *path: str | int) -> list[Obj]:
    return [x for x in glist(obj, *path) if isinstance(x, dict)]


def strings(obj: Any, *path: str | int) -> list[str]:
    return [x for x in glist(obj, *path) if isinstance(x, str)]


def name(obj: Obj) -> str:
    return gstr(obj, "metadata", "name")


def or_none(s: str) -> str:
    return s if s else NONE


def or_unset(s: str) -> str:
    return s if s else UNSET


def bool_text(value: bool) -> str:
    return "True" if value else "False"


def condition(obj: Obj, ctype: str, *path: str) -> Obj | None:
    """The first condition of that type under path (default status.conditions)."""
    for c in dicts(obj, *(path or ("status", "conditions"))):
        if c.get("type") == ctype:
            return c
    return None


def condition_true(obj: Obj, ctype: str) -> bool:
    """Go's hasXCondition: the first condition of that type decides."""
    c = condition(obj, ctype)
    return c is not None and c.get("status") == "True"


# --------------------------------------------------------------------------- time


def parse_time(value: Any) -> datetime | None:
    """An RFC3339 (metav1.Time) or RFC3339 with fraction (metav1.MicroTime) timestamp, aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python wants at most 6 fractional digits
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if m:
        text = f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """translateTimestampSince: how long ago a timestamp was, or <unknown> when there is none."""
    return ago(parse_time(value), now)


def ago(t: datetime | None, now: datetime) -> str:
    """translateTimestampSince for a parsed time."""
    return UNKNOWN if t is None else human_duration(_aware(now) - t)


def age(obj: Obj, now: datetime) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), now)


def rfc3339(value: Any) -> str:
    """A timestamp as Go formats time.RFC3339 in UTC; the zero time when there is none."""
    t = parse_time(value)
    if t is None:
        return "0001-01-01T00:00:00Z"
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- labels and selectors


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: k=v pairs sorted by key, <none> for none."""
    if not isinstance(labels, dict) or not labels:
        return NONE
    return ",".join(f"{k}={'' if labels[k] is None else labels[k]}" for k in sorted(labels))


class SelectorError(ValueError):
    pass


def _requirement(key: str, op: str, values: list[str]) -> tuple[str, str]:
    if op == "In" or op == "NotIn":
        if not values:
            raise SelectorError("values required")
        word = " in " if op == "In" else " notin "
        joined = values[0] if len(values) == 1 else ",".join(sorted(values))
        return key, f"{key}{word}({joined})"
    if op == "Exists" or op == "DoesNotExist":
        if values:
            raise SelectorError("no values allowed")
        return key, key if op == "Exists" else f"!{key}"
    if op == "=":
        return key, f"{key}={values[0]}"
    raise SelectorError(f"{op!r} is not a valid label selector operator")


def selector_string(selector: Any) -> str:
    """metav1.LabelSelectorAsSelector(selector).String(); raises SelectorError when it is invalid."""
    if not isinstance(selector, dict):
        return ""
    reqs: list[tuple[str, str]] = []
    for k, v in gdict(selector, "matchLabels").items():
        reqs.append(_requirement(k, "=", ["" if v is None else str(v)]))
    for e in dicts(selector, "matchExpressions"):
        reqs.append(_requirement(gstr(e, "key"), gstr(e, "operator"), strings(e, "values")))
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: <none> for a nil or empty selector, <error> for an invalid one."""
    try:
        s = selector_string(selector)
    except SelectorError:
        return "<error>"
    return s or NONE


def go_label_selector(selector: Obj) -> str:
    """The generated Go String() of a metav1.LabelSelector (a struct dump)."""
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{gstr(e, 'key')},Operator:{gstr(e, 'operator')},"
        f"Values:[{' '.join(strings(e, 'values'))}],}},"
        for e in dicts(selector, "matchExpressions")
    )
    ml = gdict(selector, "matchLabels")
    labels = "".join(f"{k}: {'' if ml[k] is None else ml[k]}," for k in sorted(ml))
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )


def containers_cells(pod_spec: Any) -> tuple[str, str]:
    """layoutContainerCells: container names and images, comma-joined."""
    cs = dicts(pod_spec, "containers")
    return ",".join(gstr(c, "name") for c in cs), ",".join(gstr(c, "image") for c in cs)


def list_with_more(items: list[str], limit: int = 3, empty: str = UNSET) -> str:
    """listWithMoreString: the first few, and how many more."""
    if len(items) > limit:
        return f"{','.join(items[:limit])} + {len(items) - limit} more..."
    return ",".join(items) or empty


def int_or_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- quantities

_DEC_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIX.items()}
_BIN_BY_EXP = {v: k for k, v in _BIN_SUFFIX.items()}
_QTY = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?([eEinumkKMGTP]*[0-9+-]*)$")
_NANO = Fraction(1, 10**9)


def _parse_quantity(text: str) -> tuple[Fraction, str] | None:
    m = _QTY.match(text.strip())
    if m is None or (not m.group(2) and m.group(3) is None):
        return None
    sign, whole, frac, suffix = m.groups()
    value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    if suffix in _DEC_SUFFIX:
        fmt = "DecimalSI"
        value *= Fraction(10) ** _DEC_SUFFIX[suffix]
    elif suffix in _BIN_SUFFIX:
        fmt = "BinarySI"
        value *= 2 ** _BIN_SUFFIX[suffix]
    elif re.fullmatch(r"[eE][+-]?\d+", suffix):
        fmt = "DecimalExponent"
        value *= Fraction(10) ** int(suffix[1:])
    else:
        return None
    if value and value.denominator != 1 and (value / _NANO).denominator != 1:
        # anything finer than a nano rounds up (away from zero) to the next nano
        n = value / _NANO
        value = Fraction(-(-n.numerator // n.denominator)) * _NANO
    if fmt == "BinarySI" and 0 < value < 1:
        fmt = "DecimalSI"
    return (-value if sign == "-" else value), fmt


def quantity(value: Any) -> str:
    """resource.Quantity.String() of a quantity as JSON holds it: canonical form, "0" when unset."""
    if value is None or isinstance(value, bool):
        return "0"
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    parsed = _parse_quantity(text)
    if parsed is None:
        return text
    q, fmt = parsed
    if q == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < q < 1024 or q.denominator != 1):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        n, exp = int(q), 0
        while n % 1024 == 0 and exp < 6:
            n //= 1024
            exp += 1
        return f"{n}{_BIN_BY_EXP.get(exp * 10, '')}"
    # decimal: an integer mantissa and a power of ten that is a multiple of three
    mant = q / _NANO
    n, exp = mant.numerator // mant.denominator, -9
    while n % 10 == 0:
        n //= 10
        exp += 1
    while exp % 3 != 0:
        n *= 10
        exp -= 1
    if fmt == "DecimalExponent":
        return f"{n}" if exp == 0 else f"{n}e{exp}"
    return f"{n}{_DEC_BY_EXP.get(exp, '')}"
