"""The kubelet: per node, register the Node, renew its Lease, keep its conditions current, and run the
pods bound to it (``fieldSelector=spec.nodeName=<node>``) through the runtime.

One ``kplane kubelet`` process may carry several nodes (``--nodes N``: simulated scale tests); they share
one runtime, one event sink and one kubelet API server (its port is every node's
``daemonEndpoints.kubeletEndpoint.Port``). Each node has its own API client: a client's connection pool
is bounded and every node holds a pod watch open, so a shared pool would starve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
from pathlib import Path
from typing import Any

from controllers import metrics
from controllers.client import ApiError, Client, Credentials, load_kubeconfig, path_for
from controllers.runtime import Informer

from . import mountns
from .events import EventSink
from .logs import LogLimits
from .network import PodNetwork, resolve_mode
from .node import (
    KUBELET_VERSION,
    RENEW_INTERVAL,
    STATUS_INTERVAL,
    STATUS_REPORT_INTERVAL,
    NodeConfig,
    PodIPs,
    default_pod_cidr,
    evaluate_conditions,
    lease_object,
    node_conditions,
    node_object,
    node_status,
    status_changed,
    status_patch,
)
from .podworker import PodWorker
from .runtime import Runtime, make_runtime
from .runtime.process import ProcessRuntime
from .statusmanager import StatusManager

log = logging.getLogger("kplane.kubelet")

Obj = dict[str, Any]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LEASE_UPDATE_RETRIES = 5  # upstream's maxUpdateRetries
STATUS_UPDATE_RETRIES = 5  # upstream's nodeStatusUpdateRetry


def _rv(obj: Obj | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class NodeAgent:
    def __init__(self, client: Client, cfg: NodeConfig, runtime: Runtime, events: EventSink,
                 workers_by_uid: dict[str, PodWorker], nodes: Informer | None = None) -> None:
        self.client = client
        self.cfg = cfg
        self.runtime = runtime
        self.events = events
        self.pods_dir = cfg.data_dir / "pods"
        self.logs_dir = cfg.data_dir / "logs"
        self.ipam = PodIPs(cfg.pod_cidr or default_pod_cidr(cfg.name))
        # pod network: the runtime's sandbox table (uid -> holder pid) is filled by this node's PodNetwork
        self.network = PodNetwork(cfg.name, cfg.data_dir, enabled=cfg.pod_network == "netns",
                                  pids=getattr(runtime, "sandboxes", {}))
        self.base_path = os.environ.get("PATH", DEFAULT_PATH)
        self.informer = Informer(client, "", "v1", "pods", field_selector=f"spec.nodeName={cfg.name}")
        self.status = StatusManager(client, self.informer.get)
        self.workers: dict[str, PodWorker] = {}  # uid -> worker
        self._by_key: dict[str, str] = {}  # namespace/name -> uid
        self._all = workers_by_uid
        metrics.kubelet_running_pods.set_function(lambda: len(workers_by_uid))
        self.node_uid = ""
        #: the kubelet's Node informer (shared by a process's nodes) and the last Node the API returned us
        self.nodes = nodes
        self.node: Obj | None = None
        self.registered = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_report = 0.0
        self.informer.add_handlers(on_add=self._dispatch, on_update=self._on_update, on_delete=self._on_delete)

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register (retrying until the API answers), then run lease, status, pods."""
        delay = 0.2
        while not self.registered.is_set():
            try:
                await self._register()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("node %s: registration failed: %s", self.cfg.name, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 7.0)
        try:  # pod network: a crashed predecessor's leftovers, then the bridge
            await self.network.start(str(self.ipam.network))
        except Exception as e:
            log.error("node %s: pod network setup failed: %s", self.cfg.name, e)
        for coro, name in ((self._lease_loop(), "lease"), (self._status_loop(), "node-status"),
                           (self.status.run(), "status-manager")):
            self._tasks.append(asyncio.create_task(coro, name=f"{self.cfg.name}-{name}"))
        self._tasks.append(self.informer.start())

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        workers = [w for w in self.workers.values() if w.task is not None]
        for w in workers:
            assert w.task is not None
            w.task.cancel()
        for t in [*self._tasks, *(w.task for w in workers if w.task is not None)]:
            with contextlib.suppress(BaseException):
                await t
        await self.informer.stop()

    # --- node ----------------------------------------------------------------------------------------

    async def _register(self) -> None:
        conditions = node_conditions([], evaluate_conditions(self.cfg))
        body = node_object(self.cfg, conditions)
        try:
            node = await self.client.create(path_for("", "v1", "nodes"), body)
            log.info("node %s registered", self.cfg.name)
        except ApiError as e:
            if not e.conflict:
                raise
            existing = await self.client.get(path_for("", "v1", "nodes", name=self.cfg.name))
            labels = {**(existing["metadata"].get("labels") or {}), **body["metadata"]["labels"]}
            await self.client.patch(path_for("", "v1", "nodes", name=self.cfg.name), {"metadata": {"labels": labels}})
            status = node_status(self.cfg, node_conditions((existing.get("status") or {}).get("conditions") or [],
                                                           evaluate_conditions(self.cfg)))
            node = await self.client.patch(path_for("", "v1", "nodes", name=self.cfg.name, subresource="status"),
                                           {"status": status})
        self.node_uid = node["metadata"]["uid"]
        self.node = node
        self._adopt_cidr(node)
        self._last_report = time.monotonic()
        self.registered.set()

    def _adopt_cidr(self, node: Obj) -> None:
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and not self.cfg.pod_cidr and str(self.ipam.network) != cidr and not self.workers:
            self.ipam.set_cidr(cidr)

    def _cached_node(self) -> Obj | None:
        """The newer of the informer's copy of our Node and the last one the API returned us."""
        informed = self.nodes.get(self.cfg.name) if self.nodes is not None and self.nodes.synced.is_set() else None
        if informed is not None and (self.node is None or _rv(informed) >= _rv(self.node)):
            return informed
        return self.node

    async def _status_loop(self) -> None:
        """Upstream's node status loop: every 10 s compute the status; PATCH (strategic merge, the diff
        from the Node as last seen) only when it changed or the last report is 5 minutes old. The first
        attempt reads the Node from the informer (or the last response), retries from the API server."""
        await asyncio.sleep(random.uniform(0, STATUS_INTERVAL))  # spread many nodes of one process
        while True:
            for attempt in range(STATUS_UPDATE_RETRIES):
                try:
                    await self._update_node_status(attempt)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("node %s: status update failed (attempt %d): %s", self.cfg.name, attempt + 1, e)
            await asyncio.sleep(STATUS_INTERVAL)

    async def _update_node_status(self, attempt: int) -> None:
        path = path_for("", "v1", "nodes", name=self.cfg.name)
        node = self._cached_node() if attempt == 0 else None
        if node is None:
            try:
                node = await self.client.get(path)
            except ApiError as e:
                if not e.not_found:
                    raise
                self.registered.clear()
                await self._register()
                return
        self._adopt_cidr(node)
        old = node.get("status") or {}
        new = {**old, **node_status(self.cfg, node_conditions(old.get("conditions") or [],
                                                               evaluate_conditions(self.cfg)))}
        if time.monotonic() - self._last_report < STATUS_REPORT_INTERVAL and not status_changed(old, new):
            return
        try:
            self.node = await self.client.patch(path + "/status", status_patch(old, new), patch_type="strategic")
        except ApiError as e:
            if e.not_found:
                self.node = None
            raise
        self._last_report = time.monotonic()

    async def _lease_loop(self) -> None:
        """Upstream's node lease controller: renew every 10 s by PUT of the Lease last written (no GET);
        GET (or create) only at the start, after a conflict, or when the PUTs keep failing. The first
        renewal waits a random part of the interval so a process's many nodes renew out of step."""
        lease: Obj | None = None
        first = True
        backoff = 0.2
        while True:
            try:
                lease = await self._sync_lease(lease)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("node %s: lease renewal failed: %s", self.cfg.name, e)
                lease = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 7.0)
                continue
            await asyncio.sleep(random.uniform(0, RENEW_INTERVAL) if first else RENEW_INTERVAL)
            first = False

    def _lease_path(self) -> str:
        return path_for("coordination.k8s.io", "v1", "leases", "kube-node-lease", self.cfg.name)

    async def _ensure_lease(self) -> tuple[Obj, bool]:
        """The Lease from the API server, created when missing; (lease, created)."""
        try:
            return await self.client.get(self._lease_path()), False
        except ApiError as e:
            if not e.not_found:
                raise
        created = await self.client.create(path_for("coordination.k8s.io", "v1", "leases", "kube-node-lease"),
                                           lease_object(self.cfg.name, self.node_uid))
        return created, True

    async def _retry_update_lease(self, base: Obj) -> Obj:
        error: Exception | None = None
        for _ in range(LEASE_UPDATE_RETRIES):
            try:
                return await self.client.update(self._lease_path(),
                                                lease_object(self.cfg.name, self.node_uid, existing=base))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                error = e
                if isinstance(e, ApiError) and e.conflict:  # someone else wrote it: only now read it again
                    base, _ = await self._ensure_lease()
        raise RuntimeError(f"failed {LEASE_UPDATE_RETRIES} attempts to update lease: {error}")

    async def _sync_lease(self, latest: Obj | None) -> Obj:
        if latest is not None:
            try:
                return await self._retry_update_lease(latest)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.info("node %s: failed to update lease using latest lease, fallback to ensure lease: %s",
                         self.cfg.name, e)
        lease, created = await self._ensure_lease()
        return lease if created else await self._retry_update_lease(lease)

    # --- pods ----------------------------------------------------------------------------------------

    def _dispatch(self, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        key = f"{meta.get('namespace', '')}/{meta['name']}"
        previous = self._by_key.get(key)
        if previous and previous != uid and previous in self.workers:  # same name, new pod
            self.workers[previous].removed = True
            self.workers[previous].notify()
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        rejected = None
        active = sum(1 for w in self.workers.values() if not w.terminal)
        if active >= self.cfg.pods and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            rejected = ("OutOfpods", f"Pod was rejected: Node didn't have enough resource: pods, requested: 1, "
                                     f"used: {active}, capacity: {self.cfg.pods}")
        worker = PodWorker(self, pod, rejected=rejected)
        self.workers[uid] = worker
        self._by_key[key] = uid
        self._all[uid] = worker
        worker.task = asyncio.create_task(worker.run(), name=f"pod-{key}")

    def _on_update(self, old: Obj, new: Obj) -> None:
        self._dispatch(new)
        self.status.check(f"{new['metadata'].get('namespace', '')}/{new['metadata']['name']}")

    def _on_delete(self, pod: Obj) -> None:
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.removed = True
            worker.notify()

    def worker_done(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
            self._all.pop(worker.uid, None)
            if self._by_key.get(worker.key) == worker.uid:
                del self._by_key[worker.key]
            self.status.forget(worker.key, worker.uid)

    def find(self, namespace: str, name: str) -> PodWorker | None:
        uid = self._by_key.get(f"{namespace}/{name}")
        return self.workers.get(uid) if uid else None


class Kubelet:
    """The process: shared client, runtime, events and API server for one or more node agents."""

    def __init__(self, creds: Credentials, configs: list[NodeConfig], runtime: Runtime, *, events: bool = True) -> None:
        agent = f"kubelet/{KUBELET_VERSION} (linux) kplane"
        self.client = Client(creds, user_agent=agent)
        self.runtime = runtime
        self.events = EventSink(self.client, enabled=events)
        self.workers: dict[str, PodWorker] = {}
        # upstream's kubelet watches its own Node; a process carrying many nodes watches all Nodes once
        self.nodes = Informer(self.client, "", "v1", "nodes",
                              field_selector=f"metadata.name={configs[0].name}" if len(configs) == 1 else "")
        self.agents = [NodeAgent(Client(creds, user_agent=agent) if len(configs) > 1 else self.client, cfg, runtime,
                                 self.events, self.workers, self.nodes) for cfg in configs]
        runtime.set_listener(self._container_changed)

    def _container_changed(self, pod_uid: str) -> None:
        worker = self.workers.get(pod_uid)
        if worker is not None:
            worker.notify()

    def find(self, namespace: str, name: str) -> PodWorker | None:
        for agent in self.agents:
            worker = agent.find(namespace, name)
            if worker is not None:
                return worker
        return None

    async def start(self) -> None:
        self.events.start()
        self.nodes.start()
        await asyncio.gather(*(a.start() for a in self.agents))

    async def stop(self) -> None:
        for agent in self.agents:
            await agent.stop()
        await self.nodes.stop()
        await self.runtime.close()
        for agent in self.agents:  # pod network: sandboxes and bridges
            await agent.network.close()
        await self.events.stop()
        for client in {id(a.client): a.client for a in self.agents}.values():
            if client is not self.client:
                await client.close()
        await self.client.close()


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    return sock


async def main(kubeconfig: str, *, node_name: str, nodes: int = 1, runtime: str = "process", cpu: str = "",
               memory: str = "", pods: int = 110, data_dir: Path, port: int = 0, pod_cidr: str = "",
               events: bool = True, tls_cert_file: str = "", tls_private_key_file: str = "",
               pod_network: str = "auto", log_limits: LogLimits | None = None, volume_mounts: str = "auto",
               sync_frequency: float = 60.0, cluster_dns: list[str] | None = None) -> None:
    """Run until SIGTERM/SIGINT: serve the kubelet API (HTTPS) on 127.0.0.1, start the node agents."""
    import uvicorn

    from .server import create_app, kubelet_config
    from .tls import ensure_serving_cert

    sock = _bind(port)
    actual_port = sock.getsockname()[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    names = [node_name] if nodes <= 1 else [f"{node_name}-{i}" for i in range(nodes)]
    rt = make_runtime(runtime, data_dir, log_limits=log_limits)
    network_mode = resolve_mode(pod_network, runtime)  # pod network
    if runtime == "process":
        rt.host_network = network_mode != "netns"
    mount_mode = mountns.resolve_mode(volume_mounts, runtime)  # volumes in mount namespaces
    if isinstance(rt, ProcessRuntime):
        rt.mount_namespaces = mount_mode == "namespace"
    configs = [NodeConfig(name=n, cpu=cpu, memory=memory, pods=pods, data_dir=data_dir / n if nodes > 1 else data_dir,
                          port=actual_port, pod_cidr=pod_cidr if nodes <= 1 else "", runtime=runtime,
                          runtime_version=rt.version, host_pressure=runtime == "process",
                          pod_network=network_mode, volume_mounts=mount_mode, sync_frequency=sync_frequency,
                          cluster_dns=list(cluster_dns or []))  # --cluster-dns (kubelet/dns.py)
               for n in names]
    kubelet = Kubelet(load_kubeconfig(kubeconfig), configs, rt, events=events)
    if not (tls_cert_file and tls_private_key_file):  # as upstream: a self-signed serving certificate
        # simulated scale runs carry many nodes: the SANs name a few (the API server dials the address)
        cert, key = ensure_serving_cert(data_dir, node_name, [*names[:16], *{c.address for c in configs}])
        tls_cert_file, tls_private_key_file = str(cert), str(key)
    settings = kubelet_config(configs[0], tls_cert_file=tls_cert_file, tls_private_key_file=tls_private_key_file)
    server = uvicorn.Server(uvicorn.Config(create_app(kubelet, settings), log_level="warning", access_log=False,
                                           lifespan="off", ws="websockets-sansio", timeout_graceful_shutdown=3,
                                           ssl_certfile=tls_cert_file, ssl_keyfile=tls_private_key_file))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serve = asyncio.create_task(server.serve(sockets=[sock]))
    starting = asyncio.create_task(kubelet.start())
    log.warning("kubelet for %s (%s runtime) serving on https://127.0.0.1:%d", ", ".join(names), runtime, actual_port)
    try:
        await stop.wait()
    finally:
        starting.cancel()
        with contextlib.suppress(BaseException):
            await starting
        server.should_exit = True
        await kubelet.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(serve, 5)
