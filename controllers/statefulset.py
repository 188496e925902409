"""The StatefulSet controller (apps/v1): pods with stable names ``<set>-<ordinal>`` and PVCs
``<claim>-<set>-<ordinal>``, created in order (OrderedReady: each waits for its predecessor Running and
Ready for minReadySeconds; scale-down from the highest ordinal, one at a time) or all at once (Parallel).

Template history lives in ControllerRevisions ``<set>-<hash>`` whose ``data`` is the strategic-merge patch
``{"spec": {"template": {..., "$patch": "replace"}}}`` (what `kubectl rollout undo` applies). Pods carry
the revision name in ``controller-revision-hash``; RollingUpdate replaces pods from the highest ordinal down
to ``partition``, OnDelete only gives deleted pods the new template. Reconciles are level-triggered:
every pass reads the caches, does the next step, and writes status.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import re
from typing import Any

from .client import ApiError, path_for
from .podutil import (
    available_since,
    claim,
    emit,
    error_text,
    is_pod_available,
    is_pod_ready,
    namespace_terminating,
    owner_reference,
    pod_from_template,
    recheck_owner,
    selector_matcher,
    utcnow,
)
from .runtime import Controller, Result, controller_ref, key_of, resolve_controller_ref, split_key

log = logging.getLogger("kplane.controllers.statefulset")

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
REVISION_HASH_LABEL = "controller.kubernetes.io/hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# --- pure helpers ----------------------------------------------------------------------------------


def already_exists(err: ApiError) -> bool:
    return err.status == 409 and (err.body or {}).get("reason") == "AlreadyExists"


def ordinal_of(set_name: str, pod: Obj) -> int | None:
    """The ordinal of a pod named ``<set>-<n>``; None when the pod is not a member by name."""
    m = re.fullmatch(r"(.*)-([0-9]+)", pod["metadata"].get("name", ""))
    if m is None or m.group(1) != set_name:
        return None
    return int(m.group(2))


def revision_data(sts: Obj) -> Obj:
    template = copy.deepcopy((sts.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def hash_revision(data: Obj, collision_count: int | None) -> str:
    """HashControllerRevision: FNV-1 (32 bit) of the data, then the collision count in decimal."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        raw += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in raw:
        h = ((h * 0x01000193) & 0xFFFFFFFF) ^ byte
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in str(h))


def template_of(revision: Obj) -> Obj:
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def is_failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def is_healthy(pod: Obj, min_ready: int) -> bool:
    """Running, Ready for minReadySeconds, not being deleted."""
    return (is_running_and_ready(pod) and not is_terminating(pod)
            and is_pod_available(pod, min_ready, utcnow()))


def pod_revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))


def claim_name(template: Obj, set_name: str, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{set_name}-{ordinal}"


def scaled(value: Any, total: int) -> int:
    """An int-or-percent of ``total``, rounded up, at least 1 (maxUnavailable)."""
    if value is None:
        return 1
    if isinstance(value, str) and value.endswith("%"):
        try:
            n = math.ceil(int(value[:-1]) * total / 100)
        except ValueError:
            return 1
    else:
        try:
            n = int(value)
        except (TypeError, ValueError):
            return 1
    return max(n, 1)


class StatefulSetController(Controller):
    name = "statefulset"
    component = "statefulset-controller"
    workers = 5

    def setup(self) -> None:
        self.sets = self.informers.get("apps", "v1", "statefulsets")
        self.pods = self.informers.get("", "v1", "pods")
        self.revisions = self.informers.get("apps", "v1", "controllerrevisions")
        self.claims = self.informers.get("", "v1", "persistentvolumeclaims")
        self.sets.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                               on_delete=self.enqueue)
        self.pods.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated,
                               on_delete=self._pod_changed)
        self.revisions.add_handlers(on_add=self._owned_changed, on_update=lambda o, n: self._owned_changed(n),
                                    on_delete=self._owned_changed)

    # --- event handlers ------------------------------------------------------------------------

    def _owner_of(self, obj: Obj) -> Obj | None:
        return resolve_controller_ref(obj["metadata"].get("namespace", ""), controller_ref(obj), "StatefulSet",
                                      self.sets)

    def _owned_changed(self, obj: Obj) -> None:
        sts = self._owner_of(obj)
        if sts is not None:
            self.enqueue(sts)

    def _pod_changed(self, pod: Obj) -> None:
        sts = self._owner_of(pod)
        if sts is not None:
            self.enqueue(sts)
            return
        if controller_ref(pod) is None:
            labels = pod["metadata"].get("labels")
            for s in self.sets.list(pod["metadata"].get("namespace", "")):
                if labels and selector_matcher((s.get("spec") or {}).get("selector"))(labels):
                    self.enqueue(s)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        if controller_ref(old) != controller_ref(cur):
            self._pod_changed(old)
        self._pod_changed(cur)

    # --- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.sets.get(key)
        if cached is None:
            return None
        sts = copy.deepcopy(cached)
        sts.setdefault("apiVersion", "apps/v1")
        sts.setdefault("kind", "StatefulSet")
        namespace, name = split_key(key)
        matches = selector_matcher((sts.get("spec") or {}).get("selector"))
        pods = await claim(self.client, sts, self.pods.list(namespace), matches, "pods",
                           recheck_owner(self.client, sts, "statefulsets"))
        pods = [p for p in pods if ordinal_of(name, p) is not None]
        revisions = await claim(self.client, sts, self.revisions.list(namespace), matches,
                                "controllerrevisions", recheck_owner(self.client, sts, "statefulsets"))
        revisions.sort(key=lambda r: (int(r.get("revision") or 0), r["metadata"]["name"]))
        if sts["metadata"].get("deletionTimestamp"):
            return None
        status = dict(sts.get("status") or {})
        current, update, collision = await self._revisions(sts, revisions, status)
        if update is None:
            # a hash collision: raise collisionCount and try again with the new name
            status["collisionCount"] = collision
            await self._write_status(sts, status)
            return Result(requeue_after=0.01)
        status["collisionCount"] = collision
        status["currentRevision"], status["updateRevision"] = current["metadata"]["name"], update["metadata"]["name"]
        sts["status"] = dict(status)
        try:
            await self._update_set(sts, pods, current, update)
        finally:
            fresh = [p for p in self.pods.list(namespace)
                     if (controller_ref(p) or {}).get("uid") == sts["metadata"]["uid"]
                     and ordinal_of(name, p) is not None]
            self._count(sts, fresh, status)
            await self._write_status(sts, status)
        await self._truncate_history(sts, fresh, revisions, status)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready:
            now = utcnow()
            pending = [at for p in fresh if (at := available_since(p, min_ready)) is not None and at >= now]
            if pending:
                return Result(requeue_after=(min(pending) - now).total_seconds() + 1)
        return None

    # --- revisions -----------------------------------------------------------------------------

    async def _revisions(self, sts: Obj, revisions: list[Obj], status: Obj) -> tuple[Obj, Obj | None, int]:
        """(current revision, update revision, collisionCount); the update revision is None after a
        name collision (collisionCount was raised)."""
        collision = int(status.get("collisionCount") or 0)
        data = revision_data(sts)
        equal = [r for r in revisions if r.get("data") == data]
        top = int(revisions[-1].get("revision") or 0) if revisions else 0
        update: Obj | None
        if equal and equal[-1] is revisions[-1]:
            update = equal[-1]
        elif equal:
            # an earlier template came back (a rollback): it becomes the newest revision
            update = await self.client.update(self._rev_path(sts, equal[-1]["metadata"]["name"]),
                                              dict(equal[-1], revision=top + 1))
        else:
            update = await self._create_revision(sts, data, top + 1, collision)
            if update is None:
                return {}, None, collision + 1
        current = next((r for r in revisions if r["metadata"]["name"] == status.get("currentRevision")), update)
        return current, update, collision

    def _rev_path(self, sts: Obj, name: str = "") -> str:
        return path_for("apps", "v1", "controllerrevisions", sts["metadata"]["namespace"], name)

    async def _create_revision(self, sts: Obj, data: Obj, number: int, collision: int) -> Obj | None:
        h = hash_revision(data, collision or None)
        prefix = sts["metadata"]["name"][:223]
        labels = dict(((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {})
        labels[REVISION_HASH_LABEL] = h
        body: Obj = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                     "metadata": {"name": f"{prefix}-{h}", "namespace": sts["metadata"]["namespace"],
                                  "labels": labels, "ownerReferences": [owner_reference(sts)]},
                     "data": data, "revision": number}
        try:
            created: Obj = await self.client.create(self._rev_path(sts), body)
            return created
        except ApiError as e:
            if not already_exists(e):
                raise
        existing: Obj = await self.client.get(self._rev_path(sts, body["metadata"]["name"]))
        if (controller_ref(existing) or {}).get("uid") == sts["metadata"]["uid"] and existing.get("data") == data:
            return existing  # ours, only not yet in the cache
        return None

    async def _truncate_history(self, sts: Obj, pods: list[Obj], revisions: list[Obj], status: Obj) -> None:
        live = {pod_revision(p) for p in pods} | {status.get("currentRevision"), status.get("updateRevision")}
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
        history = [r for r in revisions if r["metadata"]["name"] not in live]
        for r in history[:max(len(history) - limit, 0)]:
            try:
                await self.client.delete(self._rev_path(sts, r["metadata"]["name"]))
            except ApiError as e:
                if not e.not_found:
                    raise

    # --- pods ----------------------------------------------------------------------------------

    def _new_pod(self, sts: Obj, template: Obj, revision: str, ordinal: int) -> Obj:
        set_name = sts["metadata"]["name"]
        pod = pod_from_template(template, sts)
        meta = pod["metadata"]
        meta.pop("generateName", None)
        meta["name"] = f"{set_name}-{ordinal}"
        meta["labels"] = dict(meta.get("labels") or {}, **{POD_NAME_LABEL: meta["name"],
                                                           POD_INDEX_LABEL: str(ordinal),
                                                           REVISION_LABEL: revision})
        spec = pod["spec"]
        spec["hostname"] = meta["name"]
        service = (sts.get("spec") or {}).get("serviceName")
        if service:
            spec["subdomain"] = service
        volumes = [v for v in spec.get("volumes") or []]
        for tmpl in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            vname = (tmpl.get("metadata") or {}).get("name", "")
            volumes = [v for v in volumes if v.get("name") != vname]
            volumes.append({"name": vname, "persistentVolumeClaim":
                            {"claimName": claim_name(tmpl, set_name, ordinal)}})
        if volumes:
            spec["volumes"] = volumes
        return pod

    def _uses_current(self, sts: Obj, ordinal: int) -> bool:
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return False
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        return ordinal < self._start(sts) + partition

    def _start(self, sts: Obj) -> int:
        return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)

    async def _update_set(self, sts: Obj, pods: list[Obj], current: Obj, update: Obj) -> None:
        """One step of upstream's updateStatefulSet; returns early wherever OrderedReady must wait."""
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
        start = self._start(sts)
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        min_ready = int(spec.get("minReadySeconds") or 0)
        by_ordinal: dict[int, Obj] = {}
        for p in pods:
            ordinal = ordinal_of(name, p)
            if ordinal is not None:
                by_ordinal[ordinal] = p
        wanted = range(start, start + replicas)
        condemned = sorted((o for o in by_ordinal if o not in wanted), reverse=True)
        await self._sync_claim_owners(sts, by_ordinal, wanted)
        creates: list[int] = []
        for ordinal in wanted:
            pod = by_ordinal.get(ordinal)
            if pod is not None and is_failed(pod) and not is_terminating(pod):
                await self._delete_pod(sts, pod, "recreating failed pod")
                if monotonic:
                    return
                continue
            if pod is None:
                if monotonic:
                    await self._create_pod(sts, ordinal, current, update)
                    return
                creates.append(ordinal)
                continue
            if monotonic and not is_healthy(pod, min_ready):
                return  # OrderedReady: the next ordinal waits for this one
        if creates:
            results = await asyncio.gather(*(self._create_pod(sts, o, current, update) for o in creates),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
            return
        if monotonic and any(not is_healthy(p, min_ready) for p in (by_ordinal[o] for o in wanted)):
            return
        for ordinal in condemned:
            pod = by_ordinal[ordinal]
            if is_terminating(pod):
                if monotonic:
                    return
                continue
            await self._delete_pod(sts, pod, "scale down")
            if monotonic:
                return
        if condemned:
            return
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        rolling = strategy.get("rollingUpdate") or {}
        partition = int(rolling.get("partition") or 0)
        max_unavailable = scaled(rolling.get("maxUnavailable"), replicas)
        unavailable = sum(1 for o in wanted if not is_healthy(by_ordinal[o], min_ready))
        target = update["metadata"]["name"]
        for ordinal in range(start + replicas - 1, start + partition - 1, -1):
            pod = by_ordinal[ordinal]
            if pod_revision(pod) != target and not is_terminating(pod):
                if unavailable >= max_unavailable:
                    return
                await self._delete_pod(sts, pod, "rolling update")
                unavailable += 1 if is_healthy(pod, min_ready) else 0
            elif not is_healthy(pod, min_ready) and unavailable >= max_unavailable:
                return

    async def _create_pod(self, sts: Obj, ordinal: int, current: Obj, update: Obj) -> None:
        revision = current if self._uses_current(sts, ordinal) else update
        await self._create_claims(sts, ordinal)
        pod = self._new_pod(sts, template_of(revision), revision["metadata"]["name"], ordinal)
        pod_name = pod["metadata"]["name"]
        try:
            await self.client.create(path_for("", "v1", "pods", sts["metadata"]["namespace"]), pod)
        except ApiError as e:
            if already_exists(e) or namespace_terminating(e):
                return  # the cache is behind; the next pass sees it
            emit(self.events, sts, "Warning", "FailedCreate",
                 f"create Pod {pod_name} in StatefulSet {sts['metadata']['name']} failed error: {error_text(e)}")
            raise
        emit(self.events, sts, "Normal", "SuccessfulCreate",
             f"create Pod {pod_name} in StatefulSet {sts['metadata']['name']} successful")

    async def _delete_pod(self, sts: Obj, pod: Obj, why: str) -> None:
        pod_name = pod["metadata"]["name"]
        log.info("StatefulSet %s: deleting pod %s (%s)", key_of(sts), pod_name, why)
        try:
            await self.client.delete(path_for("", "v1", "pods", sts["metadata"]["namespace"], pod_name))
        except ApiError as e:
            if e.not_found:
                return
            emit(self.events, sts, "Warning", "FailedDelete",
                 f"delete Pod {pod_name} in StatefulSet {sts['metadata']['name']} failed error: {error_text(e)}")
            raise
        emit(self.events, sts, "Normal", "SuccessfulDelete",
             f"delete Pod {pod_name} in StatefulSet {sts['metadata']['name']} successful")

    # --- claims --------------------------------------------------------------------------------

    def _policy(self, sts: Obj) -> tuple[str, str]:
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        return policy.get("whenDeleted") or "Retain", policy.get("whenScaled") or "Retain"

    def _claim_refs(self, sts: Obj, pvc: Obj, pod: Obj | None, condemned: bool) -> list[Obj]:
        """The ownerReferences a claim should have under the retention policy: the pod for whenScaled=Delete
        once the ordinal is condemned, else the set as its controller for whenDeleted=Delete."""
        when_deleted, when_scaled = self._policy(sts)
        uid = sts["metadata"]["uid"]
        pod_uid = pod["metadata"].get("uid") if pod is not None else None
        refs = [r for r in pvc["metadata"].get("ownerReferences") or []
                if r.get("uid") != uid and not (r.get("kind") == "Pod" and r.get("uid") == pod_uid)]
        if when_scaled == "Delete" and condemned and pod is not None:
            # the pod alone: with the set still an owner, the collector would only drop the dangling ref
            refs.append({"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod_uid})
        elif when_deleted == "Delete":
            refs.append(owner_reference(sts))
        return refs

    async def _create_claims(self, sts: Obj, ordinal: int) -> None:
        ns, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        selector_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for tmpl in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            name = claim_name(tmpl, set_name, ordinal)
            if self.claims.get(f"{ns}/{name}") is not None:
                continue
            tmeta = tmpl.get("metadata") or {}
            meta: Obj = {"name": name, "namespace": ns,
                         "labels": dict(tmeta.get("labels") or {}, **selector_labels)}
            if tmeta.get("annotations"):
                meta["annotations"] = dict(tmeta["annotations"])
            pvc: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                        "spec": copy.deepcopy(tmpl.get("spec") or {})}
            refs = self._claim_refs(sts, pvc, None, False)
            if refs:
                meta["ownerReferences"] = refs
            try:
                await self.client.create(path_for("", "v1", "persistentvolumeclaims", ns), pvc)
            except ApiError as e:
                if already_exists(e):
                    continue
                emit(self.events, sts, "Warning", "FailedCreate",
                     f"create Claim {name} for Pod {set_name}-{ordinal} in StatefulSet {set_name} failed "
                     f"error: {error_text(e)}")
                raise
            emit(self.events, sts, "Normal", "SuccessfulCreate",
                 f"create Claim {name} Pod {set_name}-{ordinal} in StatefulSet {set_name} success")

    async def _sync_claim_owners(self, sts: Obj, pods: dict[int, Obj], wanted: range) -> None:
        """Keep the claims' ownerReferences in line with the retention policy (before a condemned pod is
        deleted, its claims get the pod as owner, so the garbage collector removes them after it)."""
        templates = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
        if not templates:
            return
        ns, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        scaled_delete = self._policy(sts)[1] == "Delete"
        for ordinal, pod in pods.items():
            condemned = ordinal not in wanted
            for tmpl in templates:
                name = claim_name(tmpl, set_name, ordinal)
                path = path_for("", "v1", "persistentvolumeclaims", ns, name)
                pvc = self.claims.get(f"{ns}/{name}")
                if pvc is None and condemned and scaled_delete:
                    # the pod goes next: a claim created a moment ago must not miss its owner
                    try:
                        pvc = await self.client.get(path)
                    except ApiError as e:
                        if not e.not_found:
                            raise
                if pvc is None or pvc["metadata"].get("deletionTimestamp"):
                    continue
                refs = self._claim_refs(sts, pvc, pod, condemned)
                if refs == (pvc["metadata"].get("ownerReferences") or []):
                    continue
                body = {"metadata": {"ownerReferences": refs or None,
                                     "resourceVersion": pvc["metadata"]["resourceVersion"]}}
                try:
                    await self.client.patch(path, body, patch_type="merge")
                except ApiError as e:
                    if not e.not_found:
                        raise  # a 409 requeues: the pod is not deleted before its claims are owned

    # --- status --------------------------------------------------------------------------------

    def _count(self, sts: Obj, pods: list[Obj], status: Obj) -> None:
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        now = utcnow()
        counts = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                                "updatedReplicas"), 0)
        for p in pods:
            if (p.get("status") or {}).get("phase"):
                counts["replicas"] += 1
            if is_running_and_ready(p):
                counts["readyReplicas"] += 1
                if is_pod_available(p, min_ready, now):
                    counts["availableReplicas"] += 1
            if (p.get("status") or {}).get("phase") and not is_terminating(p):
                rev = pod_revision(p)
                counts["currentReplicas"] += rev == status.get("currentRevision")
                counts["updatedReplicas"] += rev == status.get("updateRevision")
        status.update(counts)
        strategy = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
        if (strategy == "RollingUpdate" and status["updatedReplicas"] == status["replicas"]
                and status["readyReplicas"] == status["replicas"]):
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        status["observedGeneration"] = sts["metadata"].get("generation", 0)

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        """PUT /status when it changed; zero counts are omitted as the Go types serialize them, except
        replicas, availableReplicas and collisionCount (a pointer upstream always sets)."""
        out = {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas", "collisionCount")}
        if out == (sts.get("status") or {}):
            return
        path = path_for("apps", "v1", "statefulsets", sts["metadata"]["namespace"], sts["metadata"]["name"],
                        "status")
        await self.client.update(path, dict(sts, status=out))  # a 409 requeues the key
