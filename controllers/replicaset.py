"""The ReplicaSet and ReplicationController controllers (upstream's pkg/controller/replicaset).

Each reconcile reads the controller and the pods of its namespace from the informer caches, claims
pods (adopting matching orphans, releasing owned pods that stopped matching), and - when its
expectations are satisfied - creates pods from the template (slow start: batches of 1, 2, 4, ...) or
deletes the lowest-ranked ones, then writes ``status`` through ``/status``. Pods being deleted or in a
terminal phase are not counted. Expectations keep a quick second reconcile from acting on a cache that
has not yet seen the previous one's creates/deletes.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable

from .client import ApiError, path_for
from .podutil import (
    Matcher,
    available_since,
    claim,
    emit,
    error_text,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_pod_terminating,
    map_matcher,
    namespace_terminating,
    pod_from_template,
    pods_to_delete,
    recheck_owner,
    rfc3339,
    selector_matcher,
    utcnow,
)
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

log = logging.getLogger("kplane.controllers.replicaset")

#: most pods created or deleted by one reconcile (upstream's BurstReplicas)
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1


class ManageError(Exception):
    """Creating or deleting pods failed; the message goes to the ReplicaFailure condition."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


async def slow_start_batch(count: int, initial: int,
                           fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Call ``fn()`` ``count`` times in batches of initial, 2*initial, ... until a batch has a failure.
    Returns the number of successes and the first error."""
    remaining, successes = count, 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


class ReplicaSetController(Controller):
    """apps/v1 ReplicaSets. Subclassed for v1 ReplicationControllers (only the kind and selector differ)."""

    name = "replicaset"
    component = "replicaset-controller"
    workers = 5
    group, version, plural, kind = "apps", "v1", "replicasets", "ReplicaSet"
    #: status.terminatingReplicas exists (ReplicaSets, feature DeploymentReplicaSetTerminatingReplicas)
    counts_terminating = True

    def setup(self) -> None:
        self.expectations = Expectations()
        self.owners = self.informers.get(self.group, self.version, self.plural)
        self.pods = self.informers.get("", "v1", "pods")
        self.owners.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                 on_delete=self._owner_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                               on_delete=self._pod_deleted)

    # --- what an object means ------------------------------------------------------------------

    def selector(self, owner: Obj) -> Matcher:
        return selector_matcher((owner.get("spec") or {}).get("selector"))

    # --- event handlers: objects to keys ----------------------------------------------------------

    def _owner_deleted(self, owner: Obj) -> None:
        self.expectations.forget(key_of(owner))
        self.enqueue(owner)

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        return resolve_controller_ref(namespace, ref, self.kind, self.owners)

    def _matching_owners(self, pod: Obj) -> list[Obj]:
        labels = pod["metadata"].get("labels")
        if not labels:
            return []
        return [o for o in self.owners.list(pod["metadata"].get("namespace", "")) if self.selector(o)(labels)]

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            owner = self._resolve(pod["metadata"].get("namespace", ""), ref)
            if owner is not None:
                self.expectations.creation_observed(key_of(owner))
                self.enqueue(owner)
            return
        for owner in self._matching_owners(pod):
            self.enqueue(owner)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        labels_changed = old["metadata"].get("labels") != cur["metadata"].get("labels")
        if cur["metadata"].get("deletionTimestamp"):
            self._pod_deleted(cur)
            if labels_changed:
                self._pod_deleted(old)
            return
        ns = cur["metadata"].get("namespace", "")
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        if cur_ref != old_ref and old_ref is not None:
            previous = self._resolve(ns, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if cur_ref is not None:
            owner = self._resolve(ns, cur_ref)
            if owner is not None:
                self.enqueue(owner)
            return
        if labels_changed or cur_ref != old_ref:
            for owner in self._matching_owners(cur):
                self.enqueue(owner)

    def _pod_deleted(self, pod: Obj) -> None:
        owner = self._resolve(pod["metadata"].get("namespace", ""), controller_ref(pod))
        if owner is None:
            return
        key = key_of(owner)
        self.expectations.deletion_observed(key, key_of(pod))
        self.enqueue(owner)

    # --- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.owners.get(key)
        if cached is None:
            self.expectations.forget(key)
            return None
        owner = copy.deepcopy(cached)
        owner.setdefault("apiVersion", f"{self.group}/{self.version}" if self.group else self.version)
        owner.setdefault("kind", self.kind)
        needs_sync = self.expectations.satisfied(key)
        namespace, _ = split_key(key)
        matches = self.selector(owner)
        all_pods = self.pods.list(namespace)
        active = await claim(self.client, owner, [p for p in all_pods if is_pod_active(p)], matches, "pods",
                             recheck_owner(self.client, owner, self.plural))
        uid = owner["metadata"]["uid"]
        terminating = [p for p in all_pods if is_pod_terminating(p)
                       and (controller_ref(p) or {}).get("uid") == uid and matches(p["metadata"].get("labels"))]
        manage_error: ManageError | None = None
        if needs_sync and not owner["metadata"].get("deletionTimestamp"):
            try:
                await self._manage(active, owner, key)
            except ManageError as e:
                manage_error = e
        now = utcnow()
        status = self._calculate_status(owner, active, terminating, manage_error)
        updated = await self._update_status(owner, status)
        if manage_error is not None:
            # the API's error itself, so the runtime requeues with backoff (and logs it without a trace)
            raise manage_error.cause if isinstance(manage_error.cause, ApiError) else manage_error
        # requeue when a ready pod becomes available (minReadySeconds), as a level-triggered timer
        min_ready = int((updated.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready:
            pending = [at for p in active if (at := available_since(p, min_ready)) is not None and at >= now]
            if pending:
                return Result(requeue_after=(min(pending) - now).total_seconds() + 1)
        return None

    def _desired(self, owner: Obj) -> int:
        replicas = (owner.get("spec") or {}).get("replicas")
        return 1 if replicas is None else int(replicas)

    async def _manage(self, active: list[Obj], owner: Obj, key: str) -> None:
        diff = len(active) - self._desired(owner)
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect(key, adds=count)
            log.info("%s %s: too few replicas, creating %d", self.kind, key, count)
            successes, err = await slow_start_batch(count, SLOW_START_INITIAL_BATCH,
                                                    lambda: self._create_pod(owner))
            for _ in range(count - successes):
                self.expectations.creation_failed(key)
            if err is not None:
                raise ManageError(error_text(err), err)
        elif diff > 0:
            count = min(diff, BURST_REPLICAS)
            log.info("%s %s: too many replicas, deleting %d", self.kind, key, count)
            victims = pods_to_delete(active, self._related_pods(owner), count)
            self.expectations.expect(key, deletes=[key_of(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod(owner, p, key) for p in victims),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise ManageError(error_text(errors[0]), errors[0])

    def _related_pods(self, owner: Obj) -> list[Obj]:
        """Pods of this controller and of its siblings (the others with the same controlling owner)."""
        ref = controller_ref(owner)
        owners = [owner]
        if ref is not None:
            owners = [o for o in self.owners.list(owner["metadata"].get("namespace", ""))
                      if (controller_ref(o) or {}).get("uid") == ref.get("uid")] or [owner]
        pods: dict[str, Obj] = {}
        for o in owners:
            for p in self.pods.by_index("owner", o["metadata"]["uid"]):
                if (controller_ref(p) or {}).get("uid") == o["metadata"]["uid"]:
                    pods[key_of(p)] = p
        return list(pods.values())

    async def _create_pod(self, owner: Obj) -> None:
        template = (owner.get("spec") or {}).get("template") or {}
        pod = pod_from_template(template, owner)
        if not pod["metadata"].get("labels"):
            raise ManageError("unable to create pods, no labels")
        ns = owner["metadata"]["namespace"]
        try:
            created = await self.client.create(path_for("", "v1", "pods", ns), pod)
        except ApiError as e:
            if namespace_terminating(e):
                return  # every create would fail; nothing to report
            emit(self.events, owner, "Warning", "FailedCreate", f"Error creating: {error_text(e)}")
            raise
        emit(self.events, owner, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, owner: Obj, pod: Obj, key: str) -> None:
        name = pod["metadata"]["name"]
        try:
            await self.client.delete(path_for("", "v1", "pods", owner["metadata"]["namespace"], name))
        except ApiError as e:
            self.expectations.deletion_observed(key, key_of(pod))
            if e.not_found:
                return
            emit(self.events, owner, "Warning", "FailedDelete", f"Error deleting: {error_text(e)}")
            raise
        emit(self.events, owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    # --- status --------------------------------------------------------------------------------

    def _calculate_status(self, owner: Obj, active: list[Obj], terminating: list[Obj],
                          manage_error: ManageError | None) -> Obj:
        status: Obj = copy.deepcopy(owner.get("status") or {})
        spec = owner.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = utcnow()
        labeled = sum(1 for p in active
                      if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items()))
        ready = [p for p in active if is_pod_ready(p)]
        available = sum(1 for p in ready if is_pod_available(p, min_ready, now))
        conditions: list[Obj] = list(status.get("conditions") or [])
        failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        if manage_error is not None and failure is None:
            diff = len(active) - self._desired(owner)
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            conditions.append({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": rfc3339(now),
                               "reason": reason, "message": str(manage_error)})
        elif manage_error is None and failure is not None:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        status["replicas"] = len(active)
        status["fullyLabeledReplicas"] = labeled
        status["readyReplicas"] = len(ready)
        status["availableReplicas"] = available
        if self.counts_terminating:
            status["terminatingReplicas"] = len(terminating)
        status["conditions"] = conditions
        return status

    async def _update_status(self, owner: Obj, status: Obj) -> Obj:
        """PUT /status unless nothing changed (one retry on a conflict, as upstream)."""
        old = owner.get("status") or {}
        fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        generation = owner["metadata"].get("generation", 0)
        if (all(old.get(f, 0) == status.get(f, 0) for f in fields)
                and old.get("terminatingReplicas") == status.get("terminatingReplicas")
                and generation == old.get("observedGeneration", 0)
                and (old.get("conditions") or []) == (status.get("conditions") or [])):
            return owner
        status["observedGeneration"] = generation
        for f in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"):
            if not status.get(f):
                status.pop(f, None)  # omitempty, as the Go types serialize
        if not status.get("conditions"):
            status.pop("conditions", None)
        path = path_for(self.group, self.version, self.plural, owner["metadata"]["namespace"],
                        owner["metadata"]["name"], "status")
        body = dict(owner, status=status)
        try:
            return await self.client.update(path, body)
        except ApiError as e:
            if not e.conflict:
                raise
        fresh = await self.client.get(path_for(self.group, self.version, self.plural,
                                               owner["metadata"]["namespace"], owner["metadata"]["name"]))
        status["observedGeneration"] = owner["metadata"].get("generation", 0)
        return await self.client.update(path, dict(fresh, status=status))


class ReplicationControllerController(ReplicaSetController):
    """v1 ReplicationControllers: a ReplicaSet whose selector is a plain label map."""

    name = "replicationcontroller"
    component = "replication-controller"
    group, version, plural, kind = "", "v1", "replicationcontrollers", "ReplicationController"
    counts_terminating = False

    def selector(self, owner: Obj) -> Matcher:
        return map_matcher((owner.get("spec") or {}).get("selector"))
