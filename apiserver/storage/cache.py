"""The watch cache: one in-memory window of recent events, fed by one backend watch.

Every API watch is a cursor into this window. Events are decoded once here (with the previous object,
so watchers can tell a selector enter from a leave) and each encoded line is cached per event type, so
N watchers of the same event cost one decode and at most a few encodes. A start revision older than
the window raises :class:`TooOld` (the API answers 410 Expired).
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
        self._lines: dict[str, bytes] = {}

    def line(self, watch_type: str, obj: Obj) -> bytes:
        """The JSON watch line for this event as ``watch_type`` (ADDED/MODIFIED/DELETED), cached."""
        line = self._lines.get(watch_type)
        if line is None:
            line = orjson.dumps({"type": watch_type, "object": obj}) + b"\n"
            self._lines[watch_type] = line
        return line


class WatchCache:
    def __init__(self, backend: Backend, decode: Decoder, *, capacity: int = 20000) -> None:
        self._backend = backend
        self._decode = decode
        self._capacity = capacity
        self._events: list[CacheEvent] = []
        self._revisions: list[int] = []
        self._base = 0  # absolute index of _events[0]
        self._oldest = 0  # events with revision > _oldest are all in the window
        self.revision = 0  # the newest revision the cache has seen
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._latest: dict[str, Obj] = {}
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self.revision = self._oldest = await self._backend.current_revision()
        self._task = asyncio.create_task(self._run(), name="watch-cache")
        self.ready.set()

    async def close(self) -> None:
        self._closed = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        async with self._changed:
            self._changed.notify_all()

    async def _run(self) -> None:
        while not self._closed:
            try:
                async for ev in self._backend.watch(after=self.revision):
                    # the previous object is the one this cache last saw for the key (decoded once);
                    # only keys untouched since the cache started need their previous value decoded
                    prev = self._latest.get(ev.key) if ev.prev is not None else None
                    if prev is None and ev.prev is not None:
                        prev = self._decode(ev.key, ev.prev, ev.revision)
                    if ev.type == "delete":
                        obj = ({**prev, "metadata": {**prev["metadata"]}} if prev is not None
                               else self._decode(ev.key, ev.prev or b"{}", ev.revision))
                        # a deleted object carries the revision of its deletion, as upstream
                        obj["metadata"]["resourceVersion"] = str(ev.revision)
                        self._latest.pop(ev.key, None)
                    else:
                        obj = self._decode(ev.key, ev.value, ev.revision)
                        self._latest[ev.key] = obj
                    await self._append(CacheEvent(ev.type, ev.key, ev.revision, obj, prev))
            except asyncio.CancelledError:
                raise
            except Compacted:
                # we fell behind the backend's history: everything before now is unknown to watchers
                log.warning("watch cache fell behind compaction; resetting window")
                current = await self._backend.current_revision()
                self._latest.clear()
                async with self._changed:
                    self._base += len(self._events)
                    self._events.clear()
                    self._revisions.clear()
                    self._oldest = self.revision = current
                    self._changed.notify_all()
            except Exception:
                log.exception("watch cache feed failed; retrying")
                await asyncio.sleep(0.5)

    async def _append(self, ev: CacheEvent) -> None:
        async with self._changed:
            self._events.append(ev)
            self._revisions.append(ev.revision)
            self.revision = ev.revision
            if len(self._events) > 2 * self._capacity:
                drop = len(self._events) - self._capacity
                self._oldest = self._revisions[drop - 1]
                del self._events[:drop]
                del self._revisions[:drop]
                self._base += drop
            self._changed.notify_all()

    async def compact(self, revision: int) -> None:
        """Forget events before ``revision``, as the backend did: watches from there get TooOld."""
        async with self._changed:
            drop = bisect.bisect_left(self._revisions, revision)
            if drop:
                del self._events[:drop]
                del self._revisions[:drop]
                self._base += drop
            self._oldest = max(self._oldest, revision - 1)
            self._changed.notify_all()

    async def wait_for_revision(self, revision: int, timeout: float) -> bool:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.revision >= revision or self._closed),
                                       timeout)
            except TimeoutError:
                return False
        return self.revision >= revision

    async def events(self, *, after: int, prefix: str) -> AsyncIterator[CacheEvent]:
        """Events with revision > ``after`` under ``prefix``, then live ones, until the cache closes.

        Raises TooOld when events after ``after`` have left the window (also later, for a consumer
        that falls more than the window behind).
        """
        async for batch in self.batches(after=after, prefix=prefix):
            for ev in batch:
                yield ev

    async def batches(self, *, after: int, prefix: str, tick: Callable[[], float] | None = None
                      ) -> AsyncIterator[list[CacheEvent]]:
        """Like :meth:`events`, a batch at a time (whatever arrived since the last one). With ``tick``
        (seconds to wait at most, asked before every wait) an empty batch comes when nothing arrived in
        time, so a consumer can send bookmarks or notice its deadline without a task of its own."""
        if after < self._oldest:
            raise TooOld(after, self._oldest)
        pos = self._base + bisect.bisect_right(self._revisions, after)

        def ready(p: int) -> Callable[[], bool]:
            return lambda: self._base + len(self._events) > p or self._closed

        while not self._closed:
            if self._base + len(self._events) <= pos:
                async with self._changed:
                    try:
                        if tick is None:
                            await self._changed.wait_for(ready(pos))
                        else:
                            async with asyncio.timeout(max(tick(), 0.0)):
                                await self._changed.wait_for(ready(pos))
                    except TimeoutError:
                        yield []
                        continue
            if self._closed:
                return
            if pos < self._base:
                raise TooOld(after, self._oldest)
            batch = self._events[pos - self._base:]
            pos += len(batch)
            after = batch[-1].revision
            yield [ev for ev in batch if ev.key.startswith(prefix)]
