"""The DaemonSet controller (upstream's pkg/controller/daemon), level-triggered.

A reconcile reads the DaemonSet, the nodes and the namespace's pods from the informer caches, claims pods,
keeps the DaemonSet's ControllerRevisions (``<ds>-<hash>``, label ``controller-revision-hash``), and, per
node: a node the template fits (nodeSelector, required node affinity, NoSchedule/NoExecute taints against
the template's and the DaemonSet tolerations) gets one pod; pods on nodes that no longer fit are deleted
(a node that only gained an untolerated NoSchedule taint keeps its pod); failed pods are deleted with a
per-node back-off and replaced; extra pods go (oldest kept). Pods are placed by the scheduler through a
required node affinity ``matchFields metadata.name In [node]``. RollingUpdate replaces old pods within
``maxUnavailable`` (or surges within ``maxSurge``); OnDelete waits for the user. ``status`` goes through
``/status``.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Iterable

from .client import ApiError, path_for
from .deployment import compute_hash, scaled_value
from .podutil import (
    available_since,
    claim,
    emit,
    error_text,
    is_pod_available,
    is_pod_ready,
    namespace_terminating,
    parse_time,
    pod_from_template,
    recheck_owner,
    selector_matcher,
    utcnow,
)
from .replicaset import slow_start_batch
from .runtime import (
    Controller,
    Expectations,
    Obj,
    Result,
    controller_ref,
    key_of,
    resolve_controller_ref,
    split_key,
)
from .scheduler.podinfo import required_node_affinity_matches, untolerated_taint

log = logging.getLogger("kplane.controllers.daemonset")

HASH_LABEL = "controller-revision-hash"
BURST_REPLICAS = 250
BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 900.0
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


# --- pure helpers --------------------------------------------------------------------------------------


def daemon_tolerations(template_spec: Obj) -> list[Obj]:
    """The template's tolerations plus the ones upstream adds to every daemon pod
    (AddOrUpdateDaemonPodTolerations)."""
    out = [dict(t) for t in template_spec.get("tolerations") or []]
    wanted = [("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
              ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
              ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")]
    if template_spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in wanted:
        tol = {"key": key, "operator": "Exists", "effect": effect}
        same = [i for i, t in enumerate(out) if t.get("key") == key and t.get("effect") == effect
                and (t.get("operator") or "Equal") == "Exists"]
        if same:
            if out[same[0]] != tol:
                out[same[0]] = tol
        else:
            out.append(tol)
    return out


def node_affinity_for(affinity: Obj | None, node_name: str) -> Obj:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required node selector becomes one term matching the
    node by name; preferred terms and pod (anti-)affinity are kept."""
    out = copy.deepcopy(affinity or {})
    node_affinity = out.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return out


def target_node(pod: Obj) -> str:
    """spec.nodeName, else the node the DaemonSet's affinity names (GetTargetNodeName)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for req in term.get("matchFields") or []:
            if req.get("key") == "metadata.name" and req.get("operator") == "In" and len(req.get("values") or []) == 1:
                return str(req["values"][0])
    return ""


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run a pod here, may keep a running one) - NodeShouldRunDaemonPod."""
    tspec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = node["metadata"]["name"]
    if tspec.get("nodeName") and tspec["nodeName"] != name:
        return False, False
    pod = {"spec": tspec}
    if not required_node_affinity_matches(pod, node["metadata"].get("labels") or {}, name):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = daemon_tolerations(tspec)
    if untolerated_taint(taints, tolerations) is not None:
        return False, untolerated_taint(taints, tolerations, ("NoExecute",)) is None
    return True, True


def revision_data(ds: Obj) -> Obj:
    """A ControllerRevision's data: the template as a strategic-merge patch that replaces it (getPatch)."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def _created(obj: Obj) -> tuple[dt.datetime, str]:
    return parse_time(obj["metadata"].get("creationTimestamp")) or _EPOCH, obj["metadata"]["name"]


def pod_hash(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(HASH_LABEL, ""))


def split_updated(pods: list[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
    """findUpdatedPodsOnNode: (the updated pod, the old pod, False if there are several of either)."""
    new = [p for p in pods if pod_hash(p) == hash_]
    old = [p for p in pods if pod_hash(p) != hash_]
    if len(new) > 1 or len(old) > 1:
        return None, None, False
    return (new[0] if new else None), (old[0] if old else None), True


def is_failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed"


class DaemonSetController(Controller):
    name = "daemonset"
    component = "daemonset-controller"
    workers = 2

    def setup(self) -> None:
        self.expectations = Expectations()
        #: (ds uid, node) -> (current delay, when the last failed pod was deleted)
        self.backoff: dict[tuple[str, str], tuple[float, dt.datetime]] = {}
        self.daemonsets = self.informers.get("apps", "v1", "daemonsets")
        self.pods = self.informers.get("", "v1", "pods")
        self.nodes = self.informers.get("", "v1", "nodes")
        self.revisions = self.informers.get("apps", "v1", "controllerrevisions")
        self.daemonsets.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                     on_delete=self._ds_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.nodes.add_handlers(on_add=lambda n: self._enqueue_all(), on_update=self._node_updated,
                                on_delete=lambda n: self._enqueue_all())
        self.revisions.add_handlers(on_add=self._owned_changed, on_update=lambda old, new: self._owned_changed(new),
                                    on_delete=self._owned_changed)

    # --- event handlers ------------------------------------------------------------------------------

    def _ds_deleted(self, ds: Obj) -> None:
        self.expectations.forget(key_of(ds))
        uid = ds["metadata"].get("uid", "")
        for k in [k for k in self.backoff if k[0] == uid]:
            self.backoff.pop(k)

    def _enqueue_all(self) -> None:
        for ds in self.daemonsets.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, cur: Obj) -> None:
        def relevant(n: Obj) -> tuple[object, ...]:
            return (n["metadata"].get("labels"), (n.get("spec") or {}).get("taints"),
                    (n.get("spec") or {}).get("unschedulable"))
        if relevant(old) != relevant(cur):
            self._enqueue_all()

    def _resolve(self, obj: Obj) -> Obj | None:
        return resolve_controller_ref(obj["metadata"].get("namespace", ""), controller_ref(obj), "DaemonSet",
                                      self.daemonsets)

    def _owned_changed(self, obj: Obj) -> None:
        ds = self._resolve(obj)
        if ds is not None:
            self.enqueue(ds)

    def _matching(self, pod: Obj) -> list[Obj]:
        labels = pod["metadata"].get("labels")
        if not labels:
            return []
        return [d for d in self.daemonsets.list(pod["metadata"].get("namespace", ""))
                if selector_matcher((d.get("spec") or {}).get("selector"))(labels)]

    def _pod_added(self, pod: Obj) -> None:
        ds = self._resolve(pod)
        if ds is not None:
            self.expectations.creation_observed(key_of(ds))
            self.enqueue(ds)
        elif controller_ref(pod) is None:
            for d in self._matching(pod):
                self.enqueue(d)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        previous, ds = self._resolve(old), self._resolve(cur)
        if previous is not None and (ds is None or previous["metadata"]["uid"] != ds["metadata"]["uid"]):
            self.enqueue(previous)
        if ds is not None:
            if cur["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
                self.expectations.deletion_observed(key_of(ds), key_of(cur))
            self.enqueue(ds)
        elif controller_ref(cur) is None:
            for d in self._matching(cur):
                self.enqueue(d)

    def _pod_deleted(self, pod: Obj) -> None:
        ds = self._resolve(pod)
        if ds is not None:
            self.expectations.deletion_observed(key_of(ds), key_of(pod))
            self.enqueue(ds)

    # --- reconcile -----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.daemonsets.get(key)
        if cached is None:
            self.expectations.forget(key)
            return None
        ds = copy.deepcopy(cached)
        ds.setdefault("apiVersion", "apps/v1")
        ds.setdefault("kind", "DaemonSet")
        namespace, _ = split_key(key)
        matches = selector_matcher((ds.get("spec") or {}).get("selector"))
        candidates = [p for p in self.pods.list(namespace)]
        pods = await claim(self.client, ds, candidates, matches, "pods", recheck_owner(self.client, ds, "daemonsets"))
        if ds["metadata"].get("deletionTimestamp"):
            return None
        hash_, ds = await self._current_revision(ds)
        by_node = self._pods_by_node(pods)
        nodes = sorted(self.nodes.list(), key=lambda n: n["metadata"]["name"])
        requeue: list[float] = []
        if self.expectations.satisfied(key):
            await self._manage(ds, key, nodes, by_node, hash_, requeue)
            strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
            if strategy.get("type", "RollingUpdate") == "RollingUpdate" and self.expectations.satisfied(key):
                await self._rolling_update(ds, key, nodes, self._pods_by_node(self._live_claimed(ds)), hash_)
            await self._cleanup_history(ds, hash_)
        wait = await self._update_status(ds, nodes, self._pods_by_node(self._live_claimed(ds)), hash_)
        if wait is not None:
            requeue.append(wait)
        return Result(requeue_after=min(requeue)) if requeue else None

    def _live_claimed(self, ds: Obj) -> list[Obj]:
        uid = ds["metadata"]["uid"]
        return [p for p in self.pods.by_index("owner", uid) if (controller_ref(p) or {}).get("uid") == uid]

    @staticmethod
    def _pods_by_node(pods: Iterable[Obj]) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for p in pods:
            node = target_node(p)
            if node:
                out.setdefault(node, []).append(p)
        for group in out.values():
            group.sort(key=_created)
        return out

    # --- nodes -------------------------------------------------------------------------------------------

    async def _manage(self, ds: Obj, key: str, nodes: list[Obj], by_node: dict[str, list[Obj]], hash_: str,
                      requeue: list[float]) -> None:
        create: list[str] = []
        delete: list[Obj] = []
        now = utcnow()
        surge = self._max_surge(ds, nodes) > 0
        uid = ds["metadata"]["uid"]
        known = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            run, keep = should_run(ds, node)
            pods = by_node.get(name, [])
            if run and not pods:
                create.append(name)
            elif keep:
                running: list[Obj] = []
                for pod in pods:
                    if pod["metadata"].get("deletionTimestamp"):
                        continue
                    if is_failed(pod):
                        delay, last = self.backoff.get((uid, name), (0.0, _EPOCH))
                        left = delay - (now - last).total_seconds()
                        if left > 0:
                            requeue.append(left)
                            continue
                        self.backoff[(uid, name)] = (min(max(delay * 2, BACKOFF_INITIAL), BACKOFF_MAX), now)
                        emit(self.events, ds, "Warning", "FailedDaemonPod",
                             f"Found failed daemon pod {pod['metadata'].get('namespace')}/{pod['metadata']['name']} "
                             f"on node {name}, will try to kill it")
                        delete.append(pod)
                    else:
                        running.append(pod)
                if surge:
                    delete += self._surplus_with_surge(ds, running, hash_, now)
                elif len(running) > 1:
                    delete += running[1:]
            else:
                delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        for name, pods in by_node.items():  # pods on nodes that are gone
            if name not in known:
                delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        await self._sync_nodes(ds, key, delete, create, hash_)

    @staticmethod
    def _surplus_with_surge(ds: Obj, running: list[Obj], hash_: str, now: dt.datetime) -> list[Obj]:
        """With surge, two pods may share a node only while the oldest updated one is not available and
        the oldest old one is; otherwise the updated one is kept."""
        if len(running) <= 1:
            return []
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        new = [p for p in running if pod_hash(p) == hash_]
        old = [p for p in running if pod_hash(p) != hash_]
        keep: list[Obj] = []
        if new:
            keep.append(new[0])
            if old and not is_pod_available(new[0], min_ready, now) and is_pod_available(old[0], min_ready, now):
                keep.append(old[0])
        else:
            keep.append(old[0])
        return [p for p in running if p not in keep]

    async def _sync_nodes(self, ds: Obj, key: str, delete: list[Obj], create: list[str], hash_: str) -> None:
        create, delete = create[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        if not create and not delete:
            return
        self.expectations.expect(key, adds=len(create), deletes=[key_of(p) for p in delete])
        errors: list[BaseException] = []
        if create:
            template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
            tmeta = template.setdefault("metadata", {})
            tmeta["labels"] = dict(tmeta.get("labels") or {}, **{HASH_LABEL: hash_})
            tspec = template.setdefault("spec", {})
            tspec["tolerations"] = daemon_tolerations(tspec)
            queue = list(create)

            async def one() -> None:
                node = queue.pop(0)
                try:
                    await self._create_pod(ds, template, node)
                except BaseException:
                    self.expectations.creation_failed(key)
                    raise

            _, err = await slow_start_batch(len(create), 1, one)
            for _ in queue:
                self.expectations.creation_failed(key)  # never attempted
            if err is not None:
                errors.append(err)
        results = await asyncio.gather(*(self._delete_pod(ds, key, p) for p in delete), return_exceptions=True)
        errors += [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _create_pod(self, ds: Obj, template: Obj, node: str) -> None:
        pod = pod_from_template(template, ds)
        pod["spec"]["affinity"] = node_affinity_for(pod["spec"].get("affinity"), node)
        ns = ds["metadata"]["namespace"]
        try:
            created = await self.client.create(path_for("", "v1", "pods", ns), pod)
        except ApiError as e:
            if namespace_terminating(e):
                return
            emit(self.events, ds, "Warning", "FailedCreate", f"Error creating: {error_text(e)}")
            raise
        emit(self.events, ds, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, ds: Obj, key: str, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        try:
            await self.client.delete(path_for("", "v1", "pods", ds["metadata"]["namespace"], name))
        except ApiError as e:
            self.expectations.deletion_observed(key, key_of(pod))
            if e.not_found:
                return
            emit(self.events, ds, "Warning", "FailedDelete", f"Error deleting: {error_text(e)}")
            raise
        emit(self.events, ds, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    # --- rolling update ------------------------------------------------------------------------------

    def _desired(self, ds: Obj, nodes: list[Obj]) -> int:
        return sum(1 for n in nodes if should_run(ds, n)[0])

    def _max_surge(self, ds: Obj, nodes: list[Obj]) -> int:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        ru = strategy.get("rollingUpdate") or {}
        return scaled_value(ru.get("maxSurge") or 0, self._desired(ds, nodes), True)

    def _max_unavailable(self, ds: Obj, nodes: list[Obj]) -> int:
        ru = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
        desired = self._desired(ds, nodes)
        unavailable = scaled_value(ru.get("maxUnavailable", 1), desired, True)
        if unavailable == 0 and self._max_surge(ds, nodes) == 0:
            return 1
        return unavailable

    async def _rolling_update(self, ds: Obj, key: str, nodes: list[Obj], by_node: dict[str, list[Obj]],
                              hash_: str) -> None:
        now = utcnow()
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        eligible = {n["metadata"]["name"] for n in nodes}
        live = {name: [p for p in pods if not p["metadata"].get("deletionTimestamp")]
                for name, pods in sorted(by_node.items()) if name in eligible}
        max_surge = self._max_surge(ds, nodes)
        if max_surge == 0:
            max_unavailable = self._max_unavailable(ds, nodes)
            unavailable = 0
            replace: list[Obj] = []
            candidates: list[Obj] = []
            for pods in live.values():
                new, old, ok = split_updated(pods, hash_)
                if not ok or (new is None) == (old is None):
                    unavailable += 1
                elif new is not None:
                    if not is_pod_available(new, min_ready, now):
                        unavailable += 1
                elif old is not None:
                    if not is_pod_available(old, min_ready, now):
                        replace.append(old)
                    elif unavailable < max_unavailable:
                        candidates.append(old)
            room = min(max(max_unavailable - unavailable, 0), len(candidates))
            await self._sync_nodes(ds, key, replace + candidates[:room], [], hash_)
            return
        surged = 0
        allowed: list[str] = []
        candidate_nodes: list[str] = []
        old_to_delete: list[Obj] = []
        for name, pods in live.items():
            new, old, ok = split_updated(pods, hash_)
            if not ok:
                surged += 1
                continue
            if old is None:
                continue
            if new is None:
                if not is_pod_available(old, min_ready, now):
                    allowed.append(name)
                elif surged < max_surge:
                    candidate_nodes.append(name)
            elif not is_pod_available(new, min_ready, now):
                surged += 1
            else:
                old_to_delete.append(old)
        room = min(max(max_surge - surged, 0), len(candidate_nodes))
        await self._sync_nodes(ds, key, old_to_delete, allowed + candidate_nodes[:room], hash_)

    # --- history -------------------------------------------------------------------------------------

    def _owned_revisions(self, ds: Obj) -> list[Obj]:
        uid = ds["metadata"]["uid"]
        return [r for r in self.revisions.by_index("owner", uid) if (controller_ref(r) or {}).get("uid") == uid]

    async def _current_revision(self, ds: Obj) -> tuple[str, Obj]:
        """The hash of the ControllerRevision matching the template, created (or renumbered as the
        newest) when needed; a hash collision bumps status.collisionCount (and the DaemonSet is returned
        with it)."""
        data = revision_data(ds)
        history = self._owned_revisions(ds)
        newest = max((int(r.get("revision") or 0) for r in history), default=0)
        match = [r for r in history if r.get("data") == data]
        ns = ds["metadata"]["namespace"]
        if match:
            current = max(match, key=lambda r: int(r.get("revision") or 0))
            if int(current.get("revision") or 0) < newest:
                current = await self.client.update(
                    path_for("apps", "v1", "controllerrevisions", ns, current["metadata"]["name"]),
                    dict(current, revision=newest + 1))
            return str((current["metadata"].get("labels") or {}).get(HASH_LABEL, "")), ds
        status = ds.setdefault("status", {})
        template = (ds.get("spec") or {}).get("template") or {}
        hash_ = compute_hash(template, status.get("collisionCount"))
        labels = dict((template.get("metadata") or {}).get("labels") or {}, **{HASH_LABEL: hash_})
        meta: Obj = {"name": f"{ds['metadata']['name']}-{hash_}", "namespace": ns, "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                          "name": ds["metadata"]["name"], "uid": ds["metadata"]["uid"],
                                          "controller": True, "blockOwnerDeletion": True}]}
        if ds["metadata"].get("annotations"):
            meta["annotations"] = dict(ds["metadata"]["annotations"])
        body: Obj = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "data": data,
                     "revision": newest + 1}
        try:
            await self.client.create(path_for("apps", "v1", "controllerrevisions", ns), body)
        except ApiError as e:
            if e.status != 409:
                raise
            existing = await self.client.get(path_for("apps", "v1", "controllerrevisions", ns, meta["name"]))
            if (controller_ref(existing) or {}).get("uid") == ds["metadata"]["uid"] and existing.get("data") == data:
                return hash_, ds
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            await self.client.update(path_for("apps", "v1", "daemonsets", ns, ds["metadata"]["name"], "status"), ds)
            raise RuntimeError(f"found a hash collision for DaemonSet {ns}/{ds['metadata']['name']}; "
                               "bumped collisionCount") from e
        return hash_, ds

    async def _cleanup_history(self, ds: Obj, hash_: str) -> None:
        limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
        live = {pod_hash(p) for p in self._live_claimed(ds) if not p["metadata"].get("deletionTimestamp")}
        old = [r for r in self._owned_revisions(ds)
               if (h := (r["metadata"].get("labels") or {}).get(HASH_LABEL)) != hash_ and h not in live]
        old.sort(key=lambda r: int(r.get("revision") or 0))
        for rev in old[:max(len(old) - limit, 0)]:
            try:
                await self.client.delete(path_for("apps", "v1", "controllerrevisions", rev["metadata"]["namespace"],
                                                  rev["metadata"]["name"]))
            except ApiError as e:
                if not e.not_found:
                    raise

    # --- status --------------------------------------------------------------------------------------

    async def _update_status(self, ds: Obj, nodes: list[Obj], by_node: dict[str, list[Obj]], hash_: str
                             ) -> float | None:
        """Write status when it changed; returns when to look again for pods becoming available."""
        now = utcnow()
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        desired = current = misscheduled = ready = available = updated = 0
        pending: list[dt.datetime] = []
        for node in nodes:
            run, _ = should_run(ds, node)
            pods = [p for p in by_node.get(node["metadata"]["name"], []) if not p["metadata"].get("deletionTimestamp")]
            if run:
                desired += 1
            if not pods:
                continue
            if not run:
                misscheduled += 1
                continue
            current += 1
            pod = pods[0]
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
                elif (at := available_since(pod, min_ready)) is not None:
                    pending.append(at)
            if pod_hash(pod) == hash_:
                updated += 1
        old = ds.get("status") or {}
        status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                       "desiredNumberScheduled": desired, "numberReady": ready,
                       "observedGeneration": ds["metadata"].get("generation", 0)}
        for f, v in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                     ("numberUnavailable", desired - available)):
            if v:
                status[f] = v
        for f in ("collisionCount", "conditions"):
            if old.get(f) is not None:
                status[f] = old[f]
        if status != old:
            path = path_for("apps", "v1", "daemonsets", ds["metadata"]["namespace"], ds["metadata"]["name"], "status")
            await self.client.update(path, dict(ds, status=status))
        if pending:
            return max((min(pending) - now).total_seconds(), 0) + 1
        return None
