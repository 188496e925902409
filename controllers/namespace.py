"""The namespace controller: empties a Terminating namespace, then releases its `kubernetes` finalizer.

Behaviour follows upstream's pkg/controller/namespace (NamespacedResourcesDeleter):

1. A namespace with a deletionTimestamp is processed ``DELETION_GRACE_PERIOD`` after each event about it
   (upstream waits 5s for HA API servers; one kplane server needs less).
2. Its phase is made ``Terminating`` (the API server normally did that already).
3. Every namespaced resource that discovery reports with the ``delete`` verb (preferred version of each
   group, built-in and custom alike) is emptied: ``deletecollection`` where the verbs allow it and
   ``list`` + ``delete`` of each item otherwise, always with propagationPolicy Background.
4. What is left is listed. Remaining items with finalizers (or pods within their grace period) are normal:
   the key is requeued after a delay. Remaining items without finalizers are an error (rate-limited retry).
5. The five deletion conditions (``NamespaceDeletionDiscoveryFailure``, ``NamespaceDeletionGroupVersionParsingFailure``,
   ``NamespaceDeletionContentFailure``, ``NamespaceContentRemaining``, ``NamespaceFinalizersRemaining``) are
   written to status with upstream's reasons and messages on every pass.
6. Once nothing remains the ``kubernetes`` finalizer is removed through ``/finalize``; the API server then
   deletes the namespace.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .client import ApiError, APIResource, Client, path_for
from .runtime import Controller, Obj, Result, gather_limited

log = logging.getLogger("kplane.controllers.namespace")

FINALIZER = "kubernetes"
#: upstream's namespaceDeletionGracePeriod is 5s (for HA API servers and etcd); kplane has one server
DELETION_GRACE_PERIOD = 1.0
#: default wait for finalizers on remaining content (upstream's finalizerEstimateSeconds)
FINALIZER_ESTIMATE_SECONDS = 15

CONDITION_TYPES = ("NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                   "NamespaceDeletionContentFailure", "NamespaceContentRemaining", "NamespaceFinalizersRemaining")
OK_REASONS = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted",
                                        "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


class DiscoveryError(Exception):
    """Some group versions could not be read (upstream's ErrGroupDiscoveryFailed)."""

    def __init__(self, failed: dict[str, str]) -> None:
        self.failed = failed
        detail = ", ".join(f"{gv}: {err}" for gv, err in sorted(failed.items()))
        super().__init__(f"unable to retrieve the complete list of server APIs: {detail}")


async def preferred_resources(client: Client) -> tuple[list[APIResource], DiscoveryError | None]:
    """Every top-level resource once, in the most preferred version serving it (client-go's
    ServerPreferredResources). Group versions that fail are reported, the rest are still returned."""
    versions: list[tuple[str, str]] = [("", v) for v in (await client.get("/api")).get("versions", [])]
    for g in (await client.get("/apis")).get("groups", []):
        preferred = (g.get("preferredVersion") or {}).get("version")
        ordered = sorted(g.get("versions", []), key=lambda v: v.get("version") != preferred)
        versions += [(g["name"], v["version"]) for v in ordered]

    async def one(group: str, version: str) -> list[APIResource]:
        doc = await client.get(f"/apis/{group}/{version}" if group else f"/api/{version}")
        return [APIResource(group, version, r["name"], r["kind"], r["namespaced"], tuple(r.get("verbs", [])))
                for r in doc.get("resources", []) if "/" not in r["name"]]

    results = await gather_limited((one(g, v) for g, v in versions), 16)
    seen: set[tuple[str, str]] = set()
    out: list[APIResource] = []
    failed: dict[str, str] = {}
    for (group, version), res in zip(versions, results, strict=True):
        if isinstance(res, BaseException):
            failed[f"{group}/{version}" if group else version] = str(res)
            continue
        for r in res:
            if (r.group, r.plural) not in seen:
                seen.add((r.group, r.plural))
                out.append(r)
    return out, DiscoveryError(failed) if failed else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class _Outcome:
    """What deleting one resource's content left behind (upstream's gvrDeletionMetadata)."""

    estimate: int = 0
    remaining: int = 0
    finalizers: dict[str, int] = field(default_factory=dict)
    error: str = ""


@dataclass
class _Conditions:
    """Collects failures of one pass and renders upstream's namespace conditions."""

    new: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (reason, message), status True
    content_errors: list[str] = field(default_factory=list)

    def discovery_failed(self, err: Exception) -> None:
        msg = str(err)
        if isinstance(err, DiscoveryError):
            msg = f"Discovery failed for some groups, {len(err.failed)} failing: {err}"
        self.new["NamespaceDeletionDiscoveryFailure"] = ("DiscoveryFailed", msg)

    def group_version_failed(self, msg: str) -> None:
        self.new["NamespaceDeletionGroupVersionParsingFailure"] = ("GroupVersionParsingFailed", msg)

    def totals(self, per_resource: dict[tuple[str, str], int], finalizers: dict[str, int]) -> None:
        if per_resource:
            parts = sorted(f"{plural}.{group} has {n} resource instances"
                           for (group, plural), n in per_resource.items() if n)
            self.new["NamespaceContentRemaining"] = ("SomeResourcesRemain",
                                                     f"Some resources are remaining: {', '.join(parts)}")
        if finalizers:
            parts = sorted(f"{f} in {n} resource instances" for f, n in finalizers.items() if n)
            self.new["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {', '.join(parts)}")

    def apply(self, status: Obj) -> bool:
        """Write the conditions into ``status``; True if anything changed."""
        if self.content_errors and "NamespaceDeletionContentFailure" not in self.new:
            msgs = sorted(self.content_errors)
            self.new["NamespaceDeletionContentFailure"] = (
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(msgs)} remaining: {', '.join(msgs)}")
        conditions: list[Obj] = status.setdefault("conditions", []) or []
        status["conditions"] = conditions
        changed = False
        for ctype in CONDITION_TYPES:
            if ctype in self.new:
                want_status, (reason, message) = "True", self.new[ctype]
            else:
                want_status, (reason, message) = "False", OK_REASONS[ctype]
            old = next((c for c in conditions if c.get("type") == ctype), None)
            if old is None:
                conditions.append({"type": ctype, "status": want_status, "lastTransitionTime": _now(),
                                   "reason": reason, "message": message})
                changed = True
            elif (old.get("status"), old.get("reason"), old.get("message")) != (want_status, reason, message):
                if old.get("status") != want_status:
                    old["lastTransitionTime"] = _now()
                old.update(status=want_status, reason=reason, message=message)
                changed = True
        return changed


class NamespaceController(Controller):
    """Keys are namespace names; only namespaces with a deletionTimestamp are queued."""

    name = "namespace"
    workers = 4

    def setup(self) -> None:
        self.namespaces = self.informers.get("", "v1", "namespaces")
        self.namespaces.add_handlers(on_add=self._enqueue_deleting,
                                     on_update=lambda _old, new: self._enqueue_deleting(new))
        self._waits: dict[str, int] = defaultdict(int)

    def _enqueue_deleting(self, ns: Obj) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.queue.add_after(ns["metadata"]["name"], DELETION_GRACE_PERIOD)

    def _retry_later(self, key: str, upstream_seconds: float) -> Result:
        """Poll sooner than upstream (estimate/2+1 s), doubling from 0.25s up to upstream's delay."""
        self._waits[key] += 1
        return Result(requeue_after=min(upstream_seconds, 0.25 * 2 ** (self._waits[key] - 1)))

    async def reconcile(self, key: str) -> Result | None:
        if self.namespaces.get(key) is None:
            self._waits.pop(key, None)
            return None
        path = path_for("", "v1", "namespaces", name=key)
        try:
            ns = await self.client.get(path)
        except ApiError as e:
            if e.not_found:
                self._waits.pop(key, None)
                return None
            raise
        if not ns["metadata"].get("deletionTimestamp"):
            return None
        ns = await self._retry_on_conflict(ns, self._ensure_terminating)
        if not (ns.get("spec") or {}).get("finalizers"):
            self._waits.pop(key, None)
            return None  # finalized: the API server removes it
        estimate, errors, ns = await self._delete_all_content(ns)
        if errors:
            log.warning("namespace %s: %s", key, "; ".join(errors))
            return self._retry_later(key, 60)
        if estimate > 0:
            log.info("namespace %s: content remaining, estimate %ds", key, estimate)
            return self._retry_later(key, estimate // 2 + 1)
        await self._retry_on_conflict(ns, self._finalize)
        self._waits.pop(key, None)
        return None

    # --- namespace writes ------------------------------------------------------------------------------

    async def _retry_on_conflict(self, ns: Obj, fn: Callable[[Obj], Awaitable[Obj]]) -> Obj:
        latest = ns
        while True:
            try:
                return await fn(latest)
            except ApiError as e:
                if not e.conflict:
                    raise
            previous = latest
            latest = await self.client.get(path_for("", "v1", "namespaces", name=ns["metadata"]["name"]))
            if latest["metadata"].get("uid") != previous["metadata"].get("uid"):
                raise RuntimeError("namespace uid has changed across retries")

    async def _ensure_terminating(self, ns: Obj) -> Obj:
        if (ns.get("status") or {}).get("phase") == "Terminating":
            return ns
        new = {**ns, "status": {**(ns.get("status") or {}), "phase": "Terminating"}}
        return await self.client.update(path_for("", "v1", "namespaces", name=ns["metadata"]["name"],
                                                 subresource="status"), new)

    async def _finalize(self, ns: Obj) -> Obj:
        finalizers = sorted({f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER})
        body = {**ns, "spec": {**(ns.get("spec") or {}), "finalizers": finalizers}}
        try:
            result: Obj = await self.client.update(
                path_for("", "v1", "namespaces", name=ns["metadata"]["name"], subresource="finalize"), body)
        except ApiError as e:
            if e.not_found:  # removed already
                return ns
            raise
        log.info("namespace %s: finalized", ns["metadata"]["name"])
        return result

    # --- content -------------------------------------------------------------------------------------

    async def _delete_all_content(self, ns: Obj) -> tuple[int, list[str], Obj]:
        """Delete everything in the namespace; (estimate seconds until the rest is gone, errors, the namespace
        as last written)."""
        name = ns["metadata"]["name"]
        deleted_at = _parse_time(ns["metadata"].get("deletionTimestamp")) or dt.datetime.now(dt.UTC)
        conditions = _Conditions()
        errors: list[str] = []
        try:
            resources, discovery_error = await preferred_resources(self.client)
        except (ApiError, OSError) as e:  # nothing discovered at all
            resources, discovery_error = [], DiscoveryError({"": str(e)})
        if discovery_error is not None:
            errors.append(str(discovery_error))
            conditions.discovery_failed(discovery_error)
        bad_versions = sorted({f"{r.group}/{r.version}" for r in resources
                               if not r.version or "/" in r.version or "/" in r.group})
        if bad_versions:
            msg = f"unexpected GroupVersion string: {', '.join(bad_versions)}"
            errors.append(msg)
            conditions.group_version_failed(msg)
        deletable = [r for r in resources if r.namespaced and "delete" in r.verbs
                     and f"{r.group}/{r.version}" not in bad_versions]
        outcomes = await gather_limited((self._delete_resource(r, name, deleted_at) for r in deletable), 8)
        estimate = 0
        per_resource: dict[tuple[str, str], int] = {}
        finalizers: dict[str, int] = defaultdict(int)
        for res, out in zip(deletable, outcomes, strict=True):
            if isinstance(out, BaseException):
                out = _Outcome(error=f"{res.plural}.{res.group}: {out}")
            if out.error:
                errors.append(out.error)
                conditions.content_errors.append(out.error)
            estimate = max(estimate, out.estimate)
            if out.remaining:
                per_resource[(res.group, res.plural)] = out.remaining
                for f, n in out.finalizers.items():
                    finalizers[f] += n
        conditions.totals(per_resource, dict(finalizers))
        status = dict(ns.get("status") or {})
        status["conditions"] = [dict(c) for c in status.get("conditions") or []]
        if conditions.apply(status):
            try:
                ns = await self.client.update(path_for("", "v1", "namespaces", name=name, subresource="status"),
                                              {**ns, "status": status})
            except ApiError as e:
                log.debug("namespace %s: status conditions not updated: %s", name, e)
        return estimate, errors, ns

    async def _delete_resource(self, res: APIResource, namespace: str, deleted_at: dt.datetime) -> _Outcome:
        path = path_for(res.group, res.version, res.plural, namespace)
        estimate = 0
        if res.group == "" and res.plural == "pods":
            estimate = await self._pod_estimate(path, deleted_at)
        can_list = "list" in res.verbs
        try:
            if "deletecollection" in res.verbs and can_list:
                try:
                    await self.client.request("DELETE", path, body={"kind": "DeleteOptions", "apiVersion": "v1",
                                                                     "propagationPolicy": "Background"})
                except ApiError as e:
                    if e.status not in (404, 405):
                        raise
                    await self._delete_each(res, path, namespace)
            else:
                await self._delete_each(res, path, namespace)
            if not can_list:
                return _Outcome(estimate=estimate)
            items = await self._list(path)
        except ApiError as e:
            if e.status in (404, 405):  # not really served
                return _Outcome(estimate=estimate)
            return _Outcome(estimate=estimate, error=str(e))
        if not items:
            return _Outcome()
        finalizers: dict[str, int] = defaultdict(int)
        for item in items:
            for f in item["metadata"].get("finalizers") or []:
                finalizers[f] += 1
        if estimate:
            return _Outcome(estimate, len(items), dict(finalizers))
        if finalizers:
            return _Outcome(FINALIZER_ESTIMATE_SECONDS, len(items), dict(finalizers))
        gvr = f"{res.group}/{res.version}, Resource={res.plural}"
        return _Outcome(0, len(items), {},
                        f"unexpected items still remain in namespace: {namespace} for gvr: {gvr}")

    async def _delete_each(self, res: APIResource, path: str, namespace: str) -> None:
        if "list" not in res.verbs:
            return
        for item in await self._list(path):
            try:
                await self.client.delete(path_for(res.group, res.version, res.plural, namespace,
                                                  item["metadata"]["name"]), propagation="Background")
            except ApiError as e:
                if e.status not in (404, 405):
                    raise

    async def _list(self, path: str) -> list[Obj]:
        items: list[Obj] = []
        token = ""
        while True:
            page = await self.client.list(path, limit="500", **({"continue": token} if token else {}))
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    async def _pod_estimate(self, path: str, deleted_at: dt.datetime) -> int:
        """The longest grace period of non-terminal pods, unless that much time has passed already."""
        try:
            pods = await self._list(path)
        except ApiError:
            return 0
        estimate = 0
        for pod in pods:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        elapsed = (dt.datetime.now(dt.UTC) - deleted_at).total_seconds()
        return 0 if elapsed >= estimate else estimate

