"""``kplane bench heartbeat``: the write traffic of many nodes' kubelets, and what it costs the server.

A run makes ``--nodes`` Nodes (``hb-<run>-<i>``), their Leases in ``kube-node-lease`` and one Pod each in a
fresh namespace, all labelled ``kplane.dev/bench-run=<run>``, then drives one phase per heartbeat write,
each for ``--duration`` seconds with ``--concurrency`` requests in flight (closed loop, round robin over
the nodes), and deletes what it made:

* ``lease-put``          PUT of the Lease last written, with a new ``spec.renewTime`` (the lease controller);
* ``node-status-patch``  strategic merge patch of the four conditions' ``lastHeartbeatTime`` on
  ``nodes/<n>/status`` (the kubelet's periodic report when nothing changed);
* ``pod-status-patch``   strategic merge patch flipping a pod's Ready and ContainersReady conditions.

Per phase: requests/s sustained, latency, and the server's CPU per request (µs) when its pid is known
(``--serve`` or ``--server-pid``). The summary prices one node's steady heartbeat, a Lease PUT every 10 s
plus a status report every 5 minutes, and how many nodes one server core carries at that price.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .http import Connection, Endpoint, HTTPClientError
from .kubeconfig import ClusterConfig
from .procstat import cpu_seconds
from .stats import json_number, summarize

LABEL = "kplane.dev/bench-run"
PHASES = ("lease-put", "node-status-patch", "pod-status-patch")
SMP = "application/strategic-merge-patch+json"
RENEW_INTERVAL_S = 10.0
REPORT_INTERVAL_S = 300.0
NODE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
POD_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
MAX_OPS_PER_NODE = 100_000  # a bound on every phase besides its duration
NetErrors = (HTTPClientError, OSError, TimeoutError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class Params:
    nodes: int = 1000
    duration: float = 20.0  # seconds per phase
    concurrency: int = 16
    request_timeout: float = 30.0


QUICK = Params(nodes=20, duration=2.0, concurrency=4)


def _stamp(base: float, offset: int) -> str:
    return dt.datetime.fromtimestamp(base + offset, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_body(name: str, run: str, now: str) -> dict[str, Any]:
    """A Node shaped as a kubelet registers it."""
    conditions = [{"type": t, "status": "True" if t == "Ready" else "False", "lastHeartbeatTime": now,
                   "lastTransitionTime": now, "reason": "KubeletReady" if t == "Ready" else f"KubeletHasNo{t}",
                   "message": "kplane bench"} for t in NODE_CONDITIONS]
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi",
                "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {LABEL: run, "kubernetes.io/hostname": name,
                                                  "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
            "spec": {},
            "status": {"capacity": capacity, "allocatable": dict(capacity), "conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": run, "systemUUID": name, "bootID": run, "kernelVersion": "6",
                                    "osImage": "kplane bench", "containerRuntimeVersion": "kplane-simulated://0",
                                    "kubeletVersion": "v1.37.0", "kubeProxyVersion": "",
                                    "operatingSystem": "linux", "architecture": "amd64"}}}


def lease_body(name: str, run: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease", "labels": {LABEL: run}},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}}


def pod_body(name: str, run: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {LABEL: run}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}


def node_status_patch(stamp: str) -> bytes:
    return orjson.dumps({"status": {
        "$setElementOrder/conditions": [{"type": t} for t in NODE_CONDITIONS],
        "conditions": [{"type": t, "lastHeartbeatTime": stamp} for t in NODE_CONDITIONS]}})


def pod_status_patch(uid: str, ready: bool, stamp: str) -> bytes:
    status = "True" if ready else "False"
    changed = [{"type": t, "status": status, "lastTransitionTime": stamp} for t in ("Ready", "ContainersReady")]
    return orjson.dumps({"metadata": {"uid": uid}, "status": {
        "$setElementOrder/conditions": [{"type": t} for t in POD_CONDITIONS], "conditions": changed}})


class Bench:
    def __init__(self, cfg: ClusterConfig, params: Params, server_pid: int | None,
                 log: Callable[[str], None]) -> None:
        self.endpoint = Endpoint(cfg, user_agent="kplane-bench-heartbeat/1")
        self.p = params
        self.server_pid = server_pid
        self.log = log
        self.run_id = secrets.token_hex(3)
        self.namespace = f"kplane-bench-hb-{self.run_id}"
        self.nodes = [f"hb-{self.run_id}-{i}" for i in range(params.nodes)]
        self.leases: dict[str, dict[str, Any]] = {}
        self.pod_uids: dict[str, str] = {}
        self.rounds: dict[str, int] = {}
        self.base = time.time()

    def _server_cpu(self) -> float:
        value = cpu_seconds(self.server_pid) if self.server_pid is not None else None
        return math.nan if value is None else value

    async def _each(self, items: list[str], op: Callable[[Connection, str], Any]) -> list[str]:
        """Run ``op`` on every item with the phase concurrency; error messages back."""
        it = iter(items)
        errors: list[str] = []

        async def runner() -> None:
            conn = Connection(self.endpoint, self.p.request_timeout)
            try:
                for item in it:
                    try:
                        await op(conn, item)
                    except NetErrors as e:
                        errors.append(f"{item}: {type(e).__name__}: {e}")
            finally:
                await conn.close()

        await asyncio.gather(*(runner() for _ in range(self.p.concurrency)))
        return errors

    async def _expect(self, conn: Connection, method: str, path: str, body: dict[str, Any] | bytes | None,
                      ok: tuple[int, ...], content_type: str | None = None) -> dict[str, Any]:
        data = body if isinstance(body, bytes | None) else orjson.dumps(body)
        r = await conn.request(method, path, data, content_type)
        if r.status not in ok:
            raise HTTPClientError(r.describe(method, path))
        out: dict[str, Any] = r.json() if r.body else {}
        return out

    async def setup(self) -> list[str]:
        async with asyncio.timeout(max(60.0, self.p.nodes * 0.5)):
            conn = Connection(self.endpoint, self.p.request_timeout)
            try:
                await self._expect(conn, "POST", "/api/v1/namespaces",
                                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                                   (201,))
            finally:
                await conn.close()
            now = _stamp(self.base, 0)

            async def make(conn: Connection, name: str) -> None:
                await self._expect(conn, "POST", "/api/v1/nodes", node_body(name, self.run_id, now), (201,))
                self.leases[name] = await self._expect(
                    conn, "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    lease_body(name, self.run_id), (201,))
                pod = await self._expect(conn, "POST", f"/api/v1/namespaces/{self.namespace}/pods",
                                         pod_body(name, self.run_id, name), (201,))
                self.pod_uids[name] = pod["metadata"]["uid"]

            return await self._each(self.nodes, make)

    async def _lease_put(self, conn: Connection, name: str) -> None:
        lease = self.leases[name]
        lease["spec"]["renewTime"] = _micro_now()
        self.leases[name] = await self._expect(
            conn, "PUT", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}", lease, (200,))

    def _next_round(self, key: str) -> int:
        n = self.rounds.get(key, 0) + 1
        self.rounds[key] = n
        return n

    async def _node_patch(self, conn: Connection, name: str) -> None:
        stamp = _stamp(self.base, self._next_round("node/" + name))
        await self._expect(conn, "PATCH", f"/api/v1/nodes/{name}/status", node_status_patch(stamp), (200,), SMP)

    async def _pod_patch(self, conn: Connection, name: str) -> None:
        n = self._next_round("pod/" + name)
        body = pod_status_patch(self.pod_uids[name], n % 2 == 1, _stamp(self.base, n))
        await self._expect(conn, "PATCH", f"/api/v1/namespaces/{self.namespace}/pods/{name}/status", body,
                           (200,), SMP)

    async def phase(self, verb: str) -> dict[str, Any]:
        op = {"lease-put": self._lease_put, "node-status-patch": self._node_patch,
              "pod-status-patch": self._pod_patch}[verb]
        names = [n for n in self.nodes if n in self.pod_uids]
        cycle = itertools.islice(itertools.cycle(names), len(names) * MAX_OPS_PER_NODE)
        in_flight: set[str] = set()
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.monotonic() + self.p.duration

        async def runner() -> None:
            conn = Connection(self.endpoint, self.p.request_timeout)
            try:
                while time.monotonic() < deadline:
                    name = next(cycle, None)
                    if name is None:
                        return
                    if name in in_flight:  # fewer nodes than connections: never two writes to one object
                        await asyncio.sleep(0.001)
                        continue
                    in_flight.add(name)
                    t0 = time.perf_counter()
                    try:
                        await op(conn, name)
                        latencies.append(time.perf_counter() - t0)
                    except NetErrors as e:
                        errors.append(f"{name}: {type(e).__name__}: {e}")
                    finally:
                        in_flight.discard(name)
            finally:
                await conn.close()

        cpu0, client0, t0 = self._server_cpu(), time.process_time(), time.monotonic()
        await asyncio.gather(*(runner() for _ in range(min(self.p.concurrency, max(1, len(names))))))
        seconds = time.monotonic() - t0
        server_cpu = self._server_cpu() - cpu0
        result = summarize(verb, latencies, seconds, len(errors), errors,
                           client_cpu_s=time.process_time() - client0, server_cpu_s=server_cpu).to_json()
        per = server_cpu / len(latencies) * 1e6 if latencies and not math.isnan(server_cpu) else math.nan
        result["server_cpu_us_per_request"] = json_number(per, 1)
        return result

    async def cleanup(self) -> None:
        selector = f"labelSelector={LABEL}%3D{self.run_id}"
        conn = Connection(self.endpoint, max(self.p.request_timeout, 60.0))
        try:
            for path in (f"/api/v1/nodes?{selector}",
                         f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?{selector}",
                         f"/api/v1/namespaces/{self.namespace}"):
                try:
                    await conn.request("DELETE", path)
                except NetErrors as e:
                    self.log(f"cleanup: DELETE {path}: {type(e).__name__}: {e}")
        finally:
            await conn.close()

    async def run(self) -> dict[str, Any]:
        self.log(f"heartbeat: creating {self.p.nodes} nodes, leases and pods (run {self.run_id})")
        result: dict[str, Any] = {"run": self.run_id, "phases": [], "setup_errors": []}
        try:
            result["setup_errors"] = (await self.setup())[:5]
            for verb in PHASES:
                self.log(f"heartbeat: {verb} for {self.p.duration:g} s")
                result["phases"].append(await self.phase(verb))
        finally:
            await self.cleanup()
        by = {r["verb"]: r for r in result["phases"]}
        lease_us = by.get("lease-put", {}).get("server_cpu_us_per_request")
        node_us = by.get("node-status-patch", {}).get("server_cpu_us_per_request")
        if lease_us is not None and node_us is not None:
            per_node = (lease_us + node_us * RENEW_INTERVAL_S / REPORT_INTERVAL_S)  # µs per node per 10 s
            result["server_cpu_us_per_node_heartbeat"] = round(per_node, 1)
            result["nodes_per_server_core"] = int(RENEW_INTERVAL_S * 1e6 / per_node) if per_node > 0 else None
        return result


def run(cfg: ClusterConfig, params: Params, server_pid: int | None, log: Callable[[str], None]) -> dict[str, Any]:
    return asyncio.run(Bench(cfg, params, server_pid, log).run())


def tables(doc: dict[str, Any]) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    from .stats import fmt

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    res = doc["result"]
    header = ["write", "count", "errors", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "client CPU s"]
    rows = [[r["verb"], str(r["count"]), str(r["errors"]), fmt(num(r["ops_per_s"]), 0), fmt(num(r["p50_ms"]), 2),
             fmt(num(r["p99_ms"]), 2), fmt(num(r.get("server_cpu_us_per_request")), 0),
             fmt(num(r.get("client_cpu_s")), 2)] for r in res.get("phases", [])]
    p = doc.get("params", {})
    title = (f"Heartbeats: {p.get('nodes')} nodes, {p.get('duration')} s per write, concurrency "
             f"{p.get('concurrency')}, {res.get('server', '')}")
    if res.get("server_cpu_us_per_node_heartbeat") is not None:
        title += (f"; per node (Lease PUT every 10 s + status every 5 min): "
                  f"{res['server_cpu_us_per_node_heartbeat']} µs server CPU per 10 s, "
                  f"{res.get('nodes_per_server_core')} nodes per server core")
    return [(title, (header, rows))]
