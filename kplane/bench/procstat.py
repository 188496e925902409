"""CPU seconds and resident memory of processes, from /proc (Linux); and a description of the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class ProcSample:
    cpu_s: float  # user + system seconds so far
    rss_bytes: int  # resident now
    peak_rss_bytes: int  # high-water mark (VmHWM)


def sample(pid: int) -> ProcSample | None:
    """The process' CPU and memory now; None if it is gone or /proc is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    rss = peak = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return ProcSample(cpu, rss, max(peak, rss))


def cpu_seconds(pid: int) -> float | None:
    s = sample(pid)
    return None if s is None else s.cpu_s


class Tracker:
    """Follows named processes: CPU used since the first sample, and the peak RSS seen."""

    def __init__(self) -> None:
        self.first_cpu: dict[tuple[str, int], float] = {}
        self.last_cpu: dict[tuple[str, int], float] = {}
        self.peak_rss: dict[tuple[str, int], int] = {}

    def observe(self, name: str, pid: int) -> None:
        s = sample(pid)
        if s is None:
            return
        key = (name, pid)
        self.first_cpu.setdefault(key, s.cpu_s)
        self.last_cpu[key] = s.cpu_s
        self.peak_rss[key] = max(self.peak_rss.get(key, 0), s.peak_rss_bytes)

    def by_name(self) -> dict[str, dict[str, float]]:
        """Per name (a restarted component has several pids): CPU seconds and peak RSS in MiB."""
        out: dict[str, dict[str, float]] = {}
        for key, last in self.last_cpu.items():
            name = key[0]
            entry = out.setdefault(name, {"cpu_s": 0.0, "peak_rss_mib": 0.0, "processes": 0})
            entry["cpu_s"] += last - self.first_cpu[key]
            entry["peak_rss_mib"] = max(entry["peak_rss_mib"], self.peak_rss[key] / 2**20)
            entry["processes"] += 1
        return out


def machine() -> dict[str, Any]:
    """What the figures ran on."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    try:
        info["load_avg_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    root = Path(__file__).resolve().parent.parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if rev.returncode == 0:
            info["kplane_revision"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info
