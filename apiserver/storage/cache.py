"""The watch cache: the current state and a window of recent events, fed by one backend watch.

State: every object under ``/registry/`` (decoded once, keys kept sorted) at :attr:`WatchCache.revision`,
so lists and gets that accept any recent state are served from memory (see registry.Store.list).

Events: every API watch is a :class:`Watcher` registered by key prefix (resource, or resource and
namespace). A watcher may also name an index (an exact-match field selector such as pods'
``spec.nodeName=X``, as upstream's trigger functions): it is then handed only events whose object or
previous object has that value, so one event costs one index computation, not one filter per watcher.
Events are decoded once here (with the previous object, so watchers can tell a selector enter from a
leave) and their encodings are memoised per event, so N watchers of one event cost one encode per
media type. A start revision older than the window raises :class:`TooOld` (the API answers 410
Expired); so does a watcher that falls more than the window behind.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from .interface import Backend, Compacted

log = logging.getLogger("kplane.watchcache")

Obj = dict[str, Any]
Decoder = Callable[[str, bytes, int], Obj]
IndexFunc = Callable[[Obj], str]

STATE_PREFIX = "/registry/"
_LOAD_PAGE = 1000


class TooOld(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class CacheEvent:
    """A decoded write: ``obj`` is the new object (the last state for deletes), ``prev`` the one before."""

    __slots__ = ("type", "key", "revision", "obj", "prev", "_lines")

    def __init__(self, type: str, key: str, revision: int, obj: Obj, prev: Obj | None) -> None:
        self.type = type  # "create" | "update" | "delete"
        self.key = key
        self.revision = revision
        self.obj = obj
        self.prev = prev
        self._lines: dict[Any, bytes] = {}

    def line(self, watch_type: str, obj: Obj) -> bytes:
        """The JSON watch line for this event as ``watch_type`` (ADDED/MODIFIED/DELETED), cached."""
        return self.encoded(watch_type, lambda: orjson.dumps({"type": watch_type, "object": obj}) + b"\n")

    def encoded(self, key: Any, make: Callable[[], bytes]) -> bytes:
        """``make()`` once per ``key`` (media type, watch type, version...), shared by every watcher."""
        data = self._lines.get(key)
        if data is None:
            data = self._lines[key] = make()
        return data


class Index:
    """An exact-match field index: ``name`` identifies ``func`` (resource version + field), ``value`` is
    what the watcher's selector requires."""

    __slots__ = ("name", "value", "func")

    def __init__(self, name: str, value: str, func: IndexFunc) -> None:
        self.name = name
        self.value = value
        self.func = func


class Watcher:
    __slots__ = ("prefix", "index", "pending", "wake", "expired", "limit")

    def __init__(self, prefix: str, index: Index | None, limit: int) -> None:
        self.prefix = prefix
        self.index = index
        self.pending: list[CacheEvent] = []
        self.wake = asyncio.Event()
        self.expired = False
        self.limit = limit

    def wants(self, ev: CacheEvent) -> bool:
        if not ev.key.startswith(self.prefix):
            return False
        if self.index is None:
            return True
        f, v = self.index.func, self.index.value
        return f(ev.obj) == v or (ev.prev is not None and f(ev.prev) == v)

    def push(self, ev: CacheEvent) -> None:
        if self.expired:
            return
        if len(self.pending) >= self.limit:
            # more than a window behind: the consumer gets TooOld, as a cursor that left the window would
            self.expired = True
            self.pending.clear()
        else:
            self.pending.append(ev)
        self.wake.set()


class _Group:
    """The watchers of one key prefix: unindexed ones, and indexed ones by index name and value."""

    __slots__ = ("all", "funcs", "by_value")

    def __init__(self) -> None:
        self.all: set[Watcher] = set()
        self.funcs: dict[str, IndexFunc] = {}
        self.by_value: dict[str, dict[str, set[Watcher]]] = {}

    def add(self, w: Watcher) -> None:
        if w.index is None:
            self.all.add(w)
            return
        self.funcs.setdefault(w.index.name, w.index.func)
        self.by_value.setdefault(w.index.name, {}).setdefault(w.index.value, set()).add(w)

    def remove(self, w: Watcher) -> None:
        if w.index is None:
            self.all.discard(w)
            return
        values = self.by_value.get(w.index.name)
        if values is None:
            return
        ws = values.get(w.index.value)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del values[w.index.value]
        if not values:
            del self.by_value[w.index.name]
            del self.funcs[w.index.name]

    def empty(self) -> bool:
        return not self.all and not self.by_value

    def deliver(self, ev: CacheEvent) -> None:
        for w in self.all:
            w.push(ev)
        for name, values in self.by_value.items():
            func = self.funcs[name]
            now = func(ev.obj)
            ws = values.get(now)
            if ws:
                for w in ws:
                    w.push(ev)
            if ev.prev is not None:
                before = func(ev.prev)
                if before != now:
                    ws = values.get(before)
                    if ws:
                        for w in ws:
                            w.push(ev)


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


class WatchCache:
    def __init__(self, backend: Backend, decode: Decoder, *, capacity: int = 20000) -> None:
        self._backend = backend
        self._decode = decode
        self._capacity = capacity
        self._events: list[CacheEvent] = []
        self._revisions: list[int] = []
        self._oldest = 0  # events with revision > _oldest are all in the window
        self.revision = 0  # the newest revision the cache has seen; the state is the state at it
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._objects: dict[str, Obj] = {}
        self._keys: list[str] = []  # sorted keys of _objects
        self._groups: dict[str, _Group] = {}
        # list indexes, built on first use: index name -> (root prefix, function, value -> keys)
        self._indexes: dict[str, tuple[str, IndexFunc, dict[str, set[str]]]] = {}
        self._index_roots: dict[str, list[str]] = {}  # root prefix -> index names
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._objects, self._keys, self.revision = await self._load()
        self._oldest = self.revision
        self._task = asyncio.create_task(self._run(), name="watch-cache")
        self.ready.set()

    async def _load(self) -> tuple[dict[str, Obj], list[str], int]:
        """The backend's current state under STATE_PREFIX, read in pages at one revision."""
        objects: dict[str, Obj] = {}
        keys: list[str] = []
        revision = 0
        start_key = ""
        for _ in range(1_000_000):
            res = await self._backend.list(STATE_PREFIX, start_key=start_key, limit=_LOAD_PAGE, revision=revision)
            revision = res.revision
            for kv in res.items:
                objects[kv.key] = self._decode(kv.key, kv.value, kv.mod_revision)
                keys.append(kv.key)
            if not res.more or not res.items:
                break
            start_key = res.items[-1].key + "\x00"
        return objects, keys, revision

    async def close(self) -> None:
        self._closed = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for group in self._groups.values():
            for w in self._group_watchers(group):
                w.wake.set()
        async with self._changed:
            self._changed.notify_all()

    @staticmethod
    def _group_watchers(group: _Group) -> list[Watcher]:
        out = list(group.all)
        for values in group.by_value.values():
            for ws in values.values():
                out.extend(ws)
        return out

    async def _run(self) -> None:
        while not self._closed:
            try:
                async for ev in self._backend.watch(after=self.revision):
                    # the previous object is the one this cache holds for the key (decoded once)
                    prev = self._objects.get(ev.key) if ev.prev is not None else None
                    if prev is None and ev.prev is not None:
                        prev = self._decode(ev.key, ev.prev, ev.revision)
                    if ev.type == "delete":
                        obj = ({**prev, "metadata": {**prev["metadata"]}} if prev is not None
                               else self._decode(ev.key, ev.prev or b"{}", ev.revision))
                        # a deleted object carries the revision of its deletion, as upstream
                        obj["metadata"]["resourceVersion"] = str(ev.revision)
                    else:
                        obj = self._decode(ev.key, ev.value, ev.revision)
                    await self._append(CacheEvent(ev.type, ev.key, ev.revision, obj, prev))
            except asyncio.CancelledError:
                raise
            except Compacted:
                # we fell behind the backend's history: reload the state; every watcher must start over
                log.warning("watch cache fell behind compaction; reloading")
                objects, keys, revision = await self._load()
                async with self._changed:
                    self._objects, self._keys = objects, keys
                    self._indexes.clear()
                    self._index_roots.clear()
                    self._events.clear()
                    self._revisions.clear()
                    self._oldest = self.revision = revision
                    for group in self._groups.values():
                        for w in self._group_watchers(group):
                            w.expired = True
                            w.wake.set()
                    self._changed.notify_all()
            except Exception:
                log.exception("watch cache feed failed; retrying")
                await asyncio.sleep(0.5)

    def _apply(self, ev: CacheEvent) -> None:
        if not ev.key.startswith(STATE_PREFIX):
            return
        if self._index_roots:
            self._reindex(ev.key, self._objects.get(ev.key), None if ev.type == "delete" else ev.obj)
        if ev.type == "delete":
            if self._objects.pop(ev.key, None) is not None:
                i = bisect.bisect_left(self._keys, ev.key)
                if i < len(self._keys) and self._keys[i] == ev.key:
                    del self._keys[i]
            return
        if ev.key not in self._objects:
            bisect.insort(self._keys, ev.key)
        self._objects[ev.key] = ev.obj

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        i = key.find("/", 1)
        while i != -1:
            for name in self._index_roots.get(key[:i + 1], ()):
                _, func, by_value = self._indexes[name]
                before = func(old) if old is not None else None
                after = func(new) if new is not None else None
                if before == after:
                    continue
                if before is not None:
                    keys = by_value.get(before)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del by_value[before]
                if after is not None:
                    by_value.setdefault(after, set()).add(key)
            i = key.find("/", i + 1)

    def _dispatch(self, ev: CacheEvent) -> None:
        if not self._groups:
            return
        key = ev.key
        i = key.find("/", 1)
        while i != -1:
            group = self._groups.get(key[:i + 1])
            if group is not None:
                group.deliver(ev)
            i = key.find("/", i + 1)

    async def _append(self, ev: CacheEvent) -> None:
        async with self._changed:
            self._events.append(ev)
            self._revisions.append(ev.revision)
            self._apply(ev)
            self.revision = ev.revision
            if len(self._events) > 2 * self._capacity:
                drop = len(self._events) - self._capacity
                self._oldest = self._revisions[drop - 1]
                del self._events[:drop]
                del self._revisions[:drop]
            self._dispatch(ev)
            self._changed.notify_all()

    async def compact(self, revision: int) -> None:
        """Forget events before ``revision``, as the backend did: watches from there get TooOld."""
        async with self._changed:
            drop = bisect.bisect_left(self._revisions, revision)
            if drop:
                del self._events[:drop]
                del self._revisions[:drop]
            self._oldest = max(self._oldest, revision - 1)
            self._changed.notify_all()

    async def wait_for_revision(self, revision: int, timeout: float) -> bool:
        if self.revision >= revision:
            return True
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.revision >= revision or self._closed),
                                       timeout)
            except TimeoutError:
                return False
        return self.revision >= revision

    # --- state ------------------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        """The object at :attr:`revision` (shared: callers must not modify it)."""
        return self._objects.get(key)

    def keys(self, prefix: str, index: Index | None = None, root: str = "") -> list[str]:
        """The keys under ``prefix`` in ascending order, at :attr:`revision` (a copy; look the objects up
        with :meth:`get` before the next await). With ``index`` (over the objects under ``root``, a prefix
        of ``prefix``) only the keys whose object has the index value: a superset of what a selector
        requiring that value matches, found without a scan (the index is built on first use)."""
        if index is None:
            lo = bisect.bisect_left(self._keys, prefix)
            hi = bisect.bisect_left(self._keys, _prefix_end(prefix), lo)
            return self._keys[lo:hi]
        entry = self._indexes.get(index.name)
        if entry is None:
            by_value: dict[str, set[str]] = {}
            for key in self.keys(root):
                by_value.setdefault(index.func(self._objects[key]), set()).add(key)
            entry = self._indexes[index.name] = (root, index.func, by_value)
            self._index_roots.setdefault(root, []).append(index.name)
        assert prefix.startswith(entry[0])
        return sorted(k for k in entry[2].get(index.value, ()) if k.startswith(prefix))

    # --- events -----------------------------------------------------------------------------------

    async def events(self, *, after: int, prefix: str) -> AsyncIterator[CacheEvent]:
        """Events with revision > ``after`` under ``prefix``, then live ones, until the cache closes.

        Raises TooOld when events after ``after`` have left the window (also later, for a consumer
        that falls more than the window behind).
        """
        async for batch in self.batches(after=after, prefix=prefix):
            for ev in batch:
                yield ev

    async def batches(self, *, after: int, prefix: str, tick: Callable[[], float] | None = None,
                      index: Index | None = None) -> AsyncIterator[list[CacheEvent]]:
        """Like :meth:`events`, a batch at a time (whatever arrived since the last one). With ``tick``
        (seconds to wait at most, asked before every wait) an empty batch comes when nothing arrived in
        time, so a consumer can send bookmarks or notice its deadline without a task of its own.
        With ``index`` only events whose object or previous object has the index value come."""
        if after < self._oldest:
            raise TooOld(after, self._oldest)
        if self._closed:
            return
        w = Watcher(prefix, index, max(self._capacity, 1))
        start = bisect.bisect_right(self._revisions, after)
        # the backlog and the registration happen without an await between them: no event is lost
        w.pending = [ev for ev in self._events[start:] if w.wants(ev)]
        group = self._groups.get(prefix)
        if group is None:
            group = self._groups[prefix] = _Group()
        group.add(w)
        try:
            while not self._closed:
                if not w.pending and not w.expired:
                    w.wake.clear()
                    try:
                        if tick is None:
                            await w.wake.wait()
                        else:
                            async with asyncio.timeout(max(tick(), 0.0)):
                                await w.wake.wait()
                    except TimeoutError:
                        if not w.pending and not w.expired:
                            # nothing came: the consumer may send a bookmark at the current revision
                            yield []
                            continue
                if self._closed:
                    return
                if w.expired:
                    raise TooOld(after, self._oldest)
                batch, w.pending = w.pending, []
                if batch[0].revision <= after:
                    batch = [ev for ev in batch if ev.revision > after]
                    if not batch:
                        continue
                after = batch[-1].revision
                yield batch
        finally:
            group.remove(w)
            if group.empty() and self._groups.get(prefix) is group:
                del self._groups[prefix]
