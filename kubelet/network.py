"""Pod networking for the process runtime: per-pod sandboxes in their own network namespaces.

A pod sandbox (upstream: the pause container) is a holder process, ``unshare --net --uts --ipc -- sleep
infinity`` (with PR_SET_PDEATHSIG via ``setpriv``), whose namespaces every container, exec and probe
command joins with ``nsenter -t <pid> --net --uts --ipc``. The sandbox gets the pod's hostname, ``lo`` up,
and ``eth0``: one end of a veth pair whose host end is on the node's bridge, with the pod IP from the
node's podCIDR and a default route via the bridge's gateway (the CIDR's first address).

Names stay within Linux's 15 characters: the bridge is ``kpbr-<8 hex>`` from the node name and data
directory (two kubelets of the same node name in different directories do not share a bridge), a host
veth end ``kpv<11 hex>`` from the node and pod UID. Holder PIDs are recorded under
``<data dir>/sandboxes`` so a kubelet restarted after a crash removes what the previous one left. The
bridge's alias names its kubelet (``kplane node=<node> kubelet=<pid>``): a starting kubelet also removes
the bridges of kubelets that died without cleaning up (their routes would shadow a reused podCIDR).

Modes (``--pod-network``): ``netns`` as above; ``host``: pods share the node's network and report its IP;
``auto``: ``netns`` when running as root on Linux with ``unshare``, ``nsenter`` and ``ip`` installed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("kplane.kubelet.network")

Obj = dict[str, Any]

CLUSTER_DOMAIN = "cluster.local"
_CLONE_NEWNET = 0x40000000
_TOOLS = ("unshare", "nsenter", "ip")


class NetworkError(Exception):
    """A sandbox could not be set up; the message goes into a FailedCreatePodSandBox event."""


def resolve_mode(requested: str, runtime: str) -> str:
    """``netns`` or ``host`` for ``--pod-network``; ValueError when ``netns`` is asked for but impossible."""
    if runtime != "process":
        return "host"  # the simulated runtime runs nothing
    possible = sys.platform.startswith("linux") and os.geteuid() == 0 and all(shutil.which(t) for t in _TOOLS)
    if requested == "auto":
        return "netns" if possible else "host"
    if requested == "netns" and not possible:
        raise ValueError("--pod-network=netns needs root on Linux and unshare, nsenter and ip (util-linux, iproute2)")
    if requested not in ("netns", "host"):
        raise ValueError(f"unknown pod network {requested!r} (auto, host or netns)")
    return requested


def pod_hostname(pod: Obj) -> str:
    """The pod's hostname as upstream sets it: spec.hostname, else the name cut to 63 characters; the FQDN
    ``<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`` with setHostnameAsFQDN and a subdomain."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    name = str(spec.get("hostname") or "") or str(meta.get("name", ""))[:63].rstrip("-.")
    subdomain = spec.get("subdomain")
    if spec.get("setHostnameAsFQDN") and subdomain:
        fqdn = f"{name}.{subdomain}.{meta.get('namespace', 'default')}.svc.{CLUSTER_DOMAIN}"
        if len(fqdn) > 64:
            raise NetworkError(f'failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too '
                               "long (64 characters is the max, " f"{len(fqdn)} characters requested)")
        return fqdn
    return name


def _short(*parts: str, n: int) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


async def _run(*argv: str, stdin: bytes | None = None, timeout: float = 10.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return -1, f"{argv[0]} timed out"
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _must(*argv: str, stdin: bytes | None = None) -> None:
    code, out = await _run(*argv, stdin=stdin)
    if code != 0:
        raise NetworkError(f"{' '.join(argv[:4])}: {out or f'exit code {code}'}")


def _ns_link(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return ""


def _owner_alive(alias: str) -> bool:
    """Whether the kubelet named in a bridge alias (``kplane node=<n> kubelet=<pid>``) still runs."""
    pid = next((f[len("kubelet="):] for f in alias.split() if f.startswith("kubelet=")), "")
    try:
        return pid.isdigit() and b"kubelet" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class PodNetwork:
    """One node's bridge and its pods' sandboxes. ``pids`` (pod UID -> holder PID) is shared with the
    runtime, which prefixes container commands with ``nsenter`` for the pods listed there."""

    def __init__(self, node: str, data_dir: Path, *, enabled: bool, pids: dict[str, int]) -> None:
        self.node = node
        self.enabled = enabled
        self.pids = pids
        self.bridge = f"kpbr-{_short(node, str(data_dir.resolve()), n=8)}"
        self.state_dir = data_dir / "sandboxes"
        self._cidr = ""
        self._lock = asyncio.Lock()
        self._holders: dict[str, asyncio.subprocess.Process] = {}

    def veth(self, uid: str) -> str:
        return f"kpv{_short(self.node, uid, n=11)}"

    # --- the node's bridge -----------------------------------------------------------------------------

    async def start(self, cidr: str) -> None:
        """Remove a previous run's leftovers of this node, then create the bridge."""
        if not self.enabled:
            return
        async with self._lock:
            await self._cleanup_stale()
            await self._bridge(cidr)

    async def _cleanup_stale(self) -> None:
        code, out = await _run("ip", "-j", "link", "show", "type", "bridge")
        with contextlib.suppress(ValueError, TypeError):
            for link in json.loads(out) if code == 0 else []:
                alias = str(link.get("ifalias") or "")
                if alias.startswith("kplane ") and link.get("ifname") != self.bridge and not _owner_alive(alias):
                    log.info("removing bridge %s of a kubelet that is gone (%s)", link["ifname"], alias)
                    await self._delete_bridge(str(link["ifname"]))
        if self.state_dir.is_dir():
            for f in self.state_dir.iterdir():
                with contextlib.suppress(ValueError, OSError):
                    pid = int(f.read_text().strip())
                    if _comm(pid) == "sleep" and _ns_link(pid) not in ("", _ns_link(os.getpid())):
                        os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    f.unlink()
        await self._delete_bridge(self.bridge)

    @staticmethod
    async def _delete_bridge(name: str) -> None:
        code, out = await _run("ip", "-o", "link", "show", "master", name)
        if code == 0:
            for line in out.splitlines():
                fields = line.split(":")
                if len(fields) > 1:
                    await _run("ip", "link", "del", fields[1].strip().split("@", 1)[0])
        await _run("ip", "link", "del", name)

    async def _bridge(self, cidr: str) -> None:
        """Create the bridge (or re-address it when the podCIDR changed); the caller holds the lock."""
        if self._cidr == cidr:
            return
        net = ipaddress.ip_network(cidr, strict=False)
        gateway = f"{next(net.hosts())}/{net.prefixlen}"
        code, _ = await _run("ip", "link", "show", self.bridge)
        if code != 0:
            await _must("ip", "link", "add", self.bridge, "type", "bridge")
            await _must("ip", "link", "set", "dev", self.bridge, "alias", f"kplane node={self.node} kubelet={os.getpid()}")
        await _must("ip", "addr", "flush", "dev", self.bridge)
        await _must("ip", "addr", "add", gateway, "dev", self.bridge)
        await _must("ip", "link", "set", self.bridge, "up")
        try:
            Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        except OSError as e:
            log.warning("cannot enable net.ipv4.ip_forward: %s", e)
        self._cidr = cidr
        log.info("node %s: bridge %s with gateway %s", self.node, self.bridge, gateway)
        code, out = await _run("ip", "-j", "-4", "addr", "show", "type", "bridge")
        with contextlib.suppress(ValueError, TypeError, KeyError):
            for link in json.loads(out) if code == 0 else []:
                for a in link.get("addr_info") or []:
                    other = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
                    if link["ifname"] != self.bridge and other.overlaps(net):
                        log.warning("node %s: podCIDR %s overlaps %s on %s: pod IPs may be unreachable from "
                                    "the host", self.node, cidr, other, link["ifname"])

    # --- sandboxes -------------------------------------------------------------------------------------

    async def create(self, uid: str, ip: str, cidr: str, hostname: str) -> int:
        """Start the pod's sandbox and wire its eth0; returns the holder PID. Raises NetworkError."""
        async with self._lock:
            await self._bridge(cidr)
        if uid in self._holders:
            await self.remove(uid)  # a half-made earlier attempt
        prefix = [p for p in (shutil.which("setpriv"),) if p]
        argv = [*prefix, "--pdeathsig", "KILL", "--"] if prefix else []
        try:
            holder = await asyncio.create_subprocess_exec(
                *argv, "unshare", "--net", "--uts", "--ipc", "--", "sleep", "infinity", start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        except OSError as e:
            raise NetworkError(f"starting the sandbox: {e}") from None
        self._holders[uid] = holder
        pid = holder.pid
        try:
            await self._wait_unshared(holder)
            self.state_dir.mkdir(parents=True, exist_ok=True)
            (self.state_dir / uid).write_text(str(pid))
            net = ipaddress.ip_network(cidr, strict=False)
            veth = self.veth(uid)
            await _must("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
            await _must("ip", "link", "set", veth, "master", self.bridge, "up")
            batch = (f"link set lo up\naddr add {ip}/{net.prefixlen} dev eth0\nlink set eth0 up\n"
                     f"route add default via {next(net.hosts())} dev eth0\n")
            await _must("nsenter", "-t", str(pid), "--net", "--", "ip", "-batch", "-", stdin=batch.encode())
            await _must("nsenter", "-t", str(pid), "--uts", "--", sys.executable, "-c",
                        "import socket, sys; socket.sethostname(sys.argv[1])", hostname)
        except BaseException:
            await self.remove(uid)
            raise
        self.pids[uid] = pid
        return pid

    @staticmethod
    async def _wait_unshared(holder: asyncio.subprocess.Process) -> None:
        """Until ``unshare`` has made the namespaces and exec'd the sleeper (bounded: 10 s)."""
        deadline = time.monotonic() + 10.0
        own = _ns_link(os.getpid())
        while time.monotonic() < deadline:
            if holder.returncode is not None:
                raise NetworkError(f"the sandbox exited with code {holder.returncode}")
            if _comm(holder.pid) == "sleep" and _ns_link(holder.pid) not in ("", own):
                return
            await asyncio.sleep(0.01)
        raise NetworkError("the sandbox did not start within 10s")

    async def remove(self, uid: str) -> None:
        """Delete the pod's veth and kill its holder (the namespaces go with it)."""
        self.pids.pop(uid, None)
        holder = self._holders.pop(uid, None)
        if not self.enabled:
            return
        await _run("ip", "link", "del", self.veth(uid))
        if holder is not None:
            with contextlib.suppress(ProcessLookupError):
                holder.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(holder.wait(), 5.0)
        with contextlib.suppress(OSError):
            (self.state_dir / uid).unlink()

    async def close(self) -> None:
        """Kubelet shutdown: every sandbox, then the bridge."""
        if not self.enabled:
            return
        for uid in list(self._holders):
            await self.remove(uid)
        async with self._lock:
            await _run("ip", "link", "del", self.bridge)
            self._cidr = ""


def _socket_in_netns(pid: int) -> socket.socket:
    """A TCP socket created inside the network namespace of ``pid`` (a socket keeps its namespace).
    ``setns`` affects only the calling thread: this runs in a thread of its own that switches back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(target, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                libc.setns(own, _CLONE_NEWNET)
        finally:
            os.close(target)
    finally:
        os.close(own)


async def dial(host: str, port: int, netns_pid: int | None = None) -> tuple[asyncio.StreamReader,
                                                                             asyncio.StreamWriter]:
    """Connect to a pod's port: ``host:port``, or, for a pod in a sandbox, ``127.0.0.1:port`` inside its
    network namespace, as CRI runtimes serve port-forward."""
    if netns_pid is None:
        return await asyncio.open_connection(host, port)
    fut: concurrent.futures.Future[socket.socket] = concurrent.futures.Future()

    def make() -> None:
        try:
            fut.set_result(_socket_in_netns(netns_pid))
        except BaseException as e:  # handed to the awaiting coroutine
            fut.set_exception(e)

    threading.Thread(target=make, name="netns-dial", daemon=True).start()
    sock = await asyncio.wrap_future(fut)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)
