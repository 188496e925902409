"""``memory://``: the whole contract in process memory, for tests and throwaway servers."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator

from .interface import Compacted, Event, FutureRevision, KeyValue, ListResult, WriteResult


class _Version:
    __slots__ = ("mod_revision", "create_revision", "value")

    def __init__(self, mod_revision: int, create_revision: int, value: bytes | None) -> None:
        self.mod_revision = mod_revision
        self.create_revision = create_revision
        self.value = value  # None = deleted at mod_revision


class MemoryBackend:
    def __init__(self) -> None:
        self._keys: list[str] = []  # sorted, every key that has any kept version
        self._history: dict[str, list[_Version]] = {}
        self._log: list[Event] = []
        self._revision = 0
        self._compacted = 0
        self._changed = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._closed = True
        self._changed.set()

    def _latest(self, key: str) -> _Version | None:
        versions = self._history.get(key)
        if not versions or versions[-1].value is None:
            return None
        return versions[-1]

    @staticmethod
    def _kv(key: str, v: _Version) -> KeyValue:
        assert v.value is not None
        return KeyValue(key, v.value, v.create_revision, v.mod_revision)

    async def get(self, key: str) -> KeyValue | None:
        v = self._latest(key)
        return None if v is None else self._kv(key, v)

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListResult:
        if revision and revision < self._compacted:
            raise Compacted(revision, self._compacted)
        if revision > self._revision:
            raise FutureRevision(revision, self._revision)
        at = revision or self._revision
        items: list[KeyValue] = []
        i = bisect.bisect_left(self._keys, max(prefix, start_key))
        more = False
        while i < len(self._keys) and self._keys[i].startswith(prefix):
            key = self._keys[i]
            i += 1
            versions = self._history[key]
            j = bisect.bisect_right([v.mod_revision for v in versions], at) - 1
            if j < 0 or versions[j].value is None:
                continue
            if limit and len(items) == limit:
                more = True
                break
            items.append(self._kv(key, versions[j]))
        return ListResult(items, at, more)

    async def count(self, prefix: str) -> int:
        i = bisect.bisect_left(self._keys, prefix)
        n = 0
        while i < len(self._keys) and self._keys[i].startswith(prefix):
            n += self._latest(self._keys[i]) is not None
            i += 1
        return n

    def _append(self, key: str, value: bytes | None, create_revision: int) -> int:
        self._revision += 1
        rev = self._revision
        versions = self._history.get(key)
        if versions is None:
            versions = self._history[key] = []
            bisect.insort(self._keys, key)
        prev = versions[-1].value if versions else None
        versions.append(_Version(rev, create_revision or rev, value))
        if value is None:
            event = Event("delete", key, b"", rev, create_revision, prev)
        else:
            event = Event("update" if prev is not None else "create", key, value, rev, create_revision or rev, prev)
        self._log.append(event)
        self._changed.set()
        self._changed = asyncio.Event()
        return rev

    async def create(self, key: str, value: bytes) -> WriteResult:
        current = self._latest(key)
        if current is not None:
            return WriteResult(False, self._revision, self._kv(key, current))
        return WriteResult(True, self._append(key, value, 0))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> WriteResult:
        current = self._latest(key)
        if current is None or current.mod_revision != expected_revision:
            return WriteResult(False, self._revision, None if current is None else self._kv(key, current))
        return WriteResult(True, self._append(key, value, current.create_revision))

    async def delete(self, key: str, *, expected_revision: int) -> WriteResult:
        current = self._latest(key)
        if current is None or (expected_revision and current.mod_revision != expected_revision):
            return WriteResult(False, self._revision, None if current is None else self._kv(key, current))
        kv = self._kv(key, current)
        return WriteResult(True, self._append(key, None, current.create_revision), kv)

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def compact(self, revision: int) -> None:
        revision = min(revision, self._revision)
        if revision <= self._compacted:
            return
        self._compacted = revision
        for key in list(self._keys):
            versions = self._history[key]
            # keep the newest version at or below `revision` (the state at `revision`) and all after it
            j = bisect.bisect_right([v.mod_revision for v in versions], revision) - 1
            kept = versions[max(j, 0):]
            if kept and kept[0].value is None and kept[0].mod_revision <= revision:
                kept = kept[1:]
            if kept:
                self._history[key] = kept
            else:
                del self._history[key]
                self._keys.remove(key)
        if self._log:
            del self._log[: max(revision - self._log[0].revision, 0)]

    async def watch(self, *, after: int) -> AsyncIterator[Event]:
        if after + 1 < self._compacted:
            raise Compacted(after + 1, self._compacted)
        while not self._closed:
            changed = self._changed
            # the log holds one event per revision, contiguous from self._log[0]
            start = max(after + 1 - self._log[0].revision, 0) if self._log else 0
            if start < len(self._log):
                if self._log[start].revision > after + 1 and after + 1 < self._compacted:
                    raise Compacted(after + 1, self._compacted)
                for event in self._log[start:]:
                    after = event.revision
                    yield event
                continue
            await changed.wait()
