"""The garbage collector: an ownerReferences graph over every resource, and cascading deletion.

Behaviour follows upstream's pkg/controller/garbagecollector:

* **Graph.** One informer ("monitor") per resource that discovery lists with ``list``, ``watch`` and
  ``delete`` (preferred version, events excepted), refreshed every ``RESYNC_PERIOD`` seconds and whenever a
  CustomResourceDefinition changes. Each object is a node keyed by uid; an owner not (yet) seen is a
  *virtual* node, verified against the API server.
* **Background.** A dependent whose owners are all absent is deleted (with a UID precondition). Absence is
  decided by a live GET of the owner by name, comparing uids (never from the cache alone); confirmed
  absent owners are remembered in a small LRU. The dependent's own propagation policy follows its
  finalizers. Dependents with some owners alive just lose the dangling references.
* **Foreground.** An owner with a deletionTimestamp and the ``foregroundDeletion`` finalizer has all its
  dependents deleted (dependents that have dependents of their own in the foreground too); once no
  dependent with ``blockOwnerDeletion: true`` remains, the finalizer is removed and the owner goes.
* **Orphan.** An owner with a deletionTimestamp and the ``orphan`` finalizer: its ownerReferences are removed
  from every dependent, then the finalizer.
* **Invalid references.** A namespaced owner can only own dependents of its own namespace: a reference from
  another namespace is reported with a Warning event ``OwnerRefInvalidNamespace`` and resolves as absent
  (the owner is looked up in the dependent's namespace). Cluster-scoped owners may own namespaced
  dependents. A cluster-scoped dependent referencing a namespaced kind is left alone.

Queue keys are ``d:<uid>`` (attempt to delete) and ``o:<uid>`` (attempt to orphan).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .client import ApiError, APIResource, path_for
from .namespace import preferred_resources
from .runtime import Controller, Informer, Obj, Result, gather_limited

log = logging.getLogger("kplane.controllers.garbagecollector")

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
#: upstream rediscovers every 30s; CRD events trigger it sooner here
RESYNC_PERIOD = 15.0
ABSENT_CACHE_SIZE = 500


@dataclass(frozen=True)
class Identity:
    """An object's coordinates (upstream's objectReference)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, name: {self.name}, "
                f"uid: {self.uid}]")

    def coordinates(self) -> tuple[str, str, str, str]:
        return self.api_version, self.kind, self.name, self.uid

    @classmethod
    def of_ref(cls, ref: Obj, namespace: str = "") -> Identity:
        return cls(ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""),
                   namespace)


def _ref_coordinates(ref: Obj) -> tuple[str, str, str, str]:
    return ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("uid", "")


@dataclass(eq=False)
class Node:
    identity: Identity
    owners: list[Obj] = field(default_factory=list)
    dependents: set[Node] = field(default_factory=set)
    virtual: bool = False
    being_deleted: bool = False
    deleting_dependents: bool = False

    def blocking_dependents(self) -> list[Node]:
        return [d for d in self.dependents
                if any(r.get("uid") == self.identity.uid and r.get("blockOwnerDeletion") for r in d.owners)]


class _VirtualDeleted(Exception):
    """The node's object does not exist; the node was removed from the graph."""


class _UnresolvableOwner(Exception):
    """A cluster-scoped object refers to a namespaced owner: retrying cannot help."""


class _MappingError(Exception):
    pass


def _has_finalizer(obj: Obj, finalizer: str) -> bool:
    return finalizer in (obj["metadata"].get("finalizers") or [])


def _starts_deletion_with(old: Obj | None, new: Obj, finalizer: str) -> bool:
    if not new["metadata"].get("deletionTimestamp") or not _has_finalizer(new, finalizer):
        return False
    return old is None or not old["metadata"].get("deletionTimestamp") or not _has_finalizer(old, finalizer)


def _partition(dependents: set[Node], owner: Identity) -> tuple[list[Node], list[Node]]:
    """Dependents whose reference to ``owner``'s uid matches its coordinates, and those that do not (a
    dependent can be in both)."""
    matching, nonmatching = [], []
    for dep in dependents:
        if owner.namespace and owner.namespace != dep.identity.namespace:
            nonmatching.append(dep)
            continue
        found = {_ref_coordinates(r) == owner.coordinates() for r in dep.owners if r.get("uid") == owner.uid}
        if True in found:
            matching.append(dep)
        if False in found:
            nonmatching.append(dep)
    return matching, nonmatching


def _alternate_identity(dependents: list[Node], absent: Identity) -> Identity | None:
    """Another identity the dependents refer to ``absent``'s uid by, to verify next (sorted order)."""
    seen = {absent}
    candidates: list[Identity] = []
    for dep in dependents:
        for ref in dep.owners:
            if ref.get("uid") != absent.uid:
                continue
            if _ref_coordinates(ref) == absent.coordinates() and dep.identity.namespace == absent.namespace:
                continue
            alt = Identity.of_ref(ref, dep.identity.namespace)
            if not absent.namespace and (alt.api_version, alt.kind) == (absent.api_version, absent.kind):
                alt = replace(alt, namespace="")  # verified absent cluster-wide already
            if alt not in seen:
                seen.add(alt)
                candidates.append(alt)

    def order(i: Identity) -> tuple[str, str, str, str]:
        return i.namespace, i.kind, i.name, i.api_version

    following = sorted((c for c in candidates if order(c) > order(absent)), key=order)
    return following[0] if following else min(candidates, key=order, default=None)


class GarbageCollector(Controller):
    name = "garbagecollector"
    component = "garbage-collector-controller"  # upstream's event source
    workers = 8

    def setup(self) -> None:
        self.graph: dict[str, Node] = {}
        self.absent: OrderedDict[Identity, None] = OrderedDict()
        self.monitors: dict[tuple[str, str, str], Informer] = {}
        self._attached: set[int] = set()
        self._mapper: dict[tuple[str, str], APIResource] = {}
        self._failures: dict[str, int] = {}
        self._synced_at = 0.0
        self._resync = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        crds = self.informers.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crds.add_handlers(on_add=lambda _o: self._resync.set(), on_update=lambda _o, _n: self._resync.set(),
                          on_delete=lambda _o: self._resync.set())

    # --- monitors ------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.sync_monitors()
                break
            except Exception as e:
                log.warning("garbagecollector: discovery failed: %s", e)
                await asyncio.sleep(1)
        with contextlib.suppress(TimeoutError):  # upstream waits for every monitor too
            await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self.monitors.values())), 60)
        log.info("garbagecollector: graph synced, %d monitors, %d nodes", len(self.monitors), len(self.graph))
        resync = asyncio.create_task(self._resync_loop(), name="garbagecollector-resync")
        try:
            await super().run()
        finally:
            resync.cancel()

    async def _resync_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync.wait(), RESYNC_PERIOD)
            await asyncio.sleep(0.2)  # let a burst of CRD events settle
            self._resync.clear()
            try:
                await self.sync_monitors()
            except Exception as e:
                log.warning("garbagecollector: resync failed: %s", e)

    async def sync_monitors(self) -> None:
        """Start informers for new deletable resources and stop those discovery no longer reports."""
        resources, err = await preferred_resources(self.client)
        self._synced_at = time.monotonic()
        failed = set(err.failed) if err else set()
        self._mapper = {(r.group, r.kind): r for r in resources}
        wanted = {(r.group, r.version, r.plural): r for r in resources
                  if {"list", "watch", "delete"} <= set(r.verbs) and (r.group, r.plural) not in IGNORED_RESOURCES}
        if not wanted:
            return
        for key, res in wanted.items():
            if key in self.monitors:
                continue
            inf = self.informers.get(*key)
            if id(inf) not in self._attached:
                self._attached.add(id(inf))
                self._attach(inf, res)
            self.monitors[key] = inf
            inf.start()
        for key in [k for k in self.monitors if k not in wanted]:
            if (f"{key[0]}/{key[1]}" if key[0] else key[1]) in failed:
                continue  # keep what partial discovery could not confirm
            await self.monitors.pop(key).stop()

    def _attach(self, inf: Informer, res: APIResource) -> None:
        api_version = f"{res.group}/{res.version}" if res.group else res.version

        def changed(obj: Obj, old: Obj | None, deleted: bool = False) -> None:
            try:
                self._observe(api_version, res.kind, obj, old, deleted)
            except Exception:
                log.exception("garbagecollector: processing %s %s", res.kind, obj["metadata"].get("name"))

        inf.add_handlers(on_add=lambda o: changed(o, None), on_update=lambda old, new: changed(new, old),
                         on_delete=lambda o: changed(o, None, True))

    # --- graph ---------------------------------------------------------------------------------------

    def _enqueue(self, node: Node) -> None:
        self.queue.add("d:" + node.identity.uid)

    def _observe(self, api_version: str, kind: str, obj: Obj, old: Obj | None, deleted: bool) -> None:
        meta = obj["metadata"]
        uid = meta.get("uid")
        if not uid:
            return
        ident = Identity(api_version, kind, meta["name"], uid, meta.get("namespace", ""))
        node = self.graph.get(uid)
        if node is not None and node.virtual:
            if ident != node.identity:
                _, invalid = _partition(node.dependents, ident)
                for dep in invalid:
                    if ident.namespace and dep.identity.namespace != ident.namespace:
                        self._report_invalid_namespace(dep, uid)
                    self._enqueue(dep)
                node.identity = ident
            node.virtual = False
        if deleted:
            if node is not None:
                self._remove_and_notify(node, ident)
            return
        refs = [dict(r) for r in meta.get("ownerReferences") or [] if r.get("uid")]
        being_deleted = bool(meta.get("deletionTimestamp"))
        if node is None:
            node = Node(ident, refs, being_deleted=being_deleted,
                        deleting_dependents=being_deleted and _has_finalizer(obj, FOREGROUND))
            self.graph[uid] = node
            self._add_to_owners(node, refs)
        else:
            old_refs = {r["uid"]: r for r in node.owners}
            new_refs = {r["uid"]: r for r in refs}
            added = [r for u, r in new_refs.items() if u not in old_refs]
            removed = [r for u, r in old_refs.items() if u not in new_refs]
            changed = [(old_refs[u], r) for u, r in new_refs.items() if u in old_refs and old_refs[u] != r]
            if added or removed or changed:
                # owners waiting for their blocking dependents may be unblocked now
                unblocked = [r for r in removed if r.get("blockOwnerDeletion")]
                unblocked += [n for o, n in changed if o.get("blockOwnerDeletion") and not n.get("blockOwnerDeletion")]
                for r in unblocked:
                    if (owner := self.graph.get(r["uid"])) is not None:
                        self._enqueue(owner)
                node.owners = refs
                self._add_to_owners(node, added)
                self._remove_from_owners(node, removed)
            if being_deleted:
                node.being_deleted = True
        if _starts_deletion_with(old, obj, ORPHAN):
            self.queue.add("o:" + uid)
        elif _starts_deletion_with(old, obj, FOREGROUND):
            node.deleting_dependents = True
            for dep in node.dependents:
                self._enqueue(dep)
            self._enqueue(node)

    def _add_to_owners(self, node: Node, refs: list[Obj]) -> None:
        suspicious = False
        for ref in refs:
            owner = self.graph.get(ref["uid"])
            if owner is None:
                owner = Node(Identity.of_ref(ref, node.identity.namespace), virtual=True)
                self.graph[ref["uid"]] = owner
                owner.dependents.add(node)
                self._enqueue(owner)  # verify it exists
                continue
            owner.dependents.add(node)
            if suspicious:
                continue
            owner_ns = owner.identity.namespace
            if owner_ns and owner_ns != node.identity.namespace:
                if not owner.virtual:
                    self._report_invalid_namespace(node, ref["uid"])
                suspicious = True
            elif _ref_coordinates(ref) != owner.identity.coordinates():
                suspicious = True
            elif not owner_ns and node.identity.namespace and owner.virtual:
                suspicious = True  # maybe a namespaced owner wrongly referenced by a cluster-scoped object
        if suspicious:
            self._enqueue(node)

    def _remove_from_owners(self, node: Node, refs: list[Obj]) -> None:
        for ref in refs:
            if (owner := self.graph.get(ref["uid"])) is not None:
                owner.dependents.discard(node)

    def _remove_and_notify(self, node: Node, ident: Identity) -> None:
        if self.graph.get(node.identity.uid) is node:
            del self.graph[node.identity.uid]
        self._remove_from_owners(node, node.owners)
        if node.dependents:
            self._mark_absent(ident)
        for dep in node.dependents:
            self._enqueue(dep)
        for ref in node.owners:
            owner = self.graph.get(ref["uid"])
            if owner is not None and owner.deleting_dependents:
                self._enqueue(owner)  # its last blocking dependent may be gone

    def _virtual_delete(self, ident: Identity) -> None:
        """The API server says ``ident`` does not exist (upstream's virtual delete event)."""
        node = self.graph.get(ident.uid)
        if node is None:
            return
        remove = True
        if node.virtual:
            matching, nonmatching = _partition(node.dependents, ident)
            if nonmatching:  # some dependents know the owner by other coordinates: keep the node
                remove = False
                if matching:
                    self._mark_absent(ident)
                    for dep in matching:
                        self._enqueue(dep)
                if node.identity == ident and (alt := _alternate_identity(nonmatching, ident)) is not None:
                    node.identity = alt
                    self._requeue_later("d:" + ident.uid)
        elif node.identity != ident:
            remove = False
            matching, _ = _partition(node.dependents, ident)
            if matching:
                self._mark_absent(ident)
                for dep in matching:
                    self._enqueue(dep)
        if remove:
            self._remove_and_notify(node, ident)

    def _mark_absent(self, ident: Identity) -> None:
        self.absent[ident] = None
        self.absent.move_to_end(ident)
        while len(self.absent) > ABSENT_CACHE_SIZE:
            self.absent.popitem(last=False)

    def _report_invalid_namespace(self, dep: Node, owner_uid: str) -> None:
        ref = next((r for r in dep.owners if r.get("uid") == owner_uid), None)
        if ref is None:
            return
        ns = dep.identity.namespace
        invalid = Identity.of_ref(ref, ns)
        log.info("garbagecollector: %s references owner %s from another namespace", dep.identity, invalid)
        obj: Obj = {"apiVersion": dep.identity.api_version, "kind": dep.identity.kind,
                    "metadata": {"name": dep.identity.name, "namespace": ns, "uid": dep.identity.uid}}
        if not ns:
            del obj["metadata"]["namespace"]
        task = asyncio.create_task(self.events.record(
            obj, "Warning", "OwnerRefInvalidNamespace", f'ownerRef {invalid} does not exist in namespace "{ns}"'))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- workers -------------------------------------------------------------------------------------

    def _requeue_later(self, key: str) -> Result:
        n = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(0.005 * 2 ** n, 60.0)
        self.queue.add_after(key, delay)
        return Result()

    async def reconcile(self, key: str) -> Result | None:
        op, uid = key.split(":", 1)
        node = self.graph.get(uid)
        if node is None:
            self._failures.pop(key, None)
            return None
        try:
            if op == "o":
                await self._orphan_dependents(node)
            else:
                await self._attempt_to_delete(node)
                if node.virtual and self.graph.get(uid) is node:
                    return self._requeue_later(key)  # not observed by an informer yet
        except (_VirtualDeleted, _UnresolvableOwner):
            pass
        except _MappingError as e:
            log.debug("garbagecollector: %s: %s", node.identity, e)
            if time.monotonic() - self._synced_at > 5:
                self._resync.set()  # maybe a new CRD
            return self._requeue_later(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            level = logging.DEBUG if isinstance(e, ApiError) and e.conflict else logging.WARNING
            log.log(level, "garbagecollector: error syncing %s: %s", node.identity, e)
            return self._requeue_later(key)
        self._failures.pop(key, None)
        return None

    def _resource(self, api_version: str, kind: str) -> APIResource:
        group = api_version.rpartition("/")[0]
        res = self._mapper.get((group, kind))
        if res is None:
            raise _MappingError(f"unable to map {api_version} {kind} to a resource")
        return res

    def _path(self, ident: Identity) -> str | None:
        res = self._resource(ident.api_version, ident.kind)
        if res.namespaced and not ident.namespace:
            return None
        return path_for(res.group, res.version, res.plural, ident.namespace if res.namespaced else "", ident.name)

    async def _get(self, ident: Identity) -> Obj | None:
        path = self._path(ident)
        if path is None:
            return None
        try:
            return await self.client.get(path)
        except ApiError as e:
            if e.not_found:
                return None
            raise

    async def _attempt_to_delete(self, node: Node) -> None:
        """Delete the node's object if all its owners are gone (upstream's attemptToDeleteItem)."""
        if node.being_deleted and not node.deleting_dependents:
            return  # one-way trip: wait for the deletion event
        latest = await self._get(node.identity)
        if latest is None or latest["metadata"].get("uid") != node.identity.uid:
            self._virtual_delete(node.identity)
            raise _VirtualDeleted()
        if node.deleting_dependents:
            blocking = node.blocking_dependents()
            if not blocking:
                log.info("garbagecollector: removing %s finalizer of %s", FOREGROUND, node.identity)
                await self._remove_finalizer(node, FOREGROUND)
            for dep in blocking:
                if not dep.deleting_dependents:
                    self._enqueue(dep)
            return
        refs = [r for r in latest["metadata"].get("ownerReferences") or [] if r.get("uid")]
        if not refs:
            return
        solid, dangling, waiting = [], [], []
        for ref in refs:
            is_dangling, owner = await self._is_dangling(ref, node)
            if is_dangling:
                dangling.append(ref)
            elif owner is not None and owner["metadata"].get("deletionTimestamp") and _has_finalizer(owner,
                                                                                                     FOREGROUND):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling or waiting:
                await self._remove_owner_refs(node, {r["uid"] for r in dangling + waiting})
            return
        if waiting and node.dependents:
            if any(dep.deleting_dependents for dep in node.dependents):
                await self._unblock_owner_refs(node)  # break a possible cycle
            await self._delete(node, "Foreground")
            return
        policy = ("Orphan" if _has_finalizer(latest, ORPHAN) else
                  "Foreground" if _has_finalizer(latest, FOREGROUND) else "Background")
        await self._delete(node, policy)

    async def _is_dangling(self, ref: Obj, node: Node) -> tuple[bool, Obj | None]:
        key = Identity.of_ref(ref)
        if key in self.absent:
            return True, None
        key = replace(key, namespace=node.identity.namespace)
        if key in self.absent:
            return True, None
        res = self._resource(key.api_version, key.kind)
        if not res.namespaced:
            key = replace(key, namespace="")
        elif not node.identity.namespace:
            raise _UnresolvableOwner(f"{node.identity} is cluster-scoped but refers to namespaced owner {key}")
        owner = await self._get(key)
        if owner is None or owner["metadata"].get("uid") != key.uid:
            self._mark_absent(key)
            return True, None
        return False, owner

    async def _delete(self, node: Node, policy: str) -> None:
        path = self._path(node.identity)
        if path is None:
            return
        log.info("garbagecollector: deleting %s (propagation %s)", node.identity, policy)
        try:
            await self.client.delete(path, propagation=policy, preconditions={"uid": node.identity.uid})
        except ApiError as e:
            if not e.not_found:
                raise

    async def _patch_metadata(self, node: Node, change: Callable[[Obj], Obj | None]) -> None:
        """Read the object, let ``change(metadata)`` return the new fields (None: nothing to do), and merge-patch
        them with the read resourceVersion; conflicts are retried."""
        for _ in range(5):
            obj = await self._get(node.identity)
            if obj is None or obj["metadata"].get("uid") != node.identity.uid:
                return
            fields = change(obj["metadata"])
            if fields is None:
                return
            patch = {"metadata": {**fields, "resourceVersion": obj["metadata"]["resourceVersion"]}}
            path = self._path(node.identity)
            assert path is not None
            try:
                await self.client.patch(path, patch)
                return
            except ApiError as e:
                if e.not_found:
                    return
                if not e.conflict:
                    raise
        raise RuntimeError(f"updateMaxRetries(5) has reached. The update of {node.identity} is still failing "
                           "because of conflict")

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        await self._patch_metadata(node, lambda m: {"finalizers": [f for f in m["finalizers"] if f != finalizer]}
                                   if finalizer in (m.get("finalizers") or []) else None)

    async def _remove_owner_refs(self, node: Node, uids: set[str]) -> None:
        def change(meta: Obj) -> Obj | None:
            refs = meta.get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in uids]
            return None if len(kept) == len(refs) else {"ownerReferences": kept or None}

        await self._patch_metadata(node, change)

    async def _unblock_owner_refs(self, node: Node) -> None:
        await self._patch_metadata(node, lambda m: {"ownerReferences": [{**r, "blockOwnerDeletion": False}
                                                                        for r in m["ownerReferences"]]}
                                   if any(r.get("blockOwnerDeletion") for r in m.get("ownerReferences") or [])
                                   else None)

    async def _orphan_dependents(self, owner: Node) -> None:
        """Remove ``owner`` from its dependents' ownerReferences, then its ``orphan`` finalizer."""
        dependents = list(owner.dependents)
        results = await gather_limited(self._remove_owner_refs(d, {owner.identity.uid}) for d in dependents)
        errors = [str(r) for r in results if isinstance(r, Exception)]
        if errors:
            raise RuntimeError(f"failed to orphan dependents of owner {owner.identity}, got errors: "
                               + "; ".join(errors))
        log.info("garbagecollector: orphaned %d dependents of %s", len(dependents), owner.identity)
        await self._remove_finalizer(owner, ORPHAN)
