"""``/stats/summary``: a minimal upstream-shaped Summary (node cpu/memory from /proc, pods and their
running containers); per-pod usage is not measured."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agent import Kubelet

Obj = dict[str, Any]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_cpu(now: str) -> Obj:
    line = _read("/proc/stat").split("\n", 1)[0].split()
    if not line or line[0] != "cpu":
        return {"time": now}
    ticks = sum(int(x) for i, x in enumerate(line[1:9]) if i not in (3, 4))  # all but idle and iowait
    return {"time": now, "usageCoreNanoSeconds": ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")}


def _node_memory(now: str) -> Obj:
    info = {m.group(1): int(m.group(2)) * 1024 for m in re.finditer(r"^(\w+):\s+(\d+) kB", _read("/proc/meminfo"),
                                                                      re.M)}
    if "MemTotal" not in info or "MemAvailable" not in info:
        return {"time": now}
    used = info["MemTotal"] - info["MemAvailable"]
    return {"time": now, "availableBytes": info["MemAvailable"], "usageBytes": info["MemTotal"] - info["MemFree"]
            if "MemFree" in info else used, "workingSetBytes": used}


def _boot_time() -> float:
    m = re.search(r"^btime (\d+)", _read("/proc/stat"), re.M)
    return float(m.group(1)) if m else 0.0


def summary(kubelet: Kubelet) -> Obj:
    now = _rfc3339(dt.datetime.now(dt.UTC).timestamp())
    agent = kubelet.agents[0]
    node: Obj = {"nodeName": agent.cfg.name, "startTime": _rfc3339(_boot_time()), "cpu": _node_cpu(now),
                 "memory": _node_memory(now)}
    pods: list[Obj] = []
    for a in kubelet.agents:
        for w in a.workers.values():
            meta = w.pod["metadata"]
            containers = [{"name": r.name, "startTime": _rfc3339(r.current.started_at)}
                          for r in (*w.init, *w.regular) if r.current is not None and r.current.running]
            pod: Obj = {"podRef": {"name": meta["name"], "namespace": meta.get("namespace", ""), "uid": meta["uid"]},
                        "containers": containers}
            if w.start_time:
                pod["startTime"] = w.start_time
            pods.append(pod)
    return {"node": node, "pods": pods}
