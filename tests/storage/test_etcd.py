"""etcd-only behaviour: surviving an etcd restart, big lists, compaction learnt from etcd, close()."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from apiserver.storage import Compacted, Event, StorageError
from apiserver.storage import etcd as etcd_module
from apiserver.storage.etcd import EtcdBackend
from tests.etcd_server import EtcdServer

pytestmark = pytest.mark.etcd

_prefixes = itertools.count()


@pytest.fixture
async def etcd(etcd_server: EtcdServer) -> AsyncIterator[EtcdBackend]:
    backend = EtcdBackend(etcd_server.endpoints, key_prefix=f"/etcd-test-{next(_prefixes)}")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def _create_retrying(backend: EtcdBackend, key: str, value: bytes) -> int:
    """Create while etcd may still be coming back; a create that did land may report ok=False."""
    for _ in range(100):
        try:
            r = await backend.create(key, value)
        except StorageError:
            await asyncio.sleep(0.1)
            continue
        if r.ok:
            return r.revision
        assert r.current is not None and r.current.value == value
        return r.current.mod_revision
    raise AssertionError("etcd did not come back")


async def test_watch_survives_etcd_restart(etcd_server: EtcdServer, etcd: EtcdBackend) -> None:
    start = await etcd.current_revision()
    seen: list[Event] = []
    got = asyncio.Event()

    async def consume() -> None:
        async for ev in etcd.watch(after=start):
            seen.append(ev)
            got.set()

    task = asyncio.create_task(consume())
    try:
        first = await etcd.create("/registry/configmaps/ns/before", b"1")
        await asyncio.wait_for(got.wait(), 10)
        assert [e.revision for e in seen] == [first.revision]

        got.clear()
        await asyncio.to_thread(etcd_server.kill)
        await asyncio.sleep(0.3)  # let the watch notice and start reconnecting
        await asyncio.to_thread(etcd_server.start)
        rev = await _create_retrying(etcd, "/registry/configmaps/ns/after", b"2")
        await asyncio.wait_for(got.wait(), 15)
        assert [(e.key, e.type) for e in seen] == [
            ("/registry/configmaps/ns/before", "create"), ("/registry/configmaps/ns/after", "create")
        ]
        assert seen[-1].revision == rev
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if not etcd_server.healthy():
            await asyncio.to_thread(etcd_server.start)


async def test_list_of_thousands_of_2k_objects_comes_back_whole(etcd: EtcdBackend) -> None:
    value = bytes(range(256)) * 8  # 2 KiB
    n = 3000
    start = await etcd.current_revision()
    for chunk in range(0, n, 500):
        results = await asyncio.gather(
            *(etcd.create(f"/registry/configmaps/big/k{i:05}", value) for i in range(chunk, min(chunk + 500, n)))
        )
        assert all(r.ok for r in results)
    res = await etcd.list("/registry/configmaps/big/")
    assert len(res.items) == n and not res.more
    assert [kv.key for kv in res.items] == [f"/registry/configmaps/big/k{i:05}" for i in range(n)]
    assert all(kv.value == value for kv in res.items)
    part = await etcd.list("/registry/configmaps/big/", limit=2600)
    assert len(part.items) == 2600 and part.more and part.items[-1].key.endswith("k02599")
    assert await etcd.count("/registry/configmaps/big/") == n

    # a watch catching up on thousands of events with their previous values (etcd sends up to 1000
    # revisions in one response, here > 4 MiB) gets them all, in order
    updates = [(await etcd.update(kv.key, value[::-1], expected_revision=kv.mod_revision)) for kv in res.items[:1200]]
    assert all(u.ok for u in updates)
    it = etcd.watch(after=start)
    events = [await asyncio.wait_for(it.__anext__(), 10) for _ in range(n + 1200)]
    await it.aclose()  # type: ignore[attr-defined]
    assert [e.type for e in events] == ["create"] * n + ["update"] * 1200
    assert events[-1].revision == updates[-1].revision and events[-1].prev == value


async def test_list_pages_at_one_revision(etcd: EtcdBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(etcd_module, "PAGE_SIZE", 7)
    for i in range(40):
        await etcd.create(f"/registry/configmaps/ns/k{i:03}", b"v0")
    full = await etcd.list("/registry/configmaps/ns/")
    assert [kv.key for kv in full.items] == [f"/registry/configmaps/ns/k{i:03}" for i in range(40)]
    assert not full.more
    await etcd.delete("/registry/configmaps/ns/k005", expected_revision=0)
    page = await etcd.list("/registry/configmaps/ns/", limit=17, revision=full.revision)
    assert len(page.items) == 17 and page.more and page.revision == full.revision
    rest = await etcd.list(
        "/registry/configmaps/ns/", start_key=page.items[-1].key + "\x00", limit=100, revision=full.revision
    )
    assert len(rest.items) == 23 and not rest.more
    assert len((await etcd.list("/registry/configmaps/ns/", limit=14)).items) == 14
    last = await etcd.list("/registry/configmaps/ns/", limit=39)
    assert len(last.items) == 39 and not last.more


async def test_key_prefixes_are_isolated(etcd_server: EtcdServer) -> None:
    a = EtcdBackend(etcd_server.endpoints, key_prefix="/iso-1")
    b = EtcdBackend(etcd_server.endpoints, key_prefix="/iso-10")
    await a.start()
    await b.start()
    try:
        start = await a.current_revision()
        await b.create("/registry/x", b"b")
        mine = await a.create("/registry/x", b"a")
        assert mine.ok
        assert [kv.value for kv in (await a.list("/registry/")).items] == [b"a"]
        it = a.watch(after=start)
        ev = await asyncio.wait_for(it.__anext__(), 10)
        assert (ev.key, ev.value, ev.revision) == ("/registry/x", b"a", mine.revision)
        await it.aclose()  # type: ignore[attr-defined]
    finally:
        await a.close()
        await b.close()


async def test_compacted_revision_is_learnt_from_etcd(etcd_server: EtcdServer, etcd: EtcdBackend) -> None:
    first = await etcd.create("/registry/configmaps/ns/a", b"1")
    second = await etcd.update("/registry/configmaps/ns/a", b"2", expected_revision=first.revision)
    await etcd.compact(second.revision)
    other = EtcdBackend(etcd_server.endpoints, key_prefix="/etcd-test-other")
    await other.start()
    try:
        assert await other.compacted_revision() == 0  # nothing learnt yet
        with pytest.raises(Compacted) as info:
            await other.list("/registry/", revision=first.revision)
        assert info.value.compacted >= second.revision
        assert await other.compacted_revision() == info.value.compacted
    finally:
        await other.close()


async def test_close_ends_open_watches(etcd_server: EtcdServer) -> None:
    backend = EtcdBackend(etcd_server.endpoints, key_prefix="/etcd-test-close")
    await backend.start()
    start = await backend.current_revision()

    async def consume() -> list[Event]:
        return [ev async for ev in backend.watch(after=start)]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await backend.close()
    assert await asyncio.wait_for(task, 5) == []


def _watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(etcd_module.WATCH_THREAD_NAME)]


async def _until(pred: Callable[[], bool], seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if pred():
            return True
        await asyncio.sleep(0.02)
    return pred()


async def test_watch_threads_end_with_their_watch_and_on_close(
    etcd_server: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each watch reads on a thread of its own; leaving the watch (aclose, or a cancelled consumer)
    ends that thread, and close() ends the rest: nothing is left behind, nothing is logged."""
    before = set(threading.enumerate())
    backend = EtcdBackend(etcd_server.endpoints, key_prefix="/etcd-test-threads")
    await backend.start()
    try:
        start = await backend.current_revision()
        first = backend.watch(after=start)
        second = backend.watch(after=start)
        created = await backend.create("/registry/configmaps/ns/a", b"1")
        for it in (first, second):
            ev = await asyncio.wait_for(it.__anext__(), 10)
            assert ev.revision == created.revision
        assert len(_watch_threads()) == 2
        assert all(t.daemon for t in _watch_threads())
        await first.aclose()  # type: ignore[attr-defined]
        assert await _until(lambda: len(_watch_threads()) == 1)

        got: list[Event] = []

        async def consume() -> None:
            async for ev in backend.watch(after=start):
                got.append(ev)

        task = asyncio.create_task(consume())
        assert await _until(lambda: len(got) == 1)
        assert len(_watch_threads()) == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _until(lambda: len(_watch_threads()) == 1)

        third = backend.watch(after=start)
        assert (await asyncio.wait_for(third.__anext__(), 10)).revision == created.revision
    finally:
        await backend.close()
    assert _watch_threads() == []
    # the open watches end cleanly after close
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(second.__anext__(), 5)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(third.__anext__(), 5)
    # gRPC's own helper threads of the watch channel go too
    assert await _until(lambda: set(threading.enumerate()) <= before), set(threading.enumerate()) - before
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_slow_consumer_holds_the_reader_back_and_misses_nothing(
    etcd: EtcdBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over WATCH_MAX_PENDING unread events the reader thread waits for the consumer; every event still
    arrives, once, in revision order (one etcd response carries many events: creates in one gather)."""
    monkeypatch.setattr(etcd_module, "WATCH_MAX_PENDING", 5)
    start = await etcd.current_revision()
    results = await asyncio.gather(*(etcd.create(f"/registry/configmaps/ns/k{i:03}", b"v") for i in range(200)))
    it = etcd.watch(after=start)
    seen: list[int] = []
    for _ in range(200):
        seen.append((await asyncio.wait_for(it.__anext__(), 10)).revision)
        if len(seen) % 20 == 0:
            await asyncio.sleep(0.01)  # let the reader run ahead and stop at the limit
    live = await etcd.create("/registry/configmaps/ns/live", b"v")
    assert (await asyncio.wait_for(it.__anext__(), 10)).revision == live.revision
    await it.aclose()  # type: ignore[attr-defined]
    assert seen == sorted(r.revision for r in results)


async def test_watch_resumes_after_the_stream_breaks_without_gaps(
    etcd_server: EtcdServer, etcd: EtcdBackend
) -> None:
    """etcd dies between two bursts of writes: the watch reconnects from the revision after the last
    event it delivered, so the second burst (written before it reconnects) arrives whole and once."""
    start = await etcd.current_revision()
    it = etcd.watch(after=start)
    before = [(await etcd.create(f"/registry/configmaps/ns/b{i}", b"1")).revision for i in range(5)]
    got = [(await asyncio.wait_for(it.__anext__(), 10)).revision for _ in range(5)]
    assert got == before
    try:
        await asyncio.to_thread(etcd_server.kill)
        await asyncio.to_thread(etcd_server.start)
        after = [await _create_retrying(etcd, f"/registry/configmaps/ns/a{i}", b"2") for i in range(5)]
        got = [(await asyncio.wait_for(it.__anext__(), 20)).revision for _ in range(5)]
        assert got == after
        live = await etcd.create("/registry/configmaps/ns/live", b"3")
        assert (await asyncio.wait_for(it.__anext__(), 10)).revision == live.revision
    finally:
        await it.aclose()  # type: ignore[attr-defined]
        if not etcd_server.healthy():
            await asyncio.to_thread(etcd_server.start)
