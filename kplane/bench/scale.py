"""``kplane bench scale``: N simulated nodes and M pods through Deployments on a fresh ``kplane up``.

Reports pod startup latency (upstream's SLI: from the pod's creationTimestamp to its Running status,
observed on a watch; creationTimestamp has one-second resolution, so the same figure from the pod's first
appearance on the watch is reported too), scheduling throughput (binds/s, a bind being the first event
with spec.nodeName set), the API server's own latency per verb during the run (the difference of its
``apiserver_request_duration_seconds`` histogram before and after), and each component's CPU seconds and
peak RSS (from /proc).
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .cluster import UpCluster, missing_components, unavailable
from .http import Connection, Endpoint, HTTPClientError, WatchStream
from .kubeconfig import load_kubeconfig
from .procstat import Tracker
from .stats import histogram_quantile, json_number, percentile

METRIC = "apiserver_request_duration_seconds_bucket"
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# upstream's API call latency SLO: 1 s for mutating and single-object read calls (30 s for namespace LISTs)
SLO_S = {"GET": 1.0, "POST": 1.0, "PUT": 1.0, "PATCH": 1.0, "DELETE": 1.0}


def parse_histogram(text: str, metric: str = METRIC) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts per verb, summed over the other labels."""
    out: dict[str, dict[float, float]] = {}
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        labels_part, _, value = line[len(metric) + 1:].rpartition("} ")
        labels = dict(_LABEL.findall(labels_part))
        le = labels.get("le")
        verb = labels.get("verb", "")
        if le is None:
            continue
        bound = math.inf if le == "+Inf" else float(le)
        per_verb = out.setdefault(verb, {})
        per_verb[bound] = per_verb.get(bound, 0.0) + float(value.split()[0])
    return out


def latency_by_verb(before: str, after: str) -> dict[str, dict[str, float | None]]:
    """p50/p99 (ms) and request count per verb, from two scrapes of /metrics."""
    a, b = parse_histogram(before), parse_histogram(after)
    out: dict[str, dict[str, float | None]] = {}
    for verb, buckets in sorted(b.items()):
        prev = a.get(verb, {})
        diff = [(bound, count - prev.get(bound, 0.0)) for bound, count in buckets.items()]
        total = max((c for bound, c in diff if math.isinf(bound)), default=0.0)
        if total <= 0:
            continue
        p99 = histogram_quantile(0.99, diff)
        out[verb] = {"count": total, "p50_ms": json_number(histogram_quantile(0.5, diff) * 1000, 1),
                     "p99_ms": json_number(p99 * 1000, 1),
                     "slo_ms": SLO_S[verb] * 1000 if verb in SLO_S else None}
    return out


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class PodTimes:
    created: float | None = None  # creationTimestamp (wall clock, 1 s resolution)
    first_seen: float | None = None  # first event on the watch (wall clock)
    bound: float | None = None  # first event with spec.nodeName
    running: float | None = None  # first event with status.phase Running


class PodWatch:
    """Watches the bench namespace's pods and stamps each pod's transitions with the wall clock."""

    def __init__(self, endpoint: Endpoint, namespace: str, rv: str) -> None:
        self.stream = WatchStream(endpoint, f"/api/v1/namespaces/{namespace}/pods?watch=1&resourceVersion={rv}"
                                            f"&allowWatchBookmarks=false&timeoutSeconds=3600")
        self.pods: dict[str, PodTimes] = {}
        self.running = 0
        self.errors: list[str] = []

    async def run(self) -> None:
        try:
            if not await self.stream.open():
                self.errors.append(self.stream.error)
                return
            async for _, line in self.stream.lines():
                now = time.time()
                event = orjson.loads(line)
                if event.get("type") not in ("ADDED", "MODIFIED"):
                    continue
                obj = event["object"]
                times = self.pods.get(obj["metadata"]["name"])
                if times is None:
                    times = self.pods[obj["metadata"]["name"]] = PodTimes(
                        created=parse_time(obj["metadata"].get("creationTimestamp")), first_seen=now)
                if times.bound is None and (obj.get("spec") or {}).get("nodeName"):
                    times.bound = now
                if times.running is None and (obj.get("status") or {}).get("phase") == "Running":
                    times.running = now
                    self.running += 1
        except asyncio.CancelledError:
            raise
        except (HTTPClientError, OSError, TimeoutError, ValueError, KeyError, asyncio.IncompleteReadError) as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            await self.stream.close()


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                                           "terminationGracePeriodSeconds": 0}}}}


class Sampler(threading.Thread):
    """Samples the cluster's processes every ``interval`` seconds until stopped."""

    def __init__(self, cluster: UpCluster, tracker: Tracker, interval: float = 1.0) -> None:
        super().__init__(name="kplane-bench-sampler", daemon=True)
        self.cluster = cluster
        self.tracker = tracker
        self.interval = interval
        self.halt = threading.Event()

    def sample_once(self) -> None:
        for name, pid in self.cluster.component_pids().items():
            self.tracker.observe(name, pid)

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.sample_once()


def _ms(values: list[float]) -> dict[str, float | None]:
    return {"count": len(values), "p50_ms": json_number(percentile(values, 50) * 1000, 1),
            "p99_ms": json_number(percentile(values, 99) * 1000, 1),
            "max_ms": json_number(max(values) * 1000, 1) if values else None}


async def _drive(cluster: UpCluster, pods: int, per_deployment: int, timeout: float,
                 log: Callable[[str], None]) -> dict[str, Any]:
    cfg = load_kubeconfig(cluster.kubeconfig)
    endpoint = Endpoint(cfg)
    conn = Connection(endpoint, 30)
    ns = f"kplane-bench-scale-{int(time.time())}"
    try:
        r = await conn.request("POST", "/api/v1/namespaces", orjson.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        if r.status not in (200, 201):
            raise RuntimeError(r.describe("POST", "/api/v1/namespaces"))
        r = await conn.request("GET", f"/api/v1/namespaces/{ns}/pods?limit=1")
        rv = str(r.json()["metadata"]["resourceVersion"])
        before = (await conn.request("GET", "/metrics")).body.decode()
        watch = PodWatch(endpoint, ns, rv)
        watch_task = asyncio.create_task(watch.run())
        t_start = time.time()
        n_deploy = max(1, math.ceil(pods / per_deployment))
        replicas = [pods // n_deploy + (1 if i < pods % n_deploy else 0) for i in range(n_deploy)]
        path = f"/apis/apps/v1/namespaces/{ns}/deployments"
        for i, count in enumerate(replicas):
            r = await conn.request("POST", path, orjson.dumps(deployment(f"bench-{i:04d}", count)))
            if r.status not in (200, 201):
                raise RuntimeError(r.describe("POST", path))
        log(f"scale: created {n_deploy} Deployments for {pods} pods")
        deadline = time.monotonic() + timeout
        last_log = time.monotonic()
        while watch.running < pods and time.monotonic() < deadline and not watch_task.done():
            await asyncio.sleep(0.2)
            if time.monotonic() - last_log > 10:
                last_log = time.monotonic()
                bound = sum(1 for p in watch.pods.values() if p.bound is not None)
                log(f"scale: {len(watch.pods)} pods seen, {bound} bound, {watch.running} Running")
        duration = time.time() - t_start
        after = (await conn.request("GET", "/metrics")).body.decode()
        watch_task.cancel()
        try:
            await watch_task
        except asyncio.CancelledError:
            pass
    finally:
        await conn.close()
    times = list(watch.pods.values())
    startup = [p.running - p.created for p in times if p.running is not None and p.created is not None]
    startup_hires = [p.running - p.first_seen for p in times if p.running is not None and p.first_seen is not None]
    binds = sorted(p.bound for p in times if p.bound is not None)
    first_seen = min((p.first_seen for p in times if p.first_seen is not None), default=t_start)
    bind_window = (binds[-1] - first_seen) if binds else 0.0
    return {
        "namespace": ns, "deployments": n_deploy, "pods_seen": len(times), "pods_running": watch.running,
        "duration_s": round(duration, 3), "timed_out": watch.running < pods,
        "pod_startup": _ms(startup), "pod_startup_from_first_seen": _ms(startup_hires),
        "scheduling": {"binds": len(binds), "window_s": round(bind_window, 3),
                       "binds_per_s": json_number(len(binds) / bind_window, 1) if bind_window > 0 else None},
        "api_latency": latency_by_verb(before, after), "watch_errors": watch.errors,
    }


def run(nodes: int, pods: int, per_deployment: int, storage: str, timeout: float,
        log: Callable[[str], None]) -> dict[str, Any]:
    result: dict[str, Any] = {"nodes": nodes, "pods": pods, "storage": storage or "sqlite (kplane up default)"}
    missing = missing_components()
    if missing:
        return {**result, **unavailable(missing)}
    cluster = UpCluster(nodes, storage)
    tracker = Tracker()
    sampler = Sampler(cluster, tracker)
    try:
        cluster.start()
        cluster.wait_api(120)
        result["nodes_ready_s"] = round(cluster.wait_nodes_ready(120 + 2 * nodes), 3)
        log(f"scale: {nodes} nodes Ready after {result['nodes_ready_s']} s")
        sampler.sample_once()
        sampler.start()
        result.update(asyncio.run(_drive(cluster, pods, per_deployment, timeout, log)))
        sampler.sample_once()
        result["status"] = "ok" if not result["timed_out"] else "timed out"
    except (RuntimeError, OSError, HTTPClientError, TimeoutError) as e:
        result.update({"status": "failed", "reason": f"{type(e).__name__}: {str(e)[:1000]}"})
    finally:
        sampler.halt.set()
        if sampler.is_alive():
            sampler.join(5)
        cluster.stop()
    result["components"] = summarize_components(tracker.by_name())
    return result


def summarize_components(by_name: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The components, kubelets folded into one entry (total CPU, largest peak RSS, and the per-kubelet mean)."""
    out: dict[str, dict[str, float]] = {}
    kubelets = [v for k, v in by_name.items() if k.startswith("kubelet")]
    for name, v in sorted(by_name.items()):
        if not name.startswith("kubelet"):
            out[name] = {"cpu_s": round(v["cpu_s"], 2), "peak_rss_mib": round(v["peak_rss_mib"], 1)}
    if kubelets:
        out[f"kubelets ({len(kubelets)})"] = {
            "cpu_s": round(sum(v["cpu_s"] for v in kubelets), 2),
            "peak_rss_mib": round(max(v["peak_rss_mib"] for v in kubelets), 1),
            "cpu_s_per_kubelet": round(sum(v["cpu_s"] for v in kubelets) / len(kubelets), 2),
        }
    return out
