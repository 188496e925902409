"""Service ClusterIP and NodePort allocation.

Like upstream's IPAddress-based allocator (1.33+), each ClusterIP is reserved by creating a
networking.k8s.io/v1 IPAddress named after the IP: the create is the atomic claim, so two API servers
sharing one store can never hand out the same address. NodePorts are checked against the ports that
existing Services already use.
"""

from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING, Any

import orjson

from schemas.fielderrors import FieldError, invalid

from . import errors
from .registry import encode, now_rfc3339

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]

NODE_PORT_RANGE = (30000, 32767)


class ServiceAllocator:
    def __init__(self, server: APIServer, cidr: str) -> None:
        self.server = server
        self.network = ipaddress.ip_network(cidr)

    @property
    def first_ip(self) -> str:
        return str(self.network.network_address + 1)

    def _ip_key(self, ip: str) -> str:
        return f"/registry/ipaddresses/{ip}"

    async def _claim(self, ip: str, service: Obj) -> bool:
        meta = service["metadata"]
        obj = {
            "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
            "metadata": {"name": ip, "uid": _uid(), "creationTimestamp": now_rfc3339(),
                         "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4" if ":" not in ip else "IPv6",
                                    "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
            "spec": {"parentRef": {"group": "", "resource": "services", "namespace": meta.get("namespace", ""),
                                   "name": meta.get("name", "")}},
        }
        res = await self.server.backend.create(self._ip_key(ip), encode(obj))
        return res.ok

    async def release(self, service: Obj) -> None:
        for ip in (service.get("spec") or {}).get("clusterIPs") or []:
            if ip and ip != "None":
                kv = await self.server.backend.get(self._ip_key(ip))
                if kv is None:
                    continue
                ref = orjson.loads(kv.value).get("spec", {}).get("parentRef", {})
                meta = service["metadata"]
                if ref.get("name") == meta.get("name") and ref.get("namespace") == meta.get("namespace"):
                    await self.server.backend.delete(self._ip_key(ip), expected_revision=kv.mod_revision)

    async def allocate(self, service: Obj) -> None:
        """Fill spec.clusterIP(s), ipFamilies, ipFamilyPolicy and nodePorts of a Service being created."""
        spec = service.setdefault("spec", {})
        svc_type = spec.get("type", "ClusterIP")
        name = service["metadata"].get("name", "")
        if svc_type == "ExternalName":
            return
        ip = spec.get("clusterIP") or ((spec.get("clusterIPs") or [None])[0])
        if ip == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        elif ip:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise self._invalid(name, invalid("spec.clusterIPs[0]", ip, "must be a valid IP address")) from None
            if addr not in self.network:
                raise self._invalid(name, invalid(
                    "spec.clusterIPs", [ip],
                    f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                    f"The range of valid IPs is {self.network}"))
            if not await self._claim(ip, service):
                raise self._invalid(name, invalid("spec.clusterIPs", [ip],
                                                  f"failed to allocate IP {ip}: provided IP is already allocated"))
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        else:
            ip = await self._allocate_random(service)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv6" if ":" in str(self.network.network_address) else "IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if svc_type in ("NodePort", "LoadBalancer"):
            await self._node_ports(service)

    async def _allocate_random(self, service: Obj) -> str:
        size = self.network.num_addresses
        # upstream prefers the upper band for dynamic allocation; static IPs live in the lower band
        low = 1 + min(max(16, size // 16), 256) if size > 64 else 1
        for _ in range(256):
            candidate = str(self.network.network_address + random.randrange(low, size - 1))
            if await self._claim(candidate, service):
                return candidate
        for offset in range(1, size - 1):
            candidate = str(self.network.network_address + offset)
            if await self._claim(candidate, service):
                return candidate
        raise errors.StatusError(500, "InternalError",
                                 "Internal error occurred: failed to allocate a serviceIP: range is full")

    async def _node_ports(self, service: Obj) -> None:
        used: set[int] = set()
        res = await self.server.backend.list("/registry/services/specs/")
        for kv in res.items:
            for port in (orjson.loads(kv.value).get("spec") or {}).get("ports") or []:
                if port.get("nodePort"):
                    used.add(int(port["nodePort"]))
        name = service["metadata"].get("name", "")
        for i, port in enumerate(service["spec"].get("ports") or []):
            want = port.get("nodePort")
            if want:
                if want in used:
                    raise self._invalid(name, invalid(f"spec.ports[{i}].nodePort", want,
                                                      "provided port is already allocated"))
                used.add(want)
                continue
            free = [p for p in range(NODE_PORT_RANGE[0], NODE_PORT_RANGE[1] + 1) if p not in used]
            if not free:
                raise errors.StatusError(500, "InternalError", "Internal error occurred: range is full")
            port["nodePort"] = random.choice(free)
            used.add(port["nodePort"])

    @staticmethod
    def _invalid(name: str, err: FieldError) -> errors.StatusError:
        return errors.invalid_object("", "Service", name, [err])


def _uid() -> str:
    import uuid

    return str(uuid.uuid4())
