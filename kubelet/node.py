"""The Node object a kubelet registers and keeps current, its conditions, and its Lease.

Upstream's shapes: capacity = allocatable (no reservations here) for cpu, memory, pods,
ephemeral-storage and hugepages; the four conditions with upstream's reasons and messages;
``status.daemonEndpoints.kubeletEndpoint.Port`` names the kubelet's API (what the API server proxies
logs and exec to); a Lease ``kube-node-lease/<node>`` (40 s, renewed every 10 s) owned by the Node.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import os
import platform
import re
import shutil
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.quantity import canonical

from .podstatus import rfc3339

Obj = dict[str, Any]

KUBELET_VERSION = "v1.37.0"
LEASE_DURATION = 40
RENEW_INTERVAL = 10.0
STATUS_INTERVAL = 10.0
STATUS_REPORT_INTERVAL = 300.0
NODE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def host_arch() -> str:
    return _ARCH.get(platform.machine(), platform.machine())


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def os_image() -> str:
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', _read("/etc/os-release"), re.M)
    return m.group(1) if m else platform.system()


def host_memory() -> str:
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    return f"{m.group(1)}Ki" if m else "8Gi"


def memory_available_bytes() -> int | None:
    m = re.search(r"^MemAvailable:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    return int(m.group(1)) * 1024 if m else None


@dataclass
class NodeConfig:
    name: str
    cpu: str = ""
    memory: str = ""
    pods: int = 110
    ephemeral_storage: str = ""
    data_dir: Path = Path(".")
    address: str = "127.0.0.1"
    port: int = 10250
    pod_cidr: str = ""
    runtime: str = "process"
    runtime_version: str = "0.1.0"
    labels: dict[str, str] = field(default_factory=dict)
    #: evaluate memory/disk pressure from the host (process runtime); simulated nodes never feel pressure
    host_pressure: bool = True
    #: pod network (kubelet/network.py): "netns" gives each pod a sandbox, "host" shares the node's network
    pod_network: str = "host"
    #: process runtime volumes (kubelet/mountns.py): "namespace" (mount namespaces) or "rewrite" (path rewrite)
    volume_mounts: str = "rewrite"
    #: seconds between refreshes of configMap/secret/downwardAPI/projected volumes (--sync-frequency)
    sync_frequency: float = 60.0
    #: --cluster-dns: the nameservers of ClusterFirst pods (kubelet/dns.py); empty falls back to Default
    cluster_dns: list[str] = field(default_factory=list)

    def capacity(self) -> dict[str, str]:
        storage = self.ephemeral_storage
        if not storage:
            try:
                storage = f"{shutil.disk_usage(self.data_dir).total // 1024}Ki"
            except OSError:
                storage = "100Gi"
        return {"cpu": self.cpu or str(os.cpu_count() or 1), "memory": self.memory or host_memory(),
                "pods": str(self.pods), "ephemeral-storage": storage, "hugepages-1Gi": "0", "hugepages-2Mi": "0"}


def default_pod_cidr(name: str) -> str:
    """10.244.<n>.0/24 from the digits ending the node name (n1 -> 10.244.1.0/24), else from a hash."""
    m = re.search(r"(\d+)$", name)
    n = int(m.group(1)) if m else zlib.crc32(name.encode()) % 4096
    return f"10.{244 + (n // 256) % 12}.{n % 256}.0/24"


class PodIPs:
    """Pod IPs from the node's podCIDR: .2 upwards, released addresses reused."""

    def __init__(self, cidr: str) -> None:
        self.set_cidr(cidr)

    def set_cidr(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self._used: set[str] = set()
        self._hosts = self.network.hosts()
        self._free: list[str] = []

    def allocate(self) -> str:
        if self._free:
            ip = self._free.pop()
        else:
            ip = ""
            for _ in range(self.network.num_addresses):
                candidate = str(next(self._hosts, ""))
                if not candidate:
                    break
                if not candidate.endswith(".1") and candidate not in self._used:
                    ip = candidate
                    break
            if not ip:
                raise RuntimeError(f"no free pod IP in {self.network}")
        self._used.add(ip)
        return ip

    def release(self, ip: str) -> None:
        if ip in self._used:
            self._used.discard(ip)
            self._free.append(ip)


def evaluate_conditions(cfg: NodeConfig) -> dict[str, tuple[bool, str, str]]:
    """type -> (status True?, reason, message), as upstream's setters word them."""
    memory = disk = pid = False
    if cfg.host_pressure:
        avail = memory_available_bytes()
        memory = avail is not None and avail < 100 * 1024 * 1024
        try:
            usage = shutil.disk_usage(cfg.data_dir)
            disk = usage.free < usage.total * 0.10
        except OSError:
            disk = False
        pid_max = _read("/proc/sys/kernel/pid_max")
        if pid_max.isdigit():
            running = sum(1 for p in os.listdir("/proc") if p.isdigit())
            pid = running > int(pid_max) * 0.95
    return {
        "MemoryPressure": (memory, "KubeletHasInsufficientMemory" if memory else "KubeletHasSufficientMemory",
                           "kubelet has insufficient memory available" if memory
                           else "kubelet has sufficient memory available"),
        "DiskPressure": (disk, "KubeletHasDiskPressure" if disk else "KubeletHasNoDiskPressure",
                         "kubelet has disk pressure" if disk else "kubelet has no disk pressure"),
        "PIDPressure": (pid, "KubeletHasInsufficientPID" if pid else "KubeletHasSufficientPID",
                        "kubelet has insufficient PID available" if pid else "kubelet has sufficient PID available"),
        "Ready": (True, "KubeletReady", "kubelet is posting ready status"),
    }


def node_conditions(old: list[Obj], values: dict[str, tuple[bool, str, str]]) -> list[Obj]:
    """Ours with a fresh heartbeat and lastTransitionTime kept while the status holds; others' kept."""
    now = rfc3339()
    before = {c.get("type"): c for c in old}
    out = [c for c in old if c.get("type") not in NODE_CONDITIONS]
    for ctype in NODE_CONDITIONS:
        ok, reason, message = values[ctype]
        status = "True" if ok else "False"
        prev = before.get(ctype)
        out.append({"type": ctype, "status": status, "lastHeartbeatTime": now,
                    "lastTransitionTime": prev["lastTransitionTime"]
                    if prev and prev.get("status") == status and prev.get("lastTransitionTime") else now,
                    "reason": reason, "message": message})
    return out


@functools.cache
def _host_info() -> tuple[str, str, str, str]:
    """machine-id, boot id, kernel release, OS image: fixed while the process lives."""
    return (_read("/etc/machine-id"), _read("/proc/sys/kernel/random/boot_id"), platform.release(), os_image())


def node_status(cfg: NodeConfig, conditions: list[Obj]) -> Obj:
    cap = cfg.capacity()
    machine_id, boot_id, kernel, image = _host_info()
    return {
        "capacity": cap, "allocatable": dict(cap), "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": cfg.address}, {"type": "Hostname", "address": cfg.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.port}},
        "nodeInfo": {
            "machineID": machine_id or uuid.uuid5(uuid.NAMESPACE_DNS, cfg.name).hex,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"kplane-node/{cfg.name}")),
            "bootID": boot_id, "kernelVersion": kernel,
            "osImage": image, "containerRuntimeVersion": f"kplane-{cfg.runtime}://{cfg.runtime_version}",
            "kubeletVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": host_arch(),
        },
    }


def _canonical_resources(resources: Any) -> Any:
    if not isinstance(resources, dict):
        return resources
    out = {}
    for k, v in resources.items():
        try:
            out[k] = canonical(v) if isinstance(v, str) else v
        except ValueError:
            out[k] = v
    return out


def _comparable(status: Obj) -> Obj:
    out = {k: v for k, v in status.items() if k not in ("conditions", "capacity", "allocatable")}
    for key in ("capacity", "allocatable"):
        if key in status:
            out[key] = _canonical_resources(status[key])
    conds = sorted((c for c in status.get("conditions") or [] if isinstance(c, dict)),
                   key=lambda c: str(c.get("type", "")))
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in conds]
    return out


def status_changed(old: Obj, new: Obj) -> bool:
    """Upstream's nodeStatusHasChanged: conditions compared without their lastHeartbeatTime (and in any
    order), quantities by value; anything else exactly."""
    return _comparable(old) != _comparable(new)


def _diff_map(old: Obj, new: Obj) -> Obj:
    out: Obj = {}
    for k, v in new.items():
        o = old.get(k)
        if k in old and o == v:
            continue
        out[k] = _diff_map(o, v) if isinstance(o, dict) and isinstance(v, dict) else v
    for k in old:
        if k not in new:
            out[k] = None
    return out


def status_patch(old: Obj, new: Obj) -> Obj:
    """The strategic merge patch of ``{"status": ...}`` taking ``old`` to ``new``, shaped as upstream's
    two-way merge patch for Node status: conditions merged by ``type`` with ``$setElementOrder``, changed
    fields only; addresses, when they change, replaced whole (``$patch: replace``, upstream's fix-up for
    their wrong merge annotation); other lists replaced."""
    out: Obj = {}
    for key in sorted(set(old) | set(new)):
        if key not in new:
            out[key] = None
            continue
        o, v = old.get(key), new[key]
        if key in old and o == v:
            continue
        if key == "conditions" and isinstance(o, list) and isinstance(v, list):
            before = {c.get("type"): c for c in o if isinstance(c, dict)}
            changed: list[Obj] = []
            for c in v:
                prev = before.get(c.get("type"))
                if prev is None:
                    changed.append(c)
                else:
                    d = _diff_map(prev, c)
                    if d:
                        changed.append({"type": c.get("type"), **d})
            kept = {c.get("type") for c in v}
            changed += [{"type": t, "$patch": "delete"} for t in before if t not in kept]
            out["$setElementOrder/conditions"] = [{"type": c.get("type")} for c in v]
            if changed:
                out["conditions"] = changed
        elif key == "addresses" and isinstance(v, list) and o:
            out[key] = [*v, {"$patch": "replace"}]
        elif isinstance(o, dict) and isinstance(v, dict):
            out[key] = _diff_map(o, v)
        else:
            out[key] = v
    return {"status": out}


def node_object(cfg: NodeConfig, conditions: list[Obj]) -> Obj:
    labels = {"beta.kubernetes.io/arch": host_arch(), "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": host_arch(), "kubernetes.io/hostname": cfg.name, "kubernetes.io/os": "linux",
              **cfg.labels}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": cfg.name, "labels": labels,
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {}, "status": node_status(cfg, conditions)}


def lease_object(name: str, node_uid: str, *, existing: Obj | None = None) -> Obj:
    lease: Obj = existing or {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                              "metadata": {"name": name, "namespace": "kube-node-lease"}}
    meta = lease["metadata"]
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]
    lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION,
                     "renewTime": micro_now()}
    return lease
