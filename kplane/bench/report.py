"""Results documents (JSON) as plain-text tables, or as Markdown for the README's performance section."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .stats import fmt, format_table, markdown_table

Table = tuple[list[str], list[list[str]]]


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _ratio(x: Any, y: Any) -> str:
    a, b = _num(x), _num(y)
    if math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:.2f}"


def machine_line(doc: dict[str, Any]) -> str:
    m = doc.get("machine") or {}
    parts = [str(m.get("cpu_model", "unknown CPU")), f"{m.get('usable_cpus', m.get('cpus', '?'))} CPUs"]
    if "memory_gib" in m:
        parts.append(f"{m['memory_gib']} GiB")
    parts.append(f"Python {m.get('python', '?')}")
    if "load_avg_start" in m:
        end = m.get("load_avg_end") or ["?"]
        parts.append(f"load average {m['load_avg_start'][0]} at the start, {end[0]} at the end")
    if "kplane_revision" in m:
        parts.append(f"kplane {m['kplane_revision']}")
    return ", ".join(parts) + (f"; {doc['created']}" if doc.get("created") else "")


# --- api ------------------------------------------------------------------------------------------------


def api_tables(doc: dict[str, Any]) -> list[tuple[str, Table]]:
    targets = doc["targets"]
    multi = len(targets) > 1
    first = {r["verb"]: r for r in targets[0]["results"]}
    header = ["verb", *(["target"] if multi else []), "count", "errors", "ops/s", "p50 ms", "p99 ms",
              "client CPU s", "server CPU s", *(["ops/s vs A", "p50 vs A", "p99 vs A"] if multi else [])]
    rows: list[list[str]] = []
    verbs = [r["verb"] for r in targets[0]["results"]]
    for t in targets[1:]:
        verbs += [r["verb"] for r in t["results"] if r["verb"] not in verbs]
    for verb in verbs:
        for i, t in enumerate(targets):
            r = next((x for x in t["results"] if x["verb"] == verb), None)
            if r is None:
                continue
            row = [verb, *([t["label"]] if multi else []), str(r["count"]), str(r["errors"]),
                   fmt(_num(r["ops_per_s"]), 0), fmt(_num(r["p50_ms"]), 2), fmt(_num(r["p99_ms"]), 2),
                   fmt(_num(r.get("client_cpu_s")), 2), fmt(_num(r.get("server_cpu_s")), 2)]
            if multi:
                a = first.get(verb)
                if i == 0 or a is None:
                    row += ["", "", ""]
                else:
                    row += [_ratio(r["ops_per_s"], a["ops_per_s"]), _ratio(r["p50_ms"], a["p50_ms"]),
                            _ratio(r["p99_ms"], a["p99_ms"])]
            rows.append(row)
    p = doc.get("params", {})
    title = (f"API: {p.get('n')} {p.get('kind')} of {p.get('size')} B, concurrency {p.get('concurrency')}, "
             f"{p.get('watchers')} watchers, {p.get('workers')} client processes, {p.get('rounds', 1)} round(s)")
    return [(title, (header, rows))]


def api_footer(doc: dict[str, Any]) -> list[str]:
    lines = []
    for t in doc["targets"]:
        wall = _num(t.get("wall_s"))
        cpu = _num(t.get("client_cpu_s"))
        cores = cpu / wall if wall > 0 else math.nan
        line = (f"{t['label']}: {t['server']}{(' (' + t['description'] + ')') if t.get('description') else ''}: "
                f"client CPU {fmt(cpu, 1)} s over {fmt(wall, 1)} s wall ({fmt(cores, 2)} cores)")
        sp = t.get("server_process") or {}
        if "rss_growth_per_object_bytes" in sp:
            line += (f"; server RSS {sp['rss_before_create_mib']} -> {sp['rss_after_create_mib']} MiB over the "
                     f"creates ({sp['rss_growth_per_object_bytes']} B/object), peak {sp.get('peak_rss_mib', '-')} MiB")
        if t.get("aborted"):
            line += "; ABORTED"
        lines.append(line)
        lines += [f"  note: {n}" for n in t.get("notes", [])]
        for r in t["results"]:
            lines += [f"  {r['verb']} error: {s}" for s in r.get("error_samples", [])]
    if len(doc["targets"]) > 1:
        lines.append("vs A: this target's figure divided by the first target's (ops/s above 1 or latency "
                     "below 1: faster than A)")
    return lines


# --- startup --------------------------------------------------------------------------------------------


def startup_tables(doc: dict[str, Any]) -> list[tuple[str, Table]]:
    header = ["what", "median s", "min s", "max s", "runs", "note"]
    rows = []
    for r in doc["results"]:
        if r.get("status") != "ok":
            rows.append([r["name"], "-", "-", "-", "0", f"{r.get('status')}: {r.get('reason', '')}"])
            continue
        note = []
        if "etcd_start_median_s" in r:
            note.append(f"etcd itself {r['etcd_start_median_s']:.2f} s, not counted")
        if "api_ready_median_s" in r:
            note.append(f"API server ready at {r['api_ready_median_s']:.2f} s")
        rows.append([r["name"], f"{r['median_s']:.3f}", f"{r['min_s']:.3f}", f"{r['max_s']:.3f}",
                     str(len(r["runs_s"])), "; ".join(note)])
    return [("Startup: process start to /readyz (or to all nodes Ready)", (header, rows))]


# --- scale ----------------------------------------------------------------------------------------------


def scale_tables(doc: dict[str, Any]) -> list[tuple[str, Table]]:
    r = doc["result"]
    title = f"Scale: {r.get('nodes')} simulated nodes, {r.get('pods')} pods via Deployments ({r.get('storage')})"
    if r.get("status") in ("unavailable", "failed"):
        return [(title, (["status", "reason"], [[str(r["status"]), str(r.get("reason", ""))]]))]
    ps, ph, sched = r["pod_startup"], r["pod_startup_from_first_seen"], r["scheduling"]
    summary = [
        ["status", str(r["status"])],
        ["nodes Ready after", f"{r.get('nodes_ready_s', '-')} s"],
        ["pods Running", f"{r['pods_running']} / {r['pods']} in {r['duration_s']} s"],
        ["pod startup p50 / p99 (creationTimestamp -> Running)",
         f"{fmt(_num(ps['p50_ms']), 0)} / {fmt(_num(ps['p99_ms']), 0)} ms"],
        ["pod startup p50 / p99 (first seen -> Running)",
         f"{fmt(_num(ph['p50_ms']), 0)} / {fmt(_num(ph['p99_ms']), 0)} ms"],
        ["scheduling throughput", f"{fmt(_num(sched['binds_per_s']), 1)} binds/s ({sched['binds']} binds)"],
    ]
    api_rows = [[verb, fmt(_num(v["count"]), 0), fmt(_num(v["p50_ms"]), 1), fmt(_num(v["p99_ms"]), 1),
                 fmt(_num(v.get("slo_ms")), 0)] for verb, v in r.get("api_latency", {}).items()]
    comp_rows = [[name, fmt(_num(v["cpu_s"]), 1), fmt(_num(v["peak_rss_mib"]), 1)]
                 for name, v in r.get("components", {}).items()]
    return [
        (title, (["figure", "value"], summary)),
        ("API server latency during the run (from its /metrics histogram)",
         (["verb", "requests", "p50 ms", "p99 ms", "SLO ms"], api_rows)),
        ("Components (CPU during the pod run; peak RSS)", (["component", "CPU s", "peak RSS MiB"], comp_rows)),
    ]


# --- any document ---------------------------------------------------------------------------------------


def tables(doc: dict[str, Any]) -> list[tuple[str, Table]]:
    kind = doc.get("benchmark")
    if kind == "api":
        return api_tables(doc)
    if kind == "startup":
        return startup_tables(doc)
    if kind == "scale":
        return scale_tables(doc)
    if kind == "heartbeat":
        from .heartbeat import tables as heartbeat_tables

        return heartbeat_tables(doc)
    raise ValueError(f"not a kplane bench results document (benchmark={kind!r})")


def render_text(doc: dict[str, Any]) -> str:
    out = []
    for title, (header, rows) in tables(doc):
        out += [title, format_table(header, rows), ""]
    if doc.get("benchmark") == "api":
        out += api_footer(doc)
    return "\n".join(out).rstrip() + "\n"


def render_markdown(doc: dict[str, Any], heading: str = "###") -> str:
    out = []
    for i, (title, (header, rows)) in enumerate(tables(doc)):
        out += [f"{heading} {title}", ""]
        if i == 0:
            out += [f"_{machine_line(doc)}_", ""]
        out += [markdown_table(header, rows), ""]
    if doc.get("benchmark") == "api":
        out += [f"- {line.strip()}" for line in api_footer(doc) if not line.startswith("  ")]
        out.append("")
    return "\n".join(out)


def readme_section(docs: Sequence[dict[str, Any]]) -> str:
    """The README's performance section, from one or more results documents."""
    out = ["## Performance", "",
           "Every figure below is re-runnable: `kplane bench api|startup|scale --json FILE`, rendered with "
           "`kplane bench report --markdown FILE...`. The machine each ran on is under its heading.", ""]
    for doc in docs:
        out.append(render_markdown(doc))
    return "\n".join(out).rstrip() + "\n"
