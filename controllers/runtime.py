"""The controller runtime: informers (list + watch caches), a de-duplicating workqueue, level-triggered
controllers, and expectations for a controller's own writes. Modelled on client-go's shapes.

Event handlers only map objects to keys; reconcilers read the world from informer caches, compare, and
write once. A 409 from the API means the cache was stale: requeue, never fight.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import metrics
from .client import ApiError, Client, path_for

log = logging.getLogger("kplane.controllers")

Obj = dict[str, Any]
Handler = Callable[[Obj], None]
UpdateHandler = Callable[[Obj, Obj], None]
Indexer = Callable[[Obj], Iterable[str]]


def key_of(obj: Obj) -> str:
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


def owner_uids(obj: Obj) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or [] if "uid" in ref]


def controller_ref(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def resolve_controller_ref(namespace: str, ref: Obj | None, kind: str, store: Informer) -> Obj | None:
    """The object of ``kind`` that a controller ownerReference names in ``store`` (``namespace/name``
    keys), only while it is the same object (uid), as upstream's resolveControllerRef."""
    if ref is None or ref.get("kind") != kind:
        return None
    owner = store.get(f"{namespace}/{ref.get('name')}")
    return owner if owner is not None and owner["metadata"].get("uid") == ref.get("uid") else None


class Informer:
    """A cache of one resource kept current by list + watch; relists on 410 Gone."""

    def __init__(self, client: Client, group: str, version: str, plural: str, *, namespace: str = "",
                 label_selector: str = "", field_selector: str = "") -> None:
        self.client = client
        self.group, self.version, self.plural = group, version, plural
        self.path = path_for(group, version, plural, namespace)
        self.params = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector))
                       if v}
        self.store: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self._on_add: list[Handler] = []
        self._on_update: list[UpdateHandler] = []
        self._on_delete: list[Handler] = []
        self._indexers: dict[str, Indexer] = {"namespace": lambda o: [o["metadata"].get("namespace", "")],
                                              "owner": owner_uids}
        self._indexes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._task: asyncio.Task[None] | None = None
        self.resource_version = ""

    # --- handlers and indexes ----------------------------------------------------------------------

    def add_handlers(self, *, on_add: Handler | None = None, on_update: UpdateHandler | None = None,
                     on_delete: Handler | None = None) -> None:
        if on_add:
            self._on_add.append(on_add)
            for obj in list(self.store.values()):
                on_add(obj)
        if on_update:
            self._on_update.append(on_update)
        if on_delete:
            self._on_delete.append(on_delete)

    def add_indexer(self, name: str, fn: Indexer) -> None:
        """Informers are shared between controllers: an index name is claimed once."""
        if name in self._indexers and self._indexers[name] is not fn:
            raise ValueError(f"informer {self.plural}: index {name!r} is already defined")
        self._indexers[name] = fn
        for key, obj in self.store.items():
            for value in fn(obj):
                self._indexes[name][value].add(key)

    def by_index(self, name: str, value: str) -> list[Obj]:
        return [self.store[k] for k in sorted(self._indexes[name].get(value, ())) if k in self.store]

    def get(self, key: str) -> Obj | None:
        return self.store.get(key)

    def list(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.store.values())
        return self.by_index("namespace", namespace)

    def _index(self, key: str, obj: Obj | None, old: Obj | None) -> None:
        for name, fn in self._indexers.items():
            if old is not None:
                for value in fn(old):
                    self._indexes[name][value].discard(key)
            if obj is not None:
                for value in fn(obj):
                    self._indexes[name][value].add(key)

    def _put(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self.store.get(key)
        self.store[key] = obj
        self._index(key, obj, old)
        for fn in self._on_add if old is None else ():
            fn(obj)
        if old is not None:
            for ufn in self._on_update:
                ufn(old, obj)

    def _remove(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self.store.pop(key, None)
        self._index(key, None, old)
        for fn in self._on_delete:
            fn(old or obj)

    # --- running ---------------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer-{self.plural}")
        return self._task

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None  # a stopped informer can be started again

    async def _relist(self) -> None:
        items: list[Obj] = []
        token = None
        while True:
            params = dict(self.params, limit="500")
            if token:
                params["continue"] = token
            page = await self.client.list(self.path, **params)
            kind = page.get("kind", "List").removesuffix("List")
            api_version = page.get("apiVersion", "v1")
            for item in page.get("items") or []:
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                items.append(item)
            token = page.get("metadata", {}).get("continue")
            if not token:
                self.resource_version = page["metadata"]["resourceVersion"]
                break
        fresh = {key_of(o): o for o in items}
        for key in list(self.store):
            if key not in fresh:
                self._remove(self.store[key])
        for obj in items:
            old = self.store.get(key_of(obj))
            if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._put(obj)

    async def _run(self) -> None:
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    self.synced.set()
                async for kind, obj in self.client.watch(self.path, resource_version=self.resource_version,
                                                         timeout_seconds=random.randint(240, 480),
                                                         params=self.params):
                    self.resource_version = obj["metadata"].get("resourceVersion", self.resource_version)
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        self._remove(obj)
                    else:
                        self._put(obj)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.gone:
                    need_list = True
                    continue
                log.warning("informer %s: %s", self.plural, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
                need_list = True
            except Exception as e:  # connection trouble: back off and relist
                log.debug("informer %s: %r", self.plural, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
                need_list = True


class InformerFactory:
    """One informer per (group, version, plural), shared by every controller of a process."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._informers: dict[tuple[str, str, str], Informer] = {}

    def get(self, group: str, version: str, plural: str) -> Informer:
        key = (group, version, plural)
        inf = self._informers.get(key)
        if inf is None:
            inf = self._informers[key] = Informer(self.client, group, version, plural)
        return inf

    def start(self) -> None:
        for inf in self._informers.values():
            inf.start()

    async def wait_synced(self, timeout: float = 60) -> None:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()


class WorkQueue:
    """Keys to reconcile. A key queued twice is processed once; a key is never given to two workers at
    once (if it is added while being processed it is queued again when done)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._added_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._delayed: list[tuple[float, str]] = []
        self._failures: dict[str, int] = defaultdict(int)
        self._wakeup = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._shutdown = False

    def add(self, key: str) -> None:
        if self._shutdown:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)
            self._added_at[key] = time.monotonic()
            metrics.adds.labels(self.name).inc()
            metrics.depth.labels(self.name).set(len(self._queued))

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        heapq.heappush(self._delayed, (time.monotonic() + delay, key))
        self._wakeup.set()
        if self._timer is None:
            self._timer = asyncio.create_task(self._run_timer())

    def add_rate_limited(self, key: str) -> None:
        self._failures[key] += 1
        metrics.retries.labels(self.name).inc()
        self.add_after(key, min(0.005 * 2 ** self._failures[key], 60.0))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    async def get(self) -> str | None:
        key = await self._queue.get()
        if key is None:
            self._queue.put_nowait(None)  # wake the other workers too
            return None
        self._queued.discard(key)
        self._processing.add(key)
        now = time.monotonic()
        metrics.queue_duration.labels(self.name).observe(now - self._added_at.pop(key, now))
        metrics.depth.labels(self.name).set(len(self._queued))
        self._started_at[key] = now
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if started is not None:
            metrics.work_duration.labels(self.name).observe(time.monotonic() - started)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return len(self._queued)

    def shutdown(self) -> None:
        self._shutdown = True
        self._queue.put_nowait(None)
        if self._timer:
            self._timer.cancel()

    async def _run_timer(self) -> None:
        while not self._shutdown:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                _, key = heapq.heappop(self._delayed)
                self.add(key)
            self._wakeup.clear()
            timeout = self._delayed[0][0] - now if self._delayed else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)


@dataclass
class Result:
    requeue_after: float | None = None


class TerminalError(Exception):
    """Reconciling this key cannot succeed by retrying: log and drop it."""


class Controller:
    """Subclasses set ``name``, wire informer handlers to ``self.queue.add`` in ``setup`` and implement
    ``reconcile``. A plain exception requeues with backoff; an ApiError 409 requeues at once."""

    name = "controller"
    #: the event source component, as upstream's controllers name themselves
    component = "kube-controller-manager"
    workers = 2

    def __init__(self, client: Client, informers: InformerFactory, options: dict[str, Any] | None = None) -> None:
        from .events import EventRecorder

        self.client = client
        self.informers = informers
        #: process-wide settings (e.g. ``root_ca_file``), from the controller-manager's flags
        self.options = options or {}
        self.queue = WorkQueue(self.name)
        self.events = EventRecorder(client, self.component)
        self.setup()

    def setup(self) -> None:
        pass

    async def reconcile(self, key: str) -> Result | None:
        raise NotImplementedError

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    async def run(self) -> None:
        workers = [asyncio.create_task(self._worker(), name=f"{self.name}-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.shutdown()
            for w in workers:
                w.cancel()

    async def _worker(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                result = await self.reconcile(key)
            except TerminalError as e:
                log.error("%s: giving up on %s: %s", self.name, key, e)
                self.queue.forget(key)
            except ApiError as e:
                if e.conflict or e.not_found:
                    log.debug("%s: %s on %s; requeueing", self.name, e, key)
                else:
                    log.warning("%s: reconcile %s failed: %s", self.name, key, e)
                self.queue.add_rate_limited(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reconcile %s failed; requeueing", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if result is not None and result.requeue_after:
                    self.queue.add_after(key, result.requeue_after)
            finally:
                self.queue.done(key)


class Expectations:
    """Creates/deletes a controller issued but has not yet seen in its cache (client-go's
    ControllerExpectations): until they are observed (or expire) the cache is not trusted for that key."""

    TTL = 300.0

    def __init__(self) -> None:
        self._adds: dict[str, int] = {}
        self._dels: dict[str, set[str]] = {}
        self._stamp: dict[str, float] = {}

    def expect(self, key: str, *, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        self._adds[key] = self._adds.get(key, 0) + adds
        self._dels.setdefault(key, set()).update(deletes)
        self._stamp[key] = time.monotonic()

    def creation_observed(self, key: str) -> None:
        if self._adds.get(key, 0) > 0:
            self._adds[key] -= 1

    def creation_failed(self, key: str) -> None:
        self.creation_observed(key)

    def deletion_observed(self, key: str, uid: str) -> None:
        self._dels.get(key, set()).discard(uid)

    def satisfied(self, key: str) -> bool:
        if time.monotonic() - self._stamp.get(key, 0) > self.TTL:
            self.forget(key)
            return True
        return self._adds.get(key, 0) <= 0 and not self._dels.get(key)

    def forget(self, key: str) -> None:
        self._adds.pop(key, None)
        self._dels.pop(key, None)
        self._stamp.pop(key, None)


async def gather_limited(coros: Iterable[Awaitable[Any]], limit: int = 16) -> list[Any]:
    """Run awaitables with at most ``limit`` in flight; exceptions are returned, not raised."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            try:
                return await c
            except Exception as e:
                return e

    return list(await asyncio.gather(*(one(c) for c in coros)))
