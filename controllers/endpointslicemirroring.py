"""EndpointSlice mirroring: Endpoints written by hand for Services without a selector get matching
EndpointSlices (managed-by ``endpointslicemirroring-controller.k8s.io``), as upstream's mirroring
controller does. Endpoints labelled ``endpointslice.kubernetes.io/skip-mirror: "true"`` (the controller-
made ones for selector Services) are left alone."""

from __future__ import annotations

import ipaddress
from typing import Any

from .client import ApiError, path_for
from .runtime import Controller, Result, split_key

Obj = dict[str, Any]

MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
MIRRORING = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME = "kubernetes.io/service-name"
MAX_ENDPOINTS = 1000  # upstream mirrors at most this many addresses per Endpoints


def _address_type(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "FQDN"


def desired_slices(endpoints: Obj) -> list[Obj]:
    """One slice per (subset, address type), as upstream groups them (without its 100-per-slice split)."""
    meta = endpoints["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in (MANAGED_BY, SERVICE_NAME)}
    labels.update({SERVICE_NAME: meta["name"], MANAGED_BY: MIRRORING})
    slices: list[Obj] = []
    budget = MAX_ENDPOINTS
    for subset in endpoints.get("subsets") or []:
        ports = [{k: p[k] for k in ("name", "port", "protocol", "appProtocol") if k in p}
                 for p in subset.get("ports") or []]
        by_type: dict[str, list[Obj]] = {}
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for addr in subset.get(key) or []:
                if budget <= 0:
                    break
                budget -= 1
                ep: Obj = {"addresses": [addr["ip"]],
                           "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                if addr.get("hostname"):
                    ep["hostname"] = addr["hostname"]
                if addr.get("nodeName"):
                    ep["nodeName"] = addr["nodeName"]
                if addr.get("targetRef"):
                    ep["targetRef"] = addr["targetRef"]
                by_type.setdefault(_address_type(addr["ip"]), []).append(ep)
        for address_type, eps in by_type.items():
            slices.append({"addressType": address_type, "endpoints": eps, "ports": ports, "labels": labels})
    return slices


class EndpointSliceMirroringController(Controller):
    name = "endpointslicemirroring"
    component = "endpointslicemirroring-controller"

    def setup(self) -> None:
        self.endpoints = self.informers.get("", "v1", "endpoints")
        self.services = self.informers.get("", "v1", "services")
        self.slices = self.informers.get("discovery.k8s.io", "v1", "endpointslices")
        self.slices.add_indexer("mirrored-service", lambda o: [
            f"{o['metadata'].get('namespace', '')}/{(o['metadata'].get('labels') or {}).get(SERVICE_NAME, '')}"]
            if (o["metadata"].get("labels") or {}).get(MANAGED_BY) == MIRRORING else [])
        self.endpoints.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                    on_delete=self.enqueue)
        self.services.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                   on_delete=self.enqueue)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        endpoints = self.endpoints.get(key)
        service = self.services.get(key)
        existing = self.slices.by_index("mirrored-service", key)
        mirror = (endpoints is not None and service is not None
                  and not (service.get("spec") or {}).get("selector")
                  and (endpoints["metadata"].get("labels") or {}).get(SKIP_MIRROR) != "true")
        wanted = desired_slices(endpoints) if mirror and endpoints is not None else []
        collection = path_for("discovery.k8s.io", "v1", "endpointslices", namespace)
        for i, slice_ in enumerate(wanted):
            body: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                         "addressType": slice_["addressType"], "endpoints": slice_["endpoints"],
                         "ports": slice_["ports"]}
            current = existing[i] if i < len(existing) else None
            assert endpoints is not None
            if current is None:
                body["metadata"] = {"generateName": f"{name}-", "namespace": namespace, "labels": slice_["labels"],
                                    "ownerReferences": [{"apiVersion": "v1", "kind": "Endpoints", "name": name,
                                                         "uid": endpoints["metadata"]["uid"], "controller": True,
                                                         "blockOwnerDeletion": True}]}
                await self.client.create(collection, body)
                continue
            same = all(current.get(k) == body[k] for k in ("addressType", "endpoints", "ports")) and \
                (current["metadata"].get("labels") or {}) == slice_["labels"]
            if not same:
                body["metadata"] = {**current["metadata"], "labels": slice_["labels"]}
                await self.client.update(path_for("discovery.k8s.io", "v1", "endpointslices", namespace,
                                                  current["metadata"]["name"]), body)
        for extra in existing[len(wanted):]:
            try:
                await self.client.delete(path_for("discovery.k8s.io", "v1", "endpointslices", namespace,
                                                  extra["metadata"]["name"]))
            except ApiError as e:
                if not e.not_found:
                    raise
        return None
