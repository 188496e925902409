"""Volumes at their mountPaths for ``process`` containers: a private mount namespace per container attempt.

Modes (``--volume-mounts``): ``namespace`` (as root on Linux with util-linux ``unshare``, ``nsenter`` and
``mount``): every attempt runs under ``unshare --mount --propagation private``, and a small setup program
(:data:`SETUP`, run in the new namespace before the container's command) bind-mounts each volumeMount's
host directory at its ``mountPath`` (``--rbind``; ``readOnly`` adds a read-only bind remount; a subPath to
a file mounts that file), makes the ``workingDir`` (a real path) the cwd, checks the command can be
found, then execs it. Nothing propagates back to the host, and the namespace (with its mounts) goes with
its last process. ``kubectl exec``, exec probes and hooks join it with ``nsenter -t <main pid> --mount
--wd``. A pod with its own sandbox also gets the kubelet-managed hosts and resolv.conf of its pod directory
at /etc/hosts and /etc/resolv.conf (kubelet/dns.py). ``rewrite``: the documented path rewrite of kubelet/volumes.py. ``auto``: ``namespace`` when possible.

Mount points: the container sees the host's filesystem, so a mountPath (or workingDir) missing on the
host needs a mount point there. kplane creates the missing directories (and, for a file mount, an empty
file), remembers what it created (``<data dir>/mountpoints.json``, so a restarted kubelet can clean up)
and removes it once the last pod that needed it is gone, and only when it is still empty and no mount
namespace on the host has something mounted on it. Nothing is ever mounted on the host itself, and host
content is never hidden (a tmpfs over a missing path's parent would hide the parent's other entries).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dns import POD_FILES

log = logging.getLogger("kplane.kubelet.mountns")

Obj = dict[str, Any]

_TOOLS = ("unshare", "nsenter", "mount")
UNSHARE = shutil.which("unshare") or "unshare"
NSENTER = shutil.which("nsenter") or "nsenter"
MOUNT = shutil.which("mount") or "mount"
SETUP_TIMEOUT = 10.0


def resolve_mode(requested: str, runtime: str) -> str:
    """``namespace`` or ``rewrite`` for ``--volume-mounts``; ValueError when ``namespace`` is impossible."""
    if runtime != "process":
        return "rewrite"  # the simulated runtime runs nothing
    possible = sys.platform.startswith("linux") and os.geteuid() == 0 and all(shutil.which(t) for t in _TOOLS)
    if requested == "auto":
        return "namespace" if possible else "rewrite"
    if requested == "namespace" and not possible:
        raise ValueError("--volume-mounts=namespace needs root on Linux and unshare, nsenter and mount (util-linux)")
    if requested not in ("namespace", "rewrite"):
        raise ValueError(f"unknown volume mount mode {requested!r} (auto, namespace or rewrite)")
    return requested


@dataclass(frozen=True)
class Bind:
    source: str  # the host path, symlinks resolved (a configMap key's file, for a subPath)
    target: str  # the mountPath
    read_only: bool
    is_dir: bool


#: as upstream (since 1.9.4), these volumes are always mounted read-only
READ_ONLY_KINDS = ("configMap", "secret", "downwardAPI", "projected")


def binds(pod: Obj, container: Obj, mounts: list[tuple[str, str]], *, pod_files: Path | None = None) -> list[Bind]:
    """The container's bind mounts, parents before the mounts nested in them. With ``pod_files`` (a pod
    directory), the kubelet-managed hosts and resolv.conf written there (kubelet/dns.py) go at /etc/hosts
    and /etc/resolv.conf, unless the container mounts something at that path itself (as upstream)."""
    host = dict(mounts)
    api_data = {v.get("name") for v in (pod.get("spec") or {}).get("volumes") or []
                if any(k in v for k in READ_ONLY_KINDS)}
    out = []
    for m in container.get("volumeMounts") or []:
        target = (m.get("mountPath") or "").rstrip("/") or "/"
        if target not in host:
            continue
        source = os.path.realpath(host[target])
        out.append(Bind(source, target, bool(m.get("readOnly")) or m.get("name") in api_data,
                        not os.path.exists(source) or os.path.isdir(source)))
    own = {(m.get("mountPath") or "").rstrip("/") for m in container.get("volumeMounts") or []}
    for target, name in POD_FILES.items():
        if pod_files is not None and target not in own and (pod_files / name).is_file():
            out.append(Bind(str(pod_files / name), target, False, False))
    return sorted(out, key=lambda b: b.target.count("/") if b.target != "/" else 0)


def _under(path: str, parent: str) -> bool:
    return parent == "/" or path == parent or path.startswith(parent + "/")


def command(binds_: list[Bind], workdir: str, status_fd: int, argv: list[str], program: int = 0) -> list[str]:
    """argv that makes the attempt's mount namespace, sets it up, and execs ``argv``, whose item
    ``program`` is the container's command (the ones before it are wrappers: cgroups, rlimits). The
    wrappers run after the setup, so the setup is neither charged to nor limited by the container."""
    spec = {"fd": status_fd, "mount": MOUNT, "workdir": workdir, "program": program,
            "binds": [{"source": b.source, "target": b.target, "ro": b.read_only, "dir": b.is_dir} for b in binds_]}
    return [UNSHARE, "--mount", "--propagation", "private", "--", sys.executable, "-I", "-S", "-c", SETUP,
            json.dumps(spec), *argv]


#: Runs inside the new mount namespace. Failures are written to the status fd (then exit 1); a successful
#: exec closes it (close-on-exec), which tells the kubelet the container is running with its mounts.
SETUP = r'''
import json, os, shutil, subprocess, sys
spec = json.loads(sys.argv[1]); fd = spec["fd"]; argv = sys.argv[2:]
os.set_inheritable(fd, False)
def fail(msg):
    os.write(fd, msg.encode(errors="replace")); os._exit(1)
INIT = "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: "
for b in spec["binds"]:
    src, dst = b["source"], b["target"]
    what = INIT + f'error mounting "{src}" to rootfs at "{dst}"'
    try:
        if not os.path.lexists(dst):
            if b["dir"]:
                os.makedirs(dst)
            else:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                open(dst, "x").close()
    except OSError as e:
        fail(f"{what}: {e.strerror}")
    for args in (["--rbind", "--", src, dst], ["-o", "remount,bind,ro", "--", dst])[:2 if b["ro"] else 1]:
        r = subprocess.run([spec["mount"], "-n", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode:
            fail(f"{what}: " + (" ".join(r.stderr.split()) or f"exit status {r.returncode}"))
wd = spec["workdir"]
try:
    os.makedirs(wd, exist_ok=True)
    os.chdir(wd)
except OSError as e:
    fail(INIT + f'chdir to cwd ("{wd}") set in config.json failed: {e.strerror}')
def find(prog):
    path = prog if "/" in prog else shutil.which(prog)
    if not path or os.path.isdir(path) or not os.access(path, os.X_OK):
        fail(f'exec: "{prog}": executable file not found in $PATH')
    return path
prog = argv[spec["program"]]
path = find(prog)
if spec["program"]:
    path = find(argv[0])
try:
    os.execv(path, argv)
except OSError as e:
    fail(INIT + f'exec: "{prog}": {e.strerror}')
'''


def exec_prefix(pid: int, *, pod_namespaces: bool) -> list[str]:
    """Enter a running container: its mount namespace and cwd (and the pod's, which it is in)."""
    extra = ["--net", "--uts", "--ipc"] if pod_namespaces else []
    return [NSENTER, "-t", str(pid), "--mount", "--wd", *extra, "--"]


def resolve_in(pid: int, argv: list[str], env: dict[str, str]) -> str | None:
    """The command's program as the container (process ``pid``) sees it, through ``/proc/<pid>/root``."""
    root = f"/proc/{pid}/root"
    prog = argv[0]
    if "/" in prog:
        full = os.path.join(root, prog.lstrip("/"))
        return prog if os.path.isfile(full) and os.access(full, os.X_OK) else None
    dirs = [d for d in env.get("PATH", "").split(":") if d.startswith("/")]
    found = shutil.which(prog, path=":".join(root + d for d in dirs))
    return found[len(root):] if found else None


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mounted_paths() -> set[str]:
    """Every mount point of every mount namespace on the host (each namespace read once)."""
    seen: set[str] = set()
    out: set[str] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ns = os.readlink(f"/proc/{entry.name}/ns/mnt")
            if ns in seen:
                continue
            seen.add(ns)
            text = Path(f"/proc/{entry.name}/mountinfo").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            fields = line.split(" ")
            if len(fields) > 4:
                out.add(_unescape(fields[4]))
    return out


class MountPoints:
    """Host paths kplane created as mount points: path -> the pod UIDs that need it."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.owners: dict[str, set[str]] = {}
        with contextlib.suppress(OSError, ValueError, TypeError):
            self.owners = {str(p): set() for p in json.loads(state.read_text())}
        if self.owners:
            self._collect()  # a previous kubelet's leftovers (its containers died with it)

    def _save(self) -> None:
        try:
            if self.owners:
                self.state.parent.mkdir(parents=True, exist_ok=True)
                self.state.write_text(json.dumps(sorted(self.owners)))
            else:
                self.state.unlink(missing_ok=True)
        except OSError as e:
            log.warning("cannot record mount points in %s: %s", self.state, e)

    def ensure(self, uid: str, binds_: list[Bind], workdir: str) -> None:
        """Create the missing host mount points of the attempt's top-level mounts and its workingDir;
        raises OSError. Mounts nested in another mount get theirs inside that volume (by :data:`SETUP`)."""
        wanted: list[tuple[str, bool]] = []
        done: list[str] = []
        for b in binds_:
            if not any(_under(b.target, d) for d in done):
                wanted.append((b.target, b.is_dir))
            done.append(b.target)
        if workdir and not any(_under(workdir, d) for d in done):
            wanted.append((workdir, True))
        try:
            for target, is_dir in wanted:
                self._create(uid, target, is_dir)
        finally:
            self._save()

    def _create(self, uid: str, target: str, is_dir: bool) -> None:
        path = Path(target)
        missing: list[Path] = []
        while not os.path.lexists(path) and path != path.parent:
            missing.append(path)
            path = path.parent
        for p in reversed(missing):
            if p == Path(target) and not is_dir:
                p.open("x").close()
            else:
                p.mkdir()
            self.owners[str(p)] = set()
        for p in [Path(target), *Path(target).parents]:  # every kplane-made path on the way is needed
            if str(p) in self.owners:
                self.owners[str(p)].add(uid)

    def release(self, uid: str) -> None:
        """The pod is gone: remove the mount points no other pod needs."""
        for owners in self.owners.values():
            owners.discard(uid)
        if any(not owners for owners in self.owners.values()):
            self._collect()

    def release_all(self) -> None:
        """The kubelet stops (its containers are gone): remove every mount point it created."""
        for owners in self.owners.values():
            owners.clear()
        self._collect()

    def _collect(self) -> None:
        mounted = mounted_paths()
        for path in sorted((p for p, o in self.owners.items() if not o), key=len, reverse=True):
            if any(_under(m, path) for m in mounted):
                continue  # in use (e.g. by another kubelet's container): kept for a later try
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                elif os.path.isfile(path) and os.path.getsize(path) == 0:
                    os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                log.info("leaving mount point %s in place: %s", path, e)
            del self.owners[path]
        self._save()
