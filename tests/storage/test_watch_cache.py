"""The watch cache over every backend: its state equals the backend's, and indexed watchers are handed
only the events their index value names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from apiserver.registry import decode
from apiserver.storage import Backend
from apiserver.storage.cache import CacheEvent, Index, TooOld, WatchCache

Obj = dict[str, Any]


def pod(name: str, node: str = "", **extra: Any) -> bytes:
    return orjson.dumps({"kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
                         "spec": {"nodeName": node}, **extra})


def node_name(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("nodeName", ""))


@pytest.fixture
async def cache(any_backend: Backend) -> AsyncIterator[WatchCache]:
    await any_backend.create("/registry/pods/ns/before", pod("before", "n1"))
    c = WatchCache(any_backend, lambda _key, value, rev: decode(value, rev), capacity=50)
    await c.start()
    try:
        yield c
    finally:
        await c.close()


async def caught_up(cache: WatchCache, backend: Backend) -> None:
    assert await cache.wait_for_revision(await backend.current_revision(), 10.0)


async def test_state_equals_the_backend(any_backend: Backend, cache: WatchCache) -> None:
    b = any_backend
    assert cache.keys("/registry/pods/") == ["/registry/pods/ns/before"]
    r1 = await b.create("/registry/pods/ns/b", pod("b"))
    await b.create("/registry/pods/ns/a", pod("a"))
    await b.create("/registry/pods/ns2/c", pod("c"))
    await b.create("/registry/podtemplates/ns/x", pod("x"))
    await b.update("/registry/pods/ns/b", pod("b", "n2"), expected_revision=r1.revision)
    kv = await b.get("/registry/pods/ns/before")
    assert kv is not None
    await b.delete("/registry/pods/ns/before", expected_revision=kv.mod_revision)
    await caught_up(cache, b)
    assert cache.revision == await b.current_revision()
    for prefix in ("/registry/pods/", "/registry/pods/ns/", "/registry/pods/ns2/", "/registry/podtemplates/"):
        listed = await b.list(prefix)
        assert cache.keys(prefix) == [i.key for i in listed.items]
        for i in listed.items:
            assert cache.get(i.key) == decode(i.value, i.mod_revision)
    assert cache.get("/registry/pods/ns/before") is None
    b_obj = cache.get("/registry/pods/ns/b")
    assert b_obj is not None and b_obj["spec"]["nodeName"] == "n2"


async def test_current_revision_is_the_last_write(any_backend: Backend) -> None:
    b = any_backend
    r = await b.create("/registry/x/1", b"{}")
    assert await b.current_revision() == r.revision
    r = await b.update("/registry/x/1", b'{"a":1}', expected_revision=r.revision)
    assert await b.current_revision() == r.revision
    r = await b.delete("/registry/x/1", expected_revision=r.revision)
    assert await b.current_revision() == r.revision
    failed = await b.update("/registry/x/1", b"{}", expected_revision=r.revision)
    assert not failed.ok and await b.current_revision() == r.revision


async def collect(batches: AsyncIterator[list[CacheEvent]], until: int) -> list[CacheEvent]:
    out: list[CacheEvent] = []
    for _ in range(200):
        out += await anext(batches)
        if len(out) >= until:
            break
    return out


async def test_indexed_watcher_is_handed_only_its_events(any_backend: Backend, cache: WatchCache) -> None:
    b = any_backend
    start = cache.revision
    idx = Index("pods:spec.nodeName", "n1", node_name)
    mine = cache.batches(after=start, prefix="/registry/pods/", tick=lambda: 0.05, index=idx)
    everyone = cache.batches(after=start, prefix="/registry/pods/", tick=lambda: 0.05)
    other_ns = cache.batches(after=start, prefix="/registry/pods/other/", tick=lambda: 0.05, index=idx)
    r = await b.create("/registry/pods/ns/moving", pod("moving", ""))
    for i in range(20):
        await b.create(f"/registry/pods/ns/o{i}", pod(f"o{i}", "n2"))
    await b.create("/registry/pods/ns/m", pod("m", "n1"))
    r = await b.update("/registry/pods/ns/moving", pod("moving", "n1"), expected_revision=r.revision)  # enters
    r = await b.update("/registry/pods/ns/moving", pod("moving", "n3"), expected_revision=r.revision)  # leaves
    await b.delete("/registry/pods/ns/moving", expected_revision=r.revision)
    await b.create("/registry/podtemplates/ns/t", pod("t", "n1"))  # another resource: never
    await caught_up(cache, b)
    got = await collect(mine, 3)
    assert [(e.type, e.key.rsplit("/", 1)[1], node_name(e.obj)) for e in got] == [
        ("create", "m", "n1"), ("update", "moving", "n1"), ("update", "moving", "n3")]
    assert len(await collect(everyone, 25)) == 25
    assert await collect(other_ns, 1) == []  # only empty ticks
    for gen in (mine, everyone, other_ns):
        await gen.aclose()
    assert not cache._groups  # every watcher unregistered


async def test_backlog_then_live_events_in_order(any_backend: Backend, cache: WatchCache) -> None:
    b = any_backend
    start = cache.revision
    await b.create("/registry/pods/ns/early", pod("early", "n1"))
    await caught_up(cache, b)
    idx = Index("pods:spec.nodeName", "n1", node_name)
    gen = cache.batches(after=start, prefix="/registry/pods/ns/", tick=lambda: 0.05, index=idx)
    first = await collect(gen, 1)
    await b.create("/registry/pods/ns/late", pod("late", "n1"))
    got = first + await collect(gen, 1)
    assert [e.key for e in got] == ["/registry/pods/ns/early", "/registry/pods/ns/late"]
    assert [e.revision for e in got] == sorted(e.revision for e in got)
    await gen.aclose()


async def test_a_watcher_a_window_behind_expires(any_backend: Backend, cache: WatchCache) -> None:
    b = any_backend
    gen = cache.batches(after=cache.revision, prefix="/registry/pods/", tick=lambda: 0.01)
    assert await anext(gen) == []  # registered, then not reading while 60 events arrive (capacity 50)
    for i in range(60):
        await b.create(f"/registry/pods/ns/s{i}", pod(f"s{i}"))
    await caught_up(cache, b)
    with pytest.raises(TooOld):
        await anext(gen)
    with pytest.raises(TooOld):
        await anext(cache.batches(after=0, prefix="/registry/pods/"))  # before the window


async def test_list_index_follows_writes(any_backend: Backend, cache: WatchCache) -> None:
    b = any_backend
    idx = Index("pods:spec.nodeName", "n1", node_name)

    def by_index(prefix: str, value: str) -> list[str]:
        return cache.keys(prefix, Index(idx.name, value, node_name), "/registry/pods/")

    def by_scan(prefix: str, value: str) -> list[str]:
        return [k for k in cache.keys(prefix) if node_name(cache.get(k) or {}) == value]

    assert by_index("/registry/pods/", "n1") == ["/registry/pods/ns/before"]
    r = await b.create("/registry/pods/ns/x", pod("x", ""))
    await b.create("/registry/pods/ns2/y", pod("y", "n1"))
    r = await b.update("/registry/pods/ns/x", pod("x", "n1"), expected_revision=r.revision)
    kv = await b.get("/registry/pods/ns/before")
    assert kv is not None
    await b.delete("/registry/pods/ns/before", expected_revision=kv.mod_revision)
    await b.update("/registry/pods/ns/x", pod("x", "n2"), expected_revision=r.revision)
    await caught_up(cache, b)
    for prefix in ("/registry/pods/", "/registry/pods/ns/", "/registry/pods/ns2/"):
        for value in ("", "n1", "n2", "n3"):
            assert by_index(prefix, value) == by_scan(prefix, value), (prefix, value)
    assert by_index("/registry/pods/", "n1") == ["/registry/pods/ns2/y"]
