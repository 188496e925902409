"""Resource limits for ``process`` containers: one cgroup per container attempt, else rlimits.

When root and a hierarchy is writable, every attempt gets ``<parent>/kplane/<node>/<container id>``:

- cgroup v2 (``/sys/fs/cgroup`` or ``/sys/fs/cgroup/unified`` with the memory controller available; the
  tree is rooted at the mount, as leaves must hold no other processes): ``memory.max`` (and
  ``memory.swap.max`` 0), ``cpu.max``, ``pids.max``; OOM kills are counted in ``memory.events``.
- else cgroup v1 (the ``memory``, ``cpu`` and ``pids`` hierarchies, each below the kubelet's own cgroup):
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``, so no swap), ``cpu.cfs_quota_us`` over a
  100 ms period, ``pids.max``; OOM kills are read from ``memory.oom_control`` (``oom_kill``).

The limits are the container's ``resources.limits`` (memory, cpu) and a pids limit of
:data:`PIDS_LIMIT`. The child joins its cgroups before it execs its command (a ``sh`` snippet writes its
pid to ``cgroup.procs``). Cgroups are removed once the attempt has ended.

Without root or a writable hierarchy: ``prlimit`` sets RLIMIT_DATA (heap and private mappings; the
memory limit) on the command, so an over-allocation fails inside the program rather than being
OOM-killed, and there is no cpu limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shlex
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import quantity

log = logging.getLogger("kplane.kubelet.cgroups")

PIDS_LIMIT = 4096
CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000
_PRLIMIT = shutil.which("prlimit")
_SH = shutil.which("sh") or "/bin/sh"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes
    cpu_millis: int | None = None
    pids: int | None = PIDS_LIMIT

    @property
    def empty(self) -> bool:
        return self.memory is None and self.cpu_millis is None and self.pids is None


def limits_of(container: Obj) -> Limits:
    """The container's ``resources.limits`` (bad quantities were refused by validation; ignored here)."""
    lim = ((container.get("resources") or {}).get("limits")) or {}
    memory = cpu = None
    with contextlib.suppress(ValueError, TypeError, KeyError):
        if "memory" in lim:
            memory = max(math.ceil(quantity.parse(str(lim["memory"]))[0]), 1)
    with contextlib.suppress(ValueError, TypeError, KeyError):
        if "cpu" in lim:
            cpu = max(math.ceil(quantity.parse(str(lim["cpu"]))[0] * 1000), 1)
    return Limits(memory=memory, cpu_millis=cpu)


@dataclass
class ContainerCgroup:
    """The cgroup directories of one attempt (one per v1 controller, or one v2 directory)."""

    v2: bool
    dirs: dict[str, Path] = field(default_factory=dict)  # controller (or "unified") -> directory

    def wrap(self, argv: list[str]) -> list[str]:
        """argv that first moves itself into the cgroups, then execs ``argv``."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))}" for d in self.dirs.values())
        return [_SH, "-c", f'{joins} && exec "$0" "$@"', *argv]

    def oom_killed(self) -> bool:
        if self.v2:
            text = _read(self.dirs["unified"] / "memory.events")
        else:
            memory = self.dirs.get("memory")
            text = _read(memory / "memory.oom_control") if memory else ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                return True
        return False

    async def remove(self, tries: int = 20) -> None:
        """rmdir each directory; the last processes of the attempt may take a moment to go."""
        for d in self.dirs.values():
            for _ in range(tries):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    _kill_all(d)
                    await asyncio.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _kill_all(d: Path) -> None:
    for pid in _read(d / "cgroup.procs").split():
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _own_path(controller: str) -> str:
    """This process's cgroup path in a v1 hierarchy (``/proc/self/cgroup``), "/" when unknown."""
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            return parts[2] or "/"
    return "/"


class CgroupManager:
    """Creates and removes the containers' cgroups of one node (``kplane/<node>``)."""

    def __init__(self, node: str, *, root: Path = Path("/sys/fs/cgroup")) -> None:
        self.node = node
        self.v2 = False
        self.parents: dict[str, Path] = {}
        if os.geteuid() != 0:
            return
        for mount in (root, root / "unified"):
            if "memory" in _read(mount / "cgroup.controllers").split() and self._setup_v2(mount):
                self.v2 = True
                return
        self._setup_v1(root)

    @property
    def enabled(self) -> bool:
        return bool(self.parents)

    def _setup_v2(self, mount: Path) -> bool:
        wanted = [c for c in ("memory", "cpu", "pids") if c in _read(mount / "cgroup.controllers").split()]
        try:
            level = mount
            for part in ("kplane", self.node):
                enabled = _read(level / "cgroup.subtree_control").split()
                missing = [c for c in wanted if c not in enabled]
                if missing:
                    _write(level / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
                level = level / part
                level.mkdir(exist_ok=True)
            _write(level / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        except OSError as e:
            log.info("cgroup v2 at %s not usable: %s", mount, e)
            return False
        self.parents = {"unified": level}
        self._sweep()
        return True

    def _setup_v1(self, root: Path) -> None:
        for controller in ("memory", "cpu", "pids"):
            mount = root / controller
            if not (mount / "cgroup.procs").exists():
                continue
            own = mount / _own_path(controller).lstrip("/")
            base = own if own.is_dir() else mount
            parent = base / "kplane" / self.node
            try:
                parent.mkdir(parents=True, exist_ok=True)
                probe = parent / f".probe-{os.getpid()}"
                probe.mkdir(exist_ok=True)
                probe.rmdir()
            except OSError as e:
                log.info("cgroup v1 %s not usable: %s", controller, e)
                continue
            self.parents[controller] = parent
        if self.parents and "memory" not in self.parents:
            self.parents = {}  # limits without the memory one would mislead
        self._sweep()

    def _sweep(self) -> None:
        """Remove empty container cgroups left behind by crashed kubelets of any node (only a minute old
        ones: a kubelet may be starting a container in a fresh one; rmdir refuses non-empty cgroups)."""
        now = time.time()
        for parent in self.parents.values():
            for child in parent.parent.glob("*/*"):
                with contextlib.suppress(OSError):
                    if child.is_dir() and now - child.stat().st_mtime > 60:
                        child.rmdir()

    def create(self, name: str, limits: Limits) -> ContainerCgroup | None:
        """The cgroups of one attempt with its limits written, or None (not enabled, or it failed)."""
        if not self.parents:
            return None
        cg = ContainerCgroup(self.v2)
        try:
            for controller, parent in self.parents.items():
                d = parent / name
                d.mkdir(exist_ok=True)
                cg.dirs[controller] = d
                self._limit(controller, d, limits)
        except OSError as e:
            log.warning("cgroup for %s: %s", name, e)
            for d in cg.dirs.values():
                with contextlib.suppress(OSError):
                    d.rmdir()
            return None
        return cg

    @staticmethod
    def _limit(controller: str, d: Path, limits: Limits) -> None:
        mem, cpu, pids = limits.memory, limits.cpu_millis, limits.pids
        if controller == "unified":
            if mem is not None:
                _write(d / "memory.max", str(mem))
                with contextlib.suppress(OSError):
                    _write(d / "memory.swap.max", "0")
            if cpu is not None and (d / "cpu.max").exists():
                _write(d / "cpu.max", f"{max(cpu * CFS_PERIOD_US // 1000, MIN_QUOTA_US)} {CFS_PERIOD_US}")
            if pids is not None and (d / "pids.max").exists():
                _write(d / "pids.max", str(pids))
        elif controller == "memory" and mem is not None:
            _write(d / "memory.limit_in_bytes", str(mem))
            if (d / "memory.memsw.limit_in_bytes").exists():
                with contextlib.suppress(OSError):
                    _write(d / "memory.memsw.limit_in_bytes", str(mem))
        elif controller == "cpu" and cpu is not None:
            _write(d / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(d / "cpu.cfs_quota_us", str(max(cpu * CFS_PERIOD_US // 1000, MIN_QUOTA_US)))
        elif controller == "pids" and pids is not None:
            _write(d / "pids.max", str(pids))


def rlimit_wrap(argv: list[str], limits: Limits) -> list[str]:
    """The fallback without cgroups: RLIMIT_DATA from the memory limit, through prlimit when present."""
    if limits.memory is None or _PRLIMIT is None:
        return argv
    return [_PRLIMIT, f"--data={limits.memory}", "--", *argv]
