"""Endpoints and EndpointSlices for Services with a selector (upstream's endpoint and endpointslice
controllers), and the `kubernetes` Service's endpoints pointing at the API server (upstream's apiserver
writes those itself; here the EndpointsController owns them).

Contracts, as upstream:

* Only Services with a non-empty selector that are not ExternalName get endpoints from these controllers.
* A pod is an endpoint once it has an IP and is not Succeeded/Failed. Endpoints list terminating pods
  only when the Service publishes not-ready addresses; EndpointSlices always list them, with
  ``ready: false, serving: <pod ready>, terminating: true``.
* Ports come from each Service port's targetPort: a number, or a named container port of the pod with the
  same protocol (a pod without it is left out of that port). Endpoints' subsets group addresses that
  offer the same ports; EndpointSlices group endpoints by port set, at most 100 per slice.
* Nothing is written when nothing changed. Both carry ``endpoints.kubernetes.io/last-change-trigger-time``.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import math
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .client import ApiError, path_for
from .runtime import Controller, Informer, Obj, Result, key_of, split_key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_CAPACITY = 1000
APISERVER_SERVICE = "default/kubernetes"


# --- pods and services ----------------------------------------------------------------------------------


def selector_of(svc: Obj) -> dict[str, str]:
    return dict((svc.get("spec") or {}).get("selector") or {})


def selects(selector: dict[str, str], obj: Obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [p["ip"] for p in status.get("podIPs") or [] if p.get("ip")]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def should_be_endpoint(pod: Obj, include_terminating: bool) -> bool:
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") or not pod_ips(pod):
        return False
    return include_terminating or not pod["metadata"].get("deletionTimestamp")


def should_set_hostname(pod: Obj, svc: Obj) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == svc["metadata"]["name"] and \
        pod["metadata"].get("namespace") == svc["metadata"].get("namespace")


def find_port(pod: Obj, svc_port: Obj) -> int | None:
    """The container port a Service port's targetPort names on this pod (a number is taken as is)."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = svc_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in (spec.get("containers") or []) + sidecars:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_ports(svc: Obj, pod: Obj) -> list[Obj]:
    out = []
    for svc_port in (svc.get("spec") or {}).get("ports") or []:
        number = find_port(pod, svc_port)
        if number is None:
            continue
        port: Obj = {"name": svc_port.get("name") or "", "port": number,
                     "protocol": svc_port.get("protocol") or "TCP"}
        if svc_port.get("appProtocol"):
            port["appProtocol"] = svc_port["appProtocol"]
        out.append(port)
    return out


def is_ipv6(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return False


def headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") in (None, "", "None")


def address_types(svc: Obj) -> list[str]:
    spec = svc.get("spec") or {}
    families = [f for f in spec.get("ipFamilies") or [] if f in ("IPv4", "IPv6")]
    if families:
        return families
    if not headless(svc):
        return ["IPv6" if is_ipv6(spec["clusterIP"]) else "IPv4"]
    return ["IPv4", "IPv6"]


def _changed(old: Obj, new: Obj) -> tuple[bool, bool]:
    """(pod changed in a way that changes its endpoint, labels/hostname changed): upstream's filter."""
    om, nm, os_, ns_ = old["metadata"], new["metadata"], old.get("spec") or {}, new.get("spec") or {}
    labels = (om.get("labels") or {}) != (nm.get("labels") or {}) or \
        (os_.get("hostname"), os_.get("subdomain")) != (ns_.get("hostname"), ns_.get("subdomain"))
    pod = om.get("deletionTimestamp") != nm.get("deletionTimestamp") or pod_ready(old) != pod_ready(new) or \
        pod_ips(old) != pod_ips(new) or os_.get("nodeName") != ns_.get("nodeName") or \
        (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase")
    return pod, labels


def services_for_pod(services: Informer, pod: Obj) -> set[str]:
    ns = pod["metadata"].get("namespace", "")
    return {key_of(s) for s in services.list(ns) if (sel := selector_of(s)) and selects(sel, pod)}


def services_on_pod_change(services: Informer, old: Obj, new: Obj) -> set[str]:
    if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
        return set()
    pod_changed, labels_changed = _changed(old, new)
    if not labels_changed:
        return services_for_pod(services, new) if pod_changed else set()
    now, before = services_for_pod(services, new), services_for_pod(services, old)
    return now | before if pod_changed else now ^ before


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_nano(t: dt.datetime) -> str:
    """Go's RFC3339Nano in UTC: fractional seconds without trailing zeros."""
    t = t.astimezone(dt.UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


class TriggerTimeTracker:
    """The ``last-change-trigger-time``: the earliest pod Ready transition (or Service creation) not yet
    reflected in a previous sync of that Service."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[dict[str, dt.datetime], dt.datetime | None]] = {}

    def compute(self, key: str, svc: Obj, pods: Iterable[Obj]) -> dt.datetime | None:
        known = key in self._state
        before_pods, before_svc = self._state.get(key, ({}, None))
        earliest: dt.datetime | None = None
        now_pods: dict[str, dt.datetime] = {}
        for pod in pods:
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or []
                          if c.get("type") == "Ready"), None)
            t = parse_time((ready or {}).get("lastTransitionTime"))
            if t is None:
                continue
            name = pod["metadata"]["name"]
            now_pods[name] = t
            if name not in before_pods or t > before_pods[name]:
                earliest = t if earliest is None else min(earliest, t)
        svc_time = parse_time(svc["metadata"].get("creationTimestamp"))
        if svc_time is not None and (not known or before_svc is None or svc_time > before_svc):
            earliest = svc_time if earliest is None else min(earliest, svc_time)
        self._state[key] = (now_pods, svc_time)
        return earliest

    def forget(self, key: str) -> None:
        self._state.pop(key, None)


def set_trigger_time(meta: Obj, when: dt.datetime | None) -> None:
    annotations = meta.setdefault("annotations", {})
    if when is None:
        annotations.pop(TRIGGER_TIME_ANNOTATION, None)
    else:
        annotations[TRIGGER_TIME_ANNOTATION] = format_nano(when)


def enqueue_for_pods(ctrl: Controller, services: Informer, pods: Informer) -> None:
    """Wire pod events to the keys of the Services selecting the pod (before and after the change)."""

    def on_add(pod: Obj) -> None:
        for key in services_for_pod(services, pod):
            ctrl.queue.add(key)

    def on_update(old: Obj, new: Obj) -> None:
        for key in services_on_pod_change(services, old, new):
            ctrl.queue.add(key)

    pods.add_handlers(on_add=on_add, on_update=on_update, on_delete=on_add)


# --- Endpoints --------------------------------------------------------------------------------------------


def _addr_key(addr: Obj) -> tuple[str, str]:
    return addr["ip"], (addr.get("targetRef") or {}).get("uid", "")


def _port_key(port: Obj | None) -> tuple[Any, ...]:
    if port is None:
        return ("", -1, "", "")
    return (port.get("name") or "", port.get("port", 0), port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def repack_subsets(entries: list[tuple[Obj, bool, list[Obj]]]) -> list[Obj]:
    """Subsets from (address, ready, ports) per pod: addresses that offer the same ports (with the same
    readiness) share a subset; an address ready in one entry and not in another counts as ready."""
    by_port: dict[tuple[Any, ...], dict[tuple[str, str], tuple[Obj, bool]]] = {}
    ports: dict[tuple[Any, ...], Obj | None] = {}
    for addr, ready, addr_ports in entries:
        port_list: list[Obj | None] = list(addr_ports) or [None]
        for port in port_list:
            pk = _port_key(port)
            ports[pk] = port
            addrs = by_port.setdefault(pk, {})
            prev = addrs.get(_addr_key(addr))
            addrs[_addr_key(addr)] = (addr, ready or (prev is not None and prev[1]))
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[tuple[Any, ...]]] = {}
    for pk, addrs in by_port.items():
        groups.setdefault(frozenset((k, r) for k, (_, r) in addrs.items()), []).append(pk)
    subsets = []
    for pks in groups.values():
        addrs = by_port[pks[0]]
        subset: Obj = {}
        ready_addrs = sorted((a for a, r in addrs.values() if r), key=_addr_key)
        not_ready = sorted((a for a, r in addrs.values() if not r), key=_addr_key)
        if ready_addrs:
            subset["addresses"] = ready_addrs
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        real = [p for pk in sorted(pks) if (p := ports[pk]) is not None]
        if real:
            subset["ports"] = real
        subsets.append(subset)
    return sorted(subsets, key=lambda s: [_addr_key(a) for a in s.get("addresses", []) +
                                          s.get("notReadyAddresses", [])])


def normalize_subsets(subsets: list[Obj] | None) -> list[Obj]:
    """Drop empty lists and targetRef resourceVersions, so stored and desired subsets compare equal."""
    out = []
    for s in subsets or []:
        norm: Obj = {}
        for field in ("addresses", "notReadyAddresses"):
            addrs = []
            for a in s.get(field) or []:
                a = {k: v for k, v in a.items() if v not in (None, "")}
                if "targetRef" in a:
                    a["targetRef"] = {k: v for k, v in a["targetRef"].items() if k != "resourceVersion" and v}
                addrs.append(a)
            if addrs:
                norm[field] = addrs
        ports = [{k: v for k, v in p.items() if v not in (None, "")} for p in s.get("ports") or []]
        if ports:
            norm["ports"] = ports
        out.append(norm)
    return out


def truncate(subsets: list[Obj]) -> bool:
    """Keep at most 1000 addresses, ready ones first, spread over subsets in proportion (as upstream)."""
    total_ready = sum(len(s.get("addresses", [])) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses", [])) for s in subsets)
    if total_ready + total_not_ready <= MAX_ENDPOINTS_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_ENDPOINTS_CAPACITY
    limit = MAX_ENDPOINTS_CAPACITY if truncate_ready else MAX_ENDPOINTS_CAPACITY - total_ready
    num_total = total_ready if truncate_ready else total_not_ready
    room = limit
    for s in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        n = len(s.get(field, []))
        take = min(math.ceil(n / num_total * limit), room) if num_total else 0
        s[field] = s.get(field, [])[:take]
        if truncate_ready:
            s.pop("notReadyAddresses", None)
        room -= len(s[field])
        if not s[field]:
            s.pop(field)
    return True


class EndpointsController(Controller):
    """core/v1 Endpoints named after each selector Service; deleted when the Service goes.

    ``options["apiserver_endpoints"]`` (default True) also keeps the `kubernetes` Service's Endpoints
    and EndpointSlice pointing at the API server this client talks to, as kube-apiserver's endpoint
    reconciler does: turn it off against an API server that does that itself.
    """

    name = "endpoints"
    component = "endpoint-controller"
    workers = 4

    def setup(self) -> None:
        self.services = self.informers.get("", "v1", "services")
        self.pods = self.informers.get("", "v1", "pods")
        self.endpoints = self.informers.get("", "v1", "endpoints")
        self.slices = self.informers.get("discovery.k8s.io", "v1", "endpointslices")
        self.triggers = TriggerTimeTracker()
        self._apiserver_address: tuple[str, int] | None = None
        #: key -> (resourceVersion we replaced or None for a create, what the API returned): our own writes
        #: the cache has not shown yet, so the next sync does not start from a stale object
        self._written: dict[str, tuple[str | None, Obj]] = {}
        self.services.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                   on_delete=self.enqueue)
        enqueue_for_pods(self, self.services, self.pods)

        def on_endpoints(obj: Obj) -> None:
            self._written.pop(key_of(obj), None)
            self.enqueue(obj)

        def on_apiserver_object(obj: Obj) -> None:
            meta = obj["metadata"]
            if meta.get("namespace") == "default" and (meta["name"] == "kubernetes" or (
                    meta.get("labels") or {}).get(SERVICE_NAME_LABEL) == "kubernetes"):
                self.queue.add(APISERVER_SERVICE)

        self.endpoints.add_handlers(on_update=lambda _o, n: on_apiserver_object(n), on_delete=on_endpoints)
        self.slices.add_handlers(on_update=lambda _o, n: on_apiserver_object(n), on_delete=on_apiserver_object)

    async def run(self) -> None:
        # upstream's checkLeftoverEndpoints: Endpoints whose Service went while we were away
        for ep in self.endpoints.list():
            if LEADER_ANNOTATION not in (ep["metadata"].get("annotations") or {}):
                self.enqueue(ep)
        self.queue.add(APISERVER_SERVICE)
        await super().run()

    async def reconcile(self, key: str) -> Result | None:
        ns, name = split_key(key)
        svc = self.services.get(key)
        if svc is None:
            self.triggers.forget(key)
            try:
                await self.client.delete(path_for("", "v1", "endpoints", ns, name))
            except ApiError as e:
                if not e.not_found:
                    raise
            return None
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return None
        selector = selector_of(svc)
        if not selector:
            if key == APISERVER_SERVICE and self.options.get("apiserver_endpoints", True):
                await self._sync_apiserver_endpoints()
                return Result(requeue_after=10.0)
            return None
        pods = [p for p in self.pods.list(ns) if selects(selector, p)]
        trigger = self.triggers.compute(key, svc, pods)
        publish = bool(spec.get("publishNotReadyAddresses"))
        ports_defined = bool(spec.get("ports"))
        family = address_types(svc)[0] if spec.get("ipFamilies") or not headless(svc) else ""
        entries: list[tuple[Obj, bool, list[Obj]]] = []
        for pod in pods:
            if not should_be_endpoint(pod, publish):
                continue
            ips = pod_ips(pod)
            want_v6 = family == "IPv6" if family else is_ipv6(ips[0])
            ip = next((i for i in ips if is_ipv6(i) == want_v6), None)
            if ip is None:
                continue
            meta, pod_spec = pod["metadata"], pod.get("spec") or {}
            addr: Obj = {"ip": ip}
            if should_set_hostname(pod, svc):
                addr["hostname"] = pod_spec["hostname"]
            if pod_spec.get("nodeName"):
                addr["nodeName"] = pod_spec["nodeName"]
            addr["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                                 "uid": meta["uid"]}
            ready = publish or pod_ready(pod)
            if ports_defined:
                ports = endpoint_ports(svc, pod)
                if ports:  # one subset entry per port, as upstream, so partial matches still group
                    entries.extend((addr, ready, [p]) for p in ports)
            elif headless(svc):
                entries.append((addr, ready, []))
        subsets = repack_subsets(entries)
        current = self._current(key)
        labels = dict(svc["metadata"].get("labels") or {})
        if current is not None:
            cur_meta = current["metadata"]
            cur_labels = {k: v for k, v in (cur_meta.get("labels") or {}).items() if k != HEADLESS_LABEL}
            annotations = cur_meta.get("annotations") or {}
            under = sum(len(s.get("addresses", [])) + len(s.get("notReadyAddresses", []))
                        for s in current.get("subsets") or []) <= MAX_ENDPOINTS_CAPACITY
            if normalize_subsets(current.get("subsets")) == normalize_subsets(subsets) and \
                    cur_labels == labels and under and OVER_CAPACITY_ANNOTATION not in annotations:
                return None
        new: Obj = copy.deepcopy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        new["subsets"] = subsets
        meta = new["metadata"]
        set_trigger_time(meta, trigger)
        if truncate(subsets):
            meta["annotations"][OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            meta["annotations"].pop(OVER_CAPACITY_ANNOTATION, None)
        if headless(svc):
            labels[HEADLESS_LABEL] = ""
        meta["labels"] = labels
        try:
            if current is None:
                written = await self.client.create(path_for("", "v1", "endpoints", ns), new)
            else:
                written = await self.client.update(path_for("", "v1", "endpoints", ns, name), new)
            self._written[key] = (None if current is None else current["metadata"].get("resourceVersion"),
                                  dict(written, kind="Endpoints", apiVersion="v1"))
        except ApiError as e:
            self._written.pop(key, None)
            if current is None and e.status == 403 and _namespace_terminating(e):
                return None
            if not e.conflict:
                reason, verb = ("FailedToCreateEndpoint", "create endpoint for service") if current is None \
                    else ("FailedToUpdateEndpoint", "update endpoint")
                await self.events.record(new, "Warning", reason, f"Failed to {verb} {ns}/{name}: {e}")
            raise
        return None

    def _current(self, key: str) -> Obj | None:
        cached = self.endpoints.get(key)
        if key in self._written:
            replaced, obj = self._written[key]
            if (cached or {}).get("metadata", {}).get("resourceVersion") == replaced:
                return obj
            del self._written[key]
        return cached

    # --- the `kubernetes` Service ----------------------------------------------------------------------

    async def apiserver_address(self) -> tuple[str, int]:
        """(IP, port) of the API server, from ``options["apiserver_advertise_address"]`` or the client's
        server URL (a host name is resolved once)."""
        if self._apiserver_address is None:
            url = urlsplit(self.client.server)
            port = url.port or (443 if url.scheme == "https" else 80)
            host = str(self.options.get("apiserver_advertise_address") or url.hostname or "127.0.0.1")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
                infos.sort(key=lambda i: i[0] != socket.AF_INET)
                host = str(infos[0][4][0])
            self._apiserver_address = (host, port)
        return self._apiserver_address

    async def _sync_apiserver_endpoints(self) -> None:
        """What kube-apiserver's endpoint reconciler leaves: Endpoints labelled skip-mirror and an
        EndpointSlice named `kubernetes` (no managed-by label), one address, port `https`."""
        ip, port = await self.apiserver_address()
        ports = [{"name": "https", "port": port, "protocol": "TCP"}]
        subsets = [{"addresses": [{"ip": ip}], "ports": ports}]
        current = self.endpoints.get(APISERVER_SERVICE)
        labels = {SKIP_MIRROR_LABEL: "true"}
        if current is None:
            await self.client.create(path_for("", "v1", "endpoints", "default"), {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
                "subsets": subsets})
        elif normalize_subsets(current.get("subsets")) != subsets or current["metadata"].get("labels") != labels:
            new = copy.deepcopy(current)
            new["subsets"], new["metadata"]["labels"] = subsets, labels
            await self.client.update(path_for("", "v1", "endpoints", "default", "kubernetes"), new)
        address_type = "IPv6" if is_ipv6(ip) else "IPv4"
        slice_labels = {SERVICE_NAME_LABEL: "kubernetes"}
        endpoints = [{"addresses": [ip], "conditions": {"ready": True}}]
        mine = None
        for s in self.slices.list("default"):
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) != "kubernetes":
                continue
            if s["metadata"]["name"] == "kubernetes" and s.get("addressType") == address_type:
                mine = s
                continue
            try:
                await self.client.delete(path_for("discovery.k8s.io", "v1", "endpointslices", "default",
                                                  s["metadata"]["name"]))
            except ApiError as e:
                if not e.not_found:
                    raise
        slices_path = path_for("discovery.k8s.io", "v1", "endpointslices", "default")
        if mine is None:
            await self.client.create(slices_path, {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": slice_labels},
                "addressType": address_type, "endpoints": endpoints, "ports": ports})
        elif (mine.get("endpoints"), mine.get("ports"), mine["metadata"].get("labels")) != (
                endpoints, ports, slice_labels):
            new = copy.deepcopy(mine)
            new["endpoints"], new["ports"], new["metadata"]["labels"] = endpoints, ports, slice_labels
            await self.client.update(f"{slices_path}/kubernetes", new)


def _namespace_terminating(e: ApiError) -> bool:
    causes = (e.body.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes) or "terminat" in str(e).lower()

# --- EndpointSlices ---------------------------------------------------------------------------------------

DELETION_EXPECTED = -1


class SliceTracker:
    """Generations of the slices this controller wrote, per Service key (upstream's
    EndpointSliceTracker): a cache that has not caught up with our writes is not trusted."""

    def __init__(self) -> None:
        self._by_service: dict[str, dict[str, int]] = {}

    @staticmethod
    def service_key(s: Obj) -> str:
        return f"{s['metadata'].get('namespace', '')}/{(s['metadata'].get('labels') or {}).get(SERVICE_NAME_LABEL, '')}"

    def update(self, s: Obj) -> None:
        meta = s["metadata"]
        self._by_service.setdefault(self.service_key(s), {})[meta["uid"]] = int(meta.get("generation") or 0)

    def expect_deletion(self, s: Obj) -> None:
        self._by_service.setdefault(self.service_key(s), {})[s["metadata"]["uid"]] = DELETION_EXPECTED

    def should_sync(self, s: Obj) -> bool:
        gen = self._by_service.get(self.service_key(s), {}).get(s["metadata"].get("uid", ""))
        return gen is None or int(s["metadata"].get("generation") or 0) > gen

    def handle_deletion(self, s: Obj) -> bool:
        """Forget a deleted slice; True when we did not expect that deletion."""
        gens = self._by_service.get(self.service_key(s), {})
        gen = gens.pop(s["metadata"].get("uid", ""), None)
        return gen != DELETION_EXPECTED

    def stale(self, key: str, slices: list[Obj]) -> bool:
        gens = self._by_service.get(key, {})
        seen = {s["metadata"]["uid"]: int(s["metadata"].get("generation") or 0) for s in slices}
        for uid, gen in gens.items():
            if uid in seen and (gen == DELETION_EXPECTED or gen > seen[uid]):
                return True
            if uid not in seen and gen != DELETION_EXPECTED:
                return True
        return False

    def forget(self, key: str) -> None:
        self._by_service.pop(key, None)


def _ep_hash(ep: Obj) -> tuple[Any, ...]:
    ref = ep.get("targetRef") or {}
    return tuple(sorted(ep.get("addresses") or [])), ep.get("hostname") or "", ref.get("namespace", ""), \
        ref.get("name", "")


def _ref(ep: Obj) -> Obj:
    return {k: v for k, v in (ep.get("targetRef") or {}).items() if k != "resourceVersion"}


def _ep_equal(a: Obj, b: Obj) -> bool:
    ref = _ref
    return all(a.get(f) == b.get(f) for f in ("nodeName", "zone")) and ref(a) == ref(b) and all(
        (a.get("conditions") or {}).get(c) == (b.get("conditions") or {}).get(c)
        for c in ("ready", "serving", "terminating"))


def _ports_key(ports: list[Obj] | None) -> tuple[tuple[Any, ...], ...]:
    return tuple(sorted(_port_key(p) for p in ports or []))


def _owned_by(s: Obj, svc: Obj) -> bool:
    return any(r.get("uid") == svc["metadata"]["uid"] and r.get("kind") == "Service" and
               r.get("apiVersion") == "v1" for r in s["metadata"].get("ownerReferences") or [])


def _slice_labels(s: Obj | None, svc: Obj) -> tuple[dict[str, str], bool]:
    """The labels a slice should carry (the Service's plus the reserved ones) and whether they changed."""
    reserved = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
    mine = {k: v for k, v in ((s or {}).get("metadata", {}).get("labels") or {}).items() if k not in reserved}
    want = {k: v for k, v in (svc["metadata"].get("labels") or {}).items() if k not in reserved}
    changed = mine != want
    if headless(svc):
        want[HEADLESS_LABEL] = ""
    want[SERVICE_NAME_LABEL] = svc["metadata"]["name"]
    want[MANAGED_BY_LABEL] = SLICE_CONTROLLER_NAME
    return want, changed


def _new_slice(svc: Obj, ports: list[Obj], address_type: str) -> Obj:
    meta = svc["metadata"]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                         "labels": _slice_labels(None, svc)[0],
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": address_type, "endpoints": [], "ports": ports}


class EndpointSliceController(Controller):
    """discovery.k8s.io/v1 EndpointSlices (``managed-by: endpointslice-controller.k8s.io``) per selector
    Service, owned by it; ``options["max_endpoints_per_slice"]`` (default 100)."""

    name = "endpointslice"
    component = "endpoint-slice-controller"
    workers = 4
    #: a change to a slice we did not make is acted on after this delay (upstream's min sync delay)
    SLICE_CHANGE_DELAY = 1.0

    def setup(self) -> None:
        self.max_per_slice = int(self.options.get("max_endpoints_per_slice") or 100)
        self.services = self.informers.get("", "v1", "services")
        self.pods = self.informers.get("", "v1", "pods")
        self.nodes = self.informers.get("", "v1", "nodes")
        self.slices = self.informers.get("discovery.k8s.io", "v1", "endpointslices")
        self.slices.add_indexer("service", lambda s: [SliceTracker.service_key(s)] if (
            s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) else [])
        self.tracker = SliceTracker()
        self.triggers = TriggerTimeTracker()
        self._node_retries: dict[str, int] = {}
        self.services.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                   on_delete=self.enqueue)
        enqueue_for_pods(self, self.services, self.pods)
        self.slices.add_handlers(on_add=self._slice_added, on_update=self._slice_updated,
                                 on_delete=self._slice_deleted)

    @staticmethod
    def _managed(s: Obj) -> bool:
        return (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == SLICE_CONTROLLER_NAME

    def _slice_added(self, s: Obj) -> None:
        if self._managed(s) and self.tracker.should_sync(s):
            self.queue.add_after(SliceTracker.service_key(s), self.SLICE_CHANGE_DELAY)

    def _slice_updated(self, old: Obj, new: Obj) -> None:
        if SliceTracker.service_key(old) != SliceTracker.service_key(new):
            for s in (old, new):
                self.queue.add_after(SliceTracker.service_key(s), self.SLICE_CHANGE_DELAY)
        elif self._managed(old) != self._managed(new) or (self._managed(new) and self.tracker.should_sync(new)):
            self.queue.add_after(SliceTracker.service_key(new), self.SLICE_CHANGE_DELAY)

    def _slice_deleted(self, s: Obj) -> None:
        if self._managed(s) and self.tracker.handle_deletion(s):
            self.queue.add_after(SliceTracker.service_key(s), self.SLICE_CHANGE_DELAY)

    async def reconcile(self, key: str) -> Result | None:
        ns, _ = split_key(key)
        svc = self.services.get(key)
        mine = [s for s in self.slices.by_index("service", key) if self._managed(s)]
        if svc is None:
            # upstream leaves this to the garbage collector (the slices are owned); the same result
            self.triggers.forget(key)
            self.tracker.forget(key)
            await self._delete_all(ns, mine)
            return None
        spec = svc.get("spec") or {}
        selector = selector_of(svc)
        if spec.get("type") == "ExternalName" or not selector:
            return None
        pods = [p for p in self.pods.list(ns) if selects(selector, p)]
        existing = [s for s in mine if not s["metadata"].get("deletionTimestamp")]
        if self.tracker.stale(key, existing):
            return Result(requeue_after=0.1)
        trigger = self.triggers.compute(key, svc, pods)
        types = address_types(svc)
        to_delete = [s for s in existing if s.get("addressType") not in types]
        missing_node = False
        for address_type in types:
            of_type = [s for s in existing if s.get("addressType") == address_type]
            missing_node |= await self._reconcile_type(svc, pods, of_type, trigger, address_type)
        await self._delete_all(ns, to_delete)
        if missing_node:  # a pod names a Node we do not know (yet): retry, as upstream, with backoff
            n = self._node_retries[key] = self._node_retries.get(key, 0) + 1
            return Result(requeue_after=min(0.5 * 2 ** n, 60.0)) if n <= 15 else None
        self._node_retries.pop(key, None)
        return None

    async def _reconcile_type(self, svc: Obj, pods: list[Obj], existing: list[Obj],
                              trigger: dt.datetime | None, address_type: str) -> bool:
        to_create: list[Obj] = []
        to_update: list[Obj] = []
        to_delete = [s for s in existing if not _owned_by(s, svc)]
        existing_by_ports: dict[tuple[Any, ...], list[Obj]] = {}
        for s in existing:
            if _owned_by(s, svc):
                existing_by_ports.setdefault(_ports_key(s.get("ports")), []).append(s)
        desired: dict[tuple[Any, ...], dict[tuple[Any, ...], Obj]] = {}
        desired_ports: dict[tuple[Any, ...], list[Obj]] = {}
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        missing_node = False
        for pod in pods:
            if not should_be_endpoint(pod, True):
                continue
            ports = endpoint_ports(svc, pod)
            pk = _ports_key(ports)
            group = desired.setdefault(pk, {})
            desired_ports.setdefault(pk, ports)
            node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
            if node is None and not publish:
                missing_node = True
                continue
            ep = self._endpoint(pod, node, svc, address_type)
            if ep["addresses"]:
                group[_ep_hash(ep)] = ep
        for pk, want in desired.items():
            c, u, d = self._by_port_mapping(svc, existing_by_ports.get(pk, []), want, desired_ports[pk],
                                            address_type)
            to_create += c
            to_update += u
            to_delete += d
        for pk, slices in existing_by_ports.items():
            if pk not in desired:
                to_delete += slices
        if len(existing) == len(to_delete) and not to_create:
            placeholder = _new_slice(svc, [], address_type)
            if len(to_delete) == 1 and self._is_placeholder(to_delete[0], placeholder):
                to_delete = []
            else:
                to_create.append(placeholder)
        await self._finalize(svc, to_create, to_update, to_delete, trigger)
        return missing_node

    @staticmethod
    def _is_placeholder(s: Obj, placeholder: Obj) -> bool:
        return not s.get("endpoints") and not s.get("ports") and s.get("addressType") == placeholder[
            "addressType"] and (s["metadata"].get("labels") or {}) == placeholder["metadata"]["labels"] and \
            s["metadata"].get("ownerReferences") == placeholder["metadata"]["ownerReferences"]

    @staticmethod
    def _endpoint(pod: Obj, node: Obj | None, svc: Obj, address_type: str) -> Obj:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        serving = pod_ready(pod)
        terminating = bool(meta.get("deletionTimestamp"))
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        ep: Obj = {"addresses": [str(ipaddress.ip_address(ip)) for ip in pod_ips(pod)
                                 if is_ipv6(ip) == (address_type == "IPv6")],
                   "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                                  "terminating": terminating}}
        if should_set_hostname(pod, svc):
            ep["hostname"] = spec["hostname"]
        ep["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                           "uid": meta["uid"]}
        if spec.get("nodeName"):
            ep["nodeName"] = spec["nodeName"]
        zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
        if zone:
            ep["zone"] = zone
        return ep

    def _by_port_mapping(self, svc: Obj, existing: list[Obj], want: dict[tuple[Any, ...], Obj],
                         ports: list[Obj], address_type: str) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """Upstream's reconcileByPortMapping: keep endpoints where they are, drop the unwanted, fill the
        slices being updated anyway, then one unchanged slice that fits, then new slices."""
        want = dict(want)
        by_name: dict[str, Obj] = {}
        unchanged: list[str] = []
        to_update: list[str] = []
        to_delete: list[str] = []
        for s in existing:
            name = s["metadata"]["name"]
            by_name[name] = s
            kept, updated = [], False
            for ep in s.get("endpoints") or []:
                got = want.pop(_ep_hash(ep), None)
                if got is not None:
                    kept.append(got)
                    updated |= not _ep_equal(got, ep)
            labels, labels_changed = _slice_labels(s, svc)
            if updated or len(kept) != len(s.get("endpoints") or []):
                if not kept:
                    to_delete.append(name)
                    continue
                by_name[name] = dict(copy.deepcopy(s), endpoints=kept)
                by_name[name]["metadata"]["labels"] = labels
                to_update.append(name)
            elif labels_changed:
                by_name[name] = copy.deepcopy(s)
                by_name[name]["metadata"]["labels"] = labels
                to_update.append(name)
            else:
                unchanged.append(name)
        pending = [want[k] for k in sorted(want, key=repr)]
        for name in sorted(to_update, key=lambda n: -len(by_name[n]["endpoints"])):
            room = self.max_per_slice - len(by_name[name]["endpoints"])
            if room > 0 and pending:
                by_name[name]["endpoints"] += pending[:room]
                pending = pending[room:]
        to_create: list[Obj] = []
        while pending:
            target = None
            if len(pending) < self.max_per_slice and unchanged:
                fits = [n for n in unchanged
                        if len(by_name[n].get("endpoints") or []) + len(pending) <= self.max_per_slice]
                if fits:
                    name = max(fits, key=lambda n: len(by_name[n].get("endpoints") or []))
                    target = by_name[name] = copy.deepcopy(by_name[name])
                    target["endpoints"] = list(target.get("endpoints") or [])
                    unchanged.remove(name)
                    to_update.append(name)
            if target is None:
                target = _new_slice(svc, ports, address_type)
                to_create.append(target)
            room = self.max_per_slice - len(target["endpoints"])
            target["endpoints"] += pending[:room]
            pending = pending[room:]
        return to_create, [by_name[n] for n in to_update], [by_name[n] for n in to_delete]

    async def _finalize(self, svc: Obj, to_create: list[Obj], to_update: list[Obj], to_delete: list[Obj],
                        trigger: dt.datetime | None) -> None:
        ns = svc["metadata"]["namespace"]
        # a slice that would be deleted while another is created is reused instead
        for old in list(to_delete):
            if not to_create:
                break
            if old.get("addressType") == to_create[-1]["addressType"] and _owned_by(old, svc):
                fresh = to_create.pop()
                reused = copy.deepcopy(old)
                reused["endpoints"], reused["ports"] = fresh["endpoints"], fresh["ports"]
                reused["metadata"]["labels"] = fresh["metadata"]["labels"]
                to_update.append(reused)
                to_delete.remove(old)
        path = path_for("discovery.k8s.io", "v1", "endpointslices", ns)
        try:
            if not svc["metadata"].get("deletionTimestamp"):
                for s in to_create:
                    set_trigger_time(s["metadata"], trigger)
                    self.tracker.update(await self.client.create(path, s))
            for s in to_update:
                set_trigger_time(s["metadata"], trigger)
                self.tracker.update(await self.client.update(f"{path}/{s['metadata']['name']}", s))
        except ApiError as e:
            if e.status == 403 and _namespace_terminating(e):
                return
            if not e.conflict:
                await self.events.record(svc, "Warning", "FailedToUpdateEndpointSlices",
                                         f"Error updating Endpoint Slices for Service {key_of(svc)}: {e}")
            raise
        await self._delete_all(ns, to_delete)

    async def _delete_all(self, ns: str, slices: list[Obj]) -> None:
        for s in slices:
            try:
                await self.client.delete(path_for("discovery.k8s.io", "v1", "endpointslices", ns,
                                                  s["metadata"]["name"]))
            except ApiError as e:
                if not e.not_found:
                    raise
            self.tracker.expect_deletion(s)
