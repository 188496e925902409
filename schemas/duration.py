"""apimachinery's duration.HumanDuration: the AGE column's text, shared by built-in and CRD tables."""

from __future__ import annotations

from datetime import timedelta

_NS_PER_S = 1_000_000_000


def _nanoseconds(d: float | int | timedelta) -> int:
    if isinstance(d, timedelta):
        return (d.days * 86_400 + d.seconds) * _NS_PER_S + d.microseconds * 1_000
    if isinstance(d, int):
        return d * _NS_PER_S
    return int(round(d * _NS_PER_S))


def _quo(a: int, b: int) -> int:
    """Go integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def human_duration(d: float | int | timedelta) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, for a duration in seconds (or a timedelta).

    About two significant figures: "5s", "119s", "2m3s", "10m", "179m", "3h", "7h59m", "8h", "47h",
    "2d", "2d5h", "7d23h", "8d", "729d", "2y", "3y120d", "8y". Negative durations of more than a second
    are "<invalid>" (clock skew of up to a second is "0s").
    """
    ns = _nanoseconds(d)
    seconds = _quo(ns, _NS_PER_S)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = _quo(ns, 60 * _NS_PER_S)
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = _quo(ns, 3600 * _NS_PER_S)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"
