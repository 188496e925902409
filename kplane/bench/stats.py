"""Percentiles, per-verb phase summaries, and plain-text tables."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation between closest ranks (numpy's default);
    NaN for no values."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    lo = math.floor(rank)
    hi = math.ceil(rank)
    if lo == hi:
        return float(ordered[lo])
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


@dataclass
class PhaseResult:
    """One verb's figures: successful operations, their rate over the phase's wall time, latency
    percentiles, and the CPU the client (and, when known, the server) spent during the phase."""

    verb: str
    count: int
    errors: int
    seconds: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float = math.nan
    server_cpu_s: float = math.nan
    error_samples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key, value in d.items():
            if isinstance(value, float):
                d[key] = json_number(value)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PhaseResult:
        def num(key: str) -> float:
            value = d.get(key)
            return math.nan if value is None else float(value)

        return cls(verb=str(d["verb"]), count=int(d.get("count", 0)), errors=int(d.get("errors", 0)),
                   seconds=num("seconds"), ops_per_s=num("ops_per_s"), p50_ms=num("p50_ms"),
                   p99_ms=num("p99_ms"), client_cpu_s=num("client_cpu_s"), server_cpu_s=num("server_cpu_s"),
                   error_samples=list(d.get("error_samples") or []))


def summarize(verb: str, latencies_s: Sequence[float], seconds: float, errors: int = 0,
              error_samples: Iterable[str] = (), client_cpu_s: float = math.nan,
              server_cpu_s: float = math.nan) -> PhaseResult:
    """A phase's result from its successful operations' latencies (seconds) and wall time."""
    count = len(latencies_s)
    return PhaseResult(
        verb=verb, count=count, errors=errors, seconds=seconds,
        ops_per_s=count / seconds if seconds > 0 else math.nan,
        p50_ms=percentile(latencies_s, 50) * 1000, p99_ms=percentile(latencies_s, 99) * 1000,
        client_cpu_s=client_cpu_s, server_cpu_s=server_cpu_s, error_samples=list(error_samples)[:5],
    )


def json_number(value: float, digits: int = 3) -> float | None:
    """NaN and infinities as JSON null; everything else rounded."""
    return None if math.isnan(value) or math.isinf(value) else round(value, digits)


def fmt(value: float | None, digits: int) -> str:
    """A figure for a table: '-' for none, thousands separators."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _numeric(cell: str) -> bool:
    try:
        float(cell.replace(",", "").split()[0])
        return True
    except (ValueError, IndexError):
        return cell in ("", "-")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table: columns of figures right-aligned, text left-aligned."""
    align = ["---"]
    for i in range(1, len(header)):
        cells = [row[i] for row in rows]
        numeric = any(c not in ("", "-") for c in cells) and all(_numeric(c) for c in cells)
        align.append("---:" if numeric else "---")
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile: ``buckets`` are (upper bound, cumulative count) pairs, +Inf last
    (or absent). Linear interpolation inside the bucket the rank falls in; NaN for no observations.
    A rank in the +Inf bucket answers the largest finite bound."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within 0..1, got {q}")
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return math.nan
    total = ordered[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound
