"""``etcd://``: the storage contract on an etcd v3 cluster (gRPC, via etcd3aio).

Every key is stored as ``key_prefix + key`` (like kube-apiserver's ``--etcd-prefix``); keys begin
with "/". Writes are one transaction attempt each and are never retried: a retried write that had in
fact succeeded would look like a conflict. Reads are retried by etcd3aio on transient errors.

Watch streams are read off the request loop: each on a thread of its own, with gRPC's synchronous API
on a channel of their own; the thread decodes the events and hands them over in batches, one
``call_soon_threadsafe`` wake-up per batch (see :class:`_Feed`). Read on the request loop, a busy API
server delayed watch delivery by seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from etcd3aio import EtcdError, prefix_range_end
from etcd3aio._protobuf import Compare, RequestOp, WatchCreateRequest, WatchRequest, WatchStub
from etcd3aio.connections import ConnectionManager
from etcd3aio.kv import KVService

from .interface import Compacted, Event, FutureRevision, KeyValue, ListResult, StorageError, WriteResult

_T = TypeVar("_T")

PAGE_SIZE = 500  # keys per range call: 500 x a few KiB stays far below gRPC's 4 MiB
RPC_TIMEOUT = 30.0  # seconds, per unary call
WATCH_RECONNECT_FOR = 60.0  # seconds of failed reconnects before a watch gives up
WATCH_MAX_PENDING = 20_000  # events read but not yet taken by the consumer before the reader waits
WATCH_THREAD_NAME = "kplane-etcd-watch"
_EVENT_DELETE = 1  # mvccpb.Event.DELETE
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL)
_CHANNEL_OPTIONS: list[tuple[str, str | int | bool]] = [
    # watch responses are not paged: allow big catch-up batches
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    # come back quickly after an etcd restart
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def _is_compacted(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and "compacted" in (exc.details() or "")


def _is_future(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and "future revision" in (exc.details() or "")


class _End:
    """A watch ended because the backend closed or the consumer left."""


_END = _End()
_Ending = BaseException | _End | None


class _Feed:
    """One watch: its reader thread, and the hand-over from that thread to the consumer's loop.

    The reader appends events and wakes the consumer with one ``call_soon_threadsafe`` per batch (none
    while a wake-up is already on its way); the consumer takes everything pending at once. The reader
    waits while more than WATCH_MAX_PENDING events are pending (gRPC flow control then holds etcd back).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._end: _Ending = None
        self._wake_sent = False
        self._ready = asyncio.Event()
        self._call: grpc.Future | None = None
        self.cancelled = threading.Event()
        self.thread: threading.Thread | None = None

    def _wake(self) -> None:
        self._ready.set()

    def _send_wake(self) -> None:
        """Holding the lock."""
        if not self._wake_sent:
            self._wake_sent = True
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the consumer's loop is closed: nobody is listening
                pass

    # -- reader side (the watch thread) --------------------------------------------------------

    def push(self, events: list[Event]) -> None:
        with self._cond:
            self._events.extend(events)
            self._send_wake()
            # bounded: after 60 s of a stalled consumer, read on (memory over a stuck watch)
            for _ in range(600):
                if len(self._events) <= WATCH_MAX_PENDING or self.cancelled.is_set():
                    break
                self._cond.wait(0.1)

    def finish(self, end: BaseException | _End) -> None:
        """No more events after those pending; the first ending given wins (either side may call)."""
        with self._cond:
            if self._end is None:
                self._end = end
                self._send_wake()

    def set_call(self, call: grpc.Future | None) -> None:
        with self._cond:
            self._call = call
        if call is not None and self.cancelled.is_set():
            call.cancel()

    # -- consumer side (the event loop) --------------------------------------------------------

    def cancel(self) -> None:
        """Stop the reader (thread-safe): its stream is cancelled, it ends at its next step."""
        self.cancelled.set()
        with self._cond:
            call = self._call
            self._cond.notify_all()
        if call is not None:
            call.cancel()

    async def take(self) -> tuple[list[Event], _Ending]:
        """Every pending event, and (with the last of them) how the watch ended."""
        while True:
            self._ready.clear()
            with self._cond:
                events, self._events = self._events, []
                end = self._end
                self._wake_sent = False
                if len(events) > WATCH_MAX_PENDING:
                    self._cond.notify_all()
            if events or end is not None:
                return events, end
            await self._ready.wait()


class EtcdBackend:
    def __init__(self, endpoints: list[str], *, key_prefix: str = "") -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self._endpoints = list(endpoints)
        self._prefix = key_prefix.encode()
        # keys begin with "/" (see interface.py): watching prefix + "/" keeps a key space such as
        # "/t1" from seeing "/t10/..."
        self._watch_key = self._prefix + b"/"
        self._watch_end = prefix_range_end(self._watch_key)
        self._channel: grpc.aio.Channel | None = None
        self._kv: KVService | None = None
        self._watch_stub: Any = None
        # watch streams: one thread each, on a synchronous gRPC channel of their own (a thread waits
        # for the next message in gRPC's C core, without the GIL; no second event loop is involved)
        self._watch_channel: grpc.Channel | None = None
        self._feeds: set[_Feed] = set()
        self._watch_threads = itertools.count(1)
        self._compacted = 0
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------------

    async def start(self) -> None:
        manager = ConnectionManager(self._endpoints)
        manager.grpc_options.extend(_CHANNEL_OPTIONS)
        self._channel = manager.get_channel()
        self._kv = KVService(self._channel)
        self._watch_stub = WatchStub(self._channel)
        self._closed = False
        try:
            await self.current_revision()  # fail early on a wrong endpoint
        except StorageError:
            await self.close()
            raise

    async def close(self) -> None:
        self._closed = True
        feeds = list(self._feeds)
        for feed in feeds:
            feed.finish(_END)
            feed.cancel()
        for feed in feeds:  # bounded: a cancelled stream ends its thread at once
            for _ in range(2000):
                if feed.thread is None or not feed.thread.is_alive():
                    break
                await asyncio.sleep(0.005)
        if self._watch_channel is not None:
            self._watch_channel.close()
            self._watch_channel = None
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._kv = self._watch_stub = None

    @property
    def _kvs(self) -> KVService:
        if self._kv is None:
            raise StorageError("etcd backend is not started (or closed)")
        return self._kv

    async def _call(self, what: str, aw: Awaitable[_T], *, revision: int = 0) -> _T:
        """Await one etcd3aio call, mapping its errors onto the contract's exceptions."""
        try:
            return await aw
        except grpc.aio.AioRpcError as exc:
            if revision and _is_compacted(exc):
                raise Compacted(revision, await self._learn_compacted(revision)) from exc
            if revision and _is_future(exc):
                raise FutureRevision(revision, await self.current_revision()) from exc
            raise StorageError(f"etcd {what}: {exc.code().name}: {exc.details()}") from exc
        except (EtcdError, TimeoutError, grpc.aio.UsageError) as exc:
            raise StorageError(f"etcd {what}: {exc or type(exc).__name__}") from exc

    def _k(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def _kv_of(self, kv: Any) -> KeyValue:
        key: bytes = kv.key
        return KeyValue(key[len(self._prefix):].decode(), kv.value, kv.create_revision, kv.mod_revision)

    def _note_compacted(self, revision: int) -> None:
        self._compacted = max(self._compacted, revision)

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        resp = await self._call("get", self._kvs.get(self._k(key), timeout=RPC_TIMEOUT))
        return self._kv_of(resp.kvs[0]) if resp.kvs else None

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListResult:
        if revision and revision < self._compacted:
            raise Compacted(revision, self._compacted)
        key = self._k(max(prefix, start_key))
        end = prefix_range_end(self._k(prefix))
        at = revision
        items: list[KeyValue] = []
        while True:  # ends: every page moves `key` past the last key returned
            want = PAGE_SIZE if not limit else min(PAGE_SIZE, limit - len(items))
            resp = await self._call(
                "range",
                self._kvs.get(key, end, revision=at, limit=want, timeout=RPC_TIMEOUT),
                revision=at,
            )
            at = at or resp.header.revision
            items.extend(self._kv_of(kv) for kv in resp.kvs)
            if not resp.more or not resp.kvs:
                return ListResult(items, at, False)
            if limit and len(items) >= limit:
                return ListResult(items, at, True)
            key = resp.kvs[-1].key + b"\x00"

    async def count(self, prefix: str) -> int:
        k = self._k(prefix)
        resp = await self._call("count", self._kvs.get(k, prefix_range_end(k), count_only=True, timeout=RPC_TIMEOUT))
        return int(resp.count)

    async def current_revision(self) -> int:
        # a point read of a key that never exists: O(log n) on the server, the header has the revision
        resp = await self._call(
            "revision", self._kvs.get(self._prefix + b"\x00", count_only=True, timeout=RPC_TIMEOUT)
        )
        return int(resp.header.revision)

    async def compacted_revision(self) -> int:
        """The highest compaction this backend did or learned of from etcd (etcd has no query for it)."""
        return self._compacted

    async def compact(self, revision: int) -> None:
        if revision <= self._compacted:
            return
        revision = min(revision, await self.current_revision())
        try:
            await self._call("compact", self._kvs.compact(revision, physical=True, timeout=RPC_TIMEOUT))
        except StorageError as exc:
            if not _is_compacted(exc.__cause__ or exc):
                raise
            await self._learn_compacted(revision)  # someone compacted further already
        else:
            self._note_compacted(revision)

    async def _learn_compacted(self, revision: int) -> int:
        """etcd's range error does not say the compacted revision, but a watch from ``revision`` does."""
        if self._watch_stub is None:
            return max(self._compacted, revision + 1)
        call = self._watch_stub.Watch(timeout=2.0)
        try:
            create = WatchCreateRequest(key=self._prefix + b"\x00", start_revision=revision)
            await call.write(WatchRequest(create_request=create))
            for _ in range(10):
                resp = await call.read()
                if resp is grpc.aio.EOF:
                    break
                if resp.compact_revision:
                    self._note_compacted(int(resp.compact_revision))
                    return int(resp.compact_revision)
        except (grpc.aio.AioRpcError, TimeoutError):
            pass
        finally:
            call.cancel()
        return max(self._compacted, revision + 1)

    # -- writes ---------------------------------------------------------------------------------

    async def _txn(self, key: bytes, compare: Sequence[Any], success: RequestOp) -> WriteResult:
        txn = self._kvs.txn(
            compare, [success], [KVService.txn_op_get(key)], timeout=RPC_TIMEOUT, max_attempts=1
        )
        resp = await self._call("txn", txn)
        revision = int(resp.header.revision)
        if resp.succeeded:
            deleted = resp.responses[0].response_delete_range.prev_kvs
            return WriteResult(True, revision, self._kv_of(deleted[0]) if deleted else None)
        kvs = resp.responses[0].response_range.kvs
        return WriteResult(False, revision, self._kv_of(kvs[0]) if kvs else None)

    async def create(self, key: str, value: bytes) -> WriteResult:
        k = self._k(key)
        absent = Compare(key=k, target=Compare.CREATE, result=Compare.EQUAL, create_revision=0)
        return await self._txn(k, [absent], KVService.txn_op_put(k, value))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> WriteResult:
        k = self._k(key)
        compare = [
            Compare(key=k, target=Compare.MOD, result=Compare.EQUAL, mod_revision=expected_revision),
            Compare(key=k, target=Compare.CREATE, result=Compare.GREATER, create_revision=0),
        ]
        return await self._txn(k, compare, KVService.txn_op_put(k, value))

    async def delete(self, key: str, *, expected_revision: int) -> WriteResult:
        k = self._k(key)
        compare = [Compare(key=k, target=Compare.CREATE, result=Compare.GREATER, create_revision=0)]
        if expected_revision:
            compare.append(Compare(key=k, target=Compare.MOD, result=Compare.EQUAL, mod_revision=expected_revision))
        return await self._txn(k, compare, KVService.txn_op_delete(k, prev_kv=True))

    # -- watch ----------------------------------------------------------------------------------

    def watch(self, *, after: int) -> AsyncIterator[Event]:
        return self._watch(after)

    def _event(self, ev: Any) -> Event:
        kv = ev.kv
        key = kv.key[len(self._prefix):].decode()
        prev = ev.prev_kv if ev.HasField("prev_kv") else None
        if ev.type == _EVENT_DELETE:
            create_revision = prev.create_revision if prev is not None else 0
            return Event("delete", key, b"", kv.mod_revision, create_revision, None if prev is None else prev.value)
        if kv.create_revision == kv.mod_revision:
            return Event("create", key, kv.value, kv.mod_revision, kv.create_revision, None)
        return Event("update", key, kv.value, kv.mod_revision, kv.create_revision, None if prev is None else prev.value)

    async def _watch(self, after: int) -> AsyncIterator[Event]:
        if after + 1 < self._compacted:
            raise Compacted(after + 1, self._compacted)
        if self._closed:
            return
        if self._channel is None:
            raise StorageError("etcd backend is not started (or closed)")
        if self._watch_channel is None:
            manager = ConnectionManager(self._endpoints)
            manager.grpc_options.extend(_CHANNEL_OPTIONS)
            self._watch_channel = grpc.insecure_channel(manager.target, options=manager.grpc_options)
        stub = WatchStub(self._watch_channel)
        feed = _Feed(asyncio.get_running_loop())
        feed.thread = threading.Thread(
            target=self._read, args=(stub, feed, after + 1), daemon=True,
            name=f"{WATCH_THREAD_NAME}-{next(self._watch_threads)}",
        )
        self._feeds.add(feed)
        feed.thread.start()
        try:
            while True:
                events, end = await feed.take()
                for event in events:
                    yield event
                if isinstance(end, _End):
                    return
                if isinstance(end, Compacted):
                    self._note_compacted(end.compacted)
                if end is not None:
                    raise end
        finally:
            self._feeds.discard(feed)
            feed.cancel()

    def _read(self, stub: Any, feed: _Feed, next_rev: int) -> None:
        """The watch thread: one stream from ``next_rev``, reconnecting from the last revision seen after
        a broken stream; gives up after WATCH_RECONNECT_FOR seconds without a connection."""
        failing_since: float | None = None
        backoff = 0.05
        try:
            while not feed.cancelled.is_set():  # one pass per (re)connection
                create = WatchCreateRequest(
                    key=self._watch_key, range_end=self._watch_end, start_revision=next_rev, prev_kv=True
                )
                done = threading.Event()
                call = stub.Watch(_watch_requests(WatchRequest(create_request=create), done, feed.cancelled))
                feed.set_call(call)
                try:
                    for resp in call:
                        failing_since, backoff = None, 0.05
                        if resp.compact_revision:
                            feed.finish(Compacted(next_rev, int(resp.compact_revision)))
                            return
                        if resp.canceled:
                            feed.finish(StorageError(f"etcd watch canceled: {resp.cancel_reason}"))
                            return
                        if resp.events:
                            events = [self._event(ev) for ev in resp.events]
                            next_rev = events[-1].revision + 1
                            feed.push(events)
                except grpc.RpcError as exc:
                    if feed.cancelled.is_set():
                        return
                    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
                    if code not in _RETRYABLE:
                        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                        feed.finish(StorageError(f"etcd watch: {code.name}: {details}"))
                        return
                finally:
                    done.set()
                    feed.set_call(None)
                    call.cancel()
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > WATCH_RECONNECT_FOR:
                    feed.finish(StorageError(f"etcd watch: no connection for {WATCH_RECONNECT_FOR:.0f}s"))
                    return
                feed.cancelled.wait(backoff)
                backoff = min(backoff * 2, 1.0)
        except Exception as exc:  # noqa: BLE001 - the consumer gets it instead of a silent hang
            feed.finish(StorageError(f"etcd watch: {type(exc).__name__}: {exc}"))
        finally:
            feed.finish(_END)


def _watch_requests(create: Any, done: threading.Event, cancelled: threading.Event) -> Iterator[Any]:
    """The request side of one watch stream: the create request, then open until the stream ends
    (gRPC reads this on a thread of its own; returning would half-close the stream)."""
    yield create
    while not done.wait(1.0) and not cancelled.is_set():
        pass
