"""Node lifecycle (upstream's node-lifecycle controller with its taint-eviction controller).

Contracts, as upstream:

* A Node whose heartbeat (its Lease in ``kube-node-lease`` or its Ready condition's lastHeartbeatTime) is
  older than ``options["node_monitor_grace_period"]`` seconds (40) gets Ready/MemoryPressure/DiskPressure/
  PIDPressure set to Unknown ("NodeStatusUnknown", "Kubelet stopped posting node status."); a Node that
  never posted a Ready condition gets them after ``node_startup_grace_period`` (60) as
  "NodeStatusNeverUpdated". Heartbeats are timed with this process's clock, not the kubelet's.
* Conditions map to NoSchedule taints (Ready=False: not-ready, Unknown: unreachable, pressure=True: the
  pressure taint, unschedulable); a not-ready or unreachable node gets the NoExecute taint of the same key
  through a per-zone rate limiter (0.1 nodes/s). When every zone is fully disrupted no NoExecute taint is
  kept and nothing is evicted (upstream's "master disruption mode"). Ready=True removes them.
* Pods on a node that stops being Ready get their Ready condition set to False.
* Taint eviction: a pod on a node with NoExecute taints it does not tolerate is deleted at once; one that
  tolerates them for ``tolerationSeconds`` is deleted after the smallest of them (with the
  ``DisruptionTarget`` condition and a ``TaintManagerEviction`` event); taints going away cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .client import ApiError, path_for
from .events import EventRecorder
from .runtime import Controller, Obj, Result, split_key

log = logging.getLogger("kplane.controllers.nodelifecycle")

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
#: condition type -> {status: taint key}
CONDITION_TAINTS = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
CONDITION_TAINT_KEYS = {k for m in CONDITION_TAINTS.values() for k in m.values()}
MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
LABEL_PAIRS = (("kubernetes.io/os", "beta.kubernetes.io/os"), ("kubernetes.io/arch", "beta.kubernetes.io/arch"))
EXCLUDE_DISRUPTION = "node.kubernetes.io/exclude-disruption"
NODE_LEASE_NAMESPACE = "kube-node-lease"
INITIAL, NORMAL, FULL, PARTIAL = "Initial", "Normal", "FullDisruption", "PartialDisruption"


def now_str() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def condition(obj: Obj | None, ctype: str) -> Obj | None:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c.get("type") == ctype),
                None)


def zone_key(node: Obj) -> str:
    labels = node["metadata"].get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def tolerates(tol: Obj, taint: Obj) -> bool:
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    if tol.get("key") and tol["key"] != taint.get("key"):
        return False
    if tol.get("operator") == "Exists":
        return True
    return bool(tol.get("key")) and (tol.get("value") or "") == (taint.get("value") or "")


def min_toleration_seconds(taints: list[Obj], tolerations: list[Obj]) -> float | None:
    """Seconds until eviction: 0 when a taint is not tolerated, None when all are tolerated forever."""
    used = []
    for taint in taints:
        tol = next((t for t in tolerations if tolerates(t, taint)), None)
        if tol is None:
            return 0.0
        used.append(tol)
    limits = [float(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not used:
        return 0.0
    return max(min(limits), 0.0) if limits else None


class TokenBucket:
    """burst 1, ``qps`` tokens a second; qps <= 0 never accepts (upstream's swapped limiters)."""

    def __init__(self, qps: float) -> None:
        self.qps, self.tokens, self.stamp = qps, 1.0, time.monotonic()

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        now = time.monotonic()
        self.tokens = min(1.0, self.tokens + (now - self.stamp) * self.qps)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Health:
    probe: float
    transition: float
    status: Obj
    lease_renew: dt.datetime | None = None


@dataclass
class Eviction:
    created: float
    fire_at: float
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    component = "node-controller"
    workers = 4

    def setup(self) -> None:
        opts = self.options
        self.grace = float(opts.get("node_monitor_grace_period") or 40.0)
        self.startup_grace = float(opts.get("node_startup_grace_period") or 60.0)
        self.period = float(opts.get("node_monitor_period") or min(5.0, max(0.1, self.grace / 8)))
        self.eviction_qps = float(opts.get("node_eviction_rate", 0.1))
        self.secondary_qps = float(opts.get("secondary_node_eviction_rate", 0.01))
        self.large_cluster = int(opts.get("large_cluster_size_threshold", 50))
        self.unhealthy_threshold = float(opts.get("unhealthy_zone_threshold", 0.55))
        self.nodes = self.informers.get("", "v1", "nodes")
        self.leases = self.informers.get("coordination.k8s.io", "v1", "leases")
        self.pods = self.informers.get("", "v1", "pods")
        self.pods.add_indexer("nodeName", lambda p: [n] if (n := (p.get("spec") or {}).get("nodeName")) else [])
        self.eviction_events = EventRecorder(self.client, "taint-eviction-controller")
        self.health: dict[str, Health] = {}
        self.known: dict[str, Obj] = {}
        self.zone_states: dict[str, str] = {}
        self.limiters: dict[str, TokenBucket] = {}
        self.to_taint: dict[str, dict[str, float]] = {}  # zone -> node -> process at
        self.retry_pods: set[str] = set()
        self.evictions: dict[str, Eviction] = {}
        self.tainted: dict[str, list[Obj]] = {}
        self.nodes.add_handlers(on_add=lambda n: self.queue.add("node:" + n["metadata"]["name"]),
                                on_update=lambda _o, n: self.queue.add("node:" + n["metadata"]["name"]),
                                on_delete=lambda n: self.queue.add("node:" + n["metadata"]["name"]))
        self.pods.add_handlers(on_add=lambda p: self._pod_event(None, p), on_update=self._pod_event,
                               on_delete=lambda p: self.queue.add("pod:" + self._pod_key(p)))

    @staticmethod
    def _pod_key(pod: Obj) -> str:
        return f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}"

    def _pod_event(self, old: Obj | None, new: Obj) -> None:
        node = (new.get("spec") or {}).get("nodeName")
        if old is not None and (old.get("spec") or {}).get("nodeName") == node and \
                (old.get("spec") or {}).get("tolerations") == (new.get("spec") or {}).get("tolerations"):
            return
        if node:
            self.queue.add("pod:" + self._pod_key(new))

    async def run(self) -> None:
        loops = [asyncio.create_task(self._every(self.period, self.monitor_node_health), name="node-monitor"),
                 asyncio.create_task(self._every(0.1, self._no_execute_tainting_pass), name="node-tainter")]
        try:
            await super().run()
        finally:
            for t in loops + [e.task for e in self.evictions.values() if e.task]:
                t.cancel()

    async def _every(self, period: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", getattr(fn, "__name__", fn))
            await asyncio.sleep(period)

    # --- queue keys: "node:<name>" (NoSchedule taints, eviction scheduling), "pod:<ns>/<name>" ---------

    async def reconcile(self, key: str) -> Result | None:
        kind, _, rest = key.partition(":")
        if kind == "node":
            node = self.nodes.get(rest)
            if node is None:
                self.tainted.pop(rest, None)
                return None
            await self._no_schedule_tainting_pass(node)
            await self._reconcile_labels(node)
            self._taint_eviction_node(node)
        else:
            pod = self.pods.get(rest)
            if pod is None:
                self._cancel(rest)
                return None
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            health = self.health.get(node_name)
            ready = condition({"status": health.status}, "Ready") if health else None
            if ready is not None and ready.get("status") != "True" and self.nodes.get(node_name) is not None:
                await self.mark_pods_not_ready([pod])
            taints = self.tainted.get(node_name)
            if taints:
                self._process_pod(rest, (pod.get("spec") or {}).get("tolerations") or [], taints)
        return None

    async def _no_schedule_tainting_pass(self, node: Obj) -> None:
        want = [{"key": taint, "effect": "NoSchedule"} for c in (node.get("status") or {}).get("conditions") or []
                if (taint := CONDITION_TAINTS.get(c.get("type", ""), {}).get(c.get("status", "")))]
        if (node.get("spec") or {}).get("unschedulable"):
            want.append({"key": UNSCHEDULABLE, "effect": "NoSchedule"})
        have = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoSchedule" and (
            t.get("key") == UNSCHEDULABLE or t.get("key") in CONDITION_TAINT_KEYS)]
        add = [t for t in want if not any(h.get("key") == t["key"] for h in have)]
        remove = [t for t in have if not any(w["key"] == t.get("key") for w in want)]
        if add or remove:
            await self.swap_taints(node, add, remove)

    async def _reconcile_labels(self, node: Obj) -> None:
        """The beta os/arch labels follow the stable ones (upstream's reconcileNodeLabels)."""
        labels = node["metadata"].get("labels") or {}
        patch = {beta: labels[ga] for ga, beta in LABEL_PAIRS if ga in labels and labels.get(beta) != labels[ga]}
        if patch:
            with contextlib.suppress(ApiError):
                await self.client.patch(path_for("", "v1", "nodes", name=node["metadata"]["name"]),
                                        {"metadata": {"labels": patch}})

    async def swap_taints(self, node: Obj, add: list[Obj], remove: list[Obj]) -> bool:
        """Add (with timeAdded) and remove taints by key and effect; retries conflicts from a fresh GET."""
        name = node["metadata"]["name"]
        stamp = now_str()
        for attempt in range(5):
            if attempt:
                try:
                    node = await self.client.get(path_for("", "v1", "nodes", name=name))
                except ApiError as e:
                    log.info("node %s: %s", name, e)
                    return False
            taints = (node.get("spec") or {}).get("taints") or []
            gone = {(t.get("key"), t.get("effect")) for t in remove + add}
            new = [t for t in taints if (t.get("key"), t.get("effect")) not in gone]
            new += [dict(t, timeAdded=stamp) for t in add]
            if new == taints:
                return True
            try:
                await self.client.patch(path_for("", "v1", "nodes", name=name), {
                    "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                    "spec": {"taints": new or None}})
                return True
            except ApiError as e:
                if not e.conflict:
                    log.warning("tainting node %s: %s", name, e)
                    return False
        return False

    # --- health -------------------------------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        """One pass of upstream's monitorNodeHealth over the cached nodes."""
        nodes = self.nodes.list()
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self.known:
                await self._node_event(node, "RegisteredNode", f"Registered Node {name} in Controller")
                self.known[name] = node
                self._add_zone(node)
                await self.mark_reachable(node)
            else:
                self._add_zone(node)
        for name in [n for n in self.known if n not in names]:
            gone = self.known.pop(name)
            await self._node_event(gone, "RemovingNode", f"Removing Node {name} from Controller")
            self.health.pop(name, None)
        zone_conditions: dict[str, list[Obj | None]] = {}
        for node in nodes:
            try:
                node, observed, current = await self._update_health(node)
            except ApiError as e:
                log.warning("updating health of node %s: %s; no pods will be evicted", node["metadata"]["name"], e)
                continue
            if EXCLUDE_DISRUPTION not in (node["metadata"].get("labels") or {}):
                zone_conditions.setdefault(zone_key(node), []).append(current)
            if current is None:
                continue
            name = node["metadata"]["name"]
            await self._process_taint_based_eviction(node, observed)
            went_down = current.get("status") != "True" and observed.get("status") == "True"
            if went_down:
                await self.events.record(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            if went_down or (name in self.retry_pods and observed.get("status") != "True"):
                if not await self.mark_pods_not_ready(self.pods.by_index("nodeName", name)):
                    self.retry_pods.add(name)
                    continue
            self.retry_pods.discard(name)
        await self._handle_disruption(zone_conditions, nodes)

    async def _update_health(self, node: Obj) -> tuple[Obj, Obj, Obj | None]:
        """Upstream's tryUpdateNodeHealth: (node, Ready condition as observed, Ready condition now)."""
        name = node["metadata"]["name"]
        for attempt in range(5):
            if attempt:
                node = await self.client.get(path_for("", "v1", "nodes", name=name))
            try:
                return await self._try_update_health(node)
            except ApiError as e:
                if not e.conflict:
                    raise
        raise ApiError(409, {"reason": "Conflict", "message": f"node {name} kept changing"})

    async def _try_update_health(self, node: Obj) -> tuple[Obj, Obj, Obj | None]:
        name, now = node["metadata"]["name"], time.monotonic()
        status = copy.deepcopy(node.get("status") or {})
        current = condition(node, "Ready")
        health = self.health.get(name)
        created = parse_time(node["metadata"].get("creationTimestamp")) or dt.datetime.now(dt.UTC)
        if current is None:
            observed: Obj = {"type": "Ready", "status": "Unknown"}
            grace = self.startup_grace
            born = now - max(0.0, (dt.datetime.now(dt.UTC) - created).total_seconds())
            if health is not None:
                health.status = status
            else:
                health = Health(probe=born, transition=born, status=status)
        else:
            observed, grace = dict(current), self.grace
        saved = condition({"status": health.status}, "Ready") if health else None
        saved_lease = health.lease_renew if health else None
        if health is None or (saved is None) != (current is None):
            health = Health(probe=now, transition=now, status=status)
        elif saved is not None and current is not None and \
                saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
            moved = saved.get("lastTransitionTime") != current.get("lastTransitionTime")
            health = Health(probe=now, transition=now if moved else health.transition, status=status)
        lease = self.leases.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renew = parse_time((lease or {}).get("spec", {}).get("renewTime"))
        if renew is not None and (saved_lease is None or saved_lease < renew):
            health.lease_renew, health.probe = renew, now
        else:
            health.lease_renew = health.lease_renew or saved_lease
        self.health[name] = health
        if now <= health.probe + grace:
            return node, observed, current
        stamp = now_str()
        conditions = status.setdefault("conditions", [])
        for ctype in MONITORED_CONDITIONS:
            cond = next((c for c in conditions if c.get("type") == ctype), None)
            if cond is None:
                conditions.append({"type": ctype, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                   "message": "Kubelet never posted node status.",
                                   "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                                   "lastTransitionTime": stamp})
            elif cond.get("status") != "Unknown":
                cond.update(status="Unknown", reason="NodeStatusUnknown",
                            message="Kubelet stopped posting node status.", lastTransitionTime=stamp)
        new_ready = condition({"status": status}, "Ready")
        if new_ready == observed:
            return node, observed, new_ready
        updated = await self.client.update(path_for("", "v1", "nodes", name=name, subresource="status"),
                                           dict(node, status=status))
        self.health[name] = Health(probe=health.probe, transition=now, status=updated.get("status") or status,
                                   lease_renew=renew or health.lease_renew)
        return updated, observed, new_ready

    async def mark_pods_not_ready(self, pods: list[Obj]) -> bool:
        """Set each pod's Ready condition to False through pods/status (upstream's MarkPodsNotReady)."""
        ok = True
        for pod in pods:
            status = copy.deepcopy(pod.get("status") or {})
            ready = condition({"status": status}, "Ready")
            if ready is None or ready.get("status") == "False":
                continue
            ready.update(status="False", lastTransitionTime=now_str())
            meta = pod["metadata"]
            try:
                await self.client.update(path_for("", "v1", "pods", meta["namespace"], meta["name"], "status"),
                                         dict(pod, status=status))
            except ApiError as e:
                if not e.not_found:
                    log.info("marking pod %s/%s not ready: %s", meta["namespace"], meta["name"], e)
                    ok = False
                continue
            await self.events.record(pod, "Warning", "NodeNotReady", "Node is not ready")
        return ok

    async def _node_event(self, node: Obj, reason: str, message: str) -> None:
        name = node["metadata"]["name"]
        await self.events.record(dict(node, kind="Node", apiVersion="v1"), "Normal", reason,
                                 f"Node {name} event: {message}")

    # --- NoExecute tainting, rate limited per zone ----------------------------------------------------------

    def _add_zone(self, node: Obj) -> None:
        zone = zone_key(node)
        if zone not in self.limiters:
            self.limiters[zone] = TokenBucket(self.eviction_qps)
            self.to_taint.setdefault(zone, {})

    async def _process_taint_based_eviction(self, node: Obj, observed: Obj) -> None:
        status = observed.get("status")
        taints = (node.get("spec") or {}).get("taints") or []
        has = {(t.get("key"), t.get("effect")) for t in taints}
        if status in ("False", "Unknown"):
            key, opposite = (NOT_READY, UNREACHABLE) if status == "False" else (UNREACHABLE, NOT_READY)
            if (opposite, "NoExecute") in has:
                await self.swap_taints(node, [{"key": key, "effect": "NoExecute"}],
                                       [{"key": opposite, "effect": "NoExecute"}])
            else:
                self.to_taint.setdefault(zone_key(node), {}).setdefault(node["metadata"]["name"], 0.0)
        elif status == "True":
            await self.mark_reachable(node)

    async def mark_reachable(self, node: Obj) -> bool:
        for queue in self.to_taint.values():
            queue.pop(node["metadata"]["name"], None)
        remove = [t for t in (node.get("spec") or {}).get("taints") or []
                  if t.get("effect") == "NoExecute" and t.get("key") in (UNREACHABLE, NOT_READY)]
        return bool(remove) and await self.swap_taints(node, [], remove)

    async def _no_execute_tainting_pass(self) -> None:
        for zone, queue in list(self.to_taint.items()):
            for name in sorted(queue, key=lambda n: queue[n]):
                if not self.limiters[zone].try_accept() or queue[name] > time.monotonic():
                    break
                node = self.nodes.get(name)
                ready = condition(node, "Ready")
                if node is None or ready is None:
                    if node is None:
                        queue.pop(name, None)
                    else:
                        queue[name] = time.monotonic() + 0.05
                    continue
                status = ready.get("status")
                if status not in ("False", "Unknown"):
                    queue.pop(name, None)
                    continue
                key, opposite = (NOT_READY, UNREACHABLE) if status == "False" else (UNREACHABLE, NOT_READY)
                if await self.swap_taints(node, [{"key": key, "effect": "NoExecute"}],
                                          [{"key": opposite, "effect": "NoExecute"}]):
                    queue.pop(name, None)
                else:
                    queue[name] = time.monotonic() + 0.05

    async def _handle_disruption(self, zone_conditions: dict[str, list[Obj | None]], nodes: list[Obj]) -> None:
        new_states: dict[str, str] = {}
        for zone, conds in zone_conditions.items():
            unhealthy = sum(1 for c in conds if c is None or c.get("status") != "True")
            if unhealthy == len(conds):
                new_states[zone] = FULL
            elif unhealthy > 2 and unhealthy / len(conds) >= self.unhealthy_threshold:
                new_states[zone] = PARTIAL
            else:
                new_states[zone] = NORMAL
            self.zone_states.setdefault(zone, INITIAL)
        all_full = all(s == FULL for s in new_states.values())
        all_were_full = True
        for zone in list(self.zone_states):
            if zone not in zone_conditions:
                del self.zone_states[zone]
            elif self.zone_states[zone] != FULL:
                all_were_full = False
        if all_full and all_were_full:
            return
        if all_full:
            log.info("all nodes are not ready: entering master disruption mode (no evictions)")
            for node in nodes:
                await self.mark_reachable(node)
            for zone in self.zone_states:
                self.limiters[zone] = TokenBucket(0)
                self.zone_states[zone] = FULL
            return
        if all_were_full:
            log.info("some nodes are ready: exiting master disruption mode")
            now = time.monotonic()
            for health in self.health.values():
                health.probe = health.transition = now
        for zone, state in list(self.zone_states.items()):
            new = new_states[zone]
            if state == new and not all_were_full:
                continue
            size = len(zone_conditions[zone])
            qps = self.secondary_qps if size > self.large_cluster else 0.0
            self.limiters[zone] = TokenBucket(qps if new == PARTIAL else self.eviction_qps)
            self.zone_states[zone] = new

    # --- taint eviction -------------------------------------------------------------------------------

    def _taint_eviction_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if taints:
            self.tainted[name] = taints
        else:
            self.tainted.pop(name, None)
        for pod in self.pods.by_index("nodeName", name):
            key = self._pod_key(pod)
            if not taints:
                self._cancel(key)
            else:
                self._process_pod(key, (pod.get("spec") or {}).get("tolerations") or [], taints)

    def _process_pod(self, key: str, tolerations: list[Obj], taints: list[Obj]) -> None:
        seconds = min_toleration_seconds(taints, tolerations)
        if seconds is None:
            self._cancel(key)
            return
        now = time.monotonic()
        start = now
        scheduled = self.evictions.get(key)
        if scheduled is not None:
            if scheduled.task is not None and scheduled.task.done():
                return  # already evicted: remembered until the pod or the taints go, as upstream
            start = scheduled.created
            if start + seconds < now + seconds:
                return
            self._cancel(key)
        eviction = self.evictions[key] = Eviction(created=start, fire_at=start + seconds)
        eviction.task = asyncio.create_task(self._evict(key, eviction), name=f"evict-{key}")

    def _cancel(self, key: str) -> None:
        scheduled = self.evictions.pop(key, None)
        if scheduled is None:
            return
        if scheduled.task is not None and not scheduled.task.done():
            scheduled.task.cancel()
            ns, name = split_key(key)
            ref = {"kind": "Pod", "apiVersion": "v1", "metadata": {"namespace": ns, "name": name}}
            asyncio.create_task(self.eviction_events.record(ref, "Normal", "TaintManagerEviction",
                                                            f"Cancelling deletion of Pod {key}"))

    async def _evict(self, key: str, eviction: Eviction) -> None:
        await asyncio.sleep(max(0.0, eviction.fire_at - time.monotonic()))
        ns, name = split_key(key)
        ref = {"kind": "Pod", "apiVersion": "v1", "metadata": {"namespace": ns, "name": name}}
        await self.eviction_events.record(ref, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}")
        path = path_for("", "v1", "pods", ns, name)
        for _ in range(5):
            try:
                pod = await self.client.get(path)
                status = pod.get("status") or {}
                target = condition(pod, "DisruptionTarget")
                if target is None or target.get("status") != "True":
                    conds = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
                    conds.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                                  "message": "Taint manager: deleting due to NoExecute taint",
                                  "lastTransitionTime": now_str()})
                    await self.client.update(f"{path}/status", dict(pod, status=dict(status, conditions=conds)))
                await self.client.delete(path)
                break
            except ApiError as e:
                if e.not_found:
                    break
                log.info("evicting pod %s: %s", key, e)
                await asyncio.sleep(0.01)
